// Internal: running elementwise kernels over broadcast, strided operands with threading.
#pragma once
#include <functional>
#include <vector>

#include "backends/cpu/kernels.hpp"
#include "neural_arch/tensor.hpp"

namespace neural_arch::ops {

/// fn(ptrs, strides, n): process n elements; ptrs[i] is operand i's first element and
/// strides[i] its element stride along the row.
using RowFn = std::function<void(char* const* ptrs, const int64_t* strides, int64_t n)>;

/// Iterates the broadcast index space `shape` over operands (data pointer, element strides
/// aligned to shape with 0 for broadcast dims, element size) in rows, split across threads.
struct Operand {
  char* data;
  Shape strides;
  int64_t elsize;
};
void for_each_row(const Shape& shape, const std::vector<Operand>& ops, const RowFn& fn);

/// Operand view of t broadcast to shape (strides 0 on broadcast dims).
Operand operand(const Tensor& t, const Shape& shape);

/// The dtype a binary op computes in, with PyTorch's rule that 0-d tensors only matter when
/// they are of a higher category (bool < integer < floating).
DType result_type(const Tensor& a, const Tensor& b);

/// out = kernel(a, b) elementwise with broadcasting. a and b must already have the kernel's
/// input dtype. When `out` is given (in-place), it must have the broadcast shape.
Tensor run_binary(cpu::BinaryOp op, const Tensor& a, const Tensor& b, DType out_dtype, const double* p,
                  const char* name, Tensor out = Tensor());
/// out = kernel(x) elementwise; x has the kernel's dtype.
Tensor run_unary(cpu::UnaryOp op, const Tensor& x, const double* p, const char* name, Tensor out = Tensor());

/// x converted to dtype (no copy when it already has it). Not recorded in autograd.
Tensor cast(const Tensor& x, DType dtype);

/// Narrow floats (f16, bf16) compute in f32 and store narrow (the "opmath" rule).
DType opmath_type(DType t);
/// Whether the kernel table has op for dtype t (f16/bf16 entries compute in f32 in one pass).
bool has_unary_kernel(cpu::UnaryOp op, DType t);
bool has_binary_kernel(cpu::BinaryOp op, DType t);
/// A float-valued unary op: integer inputs give float32, narrow floats compute in f32.
Tensor unary_float(cpu::UnaryOp op, const Tensor& x, const char* name, const double* p = nullptr);
/// A fused backward kernel out = k(grad, x) on same-shape float tensors, in x's dtype.
Tensor backward_kernel(cpu::BinaryOp op, const Tensor& grad, const Tensor& x, const char* name,
                       const double* p = nullptr);

/// Bumps the version and checks that an in-place write on self is allowed.
void check_inplace(const Tensor& self, const char* op);

}  // namespace neural_arch::ops
