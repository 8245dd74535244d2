// Activation functions (torch.nn.functional): the elementwise activations of ops.hpp
// re-exported under neural_arch::functional, plus mish and glu, which are composed from them.
#pragma once
#include <cstdint>

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

/// x * tanh(softplus(x)) (Misra 2019). Differentiable through its composition.
Tensor mish(const Tensor& x);

/// Gated linear unit: splits x in two halves a, b along dim and returns a * sigmoid(b).
/// The size of dim must be even.
Tensor glu(const Tensor& x, int64_t dim = -1);

/// max(0, min(6, x)).
Tensor relu6(const Tensor& x);

/// x * relu6(x + 3) / 6.
Tensor hardswish(const Tensor& x);

/// x for x > 0, alpha * (exp(x) - 1) otherwise.
Tensor elu(const Tensor& x, double alpha = 1.0);

}  // namespace neural_arch::functional
