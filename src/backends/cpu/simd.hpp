// The native vector types of the per-ISA kernel sources (kernels_isa.cpp, optim_kernels_isa.cpp,
// nn_kernels_isa.cpp), defined once. Each of those files is compiled per instruction set
// (-DNA_ISA=base|avx2|avx512 with the matching -m flags), so the width follows the flags of the
// translation unit; everything lives in namespace NA_ISA so the copies never merge at link time.
#pragma once

#include <cstring>

#ifndef NA_ISA
#define NA_ISA base
#endif

namespace neural_arch::cpu {
namespace NA_ISA {
namespace simd {

#if defined(__AVX512F__)
inline constexpr int kBytes = 64;
#elif defined(__AVX2__)
inline constexpr int kBytes = 32;
#else
inline constexpr int kBytes = 16;
#endif

template <class T> struct VecOf { typedef T type __attribute__((vector_size(kBytes))); };
template <class T> using Vec = typename VecOf<T>::type;
template <class T> inline constexpr int kLanes = kBytes / static_cast<int>(sizeof(T));

// Unaligned whole-vector load and store (memcpy compiles to one vmovu*).
template <class T> inline Vec<T> load(const T* p) {
  Vec<T> v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
template <class T> inline void store(T* p, Vec<T> v) { std::memcpy(p, &v, sizeof(v)); }

}  // namespace simd
}  // namespace NA_ISA
}  // namespace neural_arch::cpu
