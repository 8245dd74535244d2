// Internal: activation derivatives composed from differentiable ops. Fused backward kernels
// compute these in one pass; under create_graph the gradient must itself be differentiable,
// so the backward functions of the fused activations and of fused Linear+activation fall
// back to these.
#pragma once
#include <cmath>

#include "neural_arch/ops.hpp"

namespace neural_arch::detail {

inline Tensor sigmoid_grad_composed(const Tensor& z) {
  Tensor s = sigmoid(z);
  return s * (1.0 - s);
}

inline Tensor silu_grad_composed(const Tensor& z) {
  Tensor s = sigmoid(z);
  return s * (z * (1.0 - s) + 1.0);
}

inline Tensor gelu_grad_composed(const Tensor& z, bool tanh_form) {
  if (tanh_form) {
    const double k = std::sqrt(2.0 / M_PI), c = 0.044715;
    Tensor t = tanh((z + z * z * z * c) * k);
    return (t + 1.0) * 0.5 + z * 0.5 * (1.0 - t * t) * (z * z * (3.0 * c) + 1.0) * k;
  }
  Tensor cdf = (erf(z * M_SQRT1_2) + 1.0) * 0.5;
  Tensor pdf = exp(z * z * -0.5) * (1.0 / std::sqrt(2.0 * M_PI));
  return cdf + z * pdf;
}

// d/dz z tanh(softplus(z)) = tanh(sp) + z sigmoid(z) (1 - tanh(sp)^2).
inline Tensor mish_grad_composed(const Tensor& z) {
  Tensor t = tanh(softplus(z));
  return t + z * sigmoid(z) * (1.0 - t * t);
}

}  // namespace neural_arch::detail
