// Activation modules.
#include "neural_arch/nn/activation.hpp"

#include <sstream>

#include "neural_arch/functional/activation.hpp"

namespace neural_arch::nn {

namespace {

// Activations accept any shape; only an undefined or non-floating input is a misuse.
const Tensor& checked(const Tensor& x, const std::string& layer) {
  NA_CHECK(x.defined(), layer.c_str(), "input is an undefined tensor");
  NA_CHECK(is_floating(x.dtype()), layer.c_str(), "expected a floating input, got ", dtype_name(x.dtype()),
           " of shape ", shape_str(x.shape()));
  return x;
}

std::string dim_repr(int64_t dim) { return "dim=" + std::to_string(dim); }

}  // namespace

Tensor ReLU::forward(const Tensor& x) { return relu(checked(x, type_name())); }

Tensor LeakyReLU::forward(const Tensor& x) { return leaky_relu(checked(x, type_name()), negative_slope); }
std::string LeakyReLU::extra_repr() const {
  std::ostringstream os;
  os << "negative_slope=" << negative_slope;
  return os.str();
}

GELU::GELU(std::string approx) : Module("GELU"), approximate(std::move(approx)) {
  NA_CHECK(approximate == "none" || approximate == "tanh", "GELU",
           "approximate must be 'none' or 'tanh', got '", approximate, "'");
}
Tensor GELU::forward(const Tensor& x) { return gelu(checked(x, type_name()), approximate); }
std::string GELU::extra_repr() const { return "approximate='" + approximate + "'"; }

Tensor SiLU::forward(const Tensor& x) { return silu(checked(x, type_name())); }
Tensor Tanh::forward(const Tensor& x) { return tanh(checked(x, type_name())); }
Tensor Sigmoid::forward(const Tensor& x) { return sigmoid(checked(x, type_name())); }

Softplus::Softplus(double b, double t) : Module("Softplus"), beta(b), threshold(t) {
  NA_CHECK(beta != 0.0, "Softplus", "beta must be non-zero");
}
Tensor Softplus::forward(const Tensor& x) { return softplus(checked(x, type_name()), beta, threshold); }
std::string Softplus::extra_repr() const {
  std::ostringstream os;
  os << "beta=" << beta << ", threshold=" << threshold;
  return os.str();
}

Tensor Mish::forward(const Tensor& x) { return functional::mish(checked(x, type_name())); }

Tensor GLU::forward(const Tensor& x) { return functional::glu(checked(x, type_name()), dim); }
std::string GLU::extra_repr() const { return dim_repr(dim); }

Tensor Softmax::forward(const Tensor& x) { return softmax(checked(x, type_name()), dim); }
std::string Softmax::extra_repr() const { return dim_repr(dim); }

Tensor LogSoftmax::forward(const Tensor& x) { return log_softmax(checked(x, type_name()), dim); }
std::string LogSoftmax::extra_repr() const { return dim_repr(dim); }

}  // namespace neural_arch::nn
