// Vectorized f32 <-> f16/bf16 conversions of contiguous runs, shared by the per-ISA kernel
// sources (kernels_isa.cpp's casts and narrow elementwise ops, nn_kernels_isa.cpp's bf16/f16
// attention). Like simd.hpp it is compiled inside each ISA's translation units, so everything
// lives in namespace NA_ISA and the width follows that unit's -m flags.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "backends/cpu/simd.hpp"
#include "neural_arch/dtype.hpp"

namespace neural_arch::cpu {
namespace NA_ISA {
namespace narrow {

using simd::kBytes;
using simd::kLanes;
using simd::Vec;

// Narrow float <-> f32 on contiguous runs, vectorized; results are bitwise those of the scalar
// Half/BFloat16 conversions in dtype.hpp (round to nearest even, subnormals kept, NaN -> the
// canonical quiet NaN PyTorch's c10 conversions give), on every ISA path.
typedef uint16_t VU16 __attribute__((vector_size(kBytes / 2)));  // kLanes<uint32_t> u16s
using VU32 = Vec<uint32_t>;
constexpr int kL32 = kLanes<uint32_t>;

inline VU32 load_u16_widen(const uint16_t* p) {
  VU16 h;
  std::memcpy(&h, p, sizeof(h));
  return __builtin_convertvector(h, VU32);
}
inline void store_u32_narrow(uint16_t* p, VU32 v) {
  VU16 h = __builtin_convertvector(v, VU16);
  std::memcpy(p, &h, sizeof(h));
}

// bf16 -> f32 is exact: the bf16 bits are the f32's top half.
inline void bf16_to_f32(float* o, const uint16_t* x, int64_t n) {
  int64_t i = 0;
  for (; i + kL32 <= n; i += kL32) {
    VU32 u = load_u16_widen(x + i) << 16;
    std::memcpy(o + i, &u, sizeof(u));
  }
  for (; i < n; ++i) o[i] = bf16_to_float(x[i]);
}

// Round to nearest even by adding 0x7fff plus the lowest kept bit; NaN -> 0x7fc0 (torch).
inline VU32 f32_to_bf16_soft(VU32 u) {
  VU32 r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  return (u & 0x7fffffffu) > 0x7f800000u ? VU32{} + 0x7fc0u : r;
}

inline void f32_to_bf16_generic(uint16_t* o, const float* x, int64_t n) {
  int64_t i = 0;
  for (; i + kL32 <= n; i += kL32) {
    VU32 u;
    std::memcpy(&u, x + i, sizeof(u));
    store_u32_narrow(o + i, f32_to_bf16_soft(u));
  }
  for (; i < n; ++i) o[i] = float_to_bf16(x[i]);
}

#if defined(__AVX512F__)
// vcvtneps2bf16 (AVX512-BF16, checked at run time) rounds to nearest even but flushes f32
// subnormals to zero and keeps NaN payloads; blocks holding either take the exact path.
__attribute__((target("avx512bf16,avx512f,avx512vl,avx512bw"))) inline void f32_to_bf16_avx512bf16(
    uint16_t* o, const float* x, int64_t n) {
  int64_t i = 0;
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff);
  for (; i + 16 <= n; i += 16) {
    __m512 v = _mm512_loadu_ps(x + i);
    __m512i a = _mm512_and_si512(_mm512_castps_si512(v), abs_mask);
    // special: 0 < |x| < 2^-126 (a - 1 < 0x7fffff unsigned) or NaN (a > 0x7f800000)
    __mmask16 special =
        _mm512_cmplt_epu32_mask(_mm512_sub_epi32(a, _mm512_set1_epi32(1)), _mm512_set1_epi32(0x7fffff)) |
        _mm512_cmpgt_epu32_mask(a, _mm512_set1_epi32(0x7f800000));
    if (special) {
      f32_to_bf16_generic(o + i, x + i, 16);
    } else {
      __m256bh b = _mm512_cvtneps_pbh(v);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + i), reinterpret_cast<__m256i&>(b));
    }
  }
  f32_to_bf16_generic(o + i, x + i, n - i);
}
#endif

inline void f32_to_bf16(uint16_t* o, const float* x, int64_t n) {
#if defined(__AVX512F__)
  static const bool hw = __builtin_cpu_supports("avx512bf16");
  if (hw) return f32_to_bf16_avx512bf16(o, x, n);
#endif
  f32_to_bf16_generic(o, x, n);
}

// f16 <-> f32 with F16C (the AVX2 and AVX-512 builds require it, isa.cpp checks). vcvtps2ph
// keeps a NaN's payload; NaN lanes are rewritten to sign|0x7e00 like float_to_half.
inline void f16_to_f32(float* o, const uint16_t* x, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512F__)
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(o + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i))));
#elif defined(__F16C__)
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(o + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i))));
#endif
  for (; i < n; ++i) o[i] = half_to_float(x[i]);
}

inline void f32_to_f16(uint16_t* o, const float* x, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512F__)
  for (; i + 16 <= n; i += 16) {
    __m512 v = _mm512_loadu_ps(x + i);
    __m256i h = _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    if (nan)
      h = _mm256_mask_mov_epi16(
          h, nan,
          _mm256_or_si256(_mm256_and_si256(h, _mm256_set1_epi16(static_cast<short>(0x8000))),
                          _mm256_set1_epi16(0x7e00)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + i), h);
  }
#elif defined(__F16C__)
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    __m128i h = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    if (_mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q))) {
      for (int l = 0; l < 8; ++l) o[i + l] = float_to_half(x[i + l]);
      continue;
    }
    _mm_storeu_si128(reinterpret_cast<__m128i*>(o + i), h);
  }
#endif
  for (; i < n; ++i) o[i] = float_to_half(x[i]);
}

}  // namespace narrow
}  // namespace NA_ISA
}  // namespace neural_arch::cpu
