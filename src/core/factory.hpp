// Internal helpers to make tensors and views without going through public ops.
#pragma once
#include "neural_arch/tensor.hpp"

namespace neural_arch::detail {

Shape contiguous_strides(const Shape& shape);
/// A new contiguous tensor with uninitialised storage from the device allocator.
Tensor make_tensor(const Shape& shape, DType dtype, Device device = kCPU);
/// A view of base's storage with the given geometry (not recorded in autograd).
Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset);
/// Wraps a possibly negative dim into [0, ndim); throws naming op otherwise.
int64_t wrap_dim(int64_t d, int64_t ndim, const char* op);
/// Throws if t is undefined.
void check_defined(const Tensor& t, const char* op, const char* what = "input");

}  // namespace neural_arch::detail
