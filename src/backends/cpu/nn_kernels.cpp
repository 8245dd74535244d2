// Picks the fused NN kernel table of the instruction set kernels() chose.
#include "backends/cpu/nn_kernels.hpp"

#include <string>

#include "backends/cpu/kernels.hpp"

namespace neural_arch::cpu {

const NNKernelTable& nn_kernels() {
  // Follow the elementwise table's choice so NA_CPU_ISA narrows both alike.
  static const NNKernelTable* table = [] {
    const std::string isa = active_isa();
    if (isa == "avx512") return avx512::nn_kernel_table();
    if (isa == "avx2") return avx2::nn_kernel_table();
    return base::nn_kernel_table();
  }();
  return *table;
}

}  // namespace neural_arch::cpu
