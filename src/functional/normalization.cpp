// layer_norm, rms_norm, group_norm, batch_norm as compositions of differentiable ops.
// A fused layer_norm kernel can replace the composition later; this file stays its reference.
#include "neural_arch/functional/normalization.hpp"

#include <limits>
#include <numeric>
#include <sstream>

#include "neural_arch/autograd.hpp"
#include "neural_arch/ops.hpp"
#include "optimization/autocast_hook.hpp"

namespace neural_arch::functional {

namespace {

void check_input(const Tensor& x, const char* op) {
  NA_CHECK(x.defined(), op, "input is an undefined tensor");
  NA_CHECK(is_floating(x.dtype()), op, "expected a floating input, got ", dtype_name(x.dtype()));
}

void check_affine(const Tensor& t, const Shape& expected, const Tensor& x, const char* op, const char* what) {
  if (!t.defined()) return;
  NA_CHECK(t.shape() == expected, op, what, " must have shape ", shape_str(expected), ", got ", shape_str(t.shape()));
  NA_CHECK(t.dtype() == x.dtype(), op, what, " dtype ", dtype_name(t.dtype()), " does not match the input's ",
           dtype_name(x.dtype()));
}

bool is_narrow(DType t) { return t == DType::f16 || t == DType::bf16; }

// Narrow floats are normalised in float32: their own precision cannot hold a variance.
Tensor widen(const Tensor& t) { return t.defined() && is_narrow(t.dtype()) ? t.to(DType::f32) : t; }

std::vector<int64_t> trailing_dims(const Tensor& x, const std::vector<int64_t>& normalized_shape, const char* op) {
  const int64_t k = static_cast<int64_t>(normalized_shape.size());
  NA_CHECK(k >= 1, op, "normalized_shape must have at least one dim");
  bool ok = x.dim() >= k;
  for (int64_t i = 0; ok && i < k; ++i) ok = x.size(x.dim() - k + i) == normalized_shape[static_cast<size_t>(i)];
  NA_CHECK(ok, op, "expected input with trailing shape ", shape_str(normalized_shape),
           " (normalized_shape), got shape ", shape_str(x.shape()));
  std::vector<int64_t> dims(static_cast<size_t>(k));
  std::iota(dims.begin(), dims.end(), x.dim() - k);
  return dims;
}

// (1, C, 1, ..., 1) for per-channel parameters of an (N, C, *) input.
Shape channel_shape(const Tensor& x) {
  Shape s(static_cast<size_t>(x.dim()), 1);
  s[1] = x.size(1);
  return s;
}

double machine_eps(DType t) {
  switch (t) {
    case DType::f64: return std::numeric_limits<double>::epsilon();
    case DType::f16: return 0.0009765625;  // 2^-10
    case DType::bf16: return 0.0078125;    // 2^-7
    default: return static_cast<double>(std::numeric_limits<float>::epsilon());
  }
}

}  // namespace

Tensor layer_norm(const Tensor& x_in, const std::vector<int64_t>& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps) {
  if (optimization::detail::AutocastCall ac{"layer_norm", x_in, weight, bias}) return layer_norm(ac[0], normalized_shape, ac[1], ac[2], eps);
  check_input(x_in, "layer_norm");
  auto dims = trailing_dims(x_in, normalized_shape, "layer_norm");
  check_affine(weight, normalized_shape, x_in, "layer_norm", "weight");
  check_affine(bias, normalized_shape, x_in, "layer_norm", "bias");
  NA_CHECK(eps >= 0.0, "layer_norm", "eps must be non-negative, got ", eps);
  Tensor x = widen(x_in);
  Tensor xc = x - mean(x, dims, true);
  Tensor y = xc * rsqrt(mean(xc * xc, dims, true) + eps);
  if (weight.defined()) y = y * widen(weight);
  if (bias.defined()) y = y + widen(bias);
  return y.to(x_in.dtype());
}

Tensor rms_norm(const Tensor& x_in, const std::vector<int64_t>& normalized_shape, const Tensor& weight,
                std::optional<double> eps) {
  if (optimization::detail::AutocastCall ac{"rms_norm", x_in, weight}) return rms_norm(ac[0], normalized_shape, ac[1], eps);
  check_input(x_in, "rms_norm");
  auto dims = trailing_dims(x_in, normalized_shape, "rms_norm");
  check_affine(weight, normalized_shape, x_in, "rms_norm", "weight");
  const double e = eps.value_or(machine_eps(x_in.dtype()));
  NA_CHECK(e >= 0.0, "rms_norm", "eps must be non-negative, got ", e);
  Tensor x = widen(x_in);
  Tensor y = x * rsqrt(mean(x * x, dims, true) + e);
  if (weight.defined()) y = y * widen(weight);
  return y.to(x_in.dtype());
}

Tensor group_norm(const Tensor& x_in, int64_t num_groups, const Tensor& weight, const Tensor& bias, double eps) {
  if (optimization::detail::AutocastCall ac{"group_norm", x_in, weight, bias}) return group_norm(ac[0], num_groups, ac[1], ac[2], eps);
  check_input(x_in, "group_norm");
  NA_CHECK(x_in.dim() >= 2, "group_norm", "expected input of shape (N, C, *) with at least 2 dims, got shape ",
           shape_str(x_in.shape()));
  const int64_t n = x_in.size(0), c = x_in.size(1);
  NA_CHECK(num_groups > 0 && c % num_groups == 0, "group_norm", "expected the number of channels (", c,
           ") to be divisible by num_groups (", num_groups, "), input shape ", shape_str(x_in.shape()));
  check_affine(weight, {c}, x_in, "group_norm", "weight");
  check_affine(bias, {c}, x_in, "group_norm", "bias");
  Tensor x = widen(x_in);
  const int64_t per_group = n * num_groups == 0 ? 0 : x.numel() / (n * num_groups);
  NA_CHECK(per_group > 0, "group_norm", "each group needs at least one value, input shape ", shape_str(x_in.shape()));
  Tensor xg = x.reshape({n, num_groups, per_group});
  Tensor xc = xg - mean(xg, {2}, true);
  Tensor y = (xc * rsqrt(mean(xc * xc, {2}, true) + eps)).reshape(x.shape());
  const Shape cs = channel_shape(x);
  if (weight.defined()) y = y * widen(weight).reshape(cs);
  if (bias.defined()) y = y + widen(bias).reshape(cs);
  return y.to(x_in.dtype());
}

Tensor batch_norm(const Tensor& x_in, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  // The running statistics are updated in place: they are never cast.
  if (optimization::detail::AutocastCall ac{"batch_norm", x_in, weight, bias})
    return batch_norm(ac[0], running_mean, running_var, ac[1], ac[2], training, momentum, eps);
  check_input(x_in, "batch_norm");
  NA_CHECK(x_in.dim() >= 2, "batch_norm", "expected input of shape (N, C) or (N, C, *), got shape ",
           shape_str(x_in.shape()));
  const int64_t c = x_in.size(1);
  check_affine(weight, {c}, x_in, "batch_norm", "weight");
  check_affine(bias, {c}, x_in, "batch_norm", "bias");
  NA_CHECK(running_mean.defined() == running_var.defined(), "batch_norm",
           "running_mean and running_var must be both defined or both undefined");
  for (const Tensor* r : {&running_mean, &running_var}) {
    if (!r->defined()) continue;
    NA_CHECK(r->shape() == Shape{c}, "batch_norm", "running statistics must have shape (", c, ",) to match input shape ",
             shape_str(x_in.shape()), ", got ", shape_str(r->shape()));
    NA_CHECK(is_floating(r->dtype()), "batch_norm", "running statistics must be floating, got ",
             dtype_name(r->dtype()));
  }
  NA_CHECK(training || running_mean.defined(), "batch_norm",
           "running_mean and running_var must be defined when not training");

  Tensor x = widen(x_in);
  const Shape cs = channel_shape(x);
  std::vector<int64_t> dims{0};
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  Tensor y;
  if (training) {
    const int64_t count = x.numel() / std::max<int64_t>(c, 1);
    NA_CHECK(count > 1, "batch_norm", "expected more than 1 value per channel when training, got input size ",
             shape_str(x_in.shape()));
    Tensor mu = mean(x, dims, true);
    Tensor xc = x - mu;
    Tensor v = mean(xc * xc, dims, true);
    y = xc * rsqrt(v + eps);
    if (running_mean.defined()) {
      NoGradGuard no_grad;
      const double unbias = static_cast<double>(count) / static_cast<double>(count - 1);
      Tensor rm = running_mean, rv = running_var;
      rm.copy_(running_mean.to(x.dtype()) * (1.0 - momentum) + mu.detach().reshape({c}) * momentum);
      rv.copy_(running_var.to(x.dtype()) * (1.0 - momentum) + v.detach().reshape({c}) * (momentum * unbias));
    }
  } else {
    Tensor rm = running_mean.detach().to(x.dtype()).reshape(cs);
    Tensor rv = running_var.detach().to(x.dtype()).reshape(cs);
    y = (x - rm) * rsqrt(rv + eps);
  }
  if (weight.defined()) y = y * widen(weight).reshape(cs);
  if (bias.defined()) y = y + widen(bias).reshape(cs);
  return y.to(x_in.dtype());
}

}  // namespace neural_arch::functional
