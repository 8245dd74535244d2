// performance_comparison: the seed's speed claims measured for real. GELU (both forms),
// fused Linear+GELU against the plain composition, OptimizedLinear's backward, softmax,
// layer_norm, cross-entropy and causal attention, each against libtorch in the same run and
// against this machine's limit measured in the same run (STREAM triad bandwidth for the
// memory-bound rows, measured FMA peak for the GEMM rows).
//
//   performance_comparison [--threads N] [--json FILE] [--filter S] [--quick]
//
// Rows (fp32): gelu_{tanh,erf}/RxC (and /f64, and /randn_x4: inputs 4x wider);
// linear_gelu/MxKxN/{fused,unfused} (baseline libtorch linear + gelu(tanh), inference); matmul/4096x1024x1024
// (our plain matmul, the yardstick of the fused row); optimized_linear_bwd/4096x1024x1024 (limit: our two
// backward GEMMs timed alone); optimized_linear_fwd_bwd/...; softmax, layer_norm, cross_entropy forward and
// forward+backward; attention/b8h8t512d64_causal (forward+backward, with peak memory of both
// sides). gelu_tanh rows and linear_gelu/512x768x1024 also carry the seed's "Standard" NumPy
// formula timed here (benchmarks/seed_numpy.py, a child process; optional: python3-numpy) and
// the GELU figures the seed's guide quoted. Softmax, layer_norm, cross-entropy and attention go through the
// public functional API, so whatever kernels stand behind it are what is measured.
//
// libtorch is set up as in bench_core (bench_util's prepare_libtorch). Debian's libtorch 1.13
// does fp32 GEMM through the system BLAS named in baseline_config (the library really loaded);
// scripts/install_deps.sh --bench selects OpenBLAS (OpenMP build, the same libgomp as ours).
// With netlib's reference BLAS the libtorch rows with a GEMM in them (linear, attention) would
// be a straw man, and the program warns when it finds that one loaded. The linear rows also
// carry a oneDNN-direct figure (the same primitive our GEMM uses, called without neural_arch).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench_util.hpp"
#include "dnnl.hpp"
#include "neural_arch/autograd.hpp"
#include "neural_arch/backends/memory_pool.hpp"
#include "neural_arch/functional/activation.hpp"
#include "neural_arch/functional/attention.hpp"
#include "neural_arch/functional/loss.hpp"
#include "neural_arch/functional/normalization.hpp"
#include "neural_arch/nn/optimized_linear.hpp"
#include "neural_arch/ops.hpp"
#include "neural_arch/optimization/fusion.hpp"
#include "neural_arch/random.hpp"
#include "neural_arch/tensor.hpp"

#ifdef NA_HAVE_LIBTORCH
#include <ATen/ATen.h>
#include <c10/core/CPUAllocator.h>
#include <torch/csrc/autograd/autograd.h>
#endif

namespace na = neural_arch;
namespace F = neural_arch::functional;
using na_bench::Row;
using na_bench::TimeStats;

namespace {

struct Ctx {
  na_bench::CommonArgs args;
  na_bench::MachineInfo mi;
  na_bench::AdaptiveOptions opt;
  na_bench::Report rep;
  std::string torch_cfg;
  std::map<std::string, double> seed_numpy;  // benchmarks/seed_numpy.py's medians (ms) by task
};

std::string dims(std::initializer_list<int64_t> d) {
  std::string s;
  for (int64_t v : d) {
    if (!s.empty()) s += 'x';
    s += std::to_string(v);
  }
  return s;
}

double bandwidth_ms(const Ctx& c, double bytes) { return bytes / (c.mi.stream.best_gbs * 1e9) * 1e3; }
std::optional<double> fma_ms(const Ctx& c, double flops) {
  if (c.mi.fma_gflops <= 0) return std::nullopt;
  return flops / (c.mi.fma_gflops * 1e9) * 1e3;
}

void add_stats(Row& r, const TimeStats& ours, const TimeStats* base) {
  r.ours_ms = ours.median_ms;
  r.set("ours_min_ms", ours.min_ms).set("ours_p90_ms", ours.p90_ms).set("repeats", ours.repeats);
  if (base) {
    r.baseline_ms = base->median_ms;
    r.set("baseline_min_ms", base->min_ms).set("baseline_p90_ms", base->p90_ms);
  }
}

// Largest |a - b| relative to the largest |b|.
double max_rel_diff(const na::Tensor& a, const na::Tensor& b) {
  const na::Tensor d = na::abs(a - b).max(), s = na::abs(b).max();
  const double sv = s.item<double>();
  return d.item<double>() / (sv > 0 ? sv : 1.0);
}

#ifdef NA_HAVE_LIBTORCH
na::Tensor from_torch(const at::Tensor& t) {
  const bool f64 = t.scalar_type() == at::kDouble;  // f64 stays f64; the rest comes back as f32
  const at::Tensor c = t.detach().contiguous().to(f64 ? at::kDouble : at::kFloat);
  na::Tensor out =
      na::empty(na::Shape(c.sizes().begin(), c.sizes().end()), f64 ? na::kFloat64 : na::kFloat32);
  void* dst = f64 ? static_cast<void*>(out.data_ptr<double>()) : static_cast<void*>(out.data_ptr<float>());
  std::memcpy(dst, c.data_ptr(), c.nbytes());
  return out;
}

// Counts the bytes libtorch's CPU tensors hold (current and peak) by wrapping its CPU
// allocator: every allocation is forwarded to the default allocator and its size is added;
// the deleter subtracts it. This counts tensor storage only, as our pool's statistics do.
class CountingAllocator final : public c10::Allocator {
 public:
  explicit CountingAllocator(c10::Allocator* base) : base_(base) {}
  c10::DataPtr allocate(size_t n) const override {
    c10::DataPtr d = base_->allocate(n);
    void* data = d.get();
    const c10::Device dev = d.device();
    const c10::DeleterFnPtr del = d.get_deleter();
    void* ctx = d.release_context();
    auto* c = new Context{ctx, del, n, const_cast<CountingAllocator*>(this)};
    const int64_t now = current_ += static_cast<int64_t>(n);
    int64_t p = peak_.load();
    while (now > p && !peak_.compare_exchange_weak(p, now)) {
    }
    return c10::DataPtr(data, c, &release, dev);
  }
  void reset_peak() { peak_ = current_.load(); }
  int64_t current() const { return current_; }
  int64_t peak() const { return peak_; }

 private:
  struct Context {
    void* ctx;
    c10::DeleterFnPtr del;
    size_t n;
    CountingAllocator* self;
  };
  static void release(void* p) {
    auto* c = static_cast<Context*>(p);
    c->self->current_ -= static_cast<int64_t>(c->n);
    if (c->del) c->del(c->ctx);
    delete c;
  }
  c10::Allocator* base_;
  mutable std::atomic<int64_t> current_{0}, peak_{0};
};

// Peak bytes above those live at the start, of one call of fn with the counting allocator
// installed (only for this call: it is not there while timing).
int64_t torch_peak_bytes(const std::function<void()>& fn) {
  static CountingAllocator counting(c10::GetDefaultCPUAllocator());
  c10::SetCPUAllocator(&counting, 200);
  counting.reset_peak();
  const int64_t base = counting.current();
  fn();
  const int64_t peak = counting.peak() - base;
  c10::SetCPUAllocator(c10::GetDefaultCPUAllocator(), 200);
  return peak;
}
#endif

// Peak bytes of our pool above those live at the start, for one call of fn.
int64_t our_peak_bytes(const std::function<void()>& fn) {
  auto& pool = na::backends::get_memory_pool();
  const int64_t base = static_cast<int64_t>(pool.stats().allocated_bytes);
  pool.reset_peak();
  fn();
  return static_cast<int64_t>(pool.stats().peak_allocated_bytes) - base;
}

// ------------------------------------------------------------------ the seed's NumPy baseline

// The seed's GELU table ("Standard" NumPy, "JIT GELU"), in ms, by shape.
const std::map<std::string, std::pair<double, double>> kSeedQuotedGelu{
    {"1000x512", {6.3, 1.1}}, {"2048x768", {19.0, 2.8}}, {"4096x1024", {51.7, 7.6}}};

// Runs benchmarks/seed_numpy.py once for `tasks` (row names it understands) in a child
// process with the benchmark's thread count; returns median ms by task. Empty, with the
// reason printed, when /usr/bin/python3 or NumPy is missing (the rows are optional).
std::map<std::string, double> run_seed_numpy(const std::vector<std::string>& tasks, const Ctx& c) {
  std::map<std::string, double> out;
  if (tasks.empty()) return out;
  const std::string t = std::to_string(c.args.threads);
  std::string cmd = "OMP_NUM_THREADS=" + t + " OPENBLAS_NUM_THREADS=" + t + " /usr/bin/python3 '" +
                    std::string(NA_BENCH_SOURCE_DIR) + "/seed_numpy.py'" + (c.args.quick ? " --quick" : "");
  for (const auto& task : tasks) cmd += " " + task;
  cmd += " 2>&1";
  std::string text;
  FILE* f = popen(cmd.c_str(), "r");
  if (f == nullptr) {
    std::cout << "seed NumPy rows not measured: cannot start /usr/bin/python3\n";
    return {};
  }
  char buf[512];
  while (fgets(buf, sizeof buf, f)) text += buf;
  if (pclose(f) != 0) {
    std::cout << "seed NumPy rows not measured (install python3-numpy for them): "
              << text.substr(0, text.find('\n')) << "\n";
    return {};
  }
  std::istringstream in(text);
  std::string name;
  double ms = 0;
  int64_t repeats = 0;
  while (in >> name >> ms >> repeats) out[name] = ms;
  return out;
}

void add_seed_numpy(Ctx& c, Row& r, const std::string& task) {
  const auto it = c.seed_numpy.find(task);
  if (it == c.seed_numpy.end()) return;
  r.set("seed_numpy_ms", it->second).set("speedup_vs_seed_numpy", it->second / r.ours_ms);
  r.set("seed_numpy_config", "benchmarks/seed_numpy.py, /usr/bin/python3, NumPy, float32");
}

// ------------------------------------------------------------------ GELU

// Inputs are standard normal.  f64 rows (name suffix /f64) time the libmvec path of
// vec_math_f64.hpp; rows with suffix /randn_x4 scale the inputs by 4, to show whether a kernel's
// cost depends on the inputs' spread (a fast path for narrow inputs would show up here).
void bench_gelu(Ctx& c, int64_t rows, int64_t cols, bool tanh_form, na::DType dt = na::kFloat32,
                double scale = 1.0) {
  const bool f64 = dt == na::kFloat64;
  const std::string name = std::string(tanh_form ? "gelu_tanh/" : "gelu_erf/") + dims({rows, cols}) +
                           (f64 ? "/f64" : "") + (scale != 1.0 ? "/randn_x4" : "");
  if (!c.args.wants(name)) return;
  const char* approx = tanh_form ? "tanh" : "none";
  const na::Tensor x = scale != 1.0 ? na::randn({rows, cols}, dt) * scale : na::randn({rows, cols}, dt);
  na::Tensor out;
  std::vector<std::function<void()>> fns{[&] { out = na::gelu(x, approx); }};
#ifdef NA_HAVE_LIBTORCH
  const at::Tensor tx = na_bench::to_torch(x);
  at::Tensor tout;
  fns.emplace_back([&] { tout = at::gelu(tx, approx); });
#endif
  const auto st = na_bench::time_interleaved(fns, c.opt);
  const double bytes = (f64 ? 16.0 : 8.0) * static_cast<double>(rows * cols);  // read x, write y
  Row r;
  r.name = name;
  add_stats(r, st[0], st.size() > 1 ? &st[1] : nullptr);
  r.limit_ms = bandwidth_ms(c, bytes);
  r.set("limit_kind", "stream_triad").set("bytes", static_cast<int64_t>(bytes));
  r.set("ours_gbs", bytes / (st[0].median_ms * 1e6));
  if (tanh_form && !f64) {
    add_seed_numpy(c, r, name);
    if (const auto q = kSeedQuotedGelu.find(dims({rows, cols})); q != kSeedQuotedGelu.end())
      r.set("seed_quoted_standard_ms", q->second.first).set("seed_quoted_jit_ms", q->second.second);
  }
#ifdef NA_HAVE_LIBTORCH
  r.baseline = "libtorch";
  r.set("baseline_config", c.torch_cfg);
  r.set("max_rel_diff", max_rel_diff(out, from_torch(tout)));
#endif
  c.rep.add(std::move(r));
}

// ------------------------------------------------------------------ Linear + GELU

// oneDNN matmul called directly: C = act(A B^T + bias) with the bias and eltwise post-op in
// one primitive: a second GEMM reference besides libtorch's BLAS.
struct DnnlLinear {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  dnnl::matmul prim;
  dnnl::memory a, w, bias, out;
  bool has_bias;
  DnnlLinear(const na::Tensor& x, const na::Tensor& wt, const na::Tensor* b, bool gelu)
      : has_bias(b != nullptr) {
    using dnnl::memory;
    const int64_t m = x.size(0), k = x.size(1), n = wt.size(0);
    const memory::desc a_md({m, k}, memory::data_type::f32, memory::format_tag::ab);
    const memory::desc w_md({k, n}, memory::data_type::f32,
                            memory::format_tag::ba);  // W (n, k) = W^T transposed
    const memory::desc b_md({1, n}, memory::data_type::f32, memory::format_tag::ab);
    const memory::desc c_md({m, n}, memory::data_type::f32, memory::format_tag::ab);
    dnnl::primitive_attr attr;
    dnnl::post_ops po;
    if (gelu) po.append_eltwise(1.f, dnnl::algorithm::eltwise_gelu_tanh, 0.f, 0.f);
    attr.set_post_ops(po);
    auto desc = has_bias ? dnnl::matmul::desc(a_md, w_md, b_md, c_md) : dnnl::matmul::desc(a_md, w_md, c_md);
    prim = dnnl::matmul(dnnl::matmul::primitive_desc(desc, attr, eng));
    a = memory(a_md, eng, x.data_ptr<float>());
    w = memory(w_md, eng, wt.data_ptr<float>());
    if (has_bias) bias = memory(b_md, eng, b->data_ptr<float>());
    out = memory(c_md, eng);
  }
  void operator()() {
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, out}};
    if (has_bias) args.emplace(DNNL_ARG_BIAS, bias);
    prim.execute(strm, args);
    strm.wait();
  }
};

void bench_linear_gelu(Ctx& c, int64_t m, int64_t k, int64_t n, bool with_matmul_row) {
  const std::string base = "linear_gelu/" + dims({m, k, n});
  const std::string mm_name = "matmul/" + dims({m, k, n});
  const bool want_mm = with_matmul_row && c.args.wants(mm_name);
  if (!c.args.wants(base + "/fused") && !c.args.wants(base + "/unfused") && !want_mm) return;
  na::manual_seed(1);
  const na::Tensor x = na::randn({m, k}), w = na::randn({n, k}) * (1.0 / std::sqrt(double(k))),
                   b = na::randn({n});
  const na::Tensor wt = w.t().contiguous();  // (k, n): the plain matmul's right operand
  na::Tensor y_fused, y_unfused, y_mm;
  DnnlLinear dnnl_fused(x, w, &b, true), dnnl_plain(x, w, nullptr, false);
  std::vector<std::function<void()>> fns{
      [&] {
        na::NoGradGuard ng;
        y_fused = na::optimization::fuse_linear_activation(x, w, b, "gelu_tanh");
      },
      [&] {
        na::NoGradGuard ng;
        y_unfused = na::gelu(na::linear(x, w, b), "tanh");
      },
      [&] { y_mm = na::matmul(x, wt); }, [&] { dnnl_fused(); }, [&] { dnnl_plain(); }};
#ifdef NA_HAVE_LIBTORCH
  const at::Tensor tx = na_bench::to_torch(x), tw = na_bench::to_torch(w), tb = na_bench::to_torch(b);
  at::Tensor ty;
  fns.emplace_back([&] {
    at::NoGradGuard ng;
    ty = at::gelu(at::linear(tx, tw, tb), "tanh");
  });
#endif
  const auto st = na_bench::time_interleaved(fns, c.opt);
  const double flops = 2.0 * double(m) * double(n) * double(k);
  const TimeStats* torch = st.size() > 5 ? &st[5] : nullptr;
  for (int fused = 1; fused >= 0; --fused) {
    Row r;
    r.name = base + (fused ? "/fused" : "/unfused");
    if (!c.args.wants(r.name)) continue;
    add_stats(r, st[fused ? 0 : 1], torch);
    r.limit_ms = fma_ms(c, flops);
    r.set("limit_kind", "fma_peak").set("flops", flops);
    r.set("ours_gflops", flops / (st[fused ? 0 : 1].median_ms * 1e6));
    r.set("matmul_ms", st[2].median_ms)
        .set("ours_over_matmul", st[fused ? 0 : 1].median_ms / st[2].median_ms);
    r.set("onednn_direct_ms", st[3].median_ms);
    r.set("onednn_direct_plain_ms", st[4].median_ms);
    add_seed_numpy(c, r, base);
#ifdef NA_HAVE_LIBTORCH
    r.baseline = "libtorch";
    r.set("baseline_config", c.torch_cfg + " (linear: BLAS sgemm)");
    r.set("max_rel_diff", max_rel_diff(fused ? y_fused : y_unfused, from_torch(ty)));
#endif
    c.rep.add(std::move(r));
  }
  if (want_mm) {
    Row r;
    r.name = mm_name;
    add_stats(r, st[2], &st[4]);
    r.baseline = "onednn";
    r.limit_ms = fma_ms(c, flops);
    r.set("limit_kind", "fma_peak").set("flops", flops).set("ours_gflops", flops / (st[2].median_ms * 1e6));
    r.set("baseline_config", "oneDNN matmul primitive called directly (x @ W^T, no bias)");
    c.rep.add(std::move(r));
  }
}

// ------------------------------------------------------------------ OptimizedLinear backward

void bench_optimized_linear(Ctx& c, int64_t m, int64_t k, int64_t n) {
  const std::string bwd = "optimized_linear_bwd/" + dims({m, k, n});
  const std::string fwd_bwd = "optimized_linear_fwd_bwd/" + dims({m, k, n});
  if (!c.args.wants(bwd) && !c.args.wants(fwd_bwd)) return;
  na::manual_seed(2);
  na::nn::OptimizedLinear fused(k, n, "gelu_tanh", true), plain(k, n, "gelu_tanh", false);
  plain.load_state_dict(fused.state_dict());
  const na::Tensor x = na::randn({m, k}).requires_grad_();
  const na::Tensor g = na::randn({m, n});
  // Backward alone: the graph is kept (retain_graph) and gradients are returned, not
  // accumulated, so each sample is exactly one backward pass.
  const na::Tensor y_f = fused.forward(x), y_p = plain.forward(x);
  std::vector<na::Tensor> gr_f, gr_p;
  const na::Tensor gz = na::randn({m, n});  // stands for grad_z in the two GEMMs timed alone
  const na::Tensor xd = x.detach(), wd = fused.weight.detach();
  na::Tensor gx_alone, gw_alone;
  std::vector<std::function<void()>> fns{
      [&] {
        gr_f = na::autograd::grad({y_f}, {x, fused.weight, fused.bias}, {g}, true);
      },
      [&] {
        gr_p = na::autograd::grad({y_p}, {x, plain.weight, plain.bias}, {g}, true);
      },
      [&] {
        gx_alone = na::mm(gz, wd);      // grad_x = grad_z W
        gw_alone = na::mm(gz.t(), xd);  // grad_W = grad_z^T x
      }};
#ifdef NA_HAVE_LIBTORCH
  const at::Tensor tx = na_bench::to_torch(x).requires_grad_(),
                   tw = na_bench::to_torch(fused.weight).requires_grad_(),
                   tb = na_bench::to_torch(fused.bias).requires_grad_(), tg = na_bench::to_torch(g);
  const at::Tensor ty = at::gelu(at::linear(tx, tw, tb), "tanh");
  std::vector<at::Tensor> tgr;
  fns.emplace_back([&] { tgr = torch::autograd::grad({ty}, {tx, tw, tb}, {tg}, true); });
#endif
  if (c.args.wants(bwd)) {
    const auto st = na_bench::time_interleaved(fns, c.opt);
    Row r;
    r.name = bwd;
    add_stats(r, st[0], st.size() > 3 ? &st[3] : nullptr);
    r.limit_ms = st[2].median_ms;
    r.set("limit_kind", "our_two_backward_gemms");
    r.set("ours_unfused_ms", st[1].median_ms);
    r.set("ours_over_two_gemms", st[0].median_ms / st[2].median_ms);
    r.set("max_rel_diff_fused_vs_unfused",
          std::max({max_rel_diff(gr_f[0], gr_p[0]), max_rel_diff(gr_f[1], gr_p[1]),
                    max_rel_diff(gr_f[2], gr_p[2])}));
#ifdef NA_HAVE_LIBTORCH
    r.baseline = "libtorch";
    r.set("baseline_config", c.torch_cfg + " (GEMMs: BLAS sgemm)");
    r.set("max_rel_diff", max_rel_diff(gr_f[1], from_torch(tgr[1])));
#endif
    c.rep.add(std::move(r));
  }
  if (c.args.wants(fwd_bwd)) {
    std::vector<std::function<void()>> fb{
        [&] {
          gr_f = na::autograd::grad({fused.forward(x)}, {x, fused.weight, fused.bias}, {g});
        },
        [&] {
          gr_p = na::autograd::grad({plain.forward(x)}, {x, plain.weight, plain.bias}, {g});
        }};
#ifdef NA_HAVE_LIBTORCH
    fb.emplace_back([&] {
      tgr = torch::autograd::grad({at::gelu(at::linear(tx, tw, tb), "tanh")}, {tx, tw, tb}, {tg});
    });
#endif
    const auto st = na_bench::time_interleaved(fb, c.opt);
    Row r;
    r.name = fwd_bwd;
    add_stats(r, st[0], st.size() > 2 ? &st[2] : nullptr);
    r.limit_ms = fma_ms(c, 3 * 2.0 * double(m) * double(n) * double(k));
    r.set("limit_kind", "fma_peak (three GEMMs)");
    r.set("ours_unfused_ms", st[1].median_ms);
#ifdef NA_HAVE_LIBTORCH
    r.baseline = "libtorch";
    r.set("baseline_config", c.torch_cfg + " (GEMMs: BLAS sgemm)");
#endif
    c.rep.add(std::move(r));
  }
}

// ------------------------------------------------------------------ row-wise NN ops

// One forward row and one forward+backward row for an op over a (rows, cols) input.
// bytes_fwd / bytes_fwd_bwd are per element of x: the least traffic each can do.
struct RowOp {
  std::string name;
  double bytes_fwd, bytes_fwd_bwd;
  std::function<na::Tensor(const na::Tensor&)> ours;
#ifdef NA_HAVE_LIBTORCH
  std::function<at::Tensor(const at::Tensor&)> theirs;
#endif
};

void bench_row_op(Ctx& c, const RowOp& op, int64_t rows, int64_t cols) {
  const std::string fwd = op.name + "/" + dims({rows, cols}), fb = op.name + "_fwd_bwd/" + dims({rows, cols});
  if (!c.args.wants(fwd) && !c.args.wants(fb)) return;
  na::manual_seed(3);
  const na::Tensor x = na::randn({rows, cols});
  const na::Tensor xg = x.detach().requires_grad_();
  na::Tensor y, gx;
  const double n = double(rows * cols);
  // A random upstream gradient (ones would give softmax a zero gradient); 1 for a scalar loss.
  na::Tensor up;
  {
    na::NoGradGuard ng;
    const na::Tensor probe = op.ours(x);
    up = probe.dim() == 0 ? na::ones_like(probe) : na::randn(probe.shape());
  }
#ifdef NA_HAVE_LIBTORCH
  const at::Tensor tx = na_bench::to_torch(x), txg = na_bench::to_torch(x).requires_grad_(),
                   tup = up.dim() == 0 ? at::ones({}) : na_bench::to_torch(up);
  at::Tensor ty, tgx;
#endif
  for (int with_bwd = 0; with_bwd < 2; ++with_bwd) {
    const std::string name = with_bwd ? fb : fwd;
    if (!c.args.wants(name)) continue;
    std::vector<std::function<void()>> fns;
    if (with_bwd) {
      fns.emplace_back([&] {
        na::Tensor out = op.ours(xg);
        gx = na::autograd::grad({out}, {xg}, {up})[0];
      });
    } else {
      fns.emplace_back([&] {
        na::NoGradGuard ng;
        y = op.ours(x);
      });
    }
#ifdef NA_HAVE_LIBTORCH
    if (with_bwd) {
      fns.emplace_back([&] {
        at::Tensor out = op.theirs(txg);
        tgx = torch::autograd::grad({out}, {txg}, {tup})[0];
      });
    } else {
      fns.emplace_back([&] {
        at::NoGradGuard ng;
        ty = op.theirs(tx);
      });
    }
#endif
    const auto st = na_bench::time_interleaved(fns, c.opt);
    Row r;
    r.name = name;
    add_stats(r, st[0], st.size() > 1 ? &st[1] : nullptr);
    const double bytes = (with_bwd ? op.bytes_fwd_bwd : op.bytes_fwd) * n;
    r.limit_ms = bandwidth_ms(c, bytes);
    r.set("limit_kind", "stream_triad").set("bytes", static_cast<int64_t>(bytes));
#ifdef NA_HAVE_LIBTORCH
    r.baseline = "libtorch";
    r.set("baseline_config", c.torch_cfg);
    r.set("max_rel_diff", with_bwd ? max_rel_diff(gx, from_torch(tgx)) : max_rel_diff(y, from_torch(ty)));
#endif
    c.rep.add(std::move(r));
  }
}

// ------------------------------------------------------------------ attention

void bench_attention(Ctx& c, int64_t B, int64_t H, int64_t T, int64_t D) {
  const std::string name = "attention/b" + std::to_string(B) + "h" + std::to_string(H) + "t" +
                           std::to_string(T) + "d" + std::to_string(D) + "_causal";
  const std::string fwd_name = "attention_fwd/" + name.substr(name.find('/') + 1);
  if (!c.args.wants(name) && !c.args.wants(fwd_name)) return;
  na::manual_seed(4);
  const na::Tensor q = na::randn({B, H, T, D}).requires_grad_(), k = na::randn({B, H, T, D}).requires_grad_(),
                   v = na::randn({B, H, T, D}).requires_grad_(), g = na::randn({B, H, T, D});
  std::vector<na::Tensor> grads;
  na::Tensor y;
  auto ours = [&] {
    na::Tensor out = F::scaled_dot_product_attention(q, k, v, {}, 0.0, true);
    grads = na::autograd::grad({out}, {q, k, v}, {g});
  };
  auto ours_fwd = [&] {
    na::NoGradGuard ng;
    y = F::scaled_dot_product_attention(q, k, v, {}, 0.0, true);
  };
  std::vector<std::function<void()>> fns{ours}, fwd_fns{ours_fwd};
#ifdef NA_HAVE_LIBTORCH
  const at::Tensor tq = na_bench::to_torch(q).requires_grad_(), tk = na_bench::to_torch(k).requires_grad_(),
                   tv = na_bench::to_torch(v).requires_grad_(), tg = na_bench::to_torch(g);
  const at::Tensor mask = at::ones({T, T}, at::kBool).triu(1);  // true above the diagonal: masked out
  const double scale = 1.0 / std::sqrt(double(D));
  // The composition every framework had before fused attention: T x T scores per head.
  auto composition = [&, scale](const at::Tensor& a, const at::Tensor& b, const at::Tensor& cc) {
    at::Tensor s = at::matmul(a, b.transpose(-2, -1)) * scale;
    s = s.masked_fill(mask, -std::numeric_limits<float>::infinity());
    return at::matmul(at::softmax(s, -1), cc);
  };
  std::vector<at::Tensor> tgrads;
  at::Tensor ty;
  auto theirs = [&] { tgrads = torch::autograd::grad({composition(tq, tk, tv)}, {tq, tk, tv}, {tg}); };
  fns.emplace_back(theirs);
  fwd_fns.emplace_back([&] {
    at::NoGradGuard ng;
    ty = composition(tq, tk, tv);
  });
#endif
  // Attention flops with the causal half skipped: forward 2 GEMMs, backward 4, each
  // 2*B*H*T*T*D, halved.
  const double bhttd = double(B) * H * T * T * D;
  if (c.args.wants(name)) {
    const auto st = na_bench::time_interleaved(fns, c.opt);
    Row r;
    r.name = name;
    add_stats(r, st[0], st.size() > 1 ? &st[1] : nullptr);
    r.limit_ms = fma_ms(c, 6 * bhttd);
    r.set("limit_kind", "fma_peak (6*B*H*T*T*D flops: causal half of fwd+bwd)");
    r.set("peak_bytes", our_peak_bytes(ours));
    r.set("ttmatrix_bytes", static_cast<int64_t>(double(B) * H * T * T * 4));
#ifdef NA_HAVE_LIBTORCH
    r.baseline = "libtorch";
    r.set("baseline_peak_bytes", torch_peak_bytes(theirs));
    r.set("baseline_peak_method",
          "c10::SetCPUAllocator counting wrapper of the default CPU allocator, one call");
    r.set("baseline_config", c.torch_cfg + " (composition: matmul, masked_fill, softmax, matmul)");
    double diff = 0;
    for (int i = 0; i < 3; ++i) diff = std::max(diff, max_rel_diff(grads[i], from_torch(tgrads[i])));
    r.set("max_rel_diff", diff);
#endif
    c.rep.add(std::move(r));
  }
  if (c.args.wants(fwd_name)) {
    const auto st = na_bench::time_interleaved(fwd_fns, c.opt);
    Row r;
    r.name = fwd_name;
    add_stats(r, st[0], st.size() > 1 ? &st[1] : nullptr);
    r.limit_ms = fma_ms(c, 2 * bhttd);
    r.set("limit_kind", "fma_peak (2*B*H*T*T*D flops: causal half of fwd)");
    r.set("peak_bytes", our_peak_bytes(ours_fwd));
#ifdef NA_HAVE_LIBTORCH
    r.baseline = "libtorch";
    r.set("baseline_peak_bytes", torch_peak_bytes(fwd_fns[1]));
    r.set("baseline_config", c.torch_cfg + " (composition, no grad)");
    r.set("max_rel_diff", max_rel_diff(y, from_torch(ty)));
#endif
    c.rep.add(std::move(r));
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Ctx c;
    c.args = na_bench::parse_args(argc, argv, "performance_comparison");
    na_bench::prepare_libtorch(argv);
    na_bench::set_threads(c.args.threads);
    if (c.args.quick) {
      c.opt.warmup = 1;
      c.opt.min_repeats = 2;
      c.opt.max_repeats = 3;
      c.opt.min_total_s = 0;
    }
    c.mi = na_bench::measure_machine(c.args.threads);
    std::cout << na_bench::describe_machine(c.mi);
#ifdef NA_HAVE_LIBTORCH
    c.torch_cfg = na_bench::torch_config();
    std::cout << "baseline: " << c.torch_cfg << "\n" << na_bench::reference_blas_note();
#else
    std::cout << "baseline: libtorch not built in (NA_HAVE_LIBTORCH unset): rows have no baseline\n";
#endif
    std::cout << "\n";
    c.rep.set_machine(c.mi);
    c.rep.set_run_info(argc, argv);

    const std::vector<std::pair<int64_t, int64_t>> gelu_shapes{{1000, 512}, {2048, 768}, {4096, 1024}};
    std::vector<std::string> seed_tasks;
    for (auto [r, cc] : gelu_shapes)
      if (c.args.wants("gelu_tanh/" + dims({r, cc}))) seed_tasks.push_back("gelu_tanh/" + dims({r, cc}));
    if (c.args.wants("linear_gelu/512x768x1024/fused") || c.args.wants("linear_gelu/512x768x1024/unfused"))
      seed_tasks.push_back("linear_gelu/512x768x1024");
    c.seed_numpy = run_seed_numpy(seed_tasks, c);
    for (bool tanh_form : {true, false})
      for (auto [r, cc] : gelu_shapes) bench_gelu(c, r, cc, tanh_form);
    for (bool tanh_form : {true, false}) bench_gelu(c, 4096, 1024, tanh_form, na::kFloat64);
    for (bool tanh_form : {true, false}) bench_gelu(c, 4096, 1024, tanh_form, na::kFloat32, 4.0);
    bench_linear_gelu(c, 512, 768, 1024, false);
    bench_linear_gelu(c, 4096, 1024, 1024, true);
    bench_optimized_linear(c, 4096, 1024, 1024);

    std::vector<RowOp> row_ops;
    // softmax: fwd reads x, writes y; bwd reads y and g, writes grad.
    row_ops.push_back({"softmax", 8, 20, [](const na::Tensor& x) { return F::softmax(x, -1); }
#ifdef NA_HAVE_LIBTORCH
                       ,
                       [](const at::Tensor& x) { return at::softmax(x, -1); }
#endif
    });
    // layer_norm with affine parameters: as softmax (parameters are negligible).
    const na::Tensor lw = na::randn({1024}), lb = na::randn({1024});
    row_ops.push_back({"layer_norm", 8, 20,
                       [&](const na::Tensor& x) { return F::layer_norm(x, {x.size(-1)}, lw, lb); }
#ifdef NA_HAVE_LIBTORCH
                       ,
                       [tw = na_bench::to_torch(lw), tb = na_bench::to_torch(lb)](const at::Tensor& x) {
                         return at::layer_norm(x, {x.size(-1)}, tw, tb);
                       }
#endif
    });
    // cross-entropy over (N, C) logits: fwd reads the logits; bwd reads them again, writes grad.
    const na::Tensor target = na::randint(0, 1024, {4096});
    row_ops.push_back(
        {"cross_entropy", 4, 12, [&](const na::Tensor& x) { return F::cross_entropy(x, target); }
#ifdef NA_HAVE_LIBTORCH
         ,
         [tt = na_bench::to_torch(target.to(na::DType::f64)).to(at::kLong)](const at::Tensor& x) {
           return at::cross_entropy_loss(x, tt);
         }
#endif
        });
    for (const RowOp& op : row_ops) bench_row_op(c, op, 4096, 1024);
    bench_attention(c, 8, 8, 512, 64);

    c.rep.print_table(std::cout);
    if (!c.args.json_path.empty()) {
      c.rep.write_json(c.args.json_path);
      std::cout << "\nwrote " << c.args.json_path << "\n";
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "performance_comparison: " << e.what() << "\n";
    return 1;
  }
}
