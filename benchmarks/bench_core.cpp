// bench_core: GEMM, two elementwise ops and per-call overhead, each against a baseline
// measured in the same run (oneDNN for GEMM, libtorch for the rest) and against this
// machine's limit (measured FMA peak for GEMM, STREAM triad bandwidth for elementwise).
//
//   bench_core [--threads N] [--json FILE] [--filter S] [--quick] [--torch-malloc keep|default]
//
// libtorch is given its best configuration found on this machine (DESIGN.md, "Measuring
// fairly"): the same thread count; its AVX-512 kernels (ATEN_CPU_CAPABILITY=avx512, set by
// re-executing this program because libtorch must see it before its first op) unless the
// caller set ATEN_CPU_CAPABILITY; OPENBLAS_CORETYPE unset; and glibc malloc told to keep
// freed blocks (--torch-malloc keep, the default), since its default unmaps every large
// output on free and faults the pages back in on the next call. Each row says which.
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "dnnl.hpp"
#include "neural_arch/autograd.hpp"
#include "neural_arch/ops.hpp"
#include "neural_arch/tensor.hpp"

#ifdef NA_HAVE_LIBTORCH
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <torch/csrc/api/include/torch/version.h>
#endif

namespace na = neural_arch;
using na_bench::AdaptiveOptions;
using na_bench::Report;
using na_bench::Row;
using na_bench::TimeStats;

namespace {

struct Settings {
  na_bench::CommonArgs common;
  bool torch_malloc_keep = true;
};

Settings parse(int argc, char** argv) {
  Settings s;
  s.common = na_bench::parse_args(
      argc, argv, "bench_core",
      {{"--torch-malloc", "M",
        "keep (default): glibc keeps freed blocks for reuse;\n"
        "                   default: glibc's own settings (unmaps large blocks on free)",
        [&](const std::string& v) {
          if (v != "keep" && v != "default")
            throw std::invalid_argument("--torch-malloc takes keep or default, got '" + v + "'");
          s.torch_malloc_keep = v == "keep";
        }}},
      "environment: ATEN_CPU_CAPABILITY (default here: avx512 when the CPU has it)\n");
  return s;
}

AdaptiveOptions timing_options(const Settings& s) {
  AdaptiveOptions opt;
  if (s.common.quick) {
    opt.warmup = 1;
    opt.min_repeats = 2;
    opt.max_repeats = 3;
    opt.min_total_s = 0;
  }
  return opt;
}

// Largest |x - y| over two float buffers, relative to the largest |y| (1 if y is all zero).
double max_rel_diff(const float* x, const float* y, size_t n) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < n; ++i) {
    diff = std::max(diff, static_cast<double>(std::fabs(x[i] - y[i])));
    scale = std::max(scale, static_cast<double>(std::fabs(y[i])));
  }
  return diff / (scale > 0 ? scale : 1.0);
}

std::string dnnl_config(int threads) {
  const dnnl_version_t* v = dnnl_version();
  std::ostringstream os;
  os << "oneDNN " << v->major << '.' << v->minor << '.' << v->patch
     << " matmul primitive (f32, row-major, created once), threads=" << threads;
  return os.str();
}

#ifdef NA_HAVE_LIBTORCH
std::string torch_config(const Settings& s) { return na_bench::torch_config(s.torch_malloc_keep); }
using na_bench::to_torch;
#endif

// ------------------------------------------------------------------ GEMM vs oneDNN

void bench_gemm(int64_t m, int64_t k, int64_t n, const Settings& s, const na_bench::MachineInfo& mi,
                Report& rep) {
  const std::string name = "gemm/" + std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n);
  if (!s.common.wants(name)) return;
  const na::Tensor a = na::randn({m, k});
  const na::Tensor b = na::randn({k, n});

  using dnnl::memory;
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream strm(eng);
  const memory::desc a_md({m, k}, memory::data_type::f32, memory::format_tag::ab);
  const memory::desc b_md({k, n}, memory::data_type::f32, memory::format_tag::ab);
  const memory::desc c_md({m, n}, memory::data_type::f32, memory::format_tag::ab);
  const dnnl::matmul prim(dnnl::matmul::primitive_desc(dnnl::matmul::desc(a_md, b_md, c_md), eng));
  memory a_mem(a_md, eng, a.data_ptr<float>());
  memory b_mem(b_md, eng, b.data_ptr<float>());
  memory c_mem(c_md, eng);
  auto run_dnnl = [&] {
    prim.execute(strm, {{DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, b_mem}, {DNNL_ARG_DST, c_mem}});
    strm.wait();
  };
  na::Tensor out;
  auto run_ours = [&] { out = na::matmul(a, b); };

  const auto st = na_bench::time_interleaved({run_ours, run_dnnl}, timing_options(s));
  const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  Row row;
  row.name = name;
  row.ours_ms = st[0].median_ms;
  row.baseline = "onednn";
  row.baseline_ms = st[1].median_ms;
  if (mi.fma_gflops > 0) row.limit_ms = flops / (mi.fma_gflops * 1e9) * 1e3;
  row.set("ours_min_ms", st[0].min_ms).set("ours_p90_ms", st[0].p90_ms).set("repeats", st[0].repeats);
  row.set("baseline_min_ms", st[1].min_ms).set("baseline_p90_ms", st[1].p90_ms);
  row.set("ours_gflops", flops / (st[0].median_ms * 1e6));
  row.set("baseline_gflops", flops / (st[1].median_ms * 1e6));
  row.set("limit_kind", "fma_peak");
  row.set("baseline_config", dnnl_config(s.common.threads));
  row.set("max_rel_diff",
          max_rel_diff(out.contiguous().data_ptr<float>(), static_cast<const float*>(c_mem.get_data_handle()),
                       static_cast<size_t>(m * n)));
  rep.add(std::move(row));
}

// ------------------------------------------------------------------ elementwise vs libtorch

enum class Elementwise { add, gelu_tanh };

void bench_elementwise(Elementwise op, const Settings& s, const na_bench::MachineInfo& mi, Report& rep) {
  const int64_t rows = 4096, cols = 1024;
  const bool is_add = op == Elementwise::add;
  const std::string name =
      std::string(is_add ? "add/" : "gelu_tanh/") + std::to_string(rows) + "x" + std::to_string(cols);
  if (!s.common.wants(name)) return;
  // f32 bytes that must cross the memory bus per element: add reads 2 and writes 1, gelu reads 1 and
  // writes 1.
  const int bytes_per_elem = is_add ? 3 * 4 : 2 * 4;
  const na::Tensor x = na::randn({rows, cols});
  const na::Tensor y = na::randn({rows, cols});
  na::Tensor out;
  std::vector<std::function<void()>> fns;
  if (is_add)
    fns.emplace_back([&] { out = na::add(x, y); });
  else
    fns.emplace_back([&] { out = na::gelu(x, "tanh"); });
#ifdef NA_HAVE_LIBTORCH
  const at::Tensor tx = to_torch(x), ty = to_torch(y);
  at::Tensor tout, tout_pre = at::empty_like(tx);
  if (is_add) {
    fns.emplace_back([&] { tout = at::add(tx, ty); });
    fns.emplace_back([&] { at::add_out(tout_pre, tx, ty); });
  } else {
    fns.emplace_back([&] { tout = at::gelu(tx, "tanh"); });
    fns.emplace_back([&] { at::gelu_out(tout_pre, tx, "tanh"); });
  }
#endif
  const auto st = na_bench::time_interleaved(fns, timing_options(s));
  const double n = static_cast<double>(rows * cols);
  const double bytes = bytes_per_elem * n;
  Row row;
  row.name = name;
  row.ours_ms = st[0].median_ms;
  row.limit_ms = bytes / (mi.stream.best_gbs * 1e9) * 1e3;
  row.set("ours_min_ms", st[0].min_ms).set("ours_p90_ms", st[0].p90_ms).set("repeats", st[0].repeats);
  row.set("ours_gbs", bytes / (st[0].median_ms * 1e6));
  row.set("bytes", static_cast<int64_t>(bytes));
  row.set("limit_kind", "stream_triad");
#ifdef NA_HAVE_LIBTORCH
  row.baseline = "libtorch";
  row.baseline_ms = st[1].median_ms;
  row.set("baseline_min_ms", st[1].min_ms).set("baseline_p90_ms", st[1].p90_ms);
  // The same op writing into a preallocated tensor: libtorch's kernel without its allocation.
  row.set("baseline_out_ms", st[2].median_ms);
  row.set("baseline_config", torch_config(s));
  row.set("max_rel_diff", max_rel_diff(out.contiguous().data_ptr<float>(), tout.data_ptr<float>(),
                                       static_cast<size_t>(rows * cols)));
#endif
  rep.add(std::move(row));
}

// ------------------------------------------------------------------ per-call overhead

void bench_overhead(bool grad, const Settings& s, Report& rep) {
  const std::string name = grad ? "overhead/add8_grad" : "overhead/add8";
  if (!s.common.wants(name)) return;
  na::Tensor a = na::randn({8}), b = na::randn({8});
  if (grad) {
    a.requires_grad_();
    b.requires_grad_();
  }
  na::Tensor out;
  std::vector<std::function<void()>> fns{[&] { out = na::add(a, b); }};
#ifdef NA_HAVE_LIBTORCH
  const at::Tensor ta = to_torch(a).requires_grad_(grad), tb = to_torch(b).requires_grad_(grad);
  at::Tensor tout;
  fns.emplace_back([&] { tout = at::add(ta, tb); });
#endif
  const auto st = na_bench::time_per_call_interleaved(fns, timing_options(s));
  Row row;
  row.name = name;
  row.ours_ms = st[0].median_ms;
  row.set("ours_min_ms", st[0].min_ms).set("ours_p90_ms", st[0].p90_ms).set("repeats", st[0].repeats);
  row.set("ours_us_per_call", st[0].median_ms * 1e3);
  // A recorded node is what _grad measures: check that both sides really built one.
  row.set("ours_records_node", out.grad_fn() != nullptr);
#ifdef NA_HAVE_LIBTORCH
  row.baseline = "libtorch";
  row.baseline_ms = st[1].median_ms;
  row.set("baseline_min_ms", st[1].min_ms).set("baseline_p90_ms", st[1].p90_ms);
  row.set("baseline_us_per_call", st[1].median_ms * 1e3);
  row.set("baseline_records_node", tout.grad_fn() != nullptr);
  row.set("baseline_config", torch_config(s));
#endif
  rep.add(std::move(row));
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Settings s = parse(argc, argv);
    na_bench::prepare_libtorch(argv, s.torch_malloc_keep);
    na_bench::set_threads(s.common.threads);
    const na_bench::MachineInfo mi = na_bench::measure_machine(s.common.threads);
    std::cout << na_bench::describe_machine(mi);
#ifdef NA_HAVE_LIBTORCH
    std::cout << "baseline: " << torch_config(s) << "\n";
#else
    std::cout
        << "baseline: libtorch not built in (NA_HAVE_LIBTORCH unset): elementwise rows have no baseline\n";
#endif
    std::cout << "\n";

    Report rep;
    rep.set_machine(mi);
    rep.set_run_info(argc, argv);
    bench_gemm(1024, 1024, 1024, s, mi, rep);
    bench_gemm(4096, 1024, 1024, s, mi, rep);
    bench_elementwise(Elementwise::add, s, mi, rep);
    bench_elementwise(Elementwise::gelu_tanh, s, mi, rep);
    bench_overhead(false, s, rep);
    bench_overhead(true, s, rep);

    rep.print_table(std::cout);
    if (!s.common.json_path.empty()) {
      rep.write_json(s.common.json_path);
      std::cout << "\nwrote " << s.common.json_path << "\n";
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bench_core: " << e.what() << "\n";
    return 1;
  }
}
