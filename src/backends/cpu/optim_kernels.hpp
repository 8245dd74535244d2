// Fused optimizer update kernels. optim_kernels_isa.cpp is compiled once per instruction set
// (base, AVX2, AVX-512) like kernels_isa.cpp; optim_kernels() returns the table matching
// kernels() (so NA_CPU_ISA narrows both alike).
//
// Each kernel updates elements [begin, end) of one parameter in a single pass: it reads the
// parameter, its gradient and its state buffers once and writes the parameter and the state
// it changes once. The caller splits a step's parameters into ranges across threads.
//
// Every element goes through the same vector arithmetic, including the ragged tail of a range
// (it is staged through a full vector), so results do not depend on where ranges are cut:
// a step gives bitwise identical parameters for any thread count.
#pragma once
#include <cstdint>

namespace neural_arch::cpu {

/// One parameter's update: its buffers (element type float or double, chosen by the kernel)
/// and the scalars of this step. What s0..s2 and c[] hold is listed per optimizer below.
struct OptimArgs {
  void* param = nullptr;
  const void* grad = nullptr;
  void* s0 = nullptr;
  void* s1 = nullptr;
  void* s2 = nullptr;
  double c[10] = {};
};

using OptimKernel = void (*)(const OptimArgs& a, int64_t begin, int64_t end);

// Indices: dtype 0 = float32, 1 = float64. "grad sign" is -1 for maximize, else +1.
//
// sgd[dtype][has_weight_decay][momentum_mode][nesterov]
//   momentum_mode 0: no momentum; 1: first step (buffer = d_p); 2: later steps.
//   s0 = momentum buffer. c: 0 -lr, 1 weight_decay, 2 momentum, 3 1 - dampening, 4 grad sign (+-1).
// adam[dtype][weight_decay_mode][amsgrad]
//   weight_decay_mode 0: none; 1: L2 (Adam: g += wd * p); 2: decoupled (AdamW: p *= 1 - lr * wd).
//   s0 = exp_avg, s1 = exp_avg_sq, s2 = max_exp_avg_sq. c: 0 -step_size (= -lr / bias_correction1),
//   1 weight_decay (L2) or 1 - lr * weight_decay (decoupled), 2 beta1, 3 1 - beta1, 4 beta2,
//   5 1 - beta2, 6 sqrt(bias_correction2), 7 eps, 8 grad sign.
// lion[dtype]
//   s0 = exp_avg. c: 0 -lr, 1 1 - lr * weight_decay, 2 beta1, 3 1 - beta1, 4 beta2, 5 1 - beta2.
// rmsprop[dtype][has_weight_decay][centered][has_momentum]
//   s0 = square_avg, s1 = momentum_buffer, s2 = grad_avg. c: 0 -lr, 1 weight_decay, 2 alpha,
//   3 1 - alpha, 4 eps, 5 momentum, 6 grad sign.
// adagrad[dtype][has_weight_decay]
//   s0 = sum. c: 0 -clr, 1 weight_decay, 2 eps, 3 grad sign.
struct OptimKernelTable {
  const char* isa = "";
  OptimKernel sgd[2][2][3][2] = {};
  OptimKernel adam[2][3][2] = {};
  OptimKernel lion[2] = {};
  OptimKernel rmsprop[2][2][2][2] = {};
  OptimKernel adagrad[2][2] = {};
};

/// The table for this CPU (the same instruction set as kernels()).
const OptimKernelTable& optim_kernels();

namespace base {
const OptimKernelTable* optim_kernel_table();
}
namespace avx2 {
const OptimKernelTable* optim_kernel_table();
}
namespace avx512 {
const OptimKernelTable* optim_kernel_table();
}

}  // namespace neural_arch::cpu
