// Fused kernels: the switch between the fused CPU kernels and the plain compositions they
// replace, and bias_dropout_add (a fused op PyTorch has no single function for).
//
// softmax/log_softmax, cross_entropy, layer_norm, rms_norm and scaled_dot_product_attention run
// single-pass fused kernels (f32/f64) where those cover the arguments, and the compositions of
// simpler ops otherwise (f16/bf16, attention with an explicit mask or dropout, double backward).
// Both give the same values to rounding; the switch exists for tests and benchmarks.
#pragma once
#include "neural_arch/random.hpp"
#include "neural_arch/tensor.hpp"

namespace neural_arch::functional {

/// Whether the fused kernels are used (default true). Process-wide.
bool fused_kernels_enabled();
void set_fused_kernels_enabled(bool enabled);

/// Sets the switch for a scope and restores the previous value.
class FusedKernelsGuard {
 public:
  explicit FusedKernelsGuard(bool enabled) : prev_(fused_kernels_enabled()) {
    set_fused_kernels_enabled(enabled);
  }
  ~FusedKernelsGuard() { set_fused_kernels_enabled(prev_); }
  FusedKernelsGuard(const FusedKernelsGuard&) = delete;
  FusedKernelsGuard& operator=(const FusedKernelsGuard&) = delete;

 private:
  bool prev_;
};

/// residual + dropout(x + bias, p, training), the tail of a transformer sub-block, in one pass.
/// bias (optional) has x's last dim; residual (optional) has x's shape. PyTorch writes this as
/// `residual + F.dropout(x + bias, p, training)`; there is no single torch op.
/// The dropout mask is not stored: it is a counter-based hash of one 64-bit seed drawn from gen
/// (default: the global generator) and the element's position, and backward regenerates it.
/// So for the same generator state the mask is reproducible (checkpoint recomputation matches),
/// but it is a different random stream from ops::dropout's. With training false or p == 0 it is
/// x + bias + residual. f16/bf16 (and the fused switch off) use the composition.
///
///   auto y = na::functional::bias_dropout_add(h, Tensor(), x, 0.1, module.is_training());
Tensor bias_dropout_add(const Tensor& x, const Tensor& bias, const Tensor& residual, double p, bool training,
                        Generator* gen = nullptr);

}  // namespace neural_arch::functional
