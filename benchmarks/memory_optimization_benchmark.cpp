// memory_optimization_benchmark: gradient checkpointing and the caching pool, measured from the
// allocator's own accounting (never process RSS).
//
//   memory_optimization_benchmark [--threads N] [--json FILE] [--filter S] [--quick]
//
// Model: an MLP of `layers` x (Linear(width, width) + GELU) as one nn::Sequential, loss
// mean(y^2), AdamW; one training step = zero_grad (gradients kept allocated), forward,
// backward, optimizer step.
//
// ckpt/<batch>x<width>x<layers>/plain and .../checkpointed: step time and
//   peak_activation_bytes = allocator peak during the step - (parameter + gradient +
//   optimizer-state bytes), the latter being everything live at the step's start except the
//   input batch. "checkpointed" is enable_gradient_checkpointing(seq): checkpoint_sequential
//   with round(sqrt(n)) segments over the n = 2 * layers modules (torch's split: the last
//   segment runs plainly). Plain and checkpointed steps are timed interleaved, sample by
//   sample. libtorch's plain step (C++ has no checkpoint utility) is the baseline of both
//   rows, timed after ours with few repeats. Debian's libtorch 1.13 does fp32 GEMM with the
//   system BLAS named in baseline_config; scripts/install_deps.sh --bench selects OpenBLAS
//   (OpenMP build). With netlib's reference BLAS (about 1 GFLOP/s) its step would be
//   BLAS-bound and slow, so then steps above 60 GFLOP are not run on libtorch (baseline null,
//   baseline_skipped says why); --torch-max-gflop G sets that limit whatever the BLAS.
// pool/alloc_<size>/on and /off: one allocate + touch every 4 KiB page + free of a float
//   tensor, with the pool caching (a reused block, pages already mapped) and without
//   (pool.context(false): glibc for small blocks, mmap/munmap from 1 MiB). Baseline: libtorch's
//   at::empty of the same size, touched the same way. libtorch allocates with glibc malloc,
//   whose dynamic mmap/trim thresholds depend on the process's history: after the training
//   steps above, even 64 MiB comes from its already-faulted heap (in a fresh process each
//   64 MiB at::empty+touch faults every page, far slower than either of our rows).
// pool/train_step/on and /off: the 32 x Linear(1024)+GELU step at batch 256 with the pool on
//   and off (blocks of steps alternate, as switching empties the cache); pool_hit_rate is
//   counted over the steps after the first one with the pool on.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "mlp_model.hpp"
#include "neural_arch/autograd.hpp"
#include "neural_arch/backends/memory_pool.hpp"
#include "neural_arch/nn.hpp"
#include "neural_arch/ops.hpp"
#include "neural_arch/optim/adam.hpp"
#include "neural_arch/optimization/checkpoint.hpp"
#include "neural_arch/optimization/memory.hpp"

#ifdef NA_HAVE_LIBTORCH
#include <ATen/ATen.h>
#include <torch/nn.h>
#include <torch/optim.h>
#endif

namespace na = neural_arch;
namespace nn = neural_arch::nn;
namespace opt = neural_arch::optimization;
using na_bench::Report;
using na_bench::Row;

namespace {

struct Config {
  int64_t batch, width, layers;
  std::string tag() const {
    return std::to_string(batch) + "x" + std::to_string(width) + "x" + std::to_string(layers);
  }
  // Forward + backward GEMM flops of one step.
  double gflop() const { return 6.0 * double(batch) * double(width) * double(width) * double(layers) / 1e9; }
};

struct Settings {
  na_bench::CommonArgs common;
  // Unset: no limit, or 60 when libtorch's BLAS is netlib's reference one (set in main).
  std::optional<double> torch_max_gflop;
};

// The benchmarks' MLP (mlp_model.hpp) with this program's loss, mean(out^2): no target, so
// the target tensor is dropped and the input batch is the only data tensor.
struct Mlp {
  na_bench::MlpModel m;
  explicit Mlp(const Config& c) : m(na_bench::MlpShape{c.layers, c.width, c.batch}, 0) { m.y = na::Tensor(); }
  void step() {
    m.net->zero_grad(/*set_to_none=*/false);
    auto y = m.net->forward(m.x);
    na::mean(y * y).backward();
    m.opt->step();
  }
  size_t param_bytes() const { return m.param_bytes(); }
};

// One step with the allocator peak recorded: (peak activation bytes, persistent bytes).
std::pair<size_t, size_t> measure_peak(Mlp& m) {
  // Gradients are zeroed in place, so what is live at the start of the step (minus the input
  // batch) is parameters + gradients + optimizer state for the whole step.
  m.m.net->zero_grad(false);
  const size_t persistent = opt::get_memory_stats().allocated_bytes - static_cast<size_t>(m.m.x.numel()) * 4;
  opt::reset_peak();
  m.step();
  const size_t peak = opt::get_memory_stats().peak_allocated_bytes;
  return {peak - persistent, persistent};
}

#ifdef NA_HAVE_LIBTORCH
// glibc malloc as it comes (keep_freed_memory false): the pool/alloc rows measure libtorch's
// allocation path as a user gets it.
std::string torch_config() {
  return na_bench::torch_config(false) +
         " model=torch::nn::Sequential(Linear, GELU)... optimizer=torch::optim::AdamW";
}

struct TorchMlp {
  na_bench::TorchMlpModel m;
  explicit TorchMlp(const Config& c) : m(Mlp(c).m) {}
  void step() {
    m.opt->zero_grad();
    auto y = m.net->forward(m.x);
    (y * y).mean().backward();
    m.opt->step();
  }
};
#endif

// libtorch's step time per model (run once per model; null when skipped).
std::optional<na_bench::TimeStats> torch_step_ms(const Config& c, const Settings& s) {
  static std::map<std::string, std::optional<na_bench::TimeStats>> cache;
  const auto it = cache.find(c.tag());
  if (it != cache.end()) return it->second;
  std::optional<na_bench::TimeStats> r;
#ifdef NA_HAVE_LIBTORCH
  if (c.gflop() <= *s.torch_max_gflop) {
    TorchMlp m(c);
    r = na_bench::time_stats([&] { m.step(); }, 1, s.common.quick ? 1 : 3);
  }
#else
  (void)s;
#endif
  cache[c.tag()] = r;
  return r;
}

na_bench::AdaptiveOptions timing(const na_bench::CommonArgs& a, double seconds) {
  na_bench::AdaptiveOptions o;
  o.warmup = 1;
  o.min_repeats = 5;
  o.min_total_s = seconds;
  if (a.quick) o.min_repeats = 2, o.max_repeats = 2, o.min_total_s = 0;
  return o;
}

void add_torch_baseline(Row& row, const std::optional<na_bench::TimeStats>& t, const Config& c,
                        const Settings& s) {
#ifdef NA_HAVE_LIBTORCH
  row.baseline = "libtorch (plain step)";
  row.set("baseline_config", torch_config());
  if (!t) {
    row.set("baseline_skipped", "step of " + std::to_string(c.gflop()) + " GFLOP > --torch-max-gflop " +
                                    std::to_string(*s.torch_max_gflop));
    return;
  }
  row.baseline_ms = t->median_ms;
  row.set("baseline_min_ms", t->min_ms).set("baseline_repeats", t->repeats);
  row.set("speedup_vs_baseline", t->median_ms / row.ours_ms);
#else
  (void)row, (void)t, (void)c, (void)s;
#endif
}

void bench_checkpoint(const Config& c, const Settings& s, Report& rep) {
  const auto& args = s.common;
  const std::string base = "ckpt/" + c.tag();
  if (!args.wants(base + "/plain") && !args.wants(base + "/checkpointed")) return;
  Mlp plain(c), ckpt(c);
  opt::enable_gradient_checkpointing(*ckpt.m.net);
  const int64_t segments = ckpt.m.net->gradient_checkpointing_segments;
  // Two steps first: AdamW's state and the gradients exist from then on, and the pool is warm.
  for (int i = 0; i < 2; ++i) plain.step(), ckpt.step();
  const auto [plain_act, persistent] = measure_peak(plain);
  const auto [ckpt_act, ckpt_persistent] = measure_peak(ckpt);

  const auto st =
      na_bench::time_interleaved({[&] { plain.step(); }, [&] { ckpt.step(); }}, timing(args, 1.0));
  const auto torch_st = torch_step_ms(c, s);

  const size_t pbytes = plain.param_bytes();
  for (int k = 0; k < 2; ++k) {
    Row row;
    row.name = base + (k == 0 ? "/plain" : "/checkpointed");
    if (!args.wants(row.name)) continue;
    row.ours_ms = st[static_cast<size_t>(k)].median_ms;
    row.set("ours_min_ms", st[static_cast<size_t>(k)].min_ms)
        .set("repeats", st[static_cast<size_t>(k)].repeats);
    row.set("batch", c.batch).set("width", c.width).set("layers", c.layers);
    row.set("segments", k == 0 ? int64_t(0) : segments);
    row.set("peak_activation_bytes", k == 0 ? plain_act : ckpt_act);
    row.set("param_bytes", pbytes).set("grad_bytes", pbytes);
    row.set("optimizer_state_bytes", (k == 0 ? persistent : ckpt_persistent) - 2 * pbytes);
    row.set("activation_bytes_per_tensor", static_cast<size_t>(c.batch * c.width) * 4);
    if (k == 1) {
      row.set("activation_reduction_vs_plain", 1.0 - double(ckpt_act) / double(plain_act));
      row.set("time_ratio_vs_plain", st[1].median_ms / st[0].median_ms);
    }
    row.set("gflop_per_step", c.gflop());
    add_torch_baseline(row, torch_st, c, s);
    rep.add(std::move(row));
  }
}

// Allocate, touch every page, free: `iters` times per call.
void alloc_touch_free(int64_t floats, int iters) {
  for (int i = 0; i < iters; ++i) {
    na::Tensor t = na::empty({floats});
    float* p = t.data_ptr<float>();
    for (int64_t j = 0; j < floats; j += 1024) p[j] = 1.0f;
    p[floats - 1] = 1.0f;
  }
}

void bench_alloc(size_t bytes, const std::string& label, const na_bench::CommonArgs& args, Report& rep) {
  const std::string base = "pool/alloc_" + label;
  if (!args.wants(base + "/on") && !args.wants(base + "/off")) return;
  auto& pool = na::backends::get_memory_pool();
  const auto floats = static_cast<int64_t>(bytes / 4);
  // Enough iterations per sample that small sizes are timeable.
  const int iters = static_cast<int>(std::clamp<size_t>((size_t(16) << 20) / bytes, 1, 512));
  std::optional<na_bench::TimeStats> torch_st;
#ifdef NA_HAVE_LIBTORCH
  torch_st = na_bench::time_adaptive(
      [&] {
        for (int i = 0; i < iters; ++i) {
          at::Tensor t = at::empty({floats});
          float* p = t.data_ptr<float>();
          for (int64_t j = 0; j < floats; j += 1024) p[j] = 1.0f;
          p[floats - 1] = 1.0f;
        }
      },
      timing(args, 0.3));
#endif
  na_bench::TimeStats on_st, off_st;
  {
    auto scope = pool.context(true);
    on_st = na_bench::time_adaptive([&] { alloc_touch_free(floats, iters); }, timing(args, 0.3));
  }
  {
    auto scope = pool.context(false);
    off_st = na_bench::time_adaptive([&] { alloc_touch_free(floats, iters); }, timing(args, 0.3));
  }
  for (int k = 0; k < 2; ++k) {
    const auto& s = k == 0 ? on_st : off_st;
    Row row;
    row.name = base + (k == 0 ? "/on" : "/off");
    if (!args.wants(row.name)) continue;
    row.ours_ms = s.median_ms / iters;
    row.set("ours_min_ms", s.min_ms / iters).set("bytes", bytes).set("iterations_per_sample", iters);
    row.set("allocs_per_s", 1e3 / row.ours_ms);
    if (k == 0) row.set("speedup_vs_pool_off", off_st.median_ms / on_st.median_ms);
    if (torch_st) {
      row.baseline = "libtorch at::empty (glibc)";
      row.baseline_ms = torch_st->median_ms / iters;
      row.set("speedup_vs_baseline", torch_st->median_ms / s.median_ms);
    }
    rep.add(std::move(row));
  }
}

void bench_train_step(const Settings& st, Report& rep) {
  const auto& args = st.common;
  if (!args.wants("pool/train_step/on") && !args.wants("pool/train_step/off")) return;
  auto& pool = na::backends::get_memory_pool();
  const Config c{256, 1024, 32};
  Mlp m(c);
  m.step();  // optimizer state and gradients exist from here on
  // Hit rate from the second step on, starting from an empty cache.
  double hit_rate = 0;
  uint64_t hits = 0, misses = 0;
  {
    auto scope = pool.context(true);
    pool.empty_cache();
    m.step();
    const auto s0 = opt::get_memory_stats();
    for (int i = 0; i < 3; ++i) m.step();
    const auto s1 = opt::get_memory_stats();
    hits = s1.hits - s0.hits;
    misses = s1.misses - s0.misses;
    hit_rate = double(hits) / double(hits + misses);
  }
  // Blocks of steps alternate between on and off (switching empties the cache, so per-sample
  // interleaving would turn every "on" sample into a cold one); the first step of a block
  // is not timed.
  std::vector<double> on_ms, off_ms;
  const int rounds = args.quick ? 1 : 4, per_block = args.quick ? 1 : 3;
  for (int r = 0; r < rounds; ++r) {
    for (int on = 1; on >= 0; --on) {
      auto scope = pool.context(on != 0);
      m.step();
      const auto t = na_bench::time_stats([&] { m.step(); }, 0, per_block);
      // time_stats returns a summary: keep its median per block, weighted by the block size.
      for (int i = 0; i < per_block; ++i) (on ? on_ms : off_ms).push_back(t.median_ms);
    }
  }
  const auto torch_st = torch_step_ms(c, st);
  const auto on_st = na_bench::summarize(on_ms), off_st = na_bench::summarize(off_ms);
  for (int k = 0; k < 2; ++k) {
    const auto& s = k == 0 ? on_st : off_st;
    Row row;
    row.name = std::string("pool/train_step/") + (k == 0 ? "on" : "off");
    if (!args.wants(row.name)) continue;
    row.ours_ms = s.median_ms;
    row.set("ours_min_ms", s.min_ms).set("model", "32x(Linear(1024)+GELU), batch 256, AdamW");
    if (k == 0) {
      row.set("pool_hit_rate", hit_rate).set("pool_hits", hits).set("pool_misses", misses);
      row.set("hit_rate_steps", "steps 2-4 after emptying the cache");
      row.set("speedup_vs_pool_off", off_st.median_ms / on_st.median_ms);
    }
    add_torch_baseline(row, torch_st, c, st);
    rep.add(std::move(row));
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Settings settings;
    settings.common = na_bench::parse_args(
        argc, argv, "memory_optimization_benchmark",
        {{"--torch-max-gflop", "G",
          "skip libtorch on models above G GFLOP a step (default: none, 60 on a reference BLAS)",
          [&](const std::string& v) { settings.torch_max_gflop = std::stod(v); }}});
    const auto& args = settings.common;
#ifdef NA_HAVE_LIBTORCH
    na_bench::prepare_libtorch(argv, false);
#endif
    if (!settings.torch_max_gflop)
      settings.torch_max_gflop = na_bench::is_reference_blas(na_bench::loaded_blas())
                                     ? 60.0
                                     : std::numeric_limits<double>::infinity();
    if (!na::backends::get_memory_pool().caching())
      std::cout << "note: NA_MEMORY_POOL=0 is set; the ckpt rows run without caching\n";
    na_bench::set_threads(args.threads);
    const na_bench::MachineInfo mi = na_bench::measure_machine(args.threads);
    std::cout << "cpu: " << mi.cpu << "  isa: " << mi.isa << "  threads: " << mi.threads << "\n";
#ifdef NA_HAVE_LIBTORCH
    std::cout << "baseline: " << torch_config() << "\n" << na_bench::reference_blas_note() << "\n";
#else
    std::cout << "baseline: libtorch not built in (NA_HAVE_LIBTORCH unset): rows have no baseline\n\n";
#endif
    Report rep;
    rep.set_run_info(argc, argv);
    rep.set_machine(mi);
    for (const Config& c :
         {Config{128, 512, 4}, Config{256, 1024, 8}, Config{512, 2048, 12}, Config{256, 1024, 32}})
      bench_checkpoint(c, settings, rep);
    const std::vector<std::pair<size_t, std::string>> sizes{{size_t(4) << 10, "4KiB"},
                                                            {size_t(64) << 10, "64KiB"},
                                                            {size_t(1) << 20, "1MiB"},
                                                            {size_t(16) << 20, "16MiB"},
                                                            {size_t(64) << 20, "64MiB"}};
    for (const auto& [bytes, label] : sizes) bench_alloc(bytes, label, args, rep);
    bench_train_step(settings, rep);
    rep.print_table(std::cout);
    std::cout << "\n";
    for (const auto& r : rep.rows()) {
      std::cout << r.name;
      for (const char* k : {"peak_activation_bytes", "activation_reduction_vs_plain", "time_ratio_vs_plain",
                            "speedup_vs_pool_off", "pool_hit_rate"})
        if (const auto* v = r.get(k)) std::cout << "  " << k << "=" << v->to_json();
      std::cout << "\n";
    }
    if (!args.json_path.empty()) {
      rep.write_json(args.json_path);
      std::cout << "\nwrote " << args.json_path << "\n";
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "memory_optimization_benchmark: " << e.what() << "\n";
    return 1;
  }
}
