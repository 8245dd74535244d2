// Random indices for samplers, identical with every standard library.
#pragma once
#include <cstdint>
#include <random>

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

}  // namespace neural_arch::data::detail
