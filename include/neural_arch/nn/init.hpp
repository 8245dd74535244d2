// In-place initialisers (torch.nn.init): they overwrite a tensor's values under no-grad and
// return the same handle. Random ones draw from gen, or from the default generator when null.
#pragma once
#include <string>
#include <utility>

#include "neural_arch/random.hpp"
#include "neural_arch/tensor.hpp"

namespace neural_arch::nn::init {

/// (fan_in, fan_out) of a weight: for shape (out, in, k...) fan_in = in * prod(k) and
/// fan_out = out * prod(k). Needs at least 2 dims.
std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& t);

/// Recommended gain for a nonlinearity: "linear", "conv*", "sigmoid" -> 1, "tanh" -> 5/3,
/// "relu" -> sqrt(2), "leaky_relu" -> sqrt(2 / (1 + param^2)) (param defaults to 0.01), "selu" -> 3/4.
double calculate_gain(const std::string& nonlinearity, double param = 0.01);

Tensor uniform_(const Tensor& t, double a = 0.0, double b = 1.0, Generator* gen = nullptr);
Tensor normal_(const Tensor& t, double mean = 0.0, double std = 1.0, Generator* gen = nullptr);
/// Normal(mean, std) values redrawn until they lie in [a, b].
Tensor trunc_normal_(const Tensor& t, double mean = 0.0, double std = 1.0, double a = -2.0, double b = 2.0,
                     Generator* gen = nullptr);
Tensor constant_(const Tensor& t, double value);
Tensor zeros_(const Tensor& t);
Tensor ones_(const Tensor& t);

/// U(-bound, bound) with bound = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a);
/// mode "fan_in" or "fan_out". Linear's default is kaiming_uniform_(w, sqrt(5)).
Tensor kaiming_uniform_(const Tensor& t, double a = 0.0, const std::string& mode = "fan_in",
                        const std::string& nonlinearity = "leaky_relu", Generator* gen = nullptr);
/// N(0, std^2) with std = gain / sqrt(fan).
Tensor kaiming_normal_(const Tensor& t, double a = 0.0, const std::string& mode = "fan_in",
                       const std::string& nonlinearity = "leaky_relu", Generator* gen = nullptr);
/// U(-bound, bound) with bound = gain * sqrt(6 / (fan_in + fan_out)).
Tensor xavier_uniform_(const Tensor& t, double gain = 1.0, Generator* gen = nullptr);
/// N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)).
Tensor xavier_normal_(const Tensor& t, double gain = 1.0, Generator* gen = nullptr);

}  // namespace neural_arch::nn::init
