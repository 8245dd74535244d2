// Loss functions (torch.nn.functional): same arguments, defaults and reductions as PyTorch.
// reduction is "none" (per-element losses), "mean" or "sum"; kl_div also takes "batchmean".
// They are composed from differentiable ops, so gradients reach input, target and weights.
#pragma once
#include <cstdint>
#include <string>

#include "neural_arch/tensor.hpp"

namespace neural_arch::functional {

/// Cross entropy of logits. input is (C), (N, C) or (N, C, d1, ...); classes along dim 1 (dim 0
/// for a 1-D input). target is either
///  - class indices (an integer tensor of the input's shape without the class dim), each in
///    [0, C) or equal to ignore_index (those entries contribute nothing); with "mean" the
///    losses are averaged with the class weights of their targets (sum(w[t] * l) / sum(w[t]));
///  - class probabilities (a floating tensor of the input's shape); "mean" divides by the
///    number of samples (input.numel() / C).
/// weight (C) rescales each class. label_smoothing in [0, 1] mixes the target with the uniform
/// distribution over classes. Computed through log_softmax, so large logits are fine.
///
///   auto loss = na::functional::cross_entropy(logits, labels);   // logits (N, 10), labels (N) int64
Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight = Tensor(),
                     int64_t ignore_index = -100, const std::string& reduction = "mean",
                     double label_smoothing = 0.0);

/// Negative log-likelihood of log-probabilities input (shapes and target rules as cross_entropy
/// with class indices): loss = -w[t] * input[t].
Tensor nll_loss(const Tensor& input, const Tensor& target, const Tensor& weight = Tensor(),
                int64_t ignore_index = -100, const std::string& reduction = "mean");

/// (input - target)^2. input and target broadcast against each other, as in PyTorch.
Tensor mse_loss(const Tensor& input, const Tensor& target, const std::string& reduction = "mean");

/// |input - target|.
Tensor l1_loss(const Tensor& input, const Tensor& target, const std::string& reduction = "mean");

/// 0.5 * d^2 / beta where d = |input - target| < beta, else d - 0.5 * beta (beta = 0: l1_loss).
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, const std::string& reduction = "mean",
                      double beta = 1.0);

/// 0.5 * d^2 where d = |input - target| < delta, else delta * (d - 0.5 * delta).
Tensor huber_loss(const Tensor& input, const Tensor& target, const std::string& reduction = "mean",
                  double delta = 1.0);

/// -weight * (target * log(input) + (1 - target) * log(1 - input)) for probabilities input in
/// [0, 1]; each log is clamped at -100 as in PyTorch. weight (optional) broadcasts to input.
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight = Tensor(),
                            const std::string& reduction = "mean");

/// binary_cross_entropy(sigmoid(input), target) computed stably from logits:
///   (1 - target) * input + (1 + (pos_weight - 1) * target) * softplus(-input), times weight.
/// pos_weight (optional) weights the positive term, broadcast along the last (class) dim.
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const Tensor& weight = Tensor(),
                                        const std::string& reduction = "mean",
                                        const Tensor& pos_weight = Tensor());

/// Kullback-Leibler divergence with input = log-probabilities:
///   target * (log(target) - input)   (0 where target == 0), or with log_target
///   exp(target) * (target - input).
/// reduction "batchmean" divides the sum by the batch size input.size(0) (the mathematically
/// correct KL); "mean" divides by the number of elements, as PyTorch does.
Tensor kl_div(const Tensor& input, const Tensor& target, const std::string& reduction = "mean",
              bool log_target = false);

}  // namespace neural_arch::functional
