// Fused Linear + activation: y = act(x W^T + b) as one GEMM whose epilogue adds the bias and
// applies the activation while each output tile is still in cache, and a backward that makes
// one pass over the output gradient (activation derivative and bias-gradient reduction
// together) before its two GEMMs. nn::OptimizedLinear is the layer form.
#pragma once
#include <string>

#include "neural_arch/tensor.hpp"

namespace neural_arch::optimization {

/// The activations fuse_linear_activation knows: "none", "relu", "gelu" (erf form),
/// "gelu_tanh" and "silu".
bool is_fusable_activation(const std::string& activation);

/// act(linear(x, weight, bias)) with torch.nn.functional.linear's shapes: x (..., in),
/// weight (out, in), bias (out) or undefined. f32 and f64 run fused; other floating dtypes
/// run the plain composition (same values). Differentiable, double backward included (it
/// recomputes the composition under create_graph).
///
///   auto h = na::optimization::fuse_linear_activation(x, fc->weight, fc->bias, "gelu_tanh");
Tensor fuse_linear_activation(const Tensor& x, const Tensor& weight, const Tensor& bias,
                              const std::string& activation);

/// The reference composition: the activation op applied to linear(x, weight, bias).
Tensor linear_activation_unfused(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                 const std::string& activation);

}  // namespace neural_arch::optimization
