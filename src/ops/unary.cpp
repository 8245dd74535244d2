// Elementwise math (neg exp log log1p sqrt rsqrt abs sign sin cos tanh sigmoid erf) and their
// backward rules, written with other ops.
#include <cmath>

#include "autograd/function.hpp"
#include "core/factory.hpp"
#include "neural_arch/ops.hpp"
#include "ops/elementwise.hpp"
#include "optimization/autocast_hook.hpp"

namespace neural_arch {

using autograd::SavedTensor;
using cpu::UnaryOp;
using Grads = std::vector<Tensor>;

Tensor neg(const Tensor& x) {
  detail::check_defined(x, "neg");
  NA_CHECK(x.dtype() != DType::boolean, "neg", "negation of a bool tensor is not supported; use logical_not");
  const DType ct = ops::opmath_type(x.dtype());
  Tensor out = ops::cast(ops::run_unary(UnaryOp::neg, ops::cast(x, ct), nullptr, "neg"), x.dtype());
  if (autograd::needs_grad({x}))
    autograd::record("NegBackward", {x}, {out}, [](const Grads& g) { return Grads{neg(g[0])}; });
  return out;
}

Tensor exp(const Tensor& x) {
  if (optimization::detail::AutocastCall ac{"exp", x}) return exp(ac[0]);
  Tensor out = ops::unary_float(UnaryOp::exp, x, "exp");
  if (autograd::needs_grad({x}))
    autograd::record("ExpBackward", {x}, {out},
                     [y = SavedTensor(out, true)](const Grads& g) { return Grads{g[0] * y.unpack()}; });
  return out;
}

Tensor log(const Tensor& x) {
  if (optimization::detail::AutocastCall ac{"log", x}) return log(ac[0]);
  Tensor out = ops::unary_float(UnaryOp::log, x, "log");
  if (autograd::needs_grad({x}))
    autograd::record("LogBackward", {x}, {out},
                     [x_ = SavedTensor(x)](const Grads& g) { return Grads{g[0] / x_.unpack()}; });
  return out;
}

Tensor log1p(const Tensor& x) {
  if (optimization::detail::AutocastCall ac{"log1p", x}) return log1p(ac[0]);
  Tensor out = ops::unary_float(UnaryOp::log1p, x, "log1p");
  if (autograd::needs_grad({x}))
    autograd::record("Log1pBackward", {x}, {out},
                     [x_ = SavedTensor(x)](const Grads& g) { return Grads{g[0] / (x_.unpack() + 1.0)}; });
  return out;
}

Tensor sqrt(const Tensor& x) {
  Tensor out = ops::unary_float(UnaryOp::sqrt, x, "sqrt");
  if (autograd::needs_grad({x}))
    autograd::record("SqrtBackward", {x}, {out}, [y = SavedTensor(out, true)](const Grads& g) {
      return Grads{g[0] / (y.unpack() * 2.0)};
    });
  return out;
}

Tensor rsqrt(const Tensor& x) {
  Tensor out = ops::unary_float(UnaryOp::rsqrt, x, "rsqrt");
  if (autograd::needs_grad({x}))
    autograd::record("RsqrtBackward", {x}, {out}, [y = SavedTensor(out, true)](const Grads& g) {
      Tensor r = y.unpack();
      return Grads{g[0] * r * r * r * -0.5};
    });
  return out;
}

Tensor abs(const Tensor& x) {
  detail::check_defined(x, "abs");
  const DType ct = ops::opmath_type(x.dtype());
  Tensor out = ops::cast(ops::run_unary(UnaryOp::abs, ops::cast(x, ct), nullptr, "abs"), x.dtype());
  if (autograd::needs_grad({x}))
    autograd::record("AbsBackward", {x}, {out},
                     [x_ = SavedTensor(x)](const Grads& g) { return Grads{g[0] * sign(x_.unpack())}; });
  return out;
}

Tensor sign(const Tensor& x) {
  detail::check_defined(x, "sign");
  const DType ct = ops::opmath_type(x.dtype());
  Tensor out = ops::cast(ops::run_unary(UnaryOp::sign, ops::cast(x, ct), nullptr, "sign"), x.dtype());
  if (autograd::needs_grad({x}))
    autograd::record("SignBackward", {x}, {out}, [](const Grads& g) { return Grads{zeros_like(g[0])}; });
  return out;
}

Tensor sin(const Tensor& x) {
  Tensor out = ops::unary_float(UnaryOp::sin, x, "sin");
  if (autograd::needs_grad({x}))
    autograd::record("SinBackward", {x}, {out},
                     [x_ = SavedTensor(x)](const Grads& g) { return Grads{g[0] * cos(x_.unpack())}; });
  return out;
}

Tensor cos(const Tensor& x) {
  Tensor out = ops::unary_float(UnaryOp::cos, x, "cos");
  if (autograd::needs_grad({x}))
    autograd::record("CosBackward", {x}, {out},
                     [x_ = SavedTensor(x)](const Grads& g) { return Grads{-g[0] * sin(x_.unpack())}; });
  return out;
}

namespace {
// d tanh = 1 - y^2 and d sigmoid = y (1 - y): fused kernels, with a composed form under
// create_graph so double backward stays differentiable.
Tensor tanh_grad(const Tensor& g, const Tensor& y) {
  if (is_grad_enabled()) return g * (1.0 - y * y);
  return ops::backward_kernel(cpu::BinaryOp::tanh_backward, g, y, "tanh_backward");
}
Tensor sigmoid_grad(const Tensor& g, const Tensor& y) {
  if (is_grad_enabled()) return g * y * (1.0 - y);
  return ops::backward_kernel(cpu::BinaryOp::sigmoid_backward, g, y, "sigmoid_backward");
}
}  // namespace

Tensor tanh(const Tensor& x) {
  Tensor out = ops::unary_float(UnaryOp::tanh, x, "tanh");
  if (autograd::needs_grad({x}))
    autograd::record("TanhBackward", {x}, {out}, [y = SavedTensor(out, true)](const Grads& g) {
      return Grads{tanh_grad(g[0], y.unpack())};
    });
  return out;
}

Tensor sigmoid(const Tensor& x) {
  Tensor out = ops::unary_float(UnaryOp::sigmoid, x, "sigmoid");
  if (autograd::needs_grad({x}))
    autograd::record("SigmoidBackward", {x}, {out}, [y = SavedTensor(out, true)](const Grads& g) {
      return Grads{sigmoid_grad(g[0], y.unpack())};
    });
  return out;
}

Tensor erf(const Tensor& x) {
  Tensor out = ops::unary_float(UnaryOp::erf, x, "erf");
  if (autograd::needs_grad({x}))
    autograd::record("ErfBackward", {x}, {out}, [x_ = SavedTensor(x)](const Grads& g) {
      Tensor v = x_.unpack();
      return Grads{g[0] * exp(-(v * v)) * (2.0 / std::sqrt(M_PI))};
    });
  return out;
}

}  // namespace neural_arch
