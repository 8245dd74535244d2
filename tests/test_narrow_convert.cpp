// f32 <-> f16/bf16 conversions: every 16-bit pattern and a dense set of f32 values (ties,
// subnormals, inf/NaN, overflow) against references written here from the number formats'
// definitions (nearest value by exact comparison in double, ties to the even pattern), for
// every kernel table this CPU can run (base, AVX2+F16C, AVX-512 with AVX512-BF16 when present).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/kernels.hpp"
#include "neural_arch/ops.hpp"

namespace {

namespace na = neural_arch;
namespace cpu = neural_arch::cpu;
using neural_arch::DType;

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Value of a 16-bit pattern from its fields (sign, exponent width ew, mantissa width mw).
double narrow_value(uint16_t b, int ew, int mw) {
  const int bias = (1 << (ew - 1)) - 1;
  const int e = (b >> mw) & ((1 << ew) - 1);
  const int m = b & ((1 << mw) - 1);
  const double s = (b & 0x8000) ? -1.0 : 1.0;
  if (e == (1 << ew) - 1) return m ? NAN : s * INFINITY;
  if (e == 0) return s * std::ldexp(m, 1 - bias - mw);
  return s * std::ldexp(m + (1 << mw), e - bias - mw);
}

// The f32 bits a narrow pattern widens to: the exact value; for NaN, bf16 keeps every bit
// (widening is a shift, as in c10::BFloat16) and f16 gets the payload shifted up with the quiet
// bit set (what vcvtph2ps does).
uint32_t widen_ref(uint16_t b, int ew, int mw) {
  double v = narrow_value(b, ew, mw);
  if (std::isnan(v) && ew == 8) return static_cast<uint32_t>(b) << 16;
  if (std::isnan(v))
    return (static_cast<uint32_t>(b & 0x8000) << 16) | 0x7fc00000u |
           (static_cast<uint32_t>(b & ((1 << mw) - 1)) << (23 - mw));
  return bits_of(static_cast<float>(v));  // exact: every f16/bf16 value is an f32
}

// Nearest pattern to x among the non-negative finite patterns (sorted by value) plus the first
// overflow pattern standing for 2^(emax+1) (IEEE: round to infinity from max + half an ulp).
struct NarrowFormat {
  int ew, mw;
  uint16_t nan;  // canonical NaN (sign added for f16)
  bool nan_keeps_sign;
  std::vector<double> values;  // index = pattern 0 .. inf pattern
  NarrowFormat(int e, int m, uint16_t n, bool keep) : ew(e), mw(m), nan(n), nan_keeps_sign(keep) {
    const uint16_t inf = static_cast<uint16_t>(((1 << ew) - 1) << mw);
    for (uint32_t b = 0; b < inf; ++b) values.push_back(narrow_value(static_cast<uint16_t>(b), ew, mw));
    values.push_back(std::ldexp(1.0, (1 << (ew - 1))));  // 2^(emax+1)
  }
  uint16_t round(float x) const {
    const uint16_t sign = (bits_of(x) >> 16) & 0x8000;
    if (std::isnan(x)) return nan_keeps_sign ? static_cast<uint16_t>(nan | sign) : nan;
    const double a = std::fabs(static_cast<double>(x));
    if (std::isinf(x) || a >= values.back()) return static_cast<uint16_t>(sign | (values.size() - 1));
    size_t k = std::lower_bound(values.begin(), values.end(), a) - values.begin();  // values[k] >= a
    if (values[k] != a) {
      const double below = a - values[k - 1], above = values[k] - a;
      if (below < above || (below == above && ((k - 1) & 1) == 0)) --k;
    }
    return static_cast<uint16_t>(sign | k);
  }
};

const NarrowFormat& bf16_format() {
  static const NarrowFormat f(8, 7, 0x7fc0, false);
  return f;
}
const NarrowFormat& f16_format() {
  static const NarrowFormat f(5, 10, 0x7e00, true);
  return f;
}

// Every kernel table this CPU can run, with its name.
std::vector<std::pair<std::string, const cpu::KernelTable*>> tables() {
  std::vector<std::pair<std::string, const cpu::KernelTable*>> t{{"base", cpu::base::kernel_table()}};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
    t.emplace_back("avx2", cpu::avx2::kernel_table());
  else
    std::printf("note: CPU lacks AVX2/F16C, AVX2 conversions not run\n");
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    t.emplace_back(__builtin_cpu_supports("avx512bf16") ? "avx512+bf16" : "avx512",
                   cpu::avx512::kernel_table());
  else
    std::printf("note: CPU lacks AVX-512, AVX-512 conversions not run\n");
  return t;
}

// f32 inputs that exercise rounding: each narrow value, the midpoints between neighbours (the
// ties) and one f32 ulp either side of them, both signs; specials; random bit patterns.
std::vector<float> dense_inputs(const NarrowFormat& fmt) {
  std::vector<float> xs;
  const auto& v = fmt.values;
  for (size_t k = 0; k + 1 < v.size(); ++k) {
    const float lo = static_cast<float>(v[k]);
    const float mid = static_cast<float>((v[k] + v[k + 1]) / 2);  // exact in f32 for both formats
    for (float x :
         {lo, mid, std::nextafter(mid, 0.0f), std::nextafter(mid, INFINITY), std::nextafter(lo, INFINITY)}) {
      xs.push_back(x);
      xs.push_back(-x);
    }
  }
  for (uint32_t u :
       {0x7f800000u, 0xff800000u, 0x7f800001u, 0x7fc00000u, 0xffffffffu, 0x7fbfffffu, 0xff812345u,
        0x7f7fffffu, 0x00000001u, 0x807fffffu, 0x00400000u, 0x3f808000u, 0x3f818000u})
    xs.push_back(float_of(u));
  for (float x : {65504.0f, 65519.99f, 65520.0f, 65536.0f, 1e10f, 3.0e38f, 5.96e-8f, 2.98e-8f, 2.99e-8f})
    xs.push_back(x), xs.push_back(-x);
  std::mt19937 rng(7);
  for (int i = 0; i < 1 << 20; ++i) xs.push_back(float_of(rng()));
  for (int i = 0; i < 1 << 16; ++i) xs.push_back(float_of(rng() & 0x807fffffu));  // f32 subnormals
  xs.push_back(1.0f);  // odd length: the scalar tail runs too
  return xs;
}

void check_narrowing(DType to, const NarrowFormat& fmt) {
  const std::vector<float> xs = dense_inputs(fmt);
  std::vector<uint16_t> expect(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) expect[i] = fmt.round(xs[i]);
  for (const auto& [name, table] : tables()) {
    std::vector<uint16_t> got(xs.size(), 0xdead);
    table->cast(reinterpret_cast<char*>(got.data()), to, reinterpret_cast<const char*>(xs.data()), DType::f32,
                static_cast<int64_t>(xs.size()), 1, 1);
    int bad = 0;
    for (size_t i = 0; i < xs.size() && bad < 5; ++i)
      if (got[i] != expect[i]) {
        ++bad;
        ADD_FAILURE() << name << " " << na::dtype_name(to) << ": f32 bits 0x" << std::hex << bits_of(xs[i])
                      << " -> 0x" << got[i] << ", expected 0x" << expect[i];
      }
    // Strided (scalar) path too.
    std::vector<uint16_t> strided(2 * xs.size());
    table->cast(reinterpret_cast<char*>(strided.data()), to, reinterpret_cast<const char*>(xs.data()),
                DType::f32, static_cast<int64_t>(xs.size()), 2, 1);
    for (size_t i = 0; i < xs.size() && bad < 5; ++i)
      if (strided[2 * i] != expect[i]) {
        ++bad;
        ADD_FAILURE() << name << " strided " << na::dtype_name(to) << ": f32 bits 0x" << std::hex
                      << bits_of(xs[i]);
      }
  }
  // The scalar conversion in dtype.hpp (used by Half/BFloat16 and scalar loops) agrees too.
  for (size_t i = 0; i < xs.size(); ++i) {
    const uint16_t s = to == DType::bf16 ? na::float_to_bf16(xs[i]) : na::float_to_half(xs[i]);
    if (s != expect[i]) {
      ADD_FAILURE() << "scalar " << na::dtype_name(to) << ": f32 bits 0x" << std::hex << bits_of(xs[i])
                    << " -> 0x" << s << ", expected 0x" << expect[i];
      break;
    }
  }
}

void check_all_patterns(DType narrow, const NarrowFormat& fmt) {
  std::vector<uint16_t> all(65536 + 3);  // + 3: not a multiple of any vector width
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint16_t>(i);
  for (const auto& [name, table] : tables()) {
    std::vector<float> wide(all.size());
    table->cast(reinterpret_cast<char*>(wide.data()), DType::f32, reinterpret_cast<const char*>(all.data()),
                narrow, static_cast<int64_t>(all.size()), 1, 1);
    std::vector<uint16_t> back(all.size());
    table->cast(reinterpret_cast<char*>(back.data()), narrow, reinterpret_cast<const char*>(wide.data()),
                DType::f32, static_cast<int64_t>(all.size()), 1, 1);
    int bad = 0;
    for (size_t i = 0; i < all.size() && bad < 5; ++i) {
      const uint16_t b = all[i];
      const bool nan = std::isnan(narrow_value(b, fmt.ew, fmt.mw));
      const uint32_t w = widen_ref(b, fmt.ew, fmt.mw);
      const uint16_t rt = nan ? fmt.round(float_of(w)) : b;  // NaN comes back as the canonical NaN
      if (bits_of(wide[i]) != w || back[i] != rt) {
        ++bad;
        ADD_FAILURE() << name << " " << na::dtype_name(narrow) << " pattern 0x" << std::hex << b
                      << ": widened 0x" << bits_of(wide[i]) << " (expected 0x" << w << "), back 0x" << back[i]
                      << " (expected 0x" << rt << ")";
      }
    }
  }
}

TEST(NarrowConvert, Bf16AllPatternsRoundTrip) { check_all_patterns(DType::bf16, bf16_format()); }
TEST(NarrowConvert, F16AllPatternsRoundTrip) { check_all_patterns(DType::f16, f16_format()); }
TEST(NarrowConvert, F32ToBf16RoundsToNearestEven) { check_narrowing(DType::bf16, bf16_format()); }
TEST(NarrowConvert, F32ToF16RoundsToNearestEven) { check_narrowing(DType::f16, f16_format()); }

TEST(NarrowConvert, TensorToGoesThroughTheSameConversions) {
  // Ties: 1 + 2^-8 is halfway between bf16 1 and 1 + 2^-7 and goes to the even one (1);
  // 1 + 3 * 2^-8 goes up to 1 + 2^-6. f16: 2^-25 (half the smallest subnormal) goes to 0.
  na::Tensor x = na::tensor<float>({1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, 0x1p-25f, 0x1p-24f * 1.5f, 70000.0f});
  na::Tensor b = x.to(DType::bf16).to(DType::f32);
  EXPECT_EQ(b.data_ptr<float>()[0], 1.0f);
  EXPECT_EQ(b.data_ptr<float>()[1], 1.0f + 0x1p-6f);
  na::Tensor h = x.to(DType::f16).to(DType::f32);
  EXPECT_EQ(h.data_ptr<float>()[2], 0.0f);
  EXPECT_EQ(h.data_ptr<float>()[3], 0x1p-23f);  // 1.5 subnormal ulps: tie to even (2 ulps)
  EXPECT_TRUE(std::isinf(h.data_ptr<float>()[4]));
}

}  // namespace
