// mish, glu, relu6, hardswish, elu: compositions of differentiable ops.
#include "neural_arch/functional/activation.hpp"

#include "neural_arch/autograd.hpp"

namespace neural_arch::functional {

namespace {
void check_float(const Tensor& x, const char* op) {
  NA_CHECK(x.defined(), op, "input is an undefined tensor");
  NA_CHECK(is_floating(x.dtype()), op, "expected a floating tensor, got ", dtype_name(x.dtype()));
}
}  // namespace

Tensor mish(const Tensor& x) {
  check_float(x, "mish");
  return x * tanh(softplus(x));
}

Tensor glu(const Tensor& x, int64_t dim) {
  check_float(x, "glu");
  NA_CHECK(x.dim() >= 1, "glu", "glu does not support scalars (got a 0-d tensor)");
  NA_CHECK(dim >= -x.dim() && dim < x.dim(), "glu", "dim ", dim, " is out of range for shape ", shape_str(x.shape()));
  const int64_t d = dim < 0 ? dim + x.dim() : dim;
  NA_CHECK(x.size(d) % 2 == 0, "glu", "halving dimension must be even, but dimension ", d, " is size ", x.size(d),
           " (shape ", shape_str(x.shape()), ")");
  const int64_t half = x.size(d) / 2;
  return x.narrow(d, 0, half) * sigmoid(x.narrow(d, half, half));
}

Tensor relu6(const Tensor& x) {
  check_float(x, "relu6");
  return clamp(x, Scalar(0.0), Scalar(6.0));
}

Tensor hardswish(const Tensor& x) {
  check_float(x, "hardswish");
  return x * clamp(x + 3.0, Scalar(0.0), Scalar(6.0)) * (1.0 / 6.0);
}

Tensor elu(const Tensor& x, double alpha) {
  check_float(x, "elu");
  // exp of the clamped value keeps large positive inputs (unused branch) from overflowing.
  Tensor neg_part = (exp(clamp(x, std::nullopt, Scalar(0.0))) - 1.0) * alpha;
  return where(gt(x, zeros_like(x)), x, neg_part);
}

}  // namespace neural_arch::functional
