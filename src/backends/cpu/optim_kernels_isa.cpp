// Fused optimizer updates, written once with GCC vector types and compiled per instruction set
// (CMake builds this file with -DNA_ISA=base|avx2|avx512 and the matching -m flags, like
// kernels_isa.cpp). Everything lives in namespace NA_ISA so the copies never merge at link.
//
// The arithmetic follows the order of PyTorch's single-tensor optimizers (torch/optim/*.py,
// e.g. Adam's denom = sqrt(v) / sqrt(bias_correction2) + eps, then p + (-step_size) * (m / denom)),
// in the parameter's own precision, so trajectories track PyTorch's to rounding.
// Nothing is clipped and NaN/inf pass through exactly as in those formulas.
#include <immintrin.h>

#include <cstring>
#include <type_traits>

#ifndef NA_ISA
#define NA_ISA base
#endif

#include "backends/cpu/optim_kernels.hpp"
#include "backends/cpu/simd.hpp"

namespace neural_arch::cpu {
namespace NA_ISA {
namespace {

using simd::kBytes;
using simd::kLanes;
using simd::load;
using simd::store;
using simd::Vec;

template <class T> inline Vec<T> splat(double x) { return Vec<T>{} + static_cast<T>(x); }

inline Vec<float> vsqrt(Vec<float> x) {
#if defined(__AVX512F__)
  return _mm512_sqrt_ps(x);
#elif defined(__AVX__)
  return _mm256_sqrt_ps(x);
#else
  return _mm_sqrt_ps(x);
#endif
}
inline Vec<double> vsqrt(Vec<double> x) {
#if defined(__AVX512F__)
  return _mm512_sqrt_pd(x);
#elif defined(__AVX__)
  return _mm256_sqrt_pd(x);
#else
  return _mm_sqrt_pd(x);
#endif
}

// torch.maximum: NaN in either operand gives NaN.
template <class T> inline Vec<T> vmaximum(Vec<T> a, Vec<T> b) { return ((a != a) | (a > b)) ? a : b; }

// torch.sign on this PyTorch version: (x > 0) - (x < 0), so NaN gives 0.
template <class T> inline Vec<T> vsign(Vec<T> x) {
  const Vec<T> one = splat<T>(1), zero = splat<T>(0);
  return ((x > zero) ? one : zero) - ((x < zero) ? one : zero);
}

// Memory access for one vector at element i. Full: a plain unaligned load/store. Part: the
// ragged end of a range, staged through a zeroed vector so it runs the same arithmetic.
template <class T> struct Full {
  static Vec<T> ld(const T* p) {
    Vec<T> v;
    std::memcpy(&v, p, sizeof(v));
    return v;
  }
  static void st(T* p, Vec<T> v) { std::memcpy(p, &v, sizeof(v)); }
};
template <class T> struct Part {
  int n;
  Vec<T> ld(const T* p) const {
    Vec<T> v{};
    std::memcpy(&v, p, sizeof(T) * n);
    return v;
  }
  void st(T* p, Vec<T> v) const { std::memcpy(p, &v, sizeof(T) * n); }
};

// Calls body(i, mem) over [begin, end): full vectors, then one partial vector.
template <class T, class Body>
inline __attribute__((always_inline)) void sweep(int64_t begin, int64_t end, Body&& body) {
  constexpr int L = kLanes<T>;
  int64_t i = begin;
  for (; i + L <= end; i += L) body(i, Full<T>{});
  if (i < end) body(i, Part<T>{static_cast<int>(end - i)});
}

// ------------------------------------------------------------------ SGD
template <class T, bool kWd, int kMomentum, bool kNesterov>
void sgd_kernel(const OptimArgs& a, int64_t begin, int64_t end) {
  T* p = static_cast<T*>(a.param);
  const T* g = static_cast<const T*>(a.grad);
  T* buf = static_cast<T*>(a.s0);
  const auto neg_lr = splat<T>(a.c[0]), wd = splat<T>(a.c[1]), mom = splat<T>(a.c[2]),
             damp = splat<T>(a.c[3]), sgn = splat<T>(a.c[4]);
  sweep<T>(begin, end, [&](int64_t i, auto m) {
    auto pv = m.ld(p + i);
    auto d = m.ld(g + i) * sgn;
    if constexpr (kWd) d = d + wd * pv;
    if constexpr (kMomentum != 0) {
      auto b = d;  // first step: the buffer starts as a copy of d_p (no dampening)
      if constexpr (kMomentum == 2) b = m.ld(buf + i) * mom + damp * d;
      m.st(buf + i, b);
      if constexpr (kNesterov)
        d = d + mom * b;
      else
        d = b;
    }
    m.st(p + i, pv + neg_lr * d);
  });
}

// ------------------------------------------------------------------ Adam / AdamW
template <class T, int kWdMode, bool kAmsgrad>
void adam_kernel(const OptimArgs& a, int64_t begin, int64_t end) {
  T* p = static_cast<T*>(a.param);
  const T* g = static_cast<const T*>(a.grad);
  T* m1 = static_cast<T*>(a.s0);
  T* m2 = static_cast<T*>(a.s1);
  T* mx = static_cast<T*>(a.s2);
  const auto neg_step = splat<T>(a.c[0]), wd = splat<T>(a.c[1]), b1 = splat<T>(a.c[2]),
             omb1 = splat<T>(a.c[3]), b2 = splat<T>(a.c[4]), omb2 = splat<T>(a.c[5]), bc2 = splat<T>(a.c[6]),
             eps = splat<T>(a.c[7]), sgn = splat<T>(a.c[8]);
  sweep<T>(begin, end, [&](int64_t i, auto m) {
    auto pv = m.ld(p + i);
    auto gv = m.ld(g + i) * sgn;
    if constexpr (kWdMode == 1) gv = gv + wd * pv;
    if constexpr (kWdMode == 2) pv = pv * wd;
    auto ea = m.ld(m1 + i) * b1 + omb1 * gv;
    auto es = m.ld(m2 + i) * b2 + omb2 * gv * gv;
    m.st(m1 + i, ea);
    m.st(m2 + i, es);
    auto v = es;
    if constexpr (kAmsgrad) {
      v = vmaximum<T>(m.ld(mx + i), es);
      m.st(mx + i, v);
    }
    auto denom = vsqrt(v) / bc2 + eps;
    m.st(p + i, pv + neg_step * (ea / denom));
  });
}

// ------------------------------------------------------------------ Lion
template <class T> void lion_kernel(const OptimArgs& a, int64_t begin, int64_t end) {
  T* p = static_cast<T*>(a.param);
  const T* g = static_cast<const T*>(a.grad);
  T* m1 = static_cast<T*>(a.s0);
  const auto neg_lr = splat<T>(a.c[0]), decay = splat<T>(a.c[1]), b1 = splat<T>(a.c[2]),
             omb1 = splat<T>(a.c[3]), b2 = splat<T>(a.c[4]), omb2 = splat<T>(a.c[5]);
  sweep<T>(begin, end, [&](int64_t i, auto m) {
    auto gv = m.ld(g + i);
    auto ea = m.ld(m1 + i);
    auto pv = m.ld(p + i) * decay;
    auto update = vsign<T>(ea * b1 + omb1 * gv);
    m.st(p + i, pv + neg_lr * update);
    m.st(m1 + i, ea * b2 + omb2 * gv);
  });
}

// ------------------------------------------------------------------ RMSprop
template <class T, bool kWd, bool kCentered, bool kMomentum>
void rmsprop_kernel(const OptimArgs& a, int64_t begin, int64_t end) {
  T* p = static_cast<T*>(a.param);
  const T* g = static_cast<const T*>(a.grad);
  T* sq = static_cast<T*>(a.s0);
  T* buf = static_cast<T*>(a.s1);
  T* gavg = static_cast<T*>(a.s2);
  const auto neg_lr = splat<T>(a.c[0]), wd = splat<T>(a.c[1]), alpha = splat<T>(a.c[2]),
             oma = splat<T>(a.c[3]), eps = splat<T>(a.c[4]), mom = splat<T>(a.c[5]), sgn = splat<T>(a.c[6]);
  sweep<T>(begin, end, [&](int64_t i, auto m) {
    auto pv = m.ld(p + i);
    auto gv = m.ld(g + i) * sgn;
    if constexpr (kWd) gv = gv + wd * pv;
    auto s = m.ld(sq + i) * alpha + oma * gv * gv;
    m.st(sq + i, s);
    decltype(s) avg;
    if constexpr (kCentered) {
      auto ga = m.ld(gavg + i) * alpha + oma * gv;
      m.st(gavg + i, ga);
      avg = vsqrt(s - ga * ga);
    } else {
      avg = vsqrt(s);
    }
    avg = avg + eps;
    if constexpr (kMomentum) {
      auto b = m.ld(buf + i) * mom + gv / avg;
      m.st(buf + i, b);
      m.st(p + i, pv + neg_lr * b);
    } else {
      m.st(p + i, pv + neg_lr * (gv / avg));
    }
  });
}

// ------------------------------------------------------------------ Adagrad
template <class T, bool kWd> void adagrad_kernel(const OptimArgs& a, int64_t begin, int64_t end) {
  T* p = static_cast<T*>(a.param);
  const T* g = static_cast<const T*>(a.grad);
  T* sum = static_cast<T*>(a.s0);
  const auto neg_clr = splat<T>(a.c[0]), wd = splat<T>(a.c[1]), eps = splat<T>(a.c[2]),
             sgn = splat<T>(a.c[3]);
  sweep<T>(begin, end, [&](int64_t i, auto m) {
    auto pv = m.ld(p + i);
    auto gv = m.ld(g + i) * sgn;
    if constexpr (kWd) gv = gv + wd * pv;
    auto s = m.ld(sum + i) + gv * gv;
    m.st(sum + i, s);
    auto std_ = vsqrt(s) + eps;
    m.st(p + i, pv + neg_clr * (gv / std_));
  });
}

// ------------------------------------------------------------------ table
template <class T> void fill(OptimKernelTable& t, int d) {
  t.sgd[d][0][0][0] = sgd_kernel<T, false, 0, false>;
  t.sgd[d][1][0][0] = sgd_kernel<T, true, 0, false>;
  t.sgd[d][0][1][0] = sgd_kernel<T, false, 1, false>;
  t.sgd[d][1][1][0] = sgd_kernel<T, true, 1, false>;
  t.sgd[d][0][2][0] = sgd_kernel<T, false, 2, false>;
  t.sgd[d][1][2][0] = sgd_kernel<T, true, 2, false>;
  t.sgd[d][0][1][1] = sgd_kernel<T, false, 1, true>;
  t.sgd[d][1][1][1] = sgd_kernel<T, true, 1, true>;
  t.sgd[d][0][2][1] = sgd_kernel<T, false, 2, true>;
  t.sgd[d][1][2][1] = sgd_kernel<T, true, 2, true>;
  t.adam[d][0][0] = adam_kernel<T, 0, false>;
  t.adam[d][1][0] = adam_kernel<T, 1, false>;
  t.adam[d][2][0] = adam_kernel<T, 2, false>;
  t.adam[d][0][1] = adam_kernel<T, 0, true>;
  t.adam[d][1][1] = adam_kernel<T, 1, true>;
  t.adam[d][2][1] = adam_kernel<T, 2, true>;
  t.lion[d] = lion_kernel<T>;
  t.rmsprop[d][0][0][0] = rmsprop_kernel<T, false, false, false>;
  t.rmsprop[d][0][0][1] = rmsprop_kernel<T, false, false, true>;
  t.rmsprop[d][0][1][0] = rmsprop_kernel<T, false, true, false>;
  t.rmsprop[d][0][1][1] = rmsprop_kernel<T, false, true, true>;
  t.rmsprop[d][1][0][0] = rmsprop_kernel<T, true, false, false>;
  t.rmsprop[d][1][0][1] = rmsprop_kernel<T, true, false, true>;
  t.rmsprop[d][1][1][0] = rmsprop_kernel<T, true, true, false>;
  t.rmsprop[d][1][1][1] = rmsprop_kernel<T, true, true, true>;
  t.adagrad[d][0] = adagrad_kernel<T, false>;
  t.adagrad[d][1] = adagrad_kernel<T, true>;
}

#define NA_STR2(x) #x
#define NA_STR(x) NA_STR2(x)

OptimKernelTable make_table() {
  OptimKernelTable t;
  t.isa = NA_STR(NA_ISA);
  fill<float>(t, 0);
  fill<double>(t, 1);
  return t;
}

}  // namespace

const OptimKernelTable* optim_kernel_table() {
  static const OptimKernelTable table = make_table();
  return &table;
}

}  // namespace NA_ISA
}  // namespace neural_arch::cpu
