// Activations (relu leaky_relu gelu silu softplus): forward kernels and fused backward kernels.
// Under create_graph the backward is composed from ops instead, so it stays differentiable.
#include <cmath>

#include "autograd/function.hpp"
#include "core/factory.hpp"
#include "neural_arch/ops.hpp"
#include "ops/elementwise.hpp"

namespace neural_arch {

using autograd::SavedTensor;
using cpu::BinaryOp;
using cpu::UnaryOp;
using Grads = std::vector<Tensor>;

namespace {
// torch implements these activations for floating types only ("not implemented for 'Long'").
void check_floating(const Tensor& x, const char* op) {
  detail::check_defined(x, op);
  NA_CHECK(is_floating(x.dtype()), op, "not implemented for ", dtype_name(x.dtype()), " tensors");
}
}  // namespace

Tensor relu(const Tensor& x) {
  NA_CHECK(!x.defined() || x.dtype() != DType::boolean, "relu", "not supported for bool tensors");
  Tensor out = is_floating(x.dtype()) ? ops::unary_float(UnaryOp::relu, x, "relu")
                                      : maximum(x, zeros_like(x));  // integers keep their dtype
  if (autograd::needs_grad({x}))
    autograd::record("ReluBackward", {x}, {out}, [y = SavedTensor(out, true)](const Grads& g) {
      Tensor r = y.unpack();
      if (is_grad_enabled()) return Grads{g[0] * logical_not(le(r, zeros_like(r))).to(g[0].dtype())};
      return Grads{ops::backward_kernel(BinaryOp::relu_backward, g[0], r, "relu_backward")};
    });
  return out;
}

Tensor leaky_relu(const Tensor& x, double slope) {
  check_floating(x, "leaky_relu");
  const double p[1] = {slope};
  Tensor out = ops::unary_float(UnaryOp::leaky_relu, x, "leaky_relu", p);
  if (autograd::needs_grad({x}))
    autograd::record("LeakyReluBackward", {x}, {out}, [x_ = SavedTensor(x), slope](const Grads& g) {
      Tensor v = x_.unpack();
      if (is_grad_enabled())
        return Grads{g[0] * where(gt(v, zeros_like(v)), ones_like(v), full_like(v, slope))};
      const double q[1] = {slope};
      return Grads{ops::backward_kernel(BinaryOp::leaky_relu_backward, g[0], v, "leaky_relu_backward", q)};
    });
  return out;
}

Tensor gelu(const Tensor& x, const std::string& approximate) {
  NA_CHECK(approximate == "none" || approximate == "tanh", "gelu",
           "approximate must be 'none' or 'tanh', got '", approximate, "'");
  check_floating(x, "gelu");
  const bool tanh_form = approximate == "tanh";
  Tensor out = ops::unary_float(tanh_form ? UnaryOp::gelu_tanh : UnaryOp::gelu, x, "gelu");
  if (autograd::needs_grad({x}))
    autograd::record("GeluBackward", {x}, {out}, [x_ = SavedTensor(x), tanh_form](const Grads& g) {
      Tensor v = x_.unpack();
      if (is_grad_enabled()) {
        if (tanh_form) {
          const double k = std::sqrt(2.0 / M_PI), c = 0.044715;
          Tensor t = tanh((v + v * v * v * c) * k);
          return Grads{g[0] * ((t + 1.0) * 0.5 + v * 0.5 * (1.0 - t * t) * (v * v * (3.0 * c) + 1.0) * k)};
        }
        Tensor cdf = (erf(v * M_SQRT1_2) + 1.0) * 0.5;
        Tensor pdf = exp(v * v * -0.5) * (1.0 / std::sqrt(2.0 * M_PI));
        return Grads{g[0] * (cdf + v * pdf)};
      }
      return Grads{ops::backward_kernel(tanh_form ? BinaryOp::gelu_tanh_backward : BinaryOp::gelu_backward,
                                        g[0], v, "gelu_backward")};
    });
  return out;
}

Tensor silu(const Tensor& x) {
  check_floating(x, "silu");
  Tensor out = ops::unary_float(UnaryOp::silu, x, "silu");
  if (autograd::needs_grad({x}))
    autograd::record("SiluBackward", {x}, {out}, [x_ = SavedTensor(x)](const Grads& g) {
      Tensor v = x_.unpack();
      if (is_grad_enabled()) {
        Tensor s = sigmoid(v);
        return Grads{g[0] * s * (v * (1.0 - s) + 1.0)};
      }
      return Grads{ops::backward_kernel(BinaryOp::silu_backward, g[0], v, "silu_backward")};
    });
  return out;
}

Tensor softplus(const Tensor& x, double beta, double threshold) {
  check_floating(x, "softplus");
  NA_CHECK(beta != 0.0, "softplus", "beta must be non-zero");
  const double p[2] = {beta, threshold};
  Tensor out = ops::unary_float(UnaryOp::softplus, x, "softplus", p);
  if (autograd::needs_grad({x}))
    autograd::record("SoftplusBackward", {x}, {out}, [x_ = SavedTensor(x), beta, threshold](const Grads& g) {
      Tensor v = x_.unpack();
      if (is_grad_enabled()) {
        Tensor s = sigmoid(v * beta);
        return Grads{where(gt(v * beta, full_like(v, threshold)), g[0], g[0] * s)};
      }
      const double q[2] = {beta, threshold};
      return Grads{ops::backward_kernel(BinaryOp::softplus_backward, g[0], v, "softplus_backward", q)};
    });
  return out;
}

}  // namespace neural_arch
