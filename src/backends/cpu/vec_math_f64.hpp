// Vectorized float64 math for the elementwise CPU kernels: glibc's libmvec vector functions
// (the x86-64 vector function ABI, `_ZGV<isa>N<lanes>v_<name>`), wrapped for the native double
// vector of the translation unit's ISA, and the f64 activations built from them.
//
// Why libmvec: it is the C library's own vectorized libm (exp, expm1, log, log1p, tanh, cosh,
// erf, erfc, sin, cos, ... in SSE4/AVX2/AVX-512 forms; glibc tests each to 4 ulp, see
// sourceware.org/glibc/wiki/libmvec), always present with libc6-dev, so f64 needs no
// polynomials of its own.  Lanes with special inputs (overflow, underflow, NaN, huge sin/cos
// arguments) are recomputed by libmvec with the scalar function, so they cost more but agree.
// Width follows simd.hpp: 2 lanes (_ZGVbN2v_, base build: glibc's resolver picks its SSE4.1 code
// or, without SSE4.1, a wrapper that calls the scalar function per lane, so any x86-64 runs it),
// 4 lanes (_ZGVdN4v_, avx2 build), 8 lanes (_ZGVeN8v_, avx512 build).  The declarations are
// written here because glibc's <bits/math-vector.h> only declares them under -ffast-math.
//
// Linkage as in vec_math.hpp: namespace NA_ISA and static functions, so the three compilations
// never merge.  The scalar overloads (double -> double) run the vector function on lane 0 (the
// other lanes 0), so a kernel's scalar tail gives the same bits as its vector lanes, and results
// do not depend on where thread chunks or row ends fall.
//
// The activation formulas are the ones the scalar f64 code used (they avoid cancellation:
// erfc(-x/sqrt2) for the gelu cdf, exp(-|x|) for sigmoid and 1 - sigmoid), written with
// branch-free selects; comparisons are false for NaN, so NaN passes the clamps.  Measured error
// bounds: docs/ARCHITECTURE.md ("Activation kernels"), enforced by tests/test_activation_accuracy.cpp.
#ifndef NA_CPU_VEC_MATH_F64_HPP
#define NA_CPU_VEC_MATH_F64_HPP

#include <immintrin.h>

#include <cstdint>

#include "backends/cpu/simd.hpp"

#ifndef NA_VM_INLINE
#define NA_VM_INLINE static inline __attribute__((always_inline))
#endif

// libmvec entry points for this translation unit's width (libmvec.so.1, linked as `mvec`).
#if defined(__AVX512F__)
#define NA_VM64_FN(name) _ZGVeN8v_##name
typedef __m512d na_vm64_native;
#elif defined(__AVX2__)
#define NA_VM64_FN(name) _ZGVdN4v_##name
typedef __m256d na_vm64_native;
#else
#define NA_VM64_FN(name) _ZGVbN2v_##name
typedef __m128d na_vm64_native;
#endif
#define NA_VM64_LIST(X) X(exp) X(expm1) X(log) X(log1p) X(tanh) X(cosh) X(erf) X(erfc) X(sin) X(cos)
#define NA_VM64_DECLARE(name) na_vm64_native NA_VM64_FN(name)(na_vm64_native) noexcept;
extern "C" {
NA_VM64_LIST(NA_VM64_DECLARE)
}
#undef NA_VM64_DECLARE

namespace neural_arch::cpu {
namespace NA_ISA {
namespace vecmath {

using vd64 = simd::Vec<double>;
static_assert(sizeof(vd64) == sizeof(na_vm64_native), "simd.hpp and libmvec widths disagree");
typedef uint64_t vu64 __attribute__((vector_size(sizeof(vd64))));

// exp(vd64), log1p(vd64), ...: one libmvec call each.
#define NA_VM64_WRAP(name) \
  NA_VM_INLINE vd64 name(vd64 x) { return (vd64)NA_VM64_FN(name)((na_vm64_native)x); }
NA_VM64_LIST(NA_VM64_WRAP)
#undef NA_VM64_WRAP

namespace f64detail {
NA_VM_INLINE vd64 splat(double c) { return vd64{} + c; }
NA_VM_INLINE vd64 abs(vd64 x) { return (vd64)((vu64)x & 0x7fffffffffffffffull); }
NA_VM_INLINE vd64 max0(vd64 x) { return x > 0.0 ? x : vd64{}; }
// Every activation below is -0 (value) or 0 (derivative) below -1000 and x (value) or 1
// (derivative) above 1000 in double; clamping there keeps inf * 0 out of the formulas.
NA_VM_INLINE vd64 clamp_low(vd64 x) { return x < -1000.0 ? splat(-1000.0) : x; }
NA_VM_INLINE vd64 clamp_pm1000(vd64 x) { return clamp_low(x > 1000.0 ? splat(1000.0) : x); }
// sigmoid(x) and 1 - sigmoid(x) from e = exp(-|x|): each one division of exact-started terms.
NA_VM_INLINE vd64 sigmoid_e(vd64 x, vd64 e) { return (x >= 0.0 ? splat(1.0) : e) / (e + 1.0); }
NA_VM_INLINE vd64 one_minus_sigmoid_e(vd64 x, vd64 e) { return (x >= 0.0 ? e : splat(1.0)) / (e + 1.0); }
constexpr double kInvSqrt2 = 0.70710678118654752440, kInvSqrt2Pi = 0.39894228040143267794;
constexpr double kGeluTanhK = 1.5957691216057307118, kGeluTanhC = 0.044715;  // v = 2u = K (x + C x^3)
}  // namespace f64detail

NA_VM_INLINE vd64 sigmoid(vd64 x) { return f64detail::sigmoid_e(x, exp(-f64detail::abs(x))); }

// log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow, no cancellation.
NA_VM_INLINE vd64 softplus(vd64 x) { return f64detail::max0(x) + log1p(exp(-f64detail::abs(x))); }

NA_VM_INLINE vd64 silu(vd64 x) {
  x = f64detail::clamp_low(x);
  return x / (exp(-x) + 1.0);
}

// s (1 + x (1 - s)), s = sigmoid(x).
NA_VM_INLINE vd64 silu_grad(vd64 x) {
  using namespace f64detail;
  x = clamp_pm1000(x);
  const vd64 e = exp(-abs(x));
  return sigmoid_e(x, e) * (x * one_minus_sigmoid_e(x, e) + 1.0);
}

// x Phi(x) = x erfc(-x/sqrt2) / 2: erfc does not cancel for negative x as 1 + erf would.
NA_VM_INLINE vd64 gelu_erf(vd64 x) {
  using namespace f64detail;
  x = clamp_low(x);
  return 0.5 * x * erfc(x * -kInvSqrt2);
}

// Phi(x) + x phi(x).
NA_VM_INLINE vd64 gelu_erf_grad(vd64 x) {
  using namespace f64detail;
  x = clamp_pm1000(x);
  const vd64 cdf = 0.5 * erfc(x * -kInvSqrt2);
  const vd64 pdf = kInvSqrt2Pi * exp(-0.5 * x * x);
  return cdf + x * pdf;
}

// 0.5 x (1 + tanh(u)) = x / (1 + e^-v), v = 2u: no cancellation for negative x.
NA_VM_INLINE vd64 gelu_tanh(vd64 x) {
  using namespace f64detail;
  x = clamp_low(x);
  return x / (exp(-kGeluTanhK * (x + kGeluTanhC * x * x * x)) + 1.0);
}

// d/dx x s(v) = s (1 + x (1 - s) v'), s = sigmoid(v); 1 - s from exp(-|v|), not by subtraction.
NA_VM_INLINE vd64 gelu_tanh_grad(vd64 x) {
  using namespace f64detail;
  x = clamp_pm1000(x);
  const vd64 v = kGeluTanhK * (x + kGeluTanhC * x * x * x);
  const vd64 dv = kGeluTanhK * (1.0 + 3.0 * kGeluTanhC * x * x);
  const vd64 e = exp(-abs(v));
  const vd64 s = sigmoid_e(v, e);
  return s + s * x * one_minus_sigmoid_e(v, e) * dv;
}

// x tanh(softplus(x)).
NA_VM_INLINE vd64 mish(vd64 x) {
  x = f64detail::clamp_low(x);
  return x * tanh(softplus(x));
}

// tanh(sp) + x sigmoid(x) / cosh(sp)^2, sp = softplus(x): 1 - tanh^2 as 1/cosh^2 does not
// cancel for large x.
NA_VM_INLINE vd64 mish_grad(vd64 x) {
  using namespace f64detail;
  x = clamp_pm1000(x);
  const vd64 e = exp(-abs(x));
  const vd64 sp = max0(x) + log1p(e);
  const vd64 ch = cosh(sp);
  return tanh(sp) + x * sigmoid_e(x, e) / (ch * ch);
}

// Scalar overloads: the vector code on lane 0, so tails match vector lanes bit for bit.
#define NA_VM64_SCALAR(name) \
  NA_VM_INLINE double name(double x) { return name(vd64{x})[0]; }
NA_VM64_LIST(NA_VM64_SCALAR)
NA_VM64_SCALAR(sigmoid)
NA_VM64_SCALAR(softplus)
NA_VM64_SCALAR(silu)
NA_VM64_SCALAR(silu_grad)
NA_VM64_SCALAR(gelu_erf)
NA_VM64_SCALAR(gelu_erf_grad)
NA_VM64_SCALAR(gelu_tanh)
NA_VM64_SCALAR(gelu_tanh_grad)
NA_VM64_SCALAR(mish)
NA_VM64_SCALAR(mish_grad)
#undef NA_VM64_SCALAR

}  // namespace vecmath
}  // namespace NA_ISA
}  // namespace neural_arch::cpu

#undef NA_VM64_LIST
#undef NA_VM64_FN

#endif  // NA_CPU_VEC_MATH_F64_HPP
