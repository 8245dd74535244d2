// Vectorized float32 math for the elementwise CPU kernels.
//
// Everything works on GCC vector-extension types whose width follows the ISA the including
// translation unit is compiled for (16 bytes for SSE2, 32 for AVX2, 64 for AVX-512), so one
// source serves all three compilations of kernels_isa.cpp.  Functions are branch-free per lane:
// every path is computed and the lanes pick with vector selects, so a vector costs the same
// whatever its contents (sin/cos are the one exception, see there).
//
// Linkage: the same function names are compiled once per ISA into one library.  Were they
// ordinary inline functions the linker could keep the AVX-512 copy and run it on an AVX2-only
// machine, so everything lives in namespace neural_arch::cpu::NA_ISA (the build passes
// -DNA_ISA=base|avx2|avx512) and every function has internal linkage (static) as well.
//
// The file may be included again under another NA_ISA (after #undef NA_CPU_VEC_MATH_HPP); the
// tests do that to run the AVX2 and AVX-512 widths from one translation unit.
//
// Scalar overloads (float -> float) run the vector code on lane 0, so a kernel's scalar tail
// gives bit-identical results to its vector body.
//
// Accuracy against the exact values (double-precision references): the largest error found
// over every float with 2^-8 <= |x| < 16, every 31st and every 131st float bit pattern (all
// exponents, signs, subnormals and specials) and dense sweeps.  "ulp" is the float spacing at
// the exact result (2^-149 if subnormal).  The FMA column is the AVX2 and AVX-512 builds, the
// SSE2 column the base build.  tests/test_vec_math.cpp enforces bounds a little above these at
// every width the CPU supports.
//
//   function         FMA    SSE2   notes
//   exp              1.03   1.00   0 below -103.97 (subnormal from -87.34), inf above 88.7228
//   expm1            1.42   1.45
//   log              0.95   0.92   log(+-0) = -inf, log(x < 0) = NaN, subnormal x handled
//   log1p            1.05   1.11
//   tanh             1.41   1.40
//   sigmoid          2.40   2.40
//   erf              1.08   1.31
//   sin, cos         0.502  0.502  any finite argument (exact reduction beyond 2^20)
//   softplus         1.62   1.71
//   gelu_erf         6+0.473x^2  6.13+0.473x^2  the x^2 term (x < 0) from -x^2/2 rounded in
//                                          float; the rest from the Phi tail ratio in float
//   gelu_tanh        4+2.47|v|  4+2.55|v|  v = sqrt(8/pi)(x + 0.044715 x^3); the |v| term only
//                                          for x < 0 (exponent rounded in float, see there)
//   silu             3.34   3.39
//   mish             3.79   4.50
//   gelu_erf_grad    1.31   1.36   or absolute error <= 8e-8 (zero at x = -0.7518)
//   gelu_tanh_grad   4+1.83|v|  4+1.71|v|  or absolute error <= 6e-8 (zero at x = -0.7522)
//   silu_grad        3.96   4.18   or absolute error <= 1e-8 (zero at x = -1.2785)
//   mish_grad        4.25   5.36   or absolute error <= 6e-8 (zero at x = -1.1924)
//
// The polynomial and rational coefficients were fitted for this file (weighted minimax by
// Lawson iteration in double, coefficients rounded to float one at a time with the rest
// refitted); each block names its function, interval and fit error.
//
// Throughput, one AVX-512 thread on the development machine (AMD EPYC Zen 4, whose 512-bit
// units are half rate), 4M-element arrays: gelu_tanh 2.8, gelu_erf 2.0, exp 3.5 elements/ns.
// These kernels are bound by the FMA/multiply pipe, so cost is counted in multiplies.
#ifndef NA_CPU_VEC_MATH_HPP
#define NA_CPU_VEC_MATH_HPP

#include <cstdint>
#include <cstring>

#ifndef NA_ISA
#define NA_ISA generic
#endif

#ifndef NA_VM_INLINE
#define NA_VM_INLINE static inline __attribute__((always_inline))
#endif

#include <immintrin.h>

// Vector width in bytes.  NA_VECMATH_VEC_BYTES overrides the choice made from the compiler's
// ISA macros, and NA_VECMATH_ASSUME_FMA declares FMA available: the tests need both because
// `#pragma GCC target` enables the instructions but, in C++, does not define __AVX512F__ etc.
#undef NA_VM_VEC_BYTES
#if defined(NA_VECMATH_VEC_BYTES)
#define NA_VM_VEC_BYTES NA_VECMATH_VEC_BYTES
#elif defined(__AVX512F__)
#define NA_VM_VEC_BYTES 64
#elif defined(__AVX2__)
#define NA_VM_VEC_BYTES 32
#else
#define NA_VM_VEC_BYTES 16
#endif
#undef NA_VM_FMA
#if defined(__FMA__) || defined(NA_VECMATH_ASSUME_FMA)
#define NA_VM_FMA 1
#else
#define NA_VM_FMA 0
#endif

namespace neural_arch::cpu {
namespace NA_ISA {

inline constexpr int kVecBytes = NA_VM_VEC_BYTES;
typedef float vf __attribute__((vector_size(kVecBytes)));
typedef int32_t vi __attribute__((vector_size(kVecBytes)));

namespace vecmath {

inline constexpr int kLanes = kVecBytes / 4;
// Same lane count in double precision: used where float arithmetic cannot hold enough bits
// (sin/cos; the gelu_tanh exponent where there is no FMA).  Never passed across a function
// boundary, so no ABI warnings about wide vectors.  GCC splits arithmetic on these
// double-width types into native vectors but scalarizes comparisons and ?:, so code on vd
// uses bit masks instead.
typedef double vd __attribute__((vector_size(kVecBytes * 2)));
// Integer arithmetic on bit patterns is done unsigned, so that garbage lanes (NaN inputs) wrap
// instead of overflowing a signed type (which UBSan reports, even in vectors).
typedef uint32_t vu __attribute__((vector_size(kVecBytes)));
typedef uint64_t vul __attribute__((vector_size(kVecBytes * 2)));

namespace detail {

NA_VM_INLINE vf splat(float c) { return vf{} + c; }
NA_VM_INLINE vi splati(int32_t c) { return vi{} + c; }
NA_VM_INLINE vf abs(vf x) { return (vf)((vi)x & 0x7fffffff); }
// Sign of s onto the magnitude of m (m must be non-negative or NaN).
NA_VM_INLINE vf with_sign_of(vf m, vf s) { return (vf)((vi)m | ((vi)s & (int32_t)0x80000000u)); }
NA_VM_INLINE vf blend(vi mask, vf a, vf b) { return mask ? a : b; }
// NaN-preserving clamps.  The x86 min/max return their second operand when either is NaN,
// so x goes second; written with intrinsics because GCC keeps `x < lo ? lo : x` as a
// compare and a blend (it may not assume the NaN behaviour of min/max).
NA_VM_INLINE vf clamp_below(vf x, float lo) {
#if NA_VM_VEC_BYTES == 64
  return (vf)_mm512_maskz_max_ps((__mmask16)-1, (__m512)splat(lo), (__m512)x);
#elif NA_VM_VEC_BYTES == 32
  return (vf)_mm256_max_ps((__m256)splat(lo), (__m256)x);
#else
  return (vf)_mm_max_ps((__m128)splat(lo), (__m128)x);
#endif
}
NA_VM_INLINE vf clamp_above(vf x, float hi) {
#if NA_VM_VEC_BYTES == 64
  return (vf)_mm512_maskz_min_ps((__mmask16)-1, (__m512)splat(hi), (__m512)x);
#elif NA_VM_VEC_BYTES == 32
  return (vf)_mm256_min_ps((__m256)splat(hi), (__m256)x);
#else
  return (vf)_mm_min_ps((__m128)splat(hi), (__m128)x);
#endif
}
NA_VM_INLINE vf clamp(vf x, float lo, float hi) { return clamp_above(clamp_below(x, lo), hi); }

inline constexpr float kInf = __builtin_inff();
inline constexpr float kLog2e = 0x1.715476p+0f;
// ln2 split so that n * kLn2Hi is exact for |n| < 2^9.
inline constexpr float kLn2Hi = 0x1.62e4p-1f;
inline constexpr float kLn2Lo = 0x1.7f7d1cp-20f;
// Adding 1.5 * 2^23 rounds a float of magnitude < 2^22 to an integer that then sits in the
// low mantissa bits.
inline constexpr float kRoundShifter = 0x1.8p23f;

// e^r - 1 = r + r^2 Q(r) for |r| <= 0.367; the fit's error relative to e^r is 2^-27.7.
NA_VM_INLINE vf exp_poly_m1(vf r) {
  vf q = r * 0x1.69f0ecp-10f + 0x1.125d86p-7f;
  q = q * r + 0x1.5559cap-5f;
  q = q * r + 0x1.55546p-3f;
  q = q * r + 0x1.fffffap-2f;
  return r * r * q + r;
}
NA_VM_INLINE vf exp_poly(vf r) { return exp_poly_m1(r) + 1.0f; }

// 2^f = 1 + f Q(f) for |f| <= 0.5 (Horner, 6 FMAs); the fit's error relative to 2^f is 2^-28.2.
NA_VM_INLINE vf exp2_poly(vf f) {
  vf q = f * 0x1.41f6a8p-13f + 0x1.5f019p-10f;
  q = q * f + 0x1.3b2cd2p-7f;
  q = q * f + 0x1.c6af88p-5f;
  q = q * f + 0x1.ebfbdep-3f;
  q = q * f + 0x1.62e43p-1f;
  return q * f + 1.0f;
}

// exp(hi + lo) = p * 2^n with p in about [0.70, 1.42].  lo is a small correction to hi (a
// double-float argument); HasLo=false drops it at compile time.  hi is clamped to [-120, 89],
// which keeps n in [-174, 129] yet still yields 0 and inf at the ends, even after the callers
// multiply p by a factor up to 200 before scaling; NaN passes through.
// MinusOne returns p - 1 instead, for callers that fold the 1 into a later multiply-add;
// Clamp=false is for callers whose hi is known to lie in [-120, 89].
template <bool HasLo, bool MinusOne = false, bool Clamp = true>
NA_VM_INLINE vf exp_reduce(vf hi, vf lo, vi& n) {
  if (Clamp) hi = clamp(hi, -120.0f, 89.0f);
  const vf shifter = splat(kRoundShifter);
  vf kb = (HasLo ? hi + lo : hi) * kLog2e + shifter;
  vf k = kb - shifter;
  n = (vi)((vu)kb - (vu)shifter);
  vf r = hi - k * kLn2Hi;  // exact: k * kLn2Hi is exact and close to hi
  r = HasLo ? r + (lo - k * kLn2Lo) : r - k * kLn2Lo;
  return MinusOne ? exp_poly_m1(r) : exp_poly(r);
}

// p * 2^n for n in [-176, 130].  Two power-of-two factors so that neither exponent field
// overflows and a subnormal result is rounded only once (by the last multiply).
NA_VM_INLINE vf ldexp_split(vf p, vi n) {
#if NA_VM_VEC_BYTES == 64
  // vscalefps rounds p * 2^n once, as the two factors below do: same bits, 2 instructions
  // instead of 7.
  return (vf)_mm512_scalef_ps((__m512)p, _mm512_cvtepi32_ps((__m512i)n));
#else
  vi n1 = n >> 1;
  vu n2 = (vu)n - (vu)n1;
  vf s1 = (vf)(((vu)n1 + 127u) << 23);
  vf s2 = (vf)((n2 + 127u) << 23);
  return p * s1 * s2;
#endif
}

// Nearest integer (ties to even) of |y| < 2^22, as a float.
NA_VM_INLINE vf round_nearest(vf y) {
#if NA_VM_VEC_BYTES == 64
  return (vf)_mm512_roundscale_ps((__m512)y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
#else
  const vf shifter = splat(kRoundShifter);
  return (y + shifter) - shifter;
#endif
}

// p * 2^k for integral k in [-250, 250], rounded once.
NA_VM_INLINE vf scale2(vf p, vf k) {
#if NA_VM_VEC_BYTES == 64
  return (vf)_mm512_scalef_ps((__m512)p, (__m512)k);
#else
  return ldexp_split(p, __builtin_convertvector(k, vi));
#endif
}

#if NA_VM_FMA
// a * b - c rounded once.  Explicit, because GCC would merge a * b with an identical product
// computed just before instead of contracting it into an FMA.
NA_VM_INLINE vf fms(vf a, vf b, vf c) {
#if NA_VM_VEC_BYTES == 64
  return (vf)_mm512_fmsub_ps((__m512)a, (__m512)b, (__m512)c);
#elif NA_VM_VEC_BYTES == 32
  return (vf)_mm256_fmsub_ps((__m256)a, (__m256)b, (__m256)c);
#else
  return (vf)_mm_fmsub_ps((__m128)a, (__m128)b, (__m128)c);
#endif
}
#endif

// -a^2/2 as hi + lo with hi = fl(-a^2/2), exact to about 2^-48 relative, for exp(-a^2/2) in
// the normal tails where a rounded square would cost a relative error of a^2 2^-25.
NA_VM_INLINE void neg_half_square(vf a, vf& hi, vf& lo) {
#if NA_VM_FMA
  const vf m = a * -0.5f;  // exact
  hi = m * a;
  lo = fms(m, a, hi);
#else
  // Without FMA: 12-bit halves, whose products are exact; then renormalized so that hi is
  // the rounded -a^2/2, as with FMA (callers also use hi on its own).
  vf ah = (vf)((vi)a & (int32_t)0xfffff000u);
  vf al = a - ah;
  vf h0 = (ah * ah) * -0.5f;
  vf l0 = ((ah + ah) * al + al * al) * -0.5f;
  hi = h0 + l0;
  lo = l0 - (hi - h0);
#endif
}

// exp(-a^2/2) = (1 + w) 2^k for 0 <= a <= 14.5, returning w, and hi = -a^2/2 rounded once
// (normal_tail_ratio takes it too).  That rounding, up to a^2 2^-26 absolute, becomes a relative
// error of up to about a^2/2 ulp of the exponential: the callers state bounds of C + x^2/2 ulp.
// (Carrying -a^2/2 as a double-float kept about 1 ulp but cost 10% of gelu_erf's time.)  k is
// a float, applied with scale2 (one vscalefps with AVX-512).
NA_VM_INLINE vf exp_neg_half_square(vf a, vf& hi, vf& k) {
  hi = (a * -0.5f) * a;
  k = round_nearest(hi * kLog2e);
  return exp_poly_m1(hi - k * kLn2Hi - k * kLn2Lo);  // k * kLn2Hi is exact
}

// Phi(-a) exp(a^2/2) = erfc(a/sqrt2) exp(a^2/2) / 2 for 0 <= a <= 14.5 (Phi is the normal cdf)
// as num/den, a rational function of degree 4/5 with positive coefficients (relative fit error
// 2^-25.3 after rounding them to float).  Even and odd parts are evaluated separately in
// y = -a^2/2 (which callers have already): fewer roundings than Horner in a.  Tried instead
// (AVX-512, Zen 4): 16 per-interval polynomials picked per lane by vpermps.  Over all of
// [0, 14.5] (degree 6) gelu_erf took 0.73 ns/element against 0.53 with this ratio: the eight
// permutes cost more than its 9 FMAs and the division, which runs beside them.  Phi itself
// tabulated on [-3, 3) took 0.23, but lanes outside need this form, and a per-vector fallback
// (or gathering such lanes) made inputs of standard deviation 2-4 cost 0.55-1.6 ns.
NA_VM_INLINE void normal_tail_ratio(vf a, vf y, vf& num, vf& den) {
  vf ne = y * 0x1.0dc4aep-6f + -0x1.774496p-2f;
  ne = ne * y + 0.5f;
  vf no = y * -0x1.4cdebep-4f + 0x1.c0d0e4p-2f;
  num = no * a + ne;
  vf de = y * 0x1.a13798p-2f + -0x1.33d798p+1f;
  de = de * y + 1.0f;
  vf dd = y * 0x1.5219bap-5f + -0x1.e0bdb4p-1f;
  dd = dd * y + 0x1.acaaa2p+0f;
  den = dd * a + de;
}

// log(1 + f) for f in about [-0.30, 0.42], as f + f^2 (f P(f) - 1/2); fit error 2^-27.1.
NA_VM_INLINE vf log1p_poly(vf f) {
  vf p = f * -0x1.389db2p-4f + 0x1.06f114p-3f;
  p = p * f + -0x1.0e478ep-3f;
  p = p * f + 0x1.22b096p-3f;
  p = p * f + -0x1.545b2ap-3f;
  p = p * f + 0x1.99a0fcp-3f;
  p = p * f + -0x1.000278p-2f;
  p = p * f + 0x1.555554p-2f;
  return (f * f) * (p * f - 0.5f) + f;
}

// Splits positive finite u into 2^e * m with m in [sqrt(1/2), sqrt(2)); u must be normal.
NA_VM_INLINE vf split_sqrt2(vf u, vi& e) {
  const uint32_t kSqrtHalfBits = 0x3f3504f3;
  vu t = (vu)u - kSqrtHalfBits;
  e = (vi)t >> 23;
  return (vf)((t & 0x007fffffu) + kSqrtHalfBits);
}

NA_VM_INLINE vf sigmoid_from(vf x, vf e) {
  // e = exp(-|x|); 1/(1+e) for x >= 0, e/(1+e) below: no cancellation on either side.
  return blend(x >= 0.0f, splat(1.0f), e) / (e + 1.0f);
}

NA_VM_INLINE bool any(vi m) {
  int32_t acc = 0;
  for (int i = 0; i < kLanes; ++i) acc |= m[i];
  return acc != 0;
}

// 2/pi in binary, 32 bits per word, preceded by two zero words so that a window may start
// before the binary point.
inline constexpr uint32_t kTwoOverPiBits[] = {0x00000000, 0x00000000, 0xa2f9836e, 0x4e441529,
                                              0xfc2757d1, 0xf534ddc0, 0xdb629599, 0x3c439041,
                                              0xfe5163ab, 0xdebbc561, 0xb7246e3a, 0x424dd2e0};

// Exact reduction of a finite float with |x| >= 2^20 (Payne-Hanek): x = r + q*pi/2 with
// |r| <= pi/4, r in double to ~2^-53 relative.  Scalar and out of line: huge arguments are rare.
__extension__ typedef unsigned __int128 u128;

[[gnu::noinline]] static void reduce_pio2_huge(float x, double& r, int64_t& q) {
  uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  const bool negative = (b >> 31) != 0;
  const int biased = int((b >> 23) & 0xff);
  const u128 m = (b & 0x7fffffu) | 0x800000u;  // |x| = m * 2^(biased-150)
  // Bits of 2/pi with weight 2^-i for i < biased-151 only add multiples of 4 to x*2/pi, and
  // those past the 96-bit window add < 2^-70: take bits [biased-151, biased-55).
  const int pos = biased - 151 + 63;  // bit position in kTwoOverPiBits (MSB of word 0 is 0)
  const int w = pos >> 5, s = pos & 31;
  const u128 window = ((u128)kTwoOverPiBits[w] << 96) | ((u128)kTwoOverPiBits[w + 1] << 64) |
                      ((u128)kTwoOverPiBits[w + 2] << 32) | (u128)kTwoOverPiBits[w + 3];
  const u128 bits96 = (window << s) >> 32;
  // |x| * 2/pi mod 4 = (m * bits96 mod 2^96) * 2^-94: 2 integer bits, 94 fraction bits.
  const u128 prod = (m * bits96) & ((((u128)1) << 96) - 1);
  const uint64_t top = uint64_t(prod >> 32);  // 2 integer bits + 62 fraction bits
  const uint64_t rounded = top + (uint64_t(1) << 61);
  int64_t quadrant = int64_t(rounded >> 62);
  const int64_t frac = int64_t(rounded & ((uint64_t(1) << 62) - 1)) - (int64_t(1) << 61);
  double rr = double(frac) * 0x1.921fb54442d18p-62;  // frac * 2^-62 * pi/2
  if (negative) {
    rr = -rr;
    quadrant = -quadrant;
  }
  r = rr;
  q = quadrant & 3;
}

// sin(x) (Cos=false) or cos(x).  Reduction and polynomials run in double, so the only
// float rounding is the final one.  |x| < 2^20 uses a three-part pi/2 (Cody-Waite, exact
// products); a vector holding any larger finite lane also runs the exact scalar reduction
// for those lanes -- the one data-dependent branch in this file.
template <bool Cos> NA_VM_INLINE vf sincos(vf x) {
  const vd xd = __builtin_convertvector(x, vd);
  const vd shifter = vd{} + 0x1.8p52;
  const vd kb = xd * 0x1.45f306dc9c883p-1 + shifter;  // round(x * 2/pi)
  const vd k = kb - shifter;
  vd r = ((xd - k * 0x1.921fb544p+0) - k * 0x1.0b4611a6p-34) - k * 0x1.3198a2e037073p-69;
  vul q = (vul)kb;
  const vf ax = abs(x);
  const vi huge = (ax >= 0x1p20f) & (ax < kInf);
  if (__builtin_expect(any(huge), 0)) {
    // Through arrays, so that r and q stay in registers on the common path.
    float xs[kLanes];
    int32_t hs[kLanes];
    double rs[kLanes];
    int64_t qs[kLanes];
    std::memcpy(xs, &x, sizeof xs);
    std::memcpy(hs, &huge, sizeof hs);
    std::memcpy(rs, &r, sizeof rs);
    std::memcpy(qs, &q, sizeof qs);
    for (int i = 0; i < kLanes; ++i)
      if (hs[i]) reduce_pio2_huge(xs[i], rs[i], qs[i]);
    std::memcpy(&r, rs, sizeof rs);
    std::memcpy(&q, qs, sizeof qs);
  }
  if (Cos) q += 1;
  const vd r2 = r * r;
  // Taylor series to r^11 and r^10: truncation below 2^-33 relative on |r| <= pi/4.
  vd s = r2 * (-1.0 / 39916800.0) + (1.0 / 362880.0);
  s = s * r2 + (-1.0 / 5040.0);
  s = s * r2 + (1.0 / 120.0);
  s = s * r2 + (-1.0 / 6.0);
  s = r * (r2 * s + 1.0);  // not r + r^3 s, which turns -0 into +0
  vd c = r2 * (1.0 / 3628800.0) + (-1.0 / 40320.0);
  c = c * r2 + (1.0 / 720.0);
  c = c * r2 + (-1.0 / 24.0);
  c = c * r2 + 0.5;
  c = 1.0 - r2 * c;
  const vul odd = -(q & 1);  // all ones where the quadrant is odd
  vul res = ((vul)c & odd) | ((vul)s & ~odd);
  res ^= (q & 2) << 62;
  return __builtin_convertvector((vd)res, vf);
}

// exp(-|v|) = p * 2^k for the gelu_tanh exponent v = sqrt(8/pi) (x + 0.044715 x^3), with
// y = -|v| log2(e) formed in plain float: its rounding (about |y| 2^-24 absolute) becomes a
// relative error of exp(-|v|) of about |v| ulp.  (Forming y in double-float kept that to 1 ulp
// but took half of gelu_tanh's time.)  y stops at -200, where exp(-|v|) is 0 in float, so that
// k stays finite; NaN passes.
NA_VM_INLINE vf gelu_tanh_exp(vf x, vf& k) {
  const vf y = clamp_below(abs(x) * ((x * x) * -0x1.a5a7d0p-4f - 0x1.26aec2p+1f), -200.0f);
  k = round_nearest(y);
  return exp2_poly(y - k);  // y - k is exact
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Vector functions.

NA_VM_INLINE vf exp(vf x) {
  vi n;
  vf p = detail::exp_reduce<false>(x, vf{}, n);
  return detail::ldexp_split(p, n);
}

NA_VM_INLINE vf expm1(vf x) {
  using namespace detail;
  // x = n ln2 + r; e^x - 1 = 2^n (e^r - 1) + (2^n - 1), each piece exact or small.
  vf xc = clamp(x, -30.0f, 89.0f);  // expm1 is -1 in float below -17.33
  const vf shifter = splat(kRoundShifter);
  vf kb = xc * kLog2e + shifter;
  vf k = kb - shifter;
  vi n = (vi)((vu)kb - (vu)shifter);
  vf r = (xc - k * kLn2Hi) - k * kLn2Lo;
  // e^r - 1 = r + r^2 Q(r), |r| <= 0.367; fit error 2^-30.6 relative to e^r - 1.
  vf q = r * 0x1.9ed6d8p-13f + 0x1.6d61bep-10f;
  q = q * r + 0x1.1112bcp-7f;
  q = q * r + 0x1.5554dcp-5f;
  q = q * r + 0x1.555554p-3f;
  q = q * r + 0.5f;
  vf em = r * r * q + r;
  // n <= 30: t*em + (t-1) with t = 2^n (t-1 exact or off by < 2^-29 relative).
  vi nc = n > 30 ? splati(30) : n;
  vf t = (vf)(((vu)nc + 127u) << 23);
  vf small = t * em + (t - 1.0f);
  // n > 30: the -1 is below 2^-30 relative; scale like exp to reach 2^128 safely.
  vf big = ldexp_split(em + 1.0f, n);
  vf res = blend(n > 30, big, small);
  return blend(x == 0.0f, x, res);  // keeps -0
}

NA_VM_INLINE vf log(vf x) {
  using namespace detail;
  vi sub = x < 0x1p-126f;  // subnormal (or not positive, fixed up below): scale into range
  vf xs = blend(sub, x * 0x1p23f, x);
  vi e;
  vf m = split_sqrt2(xs, e);
  e -= sub & 23;
  vf f = m - 1.0f;
  vf ef = __builtin_convertvector(e, vf);
  vf res = ef * kLn2Hi + (log1p_poly(f) + ef * kLn2Lo);
  vf special = blend(x == 0.0f, splat(-kInf), blend(x == kInf, x, splat(__builtin_nanf(""))));
  return blend((x > 0.0f) & (x < kInf), res, special);
}

NA_VM_INLINE vf log1p(vf x) {
  using namespace detail;
  // u = 1 + x picks the exponent e; the reduced argument f = (1 + x) 2^-e - 1 is then formed
  // from x itself, f = x 2^-e + (2^-e - 1), with the rounding error of that sum (TwoSum)
  // added back as a first-order correction.
  vf u = x + 1.0f;
  vi e;
  vf m = split_sqrt2(clamp_below(u, 0x1p-126f), e);
  vi ec = e > 24 ? splati(24) : e;
  vf sc = (vf)((127u - (vu)ec) << 23);  // 2^-e, exact for e in [-24, 24]
  vf a = x * sc;
  vf b = sc - 1.0f;
  vf f = a + b;
  vf bb = f - a;
  vf corr = (a - (f - bb)) + (b - bb);
  vi near = e <= 24;  // beyond, 1 + x rounds off less than 2^-24 of a result >= 16
  f = blend(near, f, m - 1.0f);
  corr = blend(near, corr, vf{});
  vf lp = log1p_poly(f) + (corr - corr * f);  // corr / (1 + f) to first order
  vf ef = __builtin_convertvector(e, vf);
  vf res = ef * kLn2Hi + (lp + ef * kLn2Lo);
  res = blend(x == 0.0f, x, res);
  vf special = blend(x == -1.0f, splat(-kInf), blend(x == kInf, x, splat(__builtin_nanf(""))));
  return blend((x > -1.0f) & (x < kInf), res, special);
}

NA_VM_INLINE vf tanh(vf x) {
  using namespace detail;
  vf ax = abs(x);
  // |x| < 0.5625: x + x^3 P(x^2), fit error 2^-29.4 relative.
  vf x2 = ax * ax;
  vf p = x2 * -0x1.9454fp-8f + 0x1.5811f6p-6f;
  p = p * x2 + -0x1.b905c4p-5f;
  p = p * x2 + 0x1.110c5ep-3f;
  p = p * x2 + -0x1.555548p-2f;
  vf small = (ax * x2) * p + ax;
  // Otherwise 1 - 2/(e^{2|x|} + 1): the result is >= 0.51, so the subtraction is benign;
  // exp saturates to inf for large |x| and the quotient to 0.
  vf big = 1.0f - 2.0f / (exp(ax + ax) + 1.0f);
  return with_sign_of(blend(ax < 0.5625f, small, big), x);
}

NA_VM_INLINE vf sigmoid(vf x) { return detail::sigmoid_from(x, exp(-detail::abs(x))); }

NA_VM_INLINE vf erf(vf x) {
  using namespace detail;
  vf ax = abs(x);
  // |x| < 1: x + x Q(x^2), fit error 2^-29.4 relative.
  vf x2 = ax * ax;
  vf q = x2 * 0x1.4771fcp-14f + -0x1.a3515ep-11f;
  q = q * x2 + 0x1.53f224p-8f;
  q = q * x2 + -0x1.b7f71ap-6f;
  q = q * x2 + 0x1.ce2ce6p-4f;
  q = q * x2 + -0x1.81273ep-2f;
  q = q * x2 + 0x1.06eba8p-3f;
  vf small = ax * q + ax;
  // Otherwise 1 - erfc(|x|) with erfc(z) = 2 Phi(-sqrt2 z) = 2 exp(-z^2) ratio(sqrt2 z); erfc
  // is below half an ulp of 1 from 3.92 on, so clamp at 10.
  vf z = clamp_above(ax, 10.0f);
  vf hi, lo;
  neg_half_square(z, hi, lo);
  hi += hi;  // -z^2 = -a^2/2 with a = sqrt2 z
  vi n;
  vf w = exp_reduce<true, true>(hi, lo + lo, n);
  vf num, den;
  normal_tail_ratio(z * 0x1.6a09e6p+0f, hi, num, den);
  num += num;
  vf big = 1.0f - ldexp_split((num * w + num) / den, n);
  return with_sign_of(blend(ax < 1.0f, small, big), x);
}

NA_VM_INLINE vf sin(vf x) { return detail::sincos<false>(x); }
NA_VM_INLINE vf cos(vf x) { return detail::sincos<true>(x); }

// log(1 + e^x) = max(x, 0) + log1p(e^-|x|), exact-ish everywhere and never overflowing.
NA_VM_INLINE vf softplus(vf x) {
  using namespace detail;
  return blend(x > 0.0f, x, vf{}) + log1p(exp(-abs(x)));
}

// x Phi(x), Phi the normal cdf.  With a = |x| and Phi(-a) = exp(-a^2/2) ratio(a):
// x Phi(-a) for x < 0 and x - x Phi(-a) for x >= 0, neither of which cancels.
NA_VM_INLINE vf gelu_erf(vf x) {
  using namespace detail;
  vf xc = clamp(x, -14.5f, 14.5f);  // beyond, Phi(-a) is below 2^-150
  vf a = abs(xc);
  vf hi, k;
  vf w = exp_neg_half_square(a, hi, k);
  vf num, den;
  normal_tail_ratio(a, hi, num, den);
  vf t = xc * num;
  vf g = scale2((t * w + t) / den, k);  // x Phi(-a)
  return blend(x <= 0.0f, g, x - g);    // <=: -0 - -0 would be +0
}

// Phi(x) + x phi(x), phi(x) = exp(-x^2/2)/sqrt(2 pi).  With a = |x| and
// w = exp(-a^2/2) (ratio(a) - a/sqrt(2 pi)) this is w for x < 0 and 1 - w for x >= 0.
NA_VM_INLINE vf gelu_erf_grad(vf x) {
  using namespace detail;
  vf a = clamp_above(abs(x), 14.5f);
  vf hi, k;
  vf w = exp_neg_half_square(a, hi, k);
  vf num, den;
  normal_tail_ratio(a, hi, num, den);
  vf m = (a * -0x1.988454p-2f) * den + num;
  vf g = scale2((m * w + m) / den, k);
  // |x| < 0.7: 1/2 + x G(x^2), fit error 2^-27.6 relative to 1/2; the general form rounds
  // num and den just above 1/2 and 1 there, worth several ulp of the result.
  vf x2 = x * x;
  vf sg = x2 * 0x1.0822fp-10f + -0x1.34ddb4p-7f;
  sg = sg * x2 + 0x1.ea16cp-5f;
  sg = sg * x2 + -0x1.1057d6p-2f;
  sg = sg * x2 + 0x1.988452p-1f;
  return blend(a < 0.7f, x * sg + 0.5f, blend(x < 0.0f, g, 1.0f - g));
}

// 0.5 x (1 + tanh(u)) = x sigmoid(2u) = x / (1 + exp(-v)), v = 2u: no cancellation for
// negative x, where it is computed as x e / (1 + e) with e = exp(v).
NA_VM_INLINE vf gelu_tanh(vf x) {
  using namespace detail;
  // exp(-|v|)'s error of about |v| ulp (gelu_tanh_exp) reaches the result only for x < 0; for
  // x >= 0 it is damped by e / (1 + e).
  vf k;
  const vf p = gelu_tanh_exp(x, k);
  const vf xm = clamp_below(x, -11.0f);  // keeps x e finite (-inf * 0) and the result -0
  const vf num = blend(x < 0.0f, scale2(p * xm, k), x);
  return num / (scale2(p, k) + 1.0f);  // the divider runs beside the FMA pipes: cheaper than rcp14
}

// d/dx x s(v) = s (1 + x (1 - s) v'), s = sigmoid(v), v' = sqrt(8/pi) (1 + 3 * 0.044715 x^2).
NA_VM_INLINE vf gelu_tanh_grad(vf x) {
  using namespace detail;
  vf xc = clamp(x, -11.0f, 11.0f);
  vf k;
  vf p = gelu_tanh_exp(xc, k);
  vf e = scale2(p, k);  // exp(-|v|)
  vf q = 1.0f / (e + 1.0f);
  vf dv = (xc * xc) * 0x1.b6676cp-3f + 0x1.988454p+0f;  // v'
  // x >= 0: s = q, 1 - s = e q.   x < 0: s = e q (kept as p 2^n q), 1 - s = q, and
  // s (1 + x q v') = e ((1 + e) + x v') / (1 + e)^2, the square formed as in silu_grad.
  vf pos = q * ((xc * dv) * (e * q) + 1.0f);
  vf neg = scale2(p * ((xc * dv + (e + 1.0f)) / (e * (e + 2.0f) + 1.0f)), k);
  // |x| < 0.7: 1/2 + x H(x^2), fit error 2^-27.6 relative to 1/2 (fewer roundings).
  vf x2 = xc * xc;
  vf sh = x2 * 0x1.143e04p-10f + -0x1.43b4f2p-7f;
  sh = sh * x2 + 0x1.f54dbp-5f;
  sh = sh * x2 + -0x1.11b0eep-2f;
  sh = sh * x2 + 0x1.988452p-1f;
  return blend(abs(x) < 0.7f, xc * sh + 0.5f, blend(x < 0.0f, neg, pos));
}

NA_VM_INLINE vf silu(vf x) {
  using namespace detail;
  vi n;
  vf p = exp_reduce<false>(-abs(x), vf{}, n);
  vf e = ldexp_split(p, n);
  vf xm = clamp_below(x, -200.0f);
  vf num = blend(x < 0.0f, ldexp_split(p * xm, n), x);
  return num / (e + 1.0f);
}

// sigmoid(x) (1 + x (1 - sigmoid(x)))
NA_VM_INLINE vf silu_grad(vf x) {
  using namespace detail;
  vf xc = clamp(x, -200.0f, 200.0f);
  vi n;
  vf p = exp_reduce<false>(-abs(xc), vf{}, n);
  vf e = ldexp_split(p, n);
  vf q = 1.0f / (e + 1.0f);
  vf pos = q * (xc * (e * q) + 1.0f);
  // x < 0: e q (1 + x q) = e ((1 + x) + e) / (1 + e)^2; 1 + x is exact around the zero at
  // -1.28, so the cancellation there costs nothing.  (1 + e)^2 is formed as 1 + e (e + 2):
  // squaring a rounded 1 + e would double its rounding error.
  vf negr = ldexp_split(p * (((xc + 1.0f) + e) / (e * (e + 2.0f) + 1.0f)), n);
  return blend(x < 0.0f, negr, pos);
}

// x tanh(log(1 + e^x)) = x e (e + 2) / (e (e + 2) + 2), e = e^x; written as e times a
// normal-range factor so that tiny results are rounded once.  Exactly x above 20.
NA_VM_INLINE vf mish(vf x) {
  using namespace detail;
  vf xc = clamp(x, -200.0f, 20.0f);
  vi n;
  vf p = exp_reduce<false>(xc, vf{}, n);
  vf e = ldexp_split(p, n);
  vf ep2 = e + 2.0f;
  vf res = ldexp_split(p * ((xc * e + (xc + xc)) / (e * ep2 + 2.0f)), n);
  return blend(x > 20.0f, x, res);
}

// tanh(sp) + x sigmoid(x) (1 - tanh(sp)^2) with sp = softplus(x).  With e = e^x and
// d = e^2 + 2e + 2 this is e (e (e^2 + 4e + 6) + 4 ((1 + x) + x e)) / d^2, with d^2 expanded
// into a polynomial in e (rounding d before squaring it would double its error) and the
// small, exactly-started (1 + x) + x e kept apart from the large positive part.
// Exactly 1 above 20.
NA_VM_INLINE vf mish_grad(vf x) {
  using namespace detail;
  vf xc = clamp(x, -200.0f, 20.0f);
  vi n;
  vf p = exp_reduce<false>(xc, vf{}, n);
  vf e = ldexp_split(p, n);
  vf ep4 = e + 4.0f;
  vf num = e * (ep4 * e + 6.0f) + (xc * e + (xc + 1.0f)) * 4.0f;
  vf d2 = ((ep4 * e + 8.0f) * e + 8.0f) * e + 4.0f;
  vf res = ldexp_split(p * (num / d2), n);
  return blend(x > 20.0f, splat(1.0f), res);
}

// ---------------------------------------------------------------------------------------------
// Scalar overloads: the vector code on lane 0, so tails match vector lanes bit for bit.

#define NA_VM_SCALAR(name) \
  NA_VM_INLINE float name(float x) { return name(vf{x})[0]; }
NA_VM_SCALAR(exp)
NA_VM_SCALAR(expm1)
NA_VM_SCALAR(log)
NA_VM_SCALAR(log1p)
NA_VM_SCALAR(tanh)
NA_VM_SCALAR(sigmoid)
NA_VM_SCALAR(erf)
NA_VM_SCALAR(sin)
NA_VM_SCALAR(cos)
NA_VM_SCALAR(softplus)
NA_VM_SCALAR(gelu_erf)
NA_VM_SCALAR(gelu_erf_grad)
NA_VM_SCALAR(gelu_tanh)
NA_VM_SCALAR(gelu_tanh_grad)
NA_VM_SCALAR(silu)
NA_VM_SCALAR(silu_grad)
NA_VM_SCALAR(mish)
NA_VM_SCALAR(mish_grad)
#undef NA_VM_SCALAR

}  // namespace vecmath
}  // namespace NA_ISA
}  // namespace neural_arch::cpu

#endif  // NA_CPU_VEC_MATH_HPP
