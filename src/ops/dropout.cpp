// dropout: Bernoulli mask from a generator, scaled by 1/(1-p); the mask is saved for backward.
#include "autograd/function.hpp"
#include "core/factory.hpp"
#include "neural_arch/ops.hpp"

namespace neural_arch {

Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  detail::check_defined(x, "dropout");
  NA_CHECK(p >= 0.0 && p <= 1.0, "dropout", "probability has to be between 0 and 1, but got ", p);
  if (!training) return x;  // the identity for any dtype, as torch's
  NA_CHECK(is_floating(x.dtype()), "dropout", "expected a floating tensor, got ", dtype_name(x.dtype()));
  if (p == 0.0) return x;
  if (p == 1.0) return x * zeros_like(x);
  Tensor mask;
  {
    NoGradGuard ng;
    mask = lt(rand(x.shape(), x.dtype(), gen), full_like(x, 1.0 - p)).to(x.dtype()) * (1.0 / (1.0 - p));
  }
  return x * mask;
}

}  // namespace neural_arch
