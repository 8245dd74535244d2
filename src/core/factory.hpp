// Internal helpers to make tensors and views without going through public ops.
#pragma once
#include "neural_arch/tensor.hpp"

namespace neural_arch::detail {

/// Row-major strides of shape; throws naming op if a stride overflows int64.
Shape contiguous_strides(const Shape& shape, const char* op = "strides");
/// A new contiguous tensor with uninitialised storage from the device allocator. Throws naming
/// op for a negative dim, a size that overflows int64 or one over max_allocation_bytes().
Tensor make_tensor(const Shape& shape, DType dtype, Device device = kCPU, const char* op = "empty");
/// A view of base's storage with the given geometry (not recorded in autograd).
Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset);
/// Wraps a possibly negative dim into [0, ndim); throws naming op otherwise.
int64_t wrap_dim(int64_t d, int64_t ndim, const char* op);
/// Throws if t is undefined.
void check_defined(const Tensor& t, const char* op, const char* what = "input");

}  // namespace neural_arch::detail
