// Tensor method shorthands: each forwards to the one definition of the op.
#include "neural_arch/ops.hpp"

namespace neural_arch {

Tensor Tensor::sum(const std::vector<int64_t>& dims, bool keepdim) const {
  return neural_arch::sum(*this, dims, keepdim);
}
Tensor Tensor::mean(const std::vector<int64_t>& dims, bool keepdim) const {
  return neural_arch::mean(*this, dims, keepdim);
}
Tensor Tensor::exp() const { return neural_arch::exp(*this); }
Tensor Tensor::log() const { return neural_arch::log(*this); }
Tensor Tensor::sqrt() const { return neural_arch::sqrt(*this); }
Tensor Tensor::abs() const { return neural_arch::abs(*this); }
Tensor Tensor::tanh() const { return neural_arch::tanh(*this); }
Tensor Tensor::sigmoid() const { return neural_arch::sigmoid(*this); }
Tensor Tensor::relu() const { return neural_arch::relu(*this); }
Tensor Tensor::pow(Scalar e) const { return neural_arch::pow(*this, e); }
Tensor Tensor::matmul(const Tensor& o) const { return neural_arch::matmul(*this, o); }
Tensor Tensor::softmax(int64_t dim) const { return neural_arch::softmax(*this, dim); }
Tensor Tensor::log_softmax(int64_t dim) const { return neural_arch::log_softmax(*this, dim); }
Tensor Tensor::argmax(int64_t dim, bool keepdim) const { return neural_arch::argmax(*this, dim, keepdim); }
Tensor Tensor::max() const { return neural_arch::max(*this); }
Tensor Tensor::min() const { return neural_arch::min(*this); }

}  // namespace neural_arch
