// torch.nn.init equivalents. Values are drawn in float64 and cast on copy, so a float32 and a
// float64 tensor initialised from the same generator state hold the same numbers (rounded).
#include "neural_arch/nn/init.hpp"

#include <cmath>

#include "neural_arch/autograd.hpp"
#include "neural_arch/ops.hpp"

namespace neural_arch::nn::init {

namespace {

void check_target(const Tensor& t, const char* op) {
  NA_CHECK(t.defined(), op, "cannot initialise an undefined tensor");
  NA_CHECK(is_floating(t.dtype()), op, "expected a floating tensor, got ", dtype_name(t.dtype()));
}

// Writes src into t without recording, even when t is a parameter that requires grad.
Tensor assign(const Tensor& t, const Tensor& src) {
  NoGradGuard no_grad;
  Tensor h = t;
  h.copy_(src);
  return t;
}

int64_t fan(const Tensor& t, const std::string& mode, const char* op) {
  NA_CHECK(mode == "fan_in" || mode == "fan_out", op, "mode must be 'fan_in' or 'fan_out', got '", mode, "'");
  auto [fi, fo] = calculate_fan_in_and_fan_out(t);
  return mode == "fan_in" ? fi : fo;
}

}  // namespace

std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& t) {
  NA_CHECK(t.defined() && t.dim() >= 2, "init",
           "fan in and fan out can not be computed for a tensor with fewer than 2 dimensions, got shape ",
           t.defined() ? shape_str(t.shape()) : std::string("undefined"));
  int64_t receptive = 1;
  for (int64_t d = 2; d < t.dim(); ++d) receptive *= t.size(d);
  return {t.size(1) * receptive, t.size(0) * receptive};
}

double calculate_gain(const std::string& nl, double param) {
  if (nl == "linear" || nl == "sigmoid" || nl.rfind("conv", 0) == 0) return 1.0;
  if (nl == "tanh") return 5.0 / 3.0;
  if (nl == "relu") return std::sqrt(2.0);
  if (nl == "leaky_relu") return std::sqrt(2.0 / (1.0 + param * param));
  if (nl == "selu") return 0.75;
  detail::throw_error("calculate_gain", "unsupported nonlinearity '", nl, "'");
}

Tensor uniform_(const Tensor& t, double a, double b, Generator* gen) {
  check_target(t, "uniform_");
  NA_CHECK(a <= b, "uniform_", "expected a <= b, got a=", a, ", b=", b);
  return assign(t, uniform(a, b, t.shape(), kFloat64, gen));
}

Tensor normal_(const Tensor& t, double mean, double std, Generator* gen) {
  check_target(t, "normal_");
  NA_CHECK(std >= 0.0, "normal_", "std must be non-negative, got ", std);
  return assign(t, normal(mean, std, t.shape(), kFloat64, gen));
}

Tensor trunc_normal_(const Tensor& t, double mean, double std, double a, double b, Generator* gen) {
  check_target(t, "trunc_normal_");
  NA_CHECK(a < b && std >= 0.0, "trunc_normal_", "expected a < b and std >= 0, got a=", a, ", b=", b,
           ", std=", std);
  NA_CHECK(mean + 6 * std > a && mean - 6 * std < b, "trunc_normal_", "the interval [", a, ", ", b,
           "] is more than 6 std from the mean ", mean, ": rejection sampling would not finish");
  Tensor v = normal(mean, std, t.shape(), kFloat64, gen).contiguous();
  double* p = v.data_ptr<double>();
  std::normal_distribution<double> dist(mean, std);
  Generator& g = gen ? *gen : default_generator();
  for (int64_t i = 0; i < v.numel(); ++i)
    while (p[i] < a || p[i] > b) p[i] = dist(g.engine());
  return assign(t, v);
}

Tensor constant_(const Tensor& t, double value) {
  check_target(t, "constant_");
  return assign(t, full({}, value, kFloat64));
}

Tensor zeros_(const Tensor& t) { return constant_(t, 0.0); }
Tensor ones_(const Tensor& t) { return constant_(t, 1.0); }

Tensor kaiming_uniform_(const Tensor& t, double a, const std::string& mode, const std::string& nonlinearity,
                        Generator* gen) {
  check_target(t, "kaiming_uniform_");
  const int64_t f = fan(t, mode, "kaiming_uniform_");
  if (f == 0) return t;  // torch warns and leaves a zero-element tensor alone
  const double bound = calculate_gain(nonlinearity, a) * std::sqrt(3.0 / static_cast<double>(f));
  return uniform_(t, -bound, bound, gen);
}

Tensor kaiming_normal_(const Tensor& t, double a, const std::string& mode, const std::string& nonlinearity,
                       Generator* gen) {
  check_target(t, "kaiming_normal_");
  const int64_t f = fan(t, mode, "kaiming_normal_");
  if (f == 0) return t;
  return normal_(t, 0.0, calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(f)), gen);
}

Tensor xavier_uniform_(const Tensor& t, double gain, Generator* gen) {
  check_target(t, "xavier_uniform_");
  auto [fi, fo] = calculate_fan_in_and_fan_out(t);
  if (fi + fo == 0) return t;
  const double bound = gain * std::sqrt(6.0 / static_cast<double>(fi + fo));
  return uniform_(t, -bound, bound, gen);
}

Tensor xavier_normal_(const Tensor& t, double gain, Generator* gen) {
  check_target(t, "xavier_normal_");
  auto [fi, fo] = calculate_fan_in_and_fan_out(t);
  if (fi + fo == 0) return t;
  return normal_(t, 0.0, gain * std::sqrt(2.0 / static_cast<double>(fi + fo)), gen);
}

}  // namespace neural_arch::nn::init
