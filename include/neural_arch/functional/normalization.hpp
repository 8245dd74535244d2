// Normalization functions (torch.nn.functional): layer_norm, rms_norm, group_norm, batch_norm.
// They are composed from differentiable ops, so autograd gives input, weight and bias gradients.
// float16/bfloat16 inputs are normalised in float32 and the result cast back, as torch does.
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include "neural_arch/tensor.hpp"

namespace neural_arch::functional {

/// Normalises over the trailing dims given by normalized_shape:
///   (x - mean) / sqrt(var + eps) * weight + bias   (biased variance).
/// weight and bias (optional) have shape normalized_shape.
///
///   auto y = na::functional::layer_norm(x, {x.size(-1)}, w, b);
Tensor layer_norm(const Tensor& x, const std::vector<int64_t>& normalized_shape,
                  const Tensor& weight = Tensor(), const Tensor& bias = Tensor(), double eps = 1e-5);

/// x / sqrt(mean(x^2) + eps) * weight over the trailing dims given by normalized_shape.
/// eps defaults to the machine epsilon of x's dtype (torch.finfo(x.dtype).eps).
Tensor rms_norm(const Tensor& x, const std::vector<int64_t>& normalized_shape,
                const Tensor& weight = Tensor(), std::optional<double> eps = std::nullopt);

/// x / max(||x||_p over dim, eps), as torch.nn.functional.normalize (unit p-norm slices).
Tensor normalize(const Tensor& x, double p = 2.0, int64_t dim = 1, double eps = 1e-12);

/// x of shape (N, C, *): channels split in num_groups groups, each normalised over its channels
/// and the trailing dims; then per-channel weight and bias of shape (C).
Tensor group_norm(const Tensor& x, int64_t num_groups, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);

/// x of shape (N, C) or (N, C, *), normalised per channel.
/// training: uses the batch statistics (biased variance) and, when running_mean/running_var are
/// defined, updates them in place: running = (1 - momentum) * running + momentum * batch, with the
/// unbiased batch variance for running_var. Needs more than one value per channel.
/// Not training: uses running_mean/running_var, which must then be defined.
/// weight and bias (optional) have shape (C).
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight = Tensor(), const Tensor& bias = Tensor(), bool training = false,
                  double momentum = 0.1, double eps = 1e-5);

}  // namespace neural_arch::functional
