// layer_norm, rms_norm, group_norm, batch_norm as compositions of differentiable ops.
// layer_norm and rms_norm in f32/f64 run the fused row kernels of nn_kernels_isa.cpp instead
// (forward saves mean and rstd per row; backward is one kernel for x and one reduction for
// weight and bias); the compositions stay as reference, for f16/bf16 and for double backward.
#include "neural_arch/functional/normalization.hpp"

#include <limits>
#include <numeric>
#include <sstream>

#include "autograd/function.hpp"
#include "backends/cpu/nn_kernels.hpp"
#include "core/factory.hpp"
#include "functional/composed_grad.hpp"
#include "neural_arch/autograd.hpp"
#include "neural_arch/functional/fused.hpp"
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
  NA_CHECK(t.shape() == expected, op, what, " must have shape ", shape_str(expected), ", got ",
           shape_str(t.shape()));
  NA_CHECK(t.dtype() == x.dtype(), op, what, " dtype ", dtype_name(t.dtype()), " does not match the input's ",
           dtype_name(x.dtype()));
}

bool is_narrow(DType t) { return t == DType::f16 || t == DType::bf16; }

// Narrow floats are normalised in float32: their own precision cannot hold a variance.
Tensor widen(const Tensor& t) { return t.defined() && is_narrow(t.dtype()) ? t.to(DType::f32) : t; }

std::vector<int64_t> trailing_dims(const Tensor& x, const std::vector<int64_t>& normalized_shape,
                                   const char* op) {
  const int64_t k = static_cast<int64_t>(normalized_shape.size());
  NA_CHECK(k >= 1, op, "normalized_shape must have at least one dim");
  bool ok = x.dim() >= k;
  for (int64_t i = 0; ok && i < k; ++i)
    ok = x.size(x.dim() - k + i) == normalized_shape[static_cast<size_t>(i)];
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

int64_t numel_of(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Tensor layer_norm_composed(const Tensor& x, const std::vector<int64_t>& dims, const Tensor& weight,
                           const Tensor& bias, double eps);
Tensor rms_norm_composed(const Tensor& x, const std::vector<int64_t>& dims, const Tensor& weight, double eps);

bool fused_norm_covers(const Tensor& x, const Tensor& w, const Tensor& b) {
  return fused_kernels_enabled() && (x.dtype() == DType::f32 || x.dtype() == DType::f64) &&
         (!w.defined() || w.dtype() == x.dtype()) && (!b.defined() || b.dtype() == x.dtype()) &&
         x.numel() > 0;
}

template <class T>
void norm_fwd(const Tensor& y, const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& w,
              const Tensor& b, int64_t rows, int64_t n, double eps, bool rms) {
  cpu::nn_kernels_for<T>().norm_forward(
      y.data_ptr<T>(), mean.defined() ? mean.data_ptr<T>() : nullptr, rstd.data_ptr<T>(), x.data_ptr<T>(),
      w.defined() ? w.data_ptr<T>() : nullptr, b.defined() ? b.data_ptr<T>() : nullptr, rows, n, eps, rms);
}

template <class T>
void norm_bwd(const Tensor& gx, const Tensor& gw, const Tensor& gb, const Tensor& gy, const Tensor& x,
              const Tensor& mean, const Tensor& rstd, const Tensor& w, int64_t rows, int64_t n, bool rms) {
  cpu::nn_kernels_for<T>().norm_backward(
      gx.data_ptr<T>(), gw.defined() ? gw.data_ptr<T>() : nullptr, gb.defined() ? gb.data_ptr<T>() : nullptr,
      gy.data_ptr<T>(), x.data_ptr<T>(), mean.defined() ? mean.data_ptr<T>() : nullptr, rstd.data_ptr<T>(),
      w.defined() ? w.data_ptr<T>() : nullptr, rows, n, rms);
}

// layer_norm (rms = false) or rms_norm over the trailing n elements of x, fused; `composed`
// rebuilds the composition for double backward.
Tensor fused_norm(const Tensor& x_in, int64_t n, const Tensor& weight, const Tensor& bias, double eps,
                  bool rms, ComposedFn composed) {
  Tensor x, w, b;
  {
    NoGradGuard ng;
    x = x_in.contiguous();
    w = weight.defined() ? weight.contiguous() : Tensor();
    b = bias.defined() ? bias.contiguous() : Tensor();
  }
  const int64_t rows = x.numel() / n;
  Tensor y = detail::make_tensor(x.shape(), x.dtype());
  Tensor mean = rms ? Tensor() : detail::make_tensor({rows}, x.dtype());
  Tensor rstd = detail::make_tensor({rows}, x.dtype());
  if (x.dtype() == DType::f32)
    norm_fwd<float>(y, mean, rstd, x, w, b, rows, n, eps, rms);
  else
    norm_fwd<double>(y, mean, rstd, x, w, b, rows, n, eps, rms);
  std::vector<Tensor> inputs{x_in, weight, bias};
  if (autograd::needs_grad(inputs)) {
    using autograd::SavedTensor;
    autograd::record(rms ? "RmsNormBackward" : "LayerNormBackward", inputs, {y},
                     [x_ = SavedTensor(x_in), w_ = SavedTensor(weight), b_ = SavedTensor(bias), mean, rstd,
                      rows, n, rms, composed](const std::vector<Tensor>& g) {
                       std::vector<Tensor> in{x_.unpack(), w_.defined() ? w_.unpack() : Tensor(),
                                              b_.defined() ? b_.unpack() : Tensor()};
                       if (is_grad_enabled()) return composed_grad(composed, in, g[0]);
                       Tensor xx = in[0].contiguous(), ww = in[1].defined() ? in[1].contiguous() : Tensor();
                       Tensor gy = g[0].contiguous();
                       Tensor gx = detail::make_tensor(xx.shape(), xx.dtype());
                       auto param_grad = [&](const Tensor& p) {
                         return p.defined() && p.requires_grad() ? detail::make_tensor({n}, xx.dtype())
                                                                 : Tensor();
                       };
                       Tensor gw = param_grad(in[1]), gb = param_grad(in[2]);
                       if (xx.dtype() == DType::f32)
                         norm_bwd<float>(gx, gw, gb, gy, xx, mean, rstd, ww, rows, n, rms);
                       else
                         norm_bwd<double>(gx, gw, gb, gy, xx, mean, rstd, ww, rows, n, rms);
                       if (gw.defined()) gw = gw.reshape(in[1].shape());
                       if (gb.defined()) gb = gb.reshape(in[2].shape());
                       return std::vector<Tensor>{gx, gw, gb};
                     });
  }
  return y;
}

}  // namespace

Tensor layer_norm(const Tensor& x_in, const std::vector<int64_t>& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps) {
  if (optimization::detail::AutocastCall ac{"layer_norm", x_in, weight, bias})
    return layer_norm(ac[0], normalized_shape, ac[1], ac[2], eps);
  check_input(x_in, "layer_norm");
  auto dims = trailing_dims(x_in, normalized_shape, "layer_norm");
  check_affine(weight, normalized_shape, x_in, "layer_norm", "weight");
  check_affine(bias, normalized_shape, x_in, "layer_norm", "bias");
  NA_CHECK(eps >= 0.0, "layer_norm", "eps must be non-negative, got ", eps);
  if (fused_norm_covers(x_in, weight, bias))
    return fused_norm(x_in, numel_of(normalized_shape), weight, bias, eps, false,
                      [dims, eps](const std::vector<Tensor>& v) {
                        return layer_norm_composed(v[0], dims, v[1], v[2], eps);
                      });
  return layer_norm_composed(x_in, dims, weight, bias, eps);
}

namespace {
Tensor layer_norm_composed(const Tensor& x_in, const std::vector<int64_t>& dims, const Tensor& weight,
                           const Tensor& bias, double eps) {
  Tensor x = widen(x_in);
  Tensor xc = x - mean(x, dims, true);
  Tensor y = xc * rsqrt(mean(xc * xc, dims, true) + eps);
  if (weight.defined()) y = y * widen(weight);
  if (bias.defined()) y = y + widen(bias);
  return y.to(x_in.dtype());
}
}  // namespace

Tensor rms_norm(const Tensor& x_in, const std::vector<int64_t>& normalized_shape, const Tensor& weight,
                std::optional<double> eps) {
  if (optimization::detail::AutocastCall ac{"rms_norm", x_in, weight})
    return rms_norm(ac[0], normalized_shape, ac[1], eps);
  check_input(x_in, "rms_norm");
  auto dims = trailing_dims(x_in, normalized_shape, "rms_norm");
  check_affine(weight, normalized_shape, x_in, "rms_norm", "weight");
  const double e = eps.value_or(machine_eps(x_in.dtype()));
  NA_CHECK(e >= 0.0, "rms_norm", "eps must be non-negative, got ", e);
  if (fused_norm_covers(x_in, weight, Tensor()))
    return fused_norm(
        x_in, numel_of(normalized_shape), weight, Tensor(), e, true,
        [dims, e](const std::vector<Tensor>& v) { return rms_norm_composed(v[0], dims, v[1], e); });
  return rms_norm_composed(x_in, dims, weight, e);
}

namespace {
Tensor rms_norm_composed(const Tensor& x_in, const std::vector<int64_t>& dims, const Tensor& weight,
                         double e) {
  Tensor x = widen(x_in);
  Tensor y = x * rsqrt(mean(x * x, dims, true) + e);
  if (weight.defined()) y = y * widen(weight);
  return y.to(x_in.dtype());
}
}  // namespace

Tensor group_norm(const Tensor& x_in, int64_t num_groups, const Tensor& weight, const Tensor& bias,
                  double eps) {
  if (optimization::detail::AutocastCall ac{"group_norm", x_in, weight, bias})
    return group_norm(ac[0], num_groups, ac[1], ac[2], eps);
  check_input(x_in, "group_norm");
  NA_CHECK(x_in.dim() >= 2, "group_norm",
           "expected input of shape (N, C, *) with at least 2 dims, got shape ", shape_str(x_in.shape()));
  const int64_t n = x_in.size(0), c = x_in.size(1);
  NA_CHECK(num_groups > 0 && c % num_groups == 0, "group_norm", "expected the number of channels (", c,
           ") to be divisible by num_groups (", num_groups, "), input shape ", shape_str(x_in.shape()));
  check_affine(weight, {c}, x_in, "group_norm", "weight");
  check_affine(bias, {c}, x_in, "group_norm", "bias");
  Tensor x = widen(x_in);
  const int64_t per_group = n * num_groups == 0 ? 0 : x.numel() / (n * num_groups);
  NA_CHECK(per_group > 0, "group_norm", "each group needs at least one value, input shape ",
           shape_str(x_in.shape()));
  Tensor xg = x.reshape({n, num_groups, per_group});
  Tensor xc = xg - mean(xg, {2}, true);
  Tensor y = (xc * rsqrt(mean(xc * xc, {2}, true) + eps)).reshape(x.shape());
  const Shape cs = channel_shape(x);
  if (weight.defined()) y = y * widen(weight).reshape(cs);
  if (bias.defined()) y = y + widen(bias).reshape(cs);
  return y.to(x_in.dtype());
}

Tensor batch_norm(const Tensor& x_in, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum, double eps) {
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
    NA_CHECK(r->shape() == Shape{c}, "batch_norm", "running statistics must have shape (", c,
             ",) to match input shape ", shape_str(x_in.shape()), ", got ", shape_str(r->shape()));
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

Tensor normalize(const Tensor& x, double p, int64_t dim, double eps) {
  NA_CHECK(x.defined(), "normalize", "input is an undefined tensor");
  Tensor n = vector_norm(x, p, {dim}, /*keepdim=*/true);
  return x / clamp(n, Scalar(eps), std::nullopt).expand(x.shape());
}

}  // namespace neural_arch::functional
