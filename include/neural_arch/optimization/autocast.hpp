// Automatic mixed precision: inside an autocast scope, ops pick their compute dtype by PyTorch
// AMP's policy instead of their inputs' dtype.
#pragma once
#include "neural_arch/dtype.hpp"

namespace neural_arch::optimization {

/// RAII scope that turns autocast on (or off, with enabled = false) for the calling thread and
/// restores the previous state when it ends; scopes nest. Inside a scope:
///  - matmul, mm, bmm, linear, conv1d, conv2d and scaled_dot_product_attention run in `dtype`
///    (bf16 by default: oneDNN bf16 GEMM with f32 accumulation);
///  - softmax, log_softmax, the norms, the losses, the reductions (sum mean var std prod
///    logsumexp) and exp, log, log1p, pow run in f32;
///  - other ops with several inputs compute in the widest input type (ordinary promotion).
/// Only f32/f16/bf16 inputs are cast (f64 and integers never are); an op given an explicit
/// dtype (sum(..., dtype)) keeps it. The casts are recorded in autograd, so gradients reach
/// the inputs in their own dtypes, and backward() runs each op in its forward's dtypes
/// (autocast is off while the engine runs).
///
///   {
///     na::optimization::autocast ac;            // bf16
///     auto loss = F::cross_entropy(model.forward(x), y);  // linears in bf16, loss in f32
///     loss.backward();
///   }
class autocast {
 public:
  explicit autocast(DType dtype = kBFloat16, bool enabled = true);
  ~autocast();
  autocast(const autocast&) = delete;
  autocast& operator=(const autocast&) = delete;

 private:
  bool prev_enabled_;
  DType prev_dtype_;
};

/// Whether autocast is on for the calling thread, and its lower-precision dtype.
bool is_autocast_enabled();
DType get_autocast_dtype();

/// Whether a layer may take an input of dtype `input` with parameters of dtype `param`: equal
/// dtypes, or, inside an autocast scope, both among f32/f16/bf16 (the ops cast them by the
/// policy, so an f32 model takes the bf16 output of the previous layer). nn layers check this.
bool autocast_compatible(DType input, DType param);

}  // namespace neural_arch::optimization
