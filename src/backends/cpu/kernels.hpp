// The CPU kernel table. kernels_isa.cpp is compiled once per instruction set (base, AVX2,
// AVX-512) and each compilation fills one table; kernels() returns the one for this CPU,
// or a narrower one when NA_CPU_ISA=base|avx2 is set (tests run both vector paths).
#pragma once
#include <cstdint>

#include "neural_arch/dtype.hpp"

namespace neural_arch::cpu {

enum class BinaryOp : int {
  add,  // a + p0 * b
  sub,  // a - p0 * b
  mul,
  div,
  maximum,
  minimum,
  pow,
  eq,
  ne,
  lt,
  le,
  gt,
  ge,  // output bool
  logical_and,
  logical_or,
  logical_xor,  // inputs and output bool
  // fused backward kernels: out = grad * f'(x) (a = grad, b = x or y as noted)
  gelu_backward,
  gelu_tanh_backward,
  silu_backward,
  softplus_backward /* p0 beta, p1 threshold */,
  leaky_relu_backward /* p0 slope */,
  relu_backward,
  sigmoid_backward /* b = y */,
  tanh_backward /* b = y */,
  mish_backward,
  count
};

enum class UnaryOp : int {
  neg,
  exp,
  log,
  log1p,
  sqrt,
  rsqrt,
  abs,
  sign,
  sin,
  cos,
  tanh,
  sigmoid,
  relu,
  leaky_relu /* p0 slope */,
  gelu,
  gelu_tanh,
  silu,
  softplus /* p0 beta, p1 threshold */,
  erf,
  logical_not /* bool */,
  pow_scalar /* p0 exponent */,
  clamp /* p0 lo, p1 hi; NaN = no bound */,
  mish,
  count
};

/// Gate of the gated linear units: out = a * gate(b) (glu: sigmoid, geglu: gelu, swiglu: silu).
enum class GateOp : int { sigmoid, gelu, gelu_tanh, silu, count };

enum class ReduceOp : int { sum, prod, max, min, count };

// Strides are in elements. Vectorized when the output and inputs are contiguous or an input is
// a broadcast scalar (stride 0); other strides take a scalar loop.
using BinaryKernel = void (*)(char* out, const char* a, const char* b, int64_t n, int64_t so, int64_t sa,
                              int64_t sb, const double* p);
using UnaryKernel = void (*)(char* out, const char* x, int64_t n, int64_t so, int64_t sx, const double* p);
using CastKernel = void (*)(char* out, DType to, const char* in, DType from, int64_t n, int64_t so,
                            int64_t si);
/// out[o] = reduce(in[o*inner + 0 .. inner)) for o in [0, outer); contiguous rows.
using ReduceRowsKernel = void (*)(char* out, const char* in, int64_t outer, int64_t inner);
/// out[k] = reduce over r of in[r*k_count + k] (reduce leading dim), k in [k0, k1).
using ReduceColsKernel = void (*)(char* out, const char* in, int64_t rows, int64_t k_count, int64_t k0,
                                  int64_t k1);
/// Gated unit over contiguous spans: out[i] = a[i] * gate(b[i]), i < n.
using GatedKernel = void (*)(char* out, const char* a, const char* b, int64_t n);
/// Its backward in one pass: ga[i] = g[i] * gate(b[i]), gb[i] = g[i] * a[i] * gate'(b[i]).
using GatedBackwardKernel = void (*)(char* ga, char* gb, const char* g, const char* a, const char* b,
                                     int64_t n);
/// Index of the max (or min) of each contiguous row; first occurrence; NaN counts as max.
using ArgReduceKernel = void (*)(int64_t* out_idx, char* out_val, const char* in, int64_t outer,
                                 int64_t inner);

constexpr int kNumDTypes = 8;

struct KernelTable {
  const char* isa = "";
  BinaryKernel binary[static_cast<int>(BinaryOp::count)][kNumDTypes] = {};
  UnaryKernel unary[static_cast<int>(UnaryOp::count)][kNumDTypes] = {};
  CastKernel cast = nullptr;
  ReduceRowsKernel reduce_rows[static_cast<int>(ReduceOp::count)][kNumDTypes] = {};
  ReduceColsKernel reduce_cols[static_cast<int>(ReduceOp::count)][kNumDTypes] = {};
  ArgReduceKernel argmax[kNumDTypes] = {};
  ArgReduceKernel argmin[kNumDTypes] = {};
  GatedKernel gated[static_cast<int>(GateOp::count)][kNumDTypes] = {};
  GatedBackwardKernel gated_backward[static_cast<int>(GateOp::count)][kNumDTypes] = {};
};

/// The table for this CPU (chosen once, honouring NA_CPU_ISA).
const KernelTable& kernels();
/// "avx512", "avx2" or "base".
const char* active_isa();

namespace base {
const KernelTable* kernel_table();
}
namespace avx2 {
const KernelTable* kernel_table();
}
namespace avx512 {
const KernelTable* kernel_table();
}

inline int dtype_index(DType t) { return static_cast<int>(t); }

}  // namespace neural_arch::cpu
