// Elementwise, cast and reduction kernels, written once for GCC vector types and compiled per
// instruction set (CMake builds this file three times with -DNA_ISA=base|avx2|avx512 and the
// matching -m flags). Everything lives in namespace NA_ISA so the copies never merge at link.
#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

#ifndef NA_ISA
#define NA_ISA base
#endif

#include "backends/cpu/kernels.hpp"
#include "backends/cpu/narrow_convert.hpp"
#include "backends/cpu/parallel.hpp"
#include "backends/cpu/simd.hpp"
#include "backends/cpu/vec_math.hpp"
#include "backends/cpu/vec_math_f64.hpp"

namespace neural_arch::cpu {
namespace NA_ISA {
namespace {

using simd::kBytes;
using simd::kLanes;
using simd::load;
using simd::store;
using simd::Vec;

template <class T> inline Vec<T> splat(T x) { return Vec<T>{} + x; }

// Arithmetic types the vector path handles; bool/u8/f16/bf16 use scalar loops.
template <class T>
constexpr bool kVectorizable = std::is_same_v<T, float> || std::is_same_v<T, double> ||
                               std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t>;

template <class X, class T> inline X bcast(T v) {
  if constexpr (std::is_arithmetic_v<X>)
    return static_cast<X>(v);
  else
    return X{} + v;
}

// select(m, a, b): lane-wise m ? a : b for vectors (m from a comparison) and scalars.
template <class M, class X> inline X select(M m, X a, X b) {
  if constexpr (std::is_arithmetic_v<X>)
    return m ? a : b;
  else
    return m ? a : b;  // GCC vector conditional
}

// ------------------------------------------------------------------ binary functors
// f(a, b, p) works on scalars and vectors alike; kVec says whether the vector path applies.
#define NA_BINOP(Name, vec_ok, expr)                                    \
  struct Name {                                                         \
    template <class T> static constexpr bool kVec = vec_ok;             \
    template <class X, class T> static X f(X a, X b, const double* p) { \
      (void)p;                                                          \
      (void)a;                                                          \
      (void)b;                                                          \
      return expr;                                                      \
    }                                                                   \
  };

NA_BINOP(AddOp, kVectorizable<T>, a + b * bcast<X>(static_cast<T>(p[0])))
NA_BINOP(SubOp, kVectorizable<T>, a - b * bcast<X>(static_cast<T>(p[0])))
NA_BINOP(MulOp, kVectorizable<T>, a* b)
NA_BINOP(DivOp, kVectorizable<T>&& std::is_floating_point_v<T>, a / b)
NA_BINOP(MaxOp, false, (a != a || a > b) ? a : b)  // NaN propagates like torch.maximum
NA_BINOP(MinOp, false, (a != a || a < b) ? a : b)
#undef NA_BINOP

struct PowOp {
  template <class T> static constexpr bool kVec = false;
  template <class X, class T> static X f(X a, X b, const double*) {
    if constexpr (std::is_integral_v<T>) {
      // Integer power by squaring; negative exponents give 0 (1 for base 1), like torch.
      int64_t base = a, e = b, r = 1;
      if (e < 0) return static_cast<X>(base == 1 ? 1 : (base == -1 ? ((e & 1) ? -1 : 1) : 0));
      while (e) {
        if (e & 1) r *= base;
        base *= base;
        e >>= 1;
      }
      return static_cast<X>(r);
    } else {
      return static_cast<X>(std::pow(a, b));
    }
  }
};

// Fused backward functors: a = upstream gradient, b = forward input (or output). The math is
// vec_math.hpp's (f32) or vec_math_f64.hpp's (f64, libmvec), overloaded on the lane type; the
// scalar overloads run the vector code on lane 0, so tails give the vector lanes' bits.
namespace vm = vecmath;
template <class T> constexpr bool kVecFloat = kVectorizable<T>&& std::is_floating_point_v<T>;
#define NA_GRADOP(Name, grad)                                                                   \
  struct Name {                                                                                 \
    template <class T> static constexpr bool kVec = kVecFloat<T>;                               \
    template <class X, class T> static X f(X g, X x, const double*) { return g * vm::grad(x); } \
  };
NA_GRADOP(GeluBackwardOp, gelu_erf_grad)
NA_GRADOP(GeluTanhBackwardOp, gelu_tanh_grad)
NA_GRADOP(SiluBackwardOp, silu_grad)
NA_GRADOP(MishBackwardOp, mish_grad)
#undef NA_GRADOP
struct SoftplusBackwardOp {
  template <class T> static constexpr bool kVec = kVecFloat<T>;
  template <class X, class T> static X f(X g, X x, const double* p) {
    const X bx = x * static_cast<T>(p[0]);
    return select(bx > static_cast<T>(p[1]), g, g * vm::sigmoid(bx));
  }
};
struct LeakyReluBackwardOp {
  template <class T> static constexpr bool kVec = kVectorizable<T>&& std::is_floating_point_v<T>;
  template <class X, class T> static X f(X g, X x, const double* p) {
    return select(x > bcast<X>(T(0)), g, g * bcast<X>(static_cast<T>(p[0])));
  }
};
struct ReluBackwardOp {
  template <class T> static constexpr bool kVec = kVectorizable<T>&& std::is_floating_point_v<T>;
  template <class X, class T> static X f(X g, X x, const double*) {
    // x <= 0 is false for NaN: the gradient passes there, as torch's threshold_backward.
    return select(x <= bcast<X>(T(0)), bcast<X>(T(0)), g);
  }
};
struct SigmoidBackwardOp {
  template <class T> static constexpr bool kVec = kVectorizable<T>&& std::is_floating_point_v<T>;
  template <class X, class T> static X f(X g, X y, const double*) { return g * y * (bcast<X>(T(1)) - y); }
};
struct TanhBackwardOp {
  template <class T> static constexpr bool kVec = kVectorizable<T>&& std::is_floating_point_v<T>;
  template <class X, class T> static X f(X g, X y, const double*) { return g * (bcast<X>(T(1)) - y * y); }
};

template <class T, class Op>
void binary_kernel(char* out, const char* a, const char* b, int64_t n, int64_t so, int64_t sa, int64_t sb,
                   const double* p) {
  T* o = reinterpret_cast<T*>(out);
  const T* x = reinterpret_cast<const T*>(a);
  const T* y = reinterpret_cast<const T*>(b);
  int64_t i = 0;
  if constexpr (Op::template kVec<T>) {
    constexpr int L = kLanes<T>;
    using V = Vec<T>;
    if (so == 1 && sa == 1 && sb == 1) {
      for (; i + L <= n; i += L) store(o + i, Op::template f<V, T>(load(x + i), load(y + i), p));
    } else if (so == 1 && sa == 1 && sb == 0) {
      V yv = splat(y[0]);
      for (; i + L <= n; i += L) store(o + i, Op::template f<V, T>(load(x + i), yv, p));
    } else if (so == 1 && sa == 0 && sb == 1) {
      V xv = splat(x[0]);
      for (; i + L <= n; i += L) store(o + i, Op::template f<V, T>(xv, load(y + i), p));
    }
  }
  for (; i < n; ++i) o[i * so] = Op::template f<T, T>(x[i * sa], y[i * sb], p);
}

// Comparison and logical kernels: inputs of type T, output bool.
#define NA_CMPOP(Name, expr)                                    \
  struct Name {                                                 \
    template <class T> static bool f(T a, T b) { return expr; } \
  };
NA_CMPOP(EqOp, a == b)
NA_CMPOP(NeOp, a != b)
NA_CMPOP(LtOp, a < b)
NA_CMPOP(LeOp, a <= b)
NA_CMPOP(GtOp, a > b)
NA_CMPOP(GeOp, a >= b)
NA_CMPOP(AndOp, static_cast<bool>(a) && static_cast<bool>(b))
NA_CMPOP(OrOp, static_cast<bool>(a) || static_cast<bool>(b))
NA_CMPOP(XorOp, static_cast<bool>(a) != static_cast<bool>(b))
#undef NA_CMPOP

template <class T, class Op>
void compare_kernel(char* out, const char* a, const char* b, int64_t n, int64_t so, int64_t sa, int64_t sb,
                    const double*) {
  bool* o = reinterpret_cast<bool*>(out);
  const T* x = reinterpret_cast<const T*>(a);
  const T* y = reinterpret_cast<const T*>(b);
  for (int64_t i = 0; i < n; ++i) o[i * so] = Op::f(x[i * sa], y[i * sb]);
}

// ------------------------------------------------------------------ unary functors
#define NA_UNOP(Name, vec_ok, expr)                                \
  struct Name {                                                    \
    template <class T> static constexpr bool kVec = vec_ok;        \
    template <class X, class T> static X f(X x, const double* p) { \
      (void)p;                                                     \
      return expr;                                                 \
    }                                                              \
  };
NA_UNOP(NegOp, kVectorizable<T>, -x)
NA_UNOP(AbsOp, false, x < X(0) ? X(-x) : x)
NA_UNOP(SignOp, false, static_cast<X>((X(0) < x) - (x < X(0))))
// x < 0 is false for NaN and -0, so both pass through as in torch (relu(nan) = nan, relu(-0) = -0).
NA_UNOP(ReluOp, kVecFloat<T>, select(x < bcast<X>(T(0)), bcast<X>(T(0)), x))
NA_UNOP(LeakyReluOp, kVecFloat<T>, select(x > bcast<X>(T(0)), x, x* bcast<X>(static_cast<T>(p[0]))))
NA_UNOP(SqrtOp, false, std::sqrt(x))
NA_UNOP(RsqrtOp, false, T(1) / std::sqrt(x))
// f32 and f64 alike through the overloads of vec_math.hpp / vec_math_f64.hpp.
NA_UNOP(ExpOp, kVecFloat<T>, vm::exp(x))
NA_UNOP(LogOp, kVecFloat<T>, vm::log(x))
NA_UNOP(Log1pOp, kVecFloat<T>, vm::log1p(x))
NA_UNOP(SinOp, kVecFloat<T>, vm::sin(x))
NA_UNOP(CosOp, kVecFloat<T>, vm::cos(x))
NA_UNOP(TanhOp, kVecFloat<T>, vm::tanh(x))
NA_UNOP(ErfOp, kVecFloat<T>, vm::erf(x))
NA_UNOP(SigmoidOp, kVecFloat<T>, vm::sigmoid(x))
NA_UNOP(SiluOp, kVecFloat<T>, vm::silu(x))
NA_UNOP(GeluOp, kVecFloat<T>, vm::gelu_erf(x))
NA_UNOP(GeluTanhOp, kVecFloat<T>, vm::gelu_tanh(x))
NA_UNOP(MishOp, kVecFloat<T>, vm::mish(x))
NA_UNOP(SoftplusOp, kVecFloat<T>,
        select(x* static_cast<T>(p[0]) > static_cast<T>(p[1]), x,
               vm::softplus(x* static_cast<T>(p[0])) / static_cast<T>(p[0])))
NA_UNOP(PowScalarOp, false, static_cast<X>(std::pow(x, static_cast<T>(p[0]))))
#undef NA_UNOP
struct ClampOp {
  template <class T> static constexpr bool kVec = false;
  template <class X, class T> static X f(X x, const double* p) {
    if (x != x) return x;  // NaN stays NaN
    if (!std::isnan(p[0]) && static_cast<double>(x) < p[0]) x = static_cast<X>(p[0]);
    if (!std::isnan(p[1]) && static_cast<double>(x) > p[1]) x = static_cast<X>(p[1]);
    return x;
  }
};
struct LogicalNotOp {
  template <class T> static constexpr bool kVec = false;
  template <class X, class T> static X f(X x, const double*) { return !x; }
};

template <class T, class Op>
void unary_kernel(char* out, const char* in, int64_t n, int64_t so, int64_t sx, const double* p) {
  T* o = reinterpret_cast<T*>(out);
  const T* x = reinterpret_cast<const T*>(in);
  int64_t i = 0;
  if constexpr (Op::template kVec<T>) {
    constexpr int L = kLanes<T>;
    if (so == 1 && sx == 1)
      for (; i + L <= n; i += L) store(o + i, Op::template f<Vec<T>, T>(load(x + i), p));
  }
  for (; i < n; ++i) o[i * so] = Op::template f<T, T>(x[i * sx], p);
}

// ------------------------------------------------------------------ gated units
// gate(b) and gate'(b) for glu (sigmoid), geglu (gelu, erf or tanh form) and swiglu (silu),
// through the same vec_math overloads as the unary ops (tails match the vector lanes bit for bit).
template <GateOp G> struct Gate {
  template <class X, class T> static X f(X b) {
    if constexpr (G == GateOp::sigmoid)
      return vm::sigmoid(b);
    else if constexpr (G == GateOp::gelu)
      return vm::gelu_erf(b);
    else if constexpr (G == GateOp::gelu_tanh)
      return vm::gelu_tanh(b);
    else
      return vm::silu(b);
  }
  // g * gate'(b), through the fused backward functors.
  template <class X, class T> static X grad(X g, X b) {
    if constexpr (G == GateOp::sigmoid) {
      X s = f<X, T>(b);
      return g * s * (bcast<X>(T(1)) - s);
    } else if constexpr (G == GateOp::gelu) {
      return GeluBackwardOp::f<X, T>(g, b, nullptr);
    } else if constexpr (G == GateOp::gelu_tanh) {
      return GeluTanhBackwardOp::f<X, T>(g, b, nullptr);
    } else {
      return SiluBackwardOp::f<X, T>(g, b, nullptr);
    }
  }
};

template <class T, GateOp G> void gated_kernel(char* out, const char* a, const char* b, int64_t n) {
  T* o = reinterpret_cast<T*>(out);
  const T* x = reinterpret_cast<const T*>(a);
  const T* y = reinterpret_cast<const T*>(b);
  int64_t i = 0;
  if constexpr (kVecFloat<T>) {
    constexpr int L = kLanes<T>;
    for (; i + L <= n; i += L) store(o + i, load(x + i) * Gate<G>::template f<Vec<T>, T>(load(y + i)));
  }
  for (; i < n; ++i) o[i] = x[i] * Gate<G>::template f<T, T>(y[i]);
}

template <class T, GateOp G>
void gated_backward_kernel(char* ga, char* gb, const char* g, const char* a, const char* b, int64_t n) {
  T* oa = reinterpret_cast<T*>(ga);
  T* ob = reinterpret_cast<T*>(gb);
  const T* gg = reinterpret_cast<const T*>(g);
  const T* x = reinterpret_cast<const T*>(a);
  const T* y = reinterpret_cast<const T*>(b);
  int64_t i = 0;
  if constexpr (kVecFloat<T>) {
    constexpr int L = kLanes<T>;
    using V = Vec<T>;
    for (; i + L <= n; i += L) {
      const V gv = load(gg + i), bv = load(y + i);
      store(oa + i, gv * Gate<G>::template f<V, T>(bv));
      store(ob + i, Gate<G>::template grad<V, T>(gv * load(x + i), bv));
    }
  }
  for (; i < n; ++i) {
    oa[i] = gg[i] * Gate<G>::template f<T, T>(y[i]);
    ob[i] = Gate<G>::template grad<T, T>(gg[i] * x[i], y[i]);
  }
}

template <class T> void fill_gated(KernelTable& t) {
  const int d = dtype_index(dtype_of<T>::value);
  auto set = [&](GateOp g, GatedKernel f, GatedBackwardKernel b) {
    t.gated[static_cast<int>(g)][d] = f;
    t.gated_backward[static_cast<int>(g)][d] = b;
  };
  set(GateOp::sigmoid, gated_kernel<T, GateOp::sigmoid>, gated_backward_kernel<T, GateOp::sigmoid>);
  set(GateOp::gelu, gated_kernel<T, GateOp::gelu>, gated_backward_kernel<T, GateOp::gelu>);
  set(GateOp::gelu_tanh, gated_kernel<T, GateOp::gelu_tanh>, gated_backward_kernel<T, GateOp::gelu_tanh>);
  set(GateOp::silu, gated_kernel<T, GateOp::silu>, gated_backward_kernel<T, GateOp::silu>);
}

// ------------------------------------------------------------------ casts
template <class T> inline auto widen(T v) {
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>)
    return static_cast<float>(v);
  else
    return v;
}

// Narrow float <-> f32 conversions: narrow_convert.hpp (shared with nn_kernels_isa.cpp).
using narrow::bf16_to_f32;
using narrow::f16_to_f32;
using narrow::f32_to_bf16;
using narrow::f32_to_f16;

// The contiguous f32 <-> f16/bf16 casts; false when (to, from) is not one of them.
bool narrow_cast_contiguous(char* out, DType to, const char* in, DType from, int64_t n) {
  auto* o16 = reinterpret_cast<uint16_t*>(out);
  auto* i16 = reinterpret_cast<const uint16_t*>(in);
  auto* of = reinterpret_cast<float*>(out);
  auto* inf = reinterpret_cast<const float*>(in);
  if (from == DType::f32 && to == DType::bf16)
    f32_to_bf16(o16, inf, n);
  else if (from == DType::f32 && to == DType::f16)
    f32_to_f16(o16, inf, n);
  else if (from == DType::bf16 && to == DType::f32)
    bf16_to_f32(of, i16, n);
  else if (from == DType::f16 && to == DType::f32)
    f16_to_f32(of, i16, n);
  else
    return false;
  return true;
}

void cast_kernel(char* out, DType to, const char* in, DType from, int64_t n, int64_t so, int64_t si) {
  if (so == 1 && si == 1 && narrow_cast_contiguous(out, to, in, from, n)) return;
  visit_dtype(to, [&](auto tv) {
    using To = decltype(tv);
    visit_dtype(from, [&](auto fv) {
      using From = decltype(fv);
      To* o = reinterpret_cast<To*>(out);
      const From* x = reinterpret_cast<const From*>(in);
      for (int64_t i = 0; i < n; ++i) {
        auto v = widen(x[i * si]);
        if constexpr (std::is_same_v<To, bool>)
          o[i * so] = v != decltype(v)(0);
        else if constexpr (std::is_same_v<To, Half> || std::is_same_v<To, BFloat16>)
          o[i * so] = To(static_cast<float>(v));
        else
          o[i * so] = static_cast<To>(v);
      }
    });
  });
}

// ------------------------------------------------------------------ f16/bf16 elementwise
// One pass per op: blocks of the narrow operands are widened into f32 buffers on the stack, the
// f32 kernel runs on them, and the result is rounded once into the narrow output. Same values
// as casting whole tensors to f32 and back, without the two extra passes and f32 temporaries.
constexpr int64_t kNarrowBlock = 512;  // a multiple of every vector width

template <class N> void widen_block(float* o, const char* x, int64_t m, int64_t s) {
  const auto* p = reinterpret_cast<const uint16_t*>(x);
  if (s == 1) {
    if constexpr (std::is_same_v<N, BFloat16>)
      bf16_to_f32(o, p, m);
    else
      f16_to_f32(o, p, m);
    return;
  }
  for (int64_t i = 0; i < m; ++i)
    o[i] = std::is_same_v<N, BFloat16> ? bf16_to_float(p[i * s]) : half_to_float(p[i * s]);
}

template <class N> void narrow_block(char* out, const float* x, int64_t m, int64_t s) {
  auto* p = reinterpret_cast<uint16_t*>(out);
  if (s == 1) {
    if constexpr (std::is_same_v<N, BFloat16>)
      f32_to_bf16(p, x, m);
    else
      f32_to_f16(p, x, m);
    return;
  }
  for (int64_t i = 0; i < m; ++i)
    p[i * s] = std::is_same_v<N, BFloat16> ? float_to_bf16(x[i]) : float_to_half(x[i]);
}

constexpr int kF32 = static_cast<int>(DType::f32);

template <class N, int Op>
void narrow_unary_kernel(char* out, const char* in, int64_t n, int64_t so, int64_t sx, const double* p) {
  const UnaryKernel k = kernel_table()->unary[Op][kF32];
  alignas(64) float xb[kNarrowBlock], ob[kNarrowBlock];
  for (int64_t i = 0; i < n; i += kNarrowBlock) {
    const int64_t m = std::min(kNarrowBlock, n - i);
    widen_block<N>(xb, in + 2 * i * sx, m, sx);
    k(reinterpret_cast<char*>(ob), reinterpret_cast<const char*>(xb), m, 1, 1, p);
    narrow_block<N>(out + 2 * i * so, ob, m, so);
  }
}

template <class N, int Op>
void narrow_binary_kernel(char* out, const char* a, const char* b, int64_t n, int64_t so, int64_t sa,
                          int64_t sb, const double* p) {
  const BinaryKernel k = kernel_table()->binary[Op][kF32];
  alignas(64) float ab[kNarrowBlock], bb[kNarrowBlock], ob[kNarrowBlock];
  // A broadcast operand (stride 0) is widened once and passed with stride 0.
  if (sa == 0) widen_block<N>(ab, a, 1, 1);
  if (sb == 0) widen_block<N>(bb, b, 1, 1);
  for (int64_t i = 0; i < n; i += kNarrowBlock) {
    const int64_t m = std::min(kNarrowBlock, n - i);
    if (sa != 0) widen_block<N>(ab, a + 2 * i * sa, m, sa);
    if (sb != 0) widen_block<N>(bb, b + 2 * i * sb, m, sb);
    k(reinterpret_cast<char*>(ob), reinterpret_cast<const char*>(ab), reinterpret_cast<const char*>(bb), m, 1,
      sa != 0, sb != 0, p);
    narrow_block<N>(out + 2 * i * so, ob, m, so);
  }
}

// Every f32 unary kernel but logical_not, and every f32 binary kernel with a float output (not
// the comparisons and logical ops), gets its narrow wrapper.
template <class N, size_t... I> void fill_narrow_unary(KernelTable& t, std::index_sequence<I...>) {
  const int d = dtype_index(dtype_of<N>::value);
  ((t.unary[I][kF32] && static_cast<int>(I) != static_cast<int>(UnaryOp::logical_not)
        ? (void)(t.unary[I][d] = narrow_unary_kernel<N, static_cast<int>(I)>)
        : (void)0),
   ...);
}
template <class N, size_t... I> void fill_narrow_binary(KernelTable& t, std::index_sequence<I...>) {
  const int d = dtype_index(dtype_of<N>::value);
  constexpr int lo = static_cast<int>(BinaryOp::eq), hi = static_cast<int>(BinaryOp::logical_xor);
  ((t.binary[I][kF32] && (static_cast<int>(I) < lo || static_cast<int>(I) > hi)
        ? (void)(t.binary[I][d] = narrow_binary_kernel<N, static_cast<int>(I)>)
        : (void)0),
   ...);
}
template <class N> void fill_narrow(KernelTable& t) {
  fill_narrow_unary<N>(t, std::make_index_sequence<static_cast<size_t>(UnaryOp::count)>{});
  fill_narrow_binary<N>(t, std::make_index_sequence<static_cast<size_t>(BinaryOp::count)>{});
}

// ------------------------------------------------------------------ reductions
// Sums accumulate in a wider type (double for floats, int64 for integers) per row; rows are
// reduced left to right in fixed blocks, so results never depend on the thread count.
template <class T> using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

template <class T, ReduceOp R> inline T reduce_identity() {
  if constexpr (R == ReduceOp::sum)
    return T(0);
  else if constexpr (R == ReduceOp::prod)
    return T(1);
  else if constexpr (R == ReduceOp::max)
    return std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity()
                                                : std::numeric_limits<T>::lowest();
  else
    return std::numeric_limits<T>::has_infinity ? std::numeric_limits<T>::infinity()
                                                : std::numeric_limits<T>::max();
}

template <class T, ReduceOp R> inline T combine(T a, T b) {
  if constexpr (R == ReduceOp::sum)
    return a + b;
  else if constexpr (R == ReduceOp::prod)
    return a * b;
  else if constexpr (R == ReduceOp::max)
    return (a != a || a > b) ? a : (b != b ? b : b);  // NaN wins
  else
    return (a != a || a < b) ? a : b;
}

template <class T> double sum_row(const T* x, int64_t n) {
  if constexpr (std::is_same_v<T, float>) {
    // Four f32 vector accumulators per 1024-element block, blocks added in double.
    constexpr int L = kLanes<float>;
    double total = 0;
    int64_t i = 0;
    while (i < n) {
      int64_t end = std::min<int64_t>(n, i + 1024);
      Vec<float> a0{}, a1{}, a2{}, a3{};
      for (; i + 4 * L <= end; i += 4 * L) {
        a0 += load(x + i);
        a1 += load(x + i + L);
        a2 += load(x + i + 2 * L);
        a3 += load(x + i + 3 * L);
      }
      Vec<float> s = (a0 + a1) + (a2 + a3);
      double block = 0;
      for (int l = 0; l < L; ++l) block += s[l];
      for (; i < end; ++i) block += x[i];
      total += block;
    }
    return total;
  } else if constexpr (std::is_same_v<T, double>) {
    constexpr int L = kLanes<double>;
    Vec<double> a0{}, a1{}, a2{}, a3{};
    int64_t i = 0;
    for (; i + 4 * L <= n; i += 4 * L) {
      a0 += load(x + i);
      a1 += load(x + i + L);
      a2 += load(x + i + 2 * L);
      a3 += load(x + i + 3 * L);
    }
    Vec<double> s = (a0 + a1) + (a2 + a3);
    double total = 0;
    for (int l = 0; l < L; ++l) total += s[l];
    for (; i < n; ++i) total += x[i];
    return total;
  } else {
    return 0;
  }
}

template <class T, ReduceOp R>
void reduce_rows_kernel(char* out, const char* in, int64_t outer, int64_t inner) {
  T* o = reinterpret_cast<T*>(out);
  const T* x = reinterpret_cast<const T*>(in);
  parallel_for(
      0, outer, std::max<int64_t>(1, 32768 / std::max<int64_t>(inner, 1)), [&](int64_t b, int64_t e) {
        for (int64_t r = b; r < e; ++r) {
          const T* row = x + r * inner;
          if constexpr (R == ReduceOp::sum && (std::is_same_v<T, float> || std::is_same_v<T, double>)) {
            o[r] = static_cast<T>(sum_row(row, inner));
          } else if constexpr (R == ReduceOp::sum || R == ReduceOp::prod) {
            using A = Acc<T>;
            A acc = R == ReduceOp::sum ? A(0) : A(1);
            for (int64_t i = 0; i < inner; ++i) acc = R == ReduceOp::sum ? acc + A(row[i]) : acc * A(row[i]);
            o[r] = static_cast<T>(acc);
          } else {
            T acc = reduce_identity<T, R>();
            for (int64_t i = 0; i < inner; ++i) acc = combine<T, R>(acc, row[i]);
            o[r] = acc;
          }
        }
      });
}

template <class T, ReduceOp R>
void reduce_cols_kernel(char* out, const char* in, int64_t rows, int64_t kc, int64_t k0, int64_t k1) {
  T* o = reinterpret_cast<T*>(out);
  const T* x = reinterpret_cast<const T*>(in);
  // Column blocks of 256 keep the accumulators in L1 while streaming the rows.
  constexpr int64_t kBlock = 256;
  for (int64_t kb = k0; kb < k1; kb += kBlock) {
    int64_t ke = std::min(k1, kb + kBlock);
    if constexpr (R == ReduceOp::sum || R == ReduceOp::prod) {
      using A = std::conditional_t<std::is_same_v<T, float>, float, Acc<T>>;
      A acc[kBlock];
      for (int64_t k = kb; k < ke; ++k) acc[k - kb] = R == ReduceOp::sum ? A(0) : A(1);
      for (int64_t r = 0; r < rows; ++r) {
        const T* row = x + r * kc;
        for (int64_t k = kb; k < ke; ++k) {
          if constexpr (R == ReduceOp::sum)
            acc[k - kb] += A(row[k]);
          else
            acc[k - kb] *= A(row[k]);
        }
      }
      for (int64_t k = kb; k < ke; ++k) o[k] = static_cast<T>(acc[k - kb]);
    } else {
      T acc[kBlock];
      for (int64_t k = kb; k < ke; ++k) acc[k - kb] = reduce_identity<T, R>();
      for (int64_t r = 0; r < rows; ++r) {
        const T* row = x + r * kc;
        for (int64_t k = kb; k < ke; ++k) acc[k - kb] = combine<T, R>(acc[k - kb], row[k]);
      }
      for (int64_t k = kb; k < ke; ++k) o[k] = acc[k - kb];
    }
  }
}

template <class T, bool IsMax>
void arg_reduce_kernel(int64_t* out_idx, char* out_val, const char* in, int64_t outer, int64_t inner) {
  const T* x = reinterpret_cast<const T*>(in);
  T* ov = reinterpret_cast<T*>(out_val);
  parallel_for(0, outer, std::max<int64_t>(1, 32768 / std::max<int64_t>(inner, 1)),
               [&](int64_t b, int64_t e) {
                 for (int64_t r = b; r < e; ++r) {
                   const T* row = x + r * inner;
                   int64_t best = 0;
                   T bv = row[0];
                   for (int64_t i = 1; i < inner; ++i) {
                     T v = row[i];
                     if (bv != bv) break;  // NaN already chosen
                     bool better = IsMax ? (v > bv || v != v) : (v < bv || v != v);
                     if (better) {
                       bv = v;
                       best = i;
                     }
                   }
                   out_idx[r] = best;
                   if (ov) ov[r] = bv;
                 }
               });
}

// ------------------------------------------------------------------ table
template <class T> void fill_arith(KernelTable& t) {
  const int d = dtype_index(dtype_of<T>::value);
  auto set = [&](BinaryOp op, BinaryKernel k) { t.binary[static_cast<int>(op)][d] = k; };
  set(BinaryOp::add, binary_kernel<T, AddOp>);
  set(BinaryOp::sub, binary_kernel<T, SubOp>);
  set(BinaryOp::mul, binary_kernel<T, MulOp>);
  set(BinaryOp::div, binary_kernel<T, DivOp>);
  set(BinaryOp::maximum, binary_kernel<T, MaxOp>);
  set(BinaryOp::minimum, binary_kernel<T, MinOp>);
  set(BinaryOp::pow, binary_kernel<T, PowOp>);
  auto un = [&](UnaryOp op, UnaryKernel k) { t.unary[static_cast<int>(op)][d] = k; };
  un(UnaryOp::neg, unary_kernel<T, NegOp>);
  un(UnaryOp::abs, unary_kernel<T, AbsOp>);
  un(UnaryOp::sign, unary_kernel<T, SignOp>);
  un(UnaryOp::clamp, unary_kernel<T, ClampOp>);
  auto red = [&](ReduceOp op, ReduceRowsKernel rk, ReduceColsKernel ck) {
    t.reduce_rows[static_cast<int>(op)][d] = rk;
    t.reduce_cols[static_cast<int>(op)][d] = ck;
  };
  red(ReduceOp::sum, reduce_rows_kernel<T, ReduceOp::sum>, reduce_cols_kernel<T, ReduceOp::sum>);
  red(ReduceOp::prod, reduce_rows_kernel<T, ReduceOp::prod>, reduce_cols_kernel<T, ReduceOp::prod>);
  red(ReduceOp::max, reduce_rows_kernel<T, ReduceOp::max>, reduce_cols_kernel<T, ReduceOp::max>);
  red(ReduceOp::min, reduce_rows_kernel<T, ReduceOp::min>, reduce_cols_kernel<T, ReduceOp::min>);
  t.argmax[d] = arg_reduce_kernel<T, true>;
  t.argmin[d] = arg_reduce_kernel<T, false>;
}

template <class T> void fill_compare(KernelTable& t) {
  const int d = dtype_index(dtype_of<T>::value);
  auto set = [&](BinaryOp op, BinaryKernel k) { t.binary[static_cast<int>(op)][d] = k; };
  set(BinaryOp::eq, compare_kernel<T, EqOp>);
  set(BinaryOp::ne, compare_kernel<T, NeOp>);
  set(BinaryOp::lt, compare_kernel<T, LtOp>);
  set(BinaryOp::le, compare_kernel<T, LeOp>);
  set(BinaryOp::gt, compare_kernel<T, GtOp>);
  set(BinaryOp::ge, compare_kernel<T, GeOp>);
}

template <class T> void fill_float(KernelTable& t) {
  const int d = dtype_index(dtype_of<T>::value);
  auto set = [&](BinaryOp op, BinaryKernel k) { t.binary[static_cast<int>(op)][d] = k; };
  set(BinaryOp::gelu_backward, binary_kernel<T, GeluBackwardOp>);
  set(BinaryOp::gelu_tanh_backward, binary_kernel<T, GeluTanhBackwardOp>);
  set(BinaryOp::silu_backward, binary_kernel<T, SiluBackwardOp>);
  set(BinaryOp::softplus_backward, binary_kernel<T, SoftplusBackwardOp>);
  set(BinaryOp::leaky_relu_backward, binary_kernel<T, LeakyReluBackwardOp>);
  set(BinaryOp::relu_backward, binary_kernel<T, ReluBackwardOp>);
  set(BinaryOp::sigmoid_backward, binary_kernel<T, SigmoidBackwardOp>);
  set(BinaryOp::tanh_backward, binary_kernel<T, TanhBackwardOp>);
  set(BinaryOp::mish_backward, binary_kernel<T, MishBackwardOp>);
  auto un = [&](UnaryOp op, UnaryKernel k) { t.unary[static_cast<int>(op)][d] = k; };
  un(UnaryOp::exp, unary_kernel<T, ExpOp>);
  un(UnaryOp::log, unary_kernel<T, LogOp>);
  un(UnaryOp::log1p, unary_kernel<T, Log1pOp>);
  un(UnaryOp::sqrt, unary_kernel<T, SqrtOp>);
  un(UnaryOp::rsqrt, unary_kernel<T, RsqrtOp>);
  un(UnaryOp::sin, unary_kernel<T, SinOp>);
  un(UnaryOp::cos, unary_kernel<T, CosOp>);
  un(UnaryOp::tanh, unary_kernel<T, TanhOp>);
  un(UnaryOp::sigmoid, unary_kernel<T, SigmoidOp>);
  un(UnaryOp::relu, unary_kernel<T, ReluOp>);
  un(UnaryOp::leaky_relu, unary_kernel<T, LeakyReluOp>);
  un(UnaryOp::gelu, unary_kernel<T, GeluOp>);
  un(UnaryOp::gelu_tanh, unary_kernel<T, GeluTanhOp>);
  un(UnaryOp::silu, unary_kernel<T, SiluOp>);
  un(UnaryOp::softplus, unary_kernel<T, SoftplusOp>);
  un(UnaryOp::mish, unary_kernel<T, MishOp>);
  un(UnaryOp::erf, unary_kernel<T, ErfOp>);
  un(UnaryOp::pow_scalar, unary_kernel<T, PowScalarOp>);
}

KernelTable make_table() {
  KernelTable t;
#define NA_STR2(x) #x
#define NA_STR(x) NA_STR2(x)
  t.isa = NA_STR(NA_ISA);
  fill_arith<float>(t);
  fill_arith<double>(t);
  fill_arith<int32_t>(t);
  fill_arith<int64_t>(t);
  fill_arith<uint8_t>(t);
  fill_float<float>(t);
  fill_float<double>(t);
  fill_gated<float>(t);
  fill_gated<double>(t);
  fill_compare<float>(t);
  fill_compare<double>(t);
  fill_compare<int32_t>(t);
  fill_compare<int64_t>(t);
  fill_compare<uint8_t>(t);
  fill_compare<bool>(t);
  const int b = dtype_index(DType::boolean);
  t.binary[static_cast<int>(BinaryOp::logical_and)][b] = compare_kernel<bool, AndOp>;
  t.binary[static_cast<int>(BinaryOp::logical_or)][b] = compare_kernel<bool, OrOp>;
  t.binary[static_cast<int>(BinaryOp::logical_xor)][b] = compare_kernel<bool, XorOp>;
  t.unary[static_cast<int>(UnaryOp::logical_not)][b] = unary_kernel<bool, LogicalNotOp>;
  t.cast = cast_kernel;
  fill_narrow<Half>(t);  // after the f32 entries they wrap
  fill_narrow<BFloat16>(t);
  return t;
}

}  // namespace

const KernelTable* kernel_table() {
  static const KernelTable table = make_table();
  return &table;
}

}  // namespace NA_ISA
}  // namespace neural_arch::cpu
