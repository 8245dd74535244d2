// bench_limits: this machine's limits as the benchmarks measure them — STREAM triad
// bandwidth and peak f32 FMA throughput — for 1..N threads. A quick check that the
// limits other programs divide by are sane (and how they scale with threads).
//
//   bench_limits [--threads N]
#include <cstdio>
#include <iostream>

#include "bench_util.hpp"

int main(int argc, char** argv) {
  try {
    const auto args = na_bench::parse_args(argc, argv, "bench_limits");
    const size_t bytes = na_bench::default_stream_bytes();
    std::printf("cpu: %s  host isa: %s  stream array: %zu MiB (x3)\n", na_bench::cpu_model().c_str(),
                na_bench::host_isa().c_str(), bytes >> 20);
    std::printf("%8s %18s %20s %18s\n", "threads", "triad best GB/s", "triad median GB/s", "fma GFLOP/s");
    for (int t = 1; t <= args.threads; ++t) {
      na_bench::set_threads(t);
      const auto s = na_bench::stream_triad(bytes, t);
      std::printf("%8d %18.1f %20.1f %18.1f\n", t, s.best_gbs, s.median_gbs, na_bench::fma_peak_gflops(t));
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bench_limits: " << e.what() << "\n";
    return 1;
  }
}
