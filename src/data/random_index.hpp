// Random indices for samplers, identical with every standard library.
#pragma once
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace neural_arch::data::detail {

/// Unbiased integer in [0, n), n > 0, by rejection on 64-bit engine output. Written out
/// rather than std::uniform_int_distribution, whose algorithm differs between libraries.
inline uint64_t uniform_below(std::mt19937_64& e, uint64_t n) {
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = e();
  while (x >= limit);
  return x % n;
}

/// Fisher-Yates shuffle of v with uniform_below (the same order with every standard library).
inline void shuffle(std::vector<int64_t>& v, std::mt19937_64& e) {
  for (size_t i = v.size(); i-- > 1;) std::swap(v[i], v[uniform_below(e, static_cast<uint64_t>(i) + 1)]);
}

}  // namespace neural_arch::data::detail
