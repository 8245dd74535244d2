#include "core/factory.hpp"

#include "core/checked_size.hpp"

namespace neural_arch::detail {

Shape contiguous_strides(const Shape& shape, const char* op) {
  checked_numel(shape, op);  // the largest stride is the product checked there
  Shape s(shape.size());
  int64_t acc = 1;
  for (int64_t i = static_cast<int64_t>(shape.size()) - 1; i >= 0; --i) {
    s[i] = acc;
    acc *= shape[i] > 0 ? shape[i] : 1;
  }
  return s;
}

Tensor make_tensor(const Shape& shape, DType dtype, Device device, const char* op) {
  auto impl = std::make_shared<TensorImpl>();
  const size_t nbytes = checked_nbytes(shape, dtype, op);
  const int64_t n = static_cast<int64_t>(nbytes / element_size(dtype));
  impl->storage = std::make_shared<Storage>(nbytes, device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->numel = n;
  impl->dtype = dtype;
  impl->is_contiguous = true;
  return Tensor(std::move(impl));
}

Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.storage();
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = base.dtype();
  impl->is_view = true;
  impl->refresh();
  return Tensor(std::move(impl));
}

int64_t wrap_dim(int64_t d, int64_t ndim, const char* op) {
  const int64_t n = ndim == 0 ? 1 : ndim;
  NA_CHECK(d >= -n && d < n, op, "dimension ", d, " is out of range for a tensor of ", ndim,
           " dims (expected to be in range [", -n, ", ", n - 1, "])");
  return d < 0 ? d + n : d;
}

void check_defined(const Tensor& t, const char* op, const char* what) {
  NA_CHECK(t.defined(), op, what, " is an undefined tensor");
}

}  // namespace neural_arch::detail
