// Activation functions (torch.nn.functional): the elementwise activations of ops.hpp
// re-exported under neural_arch::functional, plus mish and the gated units glu/geglu/swiglu.
#pragma once
#include <cstdint>
#include <string>

#include "neural_arch/ops.hpp"
#include "neural_arch/tensor.hpp"

namespace neural_arch::functional {

using neural_arch::gelu;
using neural_arch::leaky_relu;
using neural_arch::log_softmax;
using neural_arch::relu;
using neural_arch::sigmoid;
using neural_arch::silu;
using neural_arch::softmax;
using neural_arch::softplus;
using neural_arch::tanh;

/// x * tanh(softplus(x)) (Misra 2019). One vectorized kernel forward and backward.
Tensor mish(const Tensor& x);

/// Gated linear unit (torch.nn.functional.glu): splits x in two halves a, b along dim and
/// returns a * sigmoid(b). The size of dim must be even. Fused kernels forward and backward.
Tensor glu(const Tensor& x, int64_t dim = -1);

/// GEGLU (Shazeer 2020): a * gelu(b) for the halves a, b of x along dim (first half the
/// value, second the gate, as in glu); approximate "none" (erf) or "tanh".
Tensor geglu(const Tensor& x, int64_t dim = -1, const std::string& approximate = "none");

/// SwiGLU (Shazeer 2020): a * silu(b) for the halves a, b of x along dim.
Tensor swiglu(const Tensor& x, int64_t dim = -1);

/// max(0, min(6, x)).
Tensor relu6(const Tensor& x);
/// clamp(x, min_val, max_val) whose gradient is 0 at and outside the bounds (torch's hardtanh).
Tensor hardtanh(const Tensor& x, double min_val = -1.0, double max_val = 1.0);

/// x * relu6(x + 3) / 6.
Tensor hardswish(const Tensor& x);

/// x for x > 0, alpha * (exp(x) - 1) otherwise.
Tensor elu(const Tensor& x, double alpha = 1.0);

}  // namespace neural_arch::functional
