#include <cstdlib>
#include <string>

#include "backends/cpu/kernels.hpp"
#include "neural_arch/error.hpp"

namespace neural_arch::cpu {

namespace {
const KernelTable* choose() {
  const bool has512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  const bool has2 =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  // NA_CPU_ISA can only narrow: asking for a wider ISA than the CPU has is an error.
  std::string want = std::getenv("NA_CPU_ISA") ? std::getenv("NA_CPU_ISA") : "";
  if (want == "base") return base::kernel_table();
  if (want == "avx2") {
    NA_CHECK(has2, "NA_CPU_ISA", "avx2 requested but this CPU lacks AVX2/FMA/F16C");
    return avx2::kernel_table();
  }
  if (want == "avx512")
    NA_CHECK(has512, "NA_CPU_ISA", "avx512 requested but this CPU lacks AVX-512");
  else
    NA_CHECK(want.empty(), "NA_CPU_ISA", "unknown value '", want, "' (expected base, avx2 or avx512)");
  if (has512) return avx512::kernel_table();
  if (has2) return avx2::kernel_table();
  return base::kernel_table();
}
}  // namespace

const KernelTable& kernels() {
  static const KernelTable* table = choose();
  return *table;
}

const char* active_isa() { return kernels().isa; }

}  // namespace neural_arch::cpu
