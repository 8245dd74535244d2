// Overflow-checked size arithmetic: element counts, strides, byte sizes and sliding-window
// lengths. Every overflow throws neural_arch::Error naming the op and the shape or quantity,
// instead of wrapping (undefined behaviour for int64) into a small or negative size.
#pragma once
#include <cstdint>
#include <optional>

#include "neural_arch/tensor.hpp"

namespace neural_arch::detail {

/// a * b and a + b for sizes; `what` names the quantity in the error ("padded input size").
int64_t mul_size(int64_t a, int64_t b, const char* op, const char* what);
int64_t add_size(int64_t a, int64_t b, const char* op, const char* what);

/// Element count of shape. Throws if a dim is negative, or if the element count or a
/// contiguous stride (product of the trailing dims, zeros counted as 1) exceeds int64.
int64_t checked_numel(const Shape& shape, const char* op);
/// Bytes of a contiguous tensor of shape and dtype: checked_numel, the byte count in int64
/// and the allocation limit (max_allocation_bytes).
size_t checked_nbytes(const Shape& shape, DType dtype, const char* op);
/// Throws if nbytes exceeds max_allocation_bytes(); `what` describes the request.
void check_allocation(size_t nbytes, const char* op, const std::string& what);

/// For file loaders: bytes of shape at elsize bytes per element, or nullopt when the element
/// count, a contiguous stride or the byte count does not fit int64.
std::optional<uint64_t> shape_nbytes(const Shape& shape, uint64_t elsize);

/// Span of a dilated window: dilation * (kernel - 1) + 1, checked.
int64_t window_span(int64_t kernel, int64_t dilation, const char* op);

}  // namespace neural_arch::detail
