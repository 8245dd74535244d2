// bench_train: one full training step of an MLP, written the way a user writes it, against the
// same model and step in libtorch (same run, same threads) and against the step's GEMM floor.
//
//   bench_train [--threads N] [--json FILE] [--filter S] [--quick] [--steps N]
//
// Row train/mlp32x1024_b256: nn::Sequential of 32 x (Linear(1024, 1024) + GELU), batch 256,
// MSE loss against a fixed target, AdamW (PyTorch defaults). One step is
//   opt.zero_grad(); loss = mse_loss(net(x), y); loss.backward(); opt.step();
// The limit is the step's GEMM work at the FMA peak measured in this run: 3 GEMMs per layer
// (forward, grad-input, grad-weight), 3 * 2 * 256 * 1024 * 1024 * 32 flops. (The first layer's
// grad-input is not needed, since the input does not require grad; neither side computes it,
// so the real GEMM work is 95/96 of the limit's.)
//
// Besides the whole step the row carries where the time goes: per-phase medians (zero_grad +
// forward + loss, backward, optimizer step), the same step's GEMMs alone (the 95 products
// through neural_arch's GEMM, outputs allocated as in the step), and the libtorch phases.
//
// Baseline: Debian's libtorch 1.13 runs fp32 GEMM (at::addmm/mm) through the system BLAS, named
// in the row's baseline_config (the library really loaded); scripts/install_deps.sh --bench
// selects OpenBLAS (its OpenMP build, sharing our libgomp). With netlib's reference BLAS the
// baseline would be a straw man, and the program says so when it finds it loaded.
// baseline_gemm_gflops shows the rate libtorch's GEMMs reach; bench_core also compares our GEMM
// with oneDNN directly. libtorch gets the same settings as in bench_core (bench_util's
// prepare_libtorch: ATEN_CPU_CAPABILITY=avx512 by re-exec, glibc malloc keeping freed blocks).

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "mlp_model.hpp"
#include "neural_arch/autograd.hpp"
#include "neural_arch/functional/loss.hpp"
#include "neural_arch/nn/activation.hpp"
#include "neural_arch/nn/containers.hpp"
#include "neural_arch/nn/linear.hpp"
#include "neural_arch/ops.hpp"
#include "neural_arch/optim/adam.hpp"
#include "neural_arch/tensor.hpp"

#ifdef NA_HAVE_LIBTORCH
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/nn.h>
#include <torch/optim.h>
#endif

namespace na = neural_arch;
namespace nn = neural_arch::nn;
using na_bench::Report;
using na_bench::Row;

namespace {

constexpr int64_t kLayers = 32, kWidth = 1024, kBatch = 256;

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double median(const std::vector<double>& v) { return na_bench::summarize(v).median_ms; }

// Per-step phase times (ms) and their medians over the timed steps.
struct Phases {
  std::vector<double> total, forward, backward, optimizer;
  void add(double f, double b, double o) {
    forward.push_back(f);
    backward.push_back(b);
    optimizer.push_back(o);
    total.push_back(f + b + o);
  }
};

struct Settings {
  na_bench::CommonArgs common;
  int steps = 10;  // timed steps of ours; libtorch gets fewer when its GEMM is slow (see main)
};

Settings parse(int argc, char** argv) {
  Settings s;
  s.common =
      na_bench::parse_args(argc, argv, "bench_train",
                           {{"--steps", "N",
                             "timed training steps of neural_arch (default 10; libtorch gets fewer "
                             "when its GEMM is slow)",
                             [&](const std::string& v) {
                               s.steps = std::stoi(v);
                               if (s.steps < 1) throw std::invalid_argument("--steps must be >= 1");
                             }}},
                           "environment: ATEN_CPU_CAPABILITY (default here: avx512 when the CPU has it)\n");
  if (s.common.quick) s.steps = 2;
  return s;
}

// One training step of either library's model (mlp_model.hpp), timed by phase: zero_grad +
// forward + loss, backward, optimizer step. Appends the loss to `losses`.
template <class Model, class Mse>
void timed_step(Model& m, Mse mse, std::vector<double>& losses, Phases* ph) {
  const auto t0 = Clock::now();
  m.opt->zero_grad();
  auto loss = mse(m.net->forward(m.x), m.y);
  const double f = ms_since(t0);
  const auto t1 = Clock::now();
  loss.backward();
  const double b = ms_since(t1);
  const auto t2 = Clock::now();
  m.opt->step();
  const double o = ms_since(t2);
  losses.push_back(loss.template item<double>());
  if (ph) ph->add(f, b, o);
}

// ------------------------------------------------------------------ neural_arch

struct Ours {
  na_bench::MlpModel m{na_bench::MlpShape{kLayers, kWidth, kBatch}, 1};
  std::vector<double> losses;  // loss of every step taken, in order

  void step(Phases* ph) {
    timed_step(
        m, [](const na::Tensor& a, const na::Tensor& b) { return na::functional::mse_loss(a, b); }, losses,
        ph);
  }
};

// The step's GEMMs alone, through the same library calls the layers make: forward
// linear(x, W), grad-input gy @ W, grad-weight gy^T @ x (31 grad-inputs: not the first layer).
struct GemmsOnly {
  std::vector<na::Tensor> w;
  na::Tensor x, gy;
  explicit GemmsOnly(const Ours& o) {
    for (const auto& p : o.m.net->parameters())
      if (p.dim() == 2) w.push_back(p.detach());
    na::Generator gen(3);
    x = na::randn({kBatch, kWidth}, na::kFloat32, &gen);
    gy = na::randn({kBatch, kWidth}, na::kFloat32, &gen);
  }
  void run() {
    na::NoGradGuard no_grad;
    na::Tensor h = x;
    for (const auto& wi : w) h = na::linear(h, wi, na::Tensor());
    for (size_t i = w.size(); i-- > 0;) {
      if (i > 0) h = na::matmul(gy, w[i]);
      na::Tensor gw = na::mm(gy.t(), x);
    }
  }
};

#ifdef NA_HAVE_LIBTORCH
// ------------------------------------------------------------------ libtorch

using na_bench::to_torch;
std::string torch_config() {
  return na_bench::torch_config() + " model=torch::nn::Sequential optimizer=torch::optim::AdamW";
}

struct Theirs {
  na_bench::TorchMlpModel m;
  std::vector<double> losses;

  explicit Theirs(const Ours& o) : m(o.m) {}

  void step(Phases* ph) {
    timed_step(
        m, [](const at::Tensor& a, const at::Tensor& b) { return torch::mse_loss(a, b); }, losses, ph);
  }

  // One forward GEMM of the step's shape, to show the rate libtorch's BLAS reaches.
  double gemm_gflops() {
    torch::NoGradGuard no_grad;
    const at::Tensor w = at::randn({kWidth, kWidth});
    at::Tensor out = at::linear(m.x, w);  // warm
    const auto t0 = Clock::now();
    out = at::linear(m.x, w);
    return 2.0 * kBatch * kWidth * kWidth / (ms_since(t0) * 1e6);
  }
};
#endif

void bench_mlp(const Settings& s, const na_bench::MachineInfo& mi, Report& rep) {
  const std::string name = "train/mlp32x1024_b256";
  if (!s.common.wants(name)) return;
  const int warmup = s.common.quick ? 1 : 3;

  Ours ours;
#ifdef NA_HAVE_LIBTORCH
  Theirs theirs(ours);  // copies the initial parameters before any step
#endif

  // Warm-up: the pool holds every buffer size the step uses, oneDNN primitives are cached,
  // the optimizer state exists.
  GemmsOnly gemms(ours);
  for (int i = 0; i < warmup; ++i) ours.step(nullptr), gemms.run();
  // Steps and the GEMMs alone alternate, so that load from elsewhere hits both alike.
  Phases po;
  std::vector<double> gemm_ms;
  for (int i = 0; i < s.steps; ++i) {
    ours.step(&po);
    const auto t0 = Clock::now();
    gemms.run();
    gemm_ms.push_back(ms_since(t0));
  }

  const double layer_flops = 2.0 * kBatch * kWidth * kWidth;
  const double limit_flops = 3.0 * layer_flops * kLayers;
  const double real_flops = (3.0 * kLayers - 1) * layer_flops;
  const auto st = na_bench::summarize(po.total);

  Row row;
  row.name = name;
  row.ours_ms = st.median_ms;
  if (mi.fma_gflops > 0) row.limit_ms = limit_flops / (mi.fma_gflops * 1e9) * 1e3;
  row.set("ours_min_ms", st.min_ms).set("ours_p90_ms", st.p90_ms).set("repeats", st.repeats);
  row.set("warmup_steps", warmup);
  row.set("ours_forward_ms", median(po.forward));
  row.set("ours_backward_ms", median(po.backward));
  row.set("ours_optimizer_ms", median(po.optimizer));
  row.set("ours_gemm_only_ms", median(gemm_ms));
  row.set("ours_non_gemm_ms", st.median_ms - median(gemm_ms));
  row.set("ours_over_gemm_only", st.median_ms / median(gemm_ms));
  row.set("gemm_only_over_limit", median(gemm_ms) / (limit_flops / (mi.fma_gflops * 1e9) * 1e3));
  row.set("ours_gflops", real_flops / (st.median_ms * 1e6));
  row.set("limit_flops", limit_flops);
  row.set("gemm_flops_computed", real_flops);
  row.set("params", static_cast<int64_t>(kLayers * (kWidth * kWidth + kWidth)));
  row.set("limit_kind", "fma_peak (3 GEMMs per layer)");

#ifdef NA_HAVE_LIBTORCH
  // libtorch is timed after ours (not interleaved). Should its first (warm-up) step take over
  // 2 s (netlib's reference BLAS: many seconds a step) it gets no more warm-up and 3 timed
  // steps; its time is BLAS-bound then and further warm-up changes nothing.
  Phases pt;
  const auto tw = Clock::now();
  theirs.step(nullptr);
  const bool slow = ms_since(tw) > 2000;
  for (int i = 1; i < (slow ? 1 : warmup); ++i) theirs.step(nullptr);
  const int torch_steps = slow ? std::min(s.steps, 3) : s.steps;
  for (int i = 0; i < torch_steps; ++i) theirs.step(&pt);
  const auto tt = na_bench::summarize(pt.total);
  row.baseline = "libtorch";
  row.baseline_ms = tt.median_ms;
  row.set("baseline_min_ms", tt.min_ms).set("baseline_p90_ms", tt.p90_ms).set("baseline_repeats", tt.repeats);
  row.set("baseline_forward_ms", median(pt.forward));
  row.set("baseline_backward_ms", median(pt.backward));
  row.set("baseline_optimizer_ms", median(pt.optimizer));
  row.set("baseline_gemm_gflops", theirs.gemm_gflops());
  row.set("speedup_vs_baseline", tt.median_ms / st.median_ms);
  row.set("baseline_config", torch_config());
  // Agreement: the same model, data and optimizer from identical starts give the same losses.
  // Step 2's loss is after one full step (forward, backward, AdamW), so it checks all of it.
  double worst = 0;
  const size_t n = std::min(ours.losses.size(), theirs.losses.size());
  for (size_t i = 0; i < std::min<size_t>(n, 3); ++i)
    worst = std::max(worst, std::fabs(ours.losses[i] - theirs.losses[i]) / std::fabs(theirs.losses[i]));
  row.set("loss_max_rel_diff_first_3_steps", worst);
#endif
  rep.add(std::move(row));
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Settings s = parse(argc, argv);
#ifdef NA_HAVE_LIBTORCH
    // Also keeps large freed blocks in the heap, so libtorch's activations reuse warm pages
    // like ours do from the caching allocator.
    na_bench::prepare_libtorch(argv);
#endif
    na_bench::set_threads(s.common.threads);
    const na_bench::MachineInfo mi = na_bench::measure_machine(s.common.threads);
    std::cout << "cpu: " << mi.cpu << "  isa: " << mi.isa << " (host " << mi.host_isa
              << ")  threads: " << mi.threads << "\nstream triad: best " << mi.stream.best_gbs
              << " GB/s\nfma peak: " << mi.fma_gflops << " GFLOP/s f32\n";
#ifdef NA_HAVE_LIBTORCH
    std::cout << "baseline: " << torch_config() << "\n" << na_bench::reference_blas_note();
#else
    std::cout << "baseline: libtorch not built in (NA_HAVE_LIBTORCH unset): the row has no baseline\n";
#endif
    std::cout << "\n";

    Report rep;
    rep.set_run_info(argc, argv);
    rep.set_machine(mi);
    bench_mlp(s, mi, rep);
    rep.print_table(std::cout);
    for (const auto& r : rep.rows()) {
      std::cout << "\n" << r.name << " phases (median ms):";
      for (const char* k :
           {"ours_forward_ms", "ours_backward_ms", "ours_optimizer_ms", "ours_gemm_only_ms",
            "baseline_forward_ms", "baseline_backward_ms", "baseline_optimizer_ms", "baseline_gemm_gflops"})
        if (const auto* v = r.get(k)) std::cout << "\n  " << k << " = " << v->to_json();
      std::cout << "\n";
    }
    if (!s.common.json_path.empty()) {
      rep.write_json(s.common.json_path);
      std::cout << "\nwrote " << s.common.json_path << "\n";
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bench_train: " << e.what() << "\n";
    return 1;
  }
}
