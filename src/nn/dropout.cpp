// Dropout module: ops::dropout gated by the module's training flag.
#include "neural_arch/nn/dropout.hpp"

#include <sstream>

#include "neural_arch/ops.hpp"

namespace neural_arch::nn {

Dropout::Dropout(double p_) : Module("Dropout"), p(p_) {
  NA_CHECK(p >= 0.0 && p <= 1.0, "Dropout", "dropout probability has to be between 0 and 1, but got ", p);
}

Tensor Dropout::forward(const Tensor& x) {
  NA_CHECK(x.defined(), "Dropout", "input is an undefined tensor");
  NA_CHECK(is_floating(x.dtype()), "Dropout", "expected a floating input, got ", dtype_name(x.dtype()),
           " of shape ", shape_str(x.shape()));
  return dropout(x, p, is_training());
}

std::string Dropout::extra_repr() const {
  std::ostringstream os;
  os << "p=" << p;
  return os.str();
}

}  // namespace neural_arch::nn
