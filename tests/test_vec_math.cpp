// Accuracy and special-value tests for src/backends/cpu/vec_math.hpp against double-precision
// references.  The header is compiled here three times: at this file's own width (SSE2, no
// flags) and, under `#pragma GCC target`, at the AVX2 and AVX-512 widths, whose cases run when
// the CPU has those instructions (and say so when it does not).
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

enum VmFn : int {
  kVmExp,
  kVmExpm1,
  kVmLog,
  kVmLog1p,
  kVmTanh,
  kVmSigmoid,
  kVmErf,
  kVmSin,
  kVmCos,
  kVmSoftplus,
  kVmGeluErf,
  kVmGeluErfGrad,
  kVmGeluTanh,
  kVmGeluTanhGrad,
  kVmSilu,
  kVmSiluGrad,
  kVmMish,
  kVmMishGrad,
  kVmCount
};

// This file's own width.
#include "backends/cpu/vec_math.hpp"
#include "vec_math_isa/eval.inc"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#undef NA_CPU_VEC_MATH_HPP
#undef NA_ISA
#define NA_ISA vm_test_avx2
#define NA_VECMATH_VEC_BYTES 32
#define NA_VECMATH_ASSUME_FMA 1
#include "backends/cpu/vec_math.hpp"
#include "vec_math_isa/eval.inc"
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,fma,f16c")
#undef NA_CPU_VEC_MATH_HPP
#undef NA_ISA
#undef NA_VECMATH_VEC_BYTES
#define NA_ISA vm_test_avx512
#define NA_VECMATH_VEC_BYTES 64
#include "backends/cpu/vec_math.hpp"
#include "vec_math_isa/eval.inc"
#pragma GCC pop_options
#undef NA_VECMATH_VEC_BYTES
#undef NA_VECMATH_ASSUME_FMA

namespace {

namespace cpu = neural_arch::cpu;

// ---------------------------------------------------------------------------------------------
// The widths under test.

struct Isa {
  const char* name;
  bool fma;  // AVX2 and AVX-512 builds use FMA; their bounds differ a little from SSE2's
  int lanes;
  bool (*supported)();
  void (*eval_vector)(int, const float*, float*, size_t);
  void (*eval_scalar)(int, const float*, float*, size_t);
};

bool always() { return true; }
bool has_avx2() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
bool has_avx512() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("fma");
}

const Isa kIsas[] = {
    {"sse2", false, cpu::generic::vecmath_test::kTestLanes, always, cpu::generic::vecmath_test::eval_vector,
     cpu::generic::vecmath_test::eval_scalar},
    {"avx2", true, cpu::vm_test_avx2::vecmath_test::kTestLanes, has_avx2,
     cpu::vm_test_avx2::vecmath_test::eval_vector, cpu::vm_test_avx2::vecmath_test::eval_scalar},
    {"avx512", true, cpu::vm_test_avx512::vecmath_test::kTestLanes, has_avx512,
     cpu::vm_test_avx512::vecmath_test::eval_vector, cpu::vm_test_avx512::vecmath_test::eval_scalar},
};

// ---------------------------------------------------------------------------------------------
// References in double, in forms that do not cancel where the functions are small.

double sigmoid_ref(double x) {
  return x >= 0 ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / (1.0 + std::exp(x));
}
double softplus_ref(double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }
double normal_cdf(double x) { return 0.5 * std::erfc(-x * M_SQRT1_2); }
double normal_pdf(double x) { return std::exp(-0.5 * x * x) * (0.5 * M_2_SQRTPI * M_SQRT1_2); }
double gelu_v(double x) { return std::sqrt(8.0 / M_PI) * (x + 0.044715 * x * x * x); }
// The limits at +-inf are taken explicitly where the finite formula would give inf * 0.
double limit_or(double x, double at_pos_inf, double at_neg_inf, double value) {
  if (std::isinf(x)) return x > 0 ? at_pos_inf : at_neg_inf;
  return value;
}

double ref_value(int fn, double x) {
  const double inf = std::numeric_limits<double>::infinity();
  switch (fn) {
    case kVmExp: return std::exp(x);
    case kVmExpm1: return std::expm1(x);
    case kVmLog: return std::log(x);
    case kVmLog1p: return std::log1p(x);
    case kVmTanh: return std::tanh(x);
    case kVmSigmoid: return sigmoid_ref(x);
    case kVmErf: return std::erf(x);
    case kVmSin: return std::sin(x);
    case kVmCos: return std::cos(x);
    case kVmSoftplus: return softplus_ref(x);
    case kVmGeluErf: return limit_or(x, inf, -0.0, x * normal_cdf(x));
    case kVmGeluErfGrad: return limit_or(x, 1.0, 0.0, normal_cdf(x) + x * normal_pdf(x));
    case kVmGeluTanh: return limit_or(x, inf, -0.0, x * sigmoid_ref(gelu_v(x)));
    case kVmGeluTanhGrad: {
      const double v = gelu_v(x);
      const double dv = std::sqrt(8.0 / M_PI) * (1.0 + 3.0 * 0.044715 * x * x);
      return limit_or(x, 1.0, 0.0, sigmoid_ref(v) * (1.0 + x * sigmoid_ref(-v) * dv));
    }
    case kVmSilu: return limit_or(x, inf, -0.0, x * sigmoid_ref(x));
    case kVmSiluGrad: return limit_or(x, 1.0, 0.0, sigmoid_ref(x) * (1.0 + x * sigmoid_ref(-x)));
    case kVmMish: return limit_or(x, inf, -0.0, x * std::tanh(softplus_ref(x)));
    case kVmMishGrad: {
      const double sp = softplus_ref(x);
      const double c = std::cosh(sp);
      return limit_or(x, 1.0, 0.0, std::tanh(sp) + x * sigmoid_ref(x) / (c * c));
    }
  }
  return std::nan("");
}

// ---------------------------------------------------------------------------------------------
// Bounds slightly above the errors the header documents (FMA builds, SSE2 build).  A result
// passes when it is within max_ulp ulps of the exact value, or within max_abs of it (for the
// gradients, whose zeros no relative bound can cover).  The dense range is where each function
// does something other than saturate.

struct FnSpec {
  VmFn fn;
  const char* name;
  double max_ulp_fma, max_ulp_sse2;
  double max_abs;
  double dense_lo, dense_hi;
  double zero;  // a zero of the function inside the range, or NaN
  // gelu_tanh and its gradient form the exponent v in plain float: the bound grows by this many
  // ulp per unit of |v| (the header's table).
  double ulp_per_v = 0;
  // gelu_erf forms -x^2/2 in plain float: its bound grows by this many ulp per unit of x^2.
  double ulp_per_x2 = 0;
};

constexpr double kNoZero = __builtin_nan("");

const FnSpec kFns[] = {
    {kVmExp, "exp", 1.5, 1.5, 0, -105, 90, kNoZero},
    {kVmExpm1, "expm1", 2, 2, 0, -20, 90, 0},
    {kVmLog, "log", 1.5, 1.5, 0, 0, 8, 1},
    {kVmLog1p, "log1p", 1.5, 1.5, 0, -1, 8, 0},
    {kVmTanh, "tanh", 2, 2, 0, -10, 10, 0},
    {kVmSigmoid, "sigmoid", 3, 3, 0, -110, 30, kNoZero},
    {kVmErf, "erf", 1.5, 2, 0, -5, 5, 0},
    {kVmSin, "sin", 0.51, 0.51, 0, -40, 40, 0},
    {kVmCos, "cos", 0.51, 0.51, 0, -40, 40, M_PI_2},
    {kVmSoftplus, "softplus", 2, 2, 0, -110, 30, kNoZero},
    {kVmGeluErf, "gelu_erf", 6, 6.5, 0, -16, 16, 0, 0, 0.5},
    {kVmGeluErfGrad, "gelu_erf_grad", 2, 2, 8e-8, -16, 16, -0.7518},
    {kVmGeluTanh, "gelu_tanh", 4, 4, 0, -12, 12, 0, 2.6},
    {kVmGeluTanhGrad, "gelu_tanh_grad", 4, 4, 6e-8, -12, 12, -0.7522, 2.0},
    {kVmSilu, "silu", 4, 4, 0, -110, 30, 0},
    {kVmSiluGrad, "silu_grad", 4.5, 4.5, 1e-8, -110, 30, -1.2785},
    {kVmMish, "mish", 4.5, 5, 0, -110, 25, 0},
    {kVmMishGrad, "mish_grad", 5, 6, 6e-8, -110, 25, -1.1924},
};

float from_bits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}

// Values that sit on the edges of the implementations or of float itself.
std::vector<float> edge_values() {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> base = {0.0f,
                             inf,
                             std::numeric_limits<float>::quiet_NaN(),
                             std::numeric_limits<float>::denorm_min(),
                             FLT_MIN,
                             FLT_MAX,
                             0x1p-149f * 3,
                             0x1.fffffcp-127f,
                             1e-30f,
                             1e-20f,
                             1e-10f,
                             1e-5f,
                             0.5f,
                             1.0f,
                             2.0f,
                             0.5625f,
                             0.7f,
                             1.0f,
                             3.92f,
                             10.0f,
                             11.0f,
                             12.0f,
                             13.2f,
                             14.5f,
                             20.0f,
                             30.0f,
                             87.3365f,
                             88.0f,
                             88.3763f,
                             88.72283f,
                             88.7228394f,
                             88.72284f,
                             89.0f,
                             100.0f,
                             103.972f,
                             104.0f,
                             120.0f,
                             150.0f,
                             200.0f,
                             1e10f,
                             1e20f,
                             1e30f,
                             0x1p20f,
                             0x1.fffffep19f,
                             0x1.000002p20f,
                             0x1p24f,
                             0x1p63f,
                             0x1p100f,
                             0.7518f,
                             0.7522f,
                             1.2785f,
                             1.1924f,
                             3.14159274f,
                             1.57079637f,
                             0x1.921fb6p+1f * 1024,
                             0x1.6a09e6p-1f,
                             0x1.6a09e6p0f,
                             0x1.3p-1f,
                             0.4142135f,
                             0.292893f};
  std::vector<float> out;
  for (float v : base) {
    for (float s : {1.0f, -1.0f}) {
      const float x = s * v;
      out.push_back(x);
      out.push_back(std::nextafter(x, inf));
      out.push_back(std::nextafter(x, -inf));
    }
  }
  return out;
}

// Every float bit pattern in steps of a prime (so all signs, exponents, NaNs, infinities and
// subnormals are visited), a dense grid over the function's working range, the edge values,
// and a dense window around a zero of the function.
std::vector<float> sweep(const FnSpec& spec) {
  std::vector<float> xs;
  const uint64_t stride = 4099;
  for (uint64_t b = 0; b < (uint64_t(1) << 32); b += stride) xs.push_back(from_bits(uint32_t(b)));
  const int dense = 1 << 18;
  for (int i = 0; i <= dense; ++i)
    xs.push_back(float(spec.dense_lo + (spec.dense_hi - spec.dense_lo) * i / dense));
  for (float v : edge_values()) xs.push_back(v);
  if (!std::isnan(spec.zero)) {
    for (int i = -4096; i <= 4096; ++i) xs.push_back(float(spec.zero + i * 1e-5));
  }
  return xs;
}

double ulp_at(double exact) {
  const double a = std::fabs(exact);
  if (a < 0x1p-126) return 0x1p-149;
  int e;
  std::frexp(a, &e);  // a in [2^(e-1), 2^e)
  return std::ldexp(1.0, e - 24);
}

// Largest finite float plus half an ulp: exact values at or beyond round to infinity.
constexpr double kOverflow = 0x1.ffffffp127;

struct Check {
  bool ok;
  double ulps;  // error in ulps when both are finite
};

Check check(float got, double exact, double max_ulp, double max_abs) {
  if (std::isnan(exact)) return {std::isnan(got), 0};
  if (std::fabs(exact) >= kOverflow) {
    return {std::isinf(got) && (got > 0) == (exact > 0), 0};
  }
  if (!std::isfinite(got)) return {false, INFINITY};
  const double err = std::fabs(double(got) - exact);
  const double ulps = err / ulp_at(exact);
  return {ulps <= max_ulp || err <= max_abs, ulps};
}

// References are the expensive part; computed once per function and shared by the widths.
const std::vector<double>& references(const FnSpec& spec, const std::vector<float>& xs) {
  static std::map<int, std::vector<double>> cache;
  auto it = cache.find(spec.fn);
  if (it == cache.end()) {
    std::vector<double> r(xs.size());
    for (size_t i = 0; i < xs.size(); ++i) r[i] = ref_value(spec.fn, xs[i]);
    it = cache.emplace(spec.fn, std::move(r)).first;
  }
  return it->second;
}

const std::vector<float>& inputs(const FnSpec& spec) {
  static std::map<int, std::vector<float>> cache;
  auto it = cache.find(spec.fn);
  if (it == cache.end()) it = cache.emplace(spec.fn, sweep(spec)).first;
  return it->second;
}

std::string describe(float x, float got, double exact) {
  std::ostringstream os;
  os.precision(9);
  os << "x = " << x << " (" << std::hexfloat << x << std::defaultfloat << "): got " << got << ", exact "
     << exact;
  return os.str();
}

bool same_bits_or_both_nan(float a, float b) {
  if (std::isnan(a) && std::isnan(b)) return true;
  uint32_t ba, bb;
  std::memcpy(&ba, &a, 4);
  std::memcpy(&bb, &b, 4);
  return ba == bb;
}

class VecMath : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    if (!isa().supported()) GTEST_SKIP() << "this CPU lacks " << isa().name << "; not tested";
  }
  const Isa& isa() const { return kIsas[GetParam()]; }

  std::vector<float> run(int fn, const std::vector<float>& xs) const {
    std::vector<float> out(xs.size());
    isa().eval_vector(fn, xs.data(), out.data(), xs.size());
    return out;
  }
  float run1(int fn, float x) const {
    float y;
    isa().eval_vector(fn, &x, &y, 1);
    return y;
  }
};

// ---------------------------------------------------------------------------------------------

TEST_P(VecMath, WithinDocumentedBoundsOverDenseSweeps) {
  for (const FnSpec& spec : kFns) {
    const std::vector<float>& xs = inputs(spec);
    const std::vector<double>& exact = references(spec, xs);
    const std::vector<float> got = run(spec.fn, xs);
    const double max_ulp = isa().fma ? spec.max_ulp_fma : spec.max_ulp_sse2;
    size_t failures = 0, worst_i = 0;
    double worst = -1;
    for (size_t i = 0; i < xs.size(); ++i) {
      const double x = xs[i];
      const double bound = max_ulp + (spec.ulp_per_v == 0 ? 0.0 : spec.ulp_per_v * std::fabs(gelu_v(x))) +
                           spec.ulp_per_x2 * x * x;
      const Check c = check(got[i], exact[i], bound, spec.max_abs);
      if (c.ok) continue;
      ++failures;
      if (c.ulps > worst) {
        worst = c.ulps;
        worst_i = i;
      }
    }
    EXPECT_EQ(failures, 0u) << spec.name << " on " << isa().name << ": " << failures << " of " << xs.size()
                            << " values outside " << max_ulp << " ulp / " << spec.max_abs << " abs; e.g. "
                            << describe(xs[worst_i], got[worst_i], exact[worst_i]);
  }
}

TEST_P(VecMath, ScalarOverloadsMatchVectorLanesBitForBit) {
  std::mt19937 rng(7);
  std::vector<float> xs = edge_values();
  std::uniform_real_distribution<float> near(-30.0f, 30.0f);
  std::uniform_int_distribution<uint32_t> bits;
  for (int i = 0; i < 4000; ++i) xs.push_back(near(rng));
  for (int i = 0; i < 4000; ++i) xs.push_back(from_bits(bits(rng)));
  // Huge arguments next to small ones in one vector (sin/cos reduce those lanes separately).
  for (int i = 0; i < 64; ++i) xs.push_back(i % 3 == 0 ? 1e30f * (i + 1) : 0.1f * i);
  for (int fn = 0; fn < kVmCount; ++fn) {
    std::vector<float> vec(xs.size()), sca(xs.size());
    isa().eval_vector(fn, xs.data(), vec.data(), xs.size());
    isa().eval_scalar(fn, xs.data(), sca.data(), xs.size());
    size_t mismatches = 0, first = 0;
    for (size_t i = 0; i < xs.size(); ++i) {
      if (!same_bits_or_both_nan(vec[i], sca[i]) && mismatches++ == 0) first = i;
    }
    EXPECT_EQ(mismatches, 0u) << kFns[fn].name << " on " << isa().name << ": x = " << xs[first]
                              << " vector lane " << vec[first] << " scalar " << sca[first];
  }
}

TEST_P(VecMath, SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(run1(kVmExp, -inf), 0.0f);
  EXPECT_EQ(run1(kVmExp, inf), inf);
  EXPECT_EQ(run1(kVmExp, 88.72284f), inf);  // just past log(FLT_MAX)
  EXPECT_EQ(run1(kVmExp, 89.0f), inf);
  EXPECT_TRUE(std::isfinite(run1(kVmExp, 88.72283f)));
  EXPECT_EQ(run1(kVmExp, -104.0f), 0.0f);
  EXPECT_GT(run1(kVmExp, -100.0f), 0.0f);  // subnormal, not flushed
  EXPECT_EQ(run1(kVmExp, 0.0f), 1.0f);
  EXPECT_EQ(run1(kVmExpm1, -inf), -1.0f);
  EXPECT_EQ(run1(kVmExpm1, inf), inf);
  EXPECT_EQ(run1(kVmLog, 0.0f), -inf);
  EXPECT_EQ(run1(kVmLog, -0.0f), -inf);
  EXPECT_TRUE(std::isnan(run1(kVmLog, -1.0f)));
  EXPECT_TRUE(std::isnan(run1(kVmLog, -inf)));
  EXPECT_EQ(run1(kVmLog, inf), inf);
  EXPECT_EQ(run1(kVmLog, 1.0f), 0.0f);
  EXPECT_EQ(run1(kVmLog1p, -1.0f), -inf);
  EXPECT_TRUE(std::isnan(run1(kVmLog1p, -2.0f)));
  EXPECT_EQ(run1(kVmLog1p, inf), inf);
  EXPECT_EQ(run1(kVmTanh, inf), 1.0f);
  EXPECT_EQ(run1(kVmTanh, -inf), -1.0f);
  EXPECT_EQ(run1(kVmSigmoid, -inf), 0.0f);
  EXPECT_EQ(run1(kVmSigmoid, inf), 1.0f);
  EXPECT_EQ(run1(kVmSigmoid, 0.0f), 0.5f);
  EXPECT_EQ(run1(kVmErf, inf), 1.0f);
  EXPECT_EQ(run1(kVmErf, -inf), -1.0f);
  EXPECT_TRUE(std::isnan(run1(kVmSin, inf)));
  EXPECT_TRUE(std::isnan(run1(kVmCos, -inf)));
  EXPECT_EQ(run1(kVmCos, 0.0f), 1.0f);
  EXPECT_EQ(run1(kVmSoftplus, -inf), 0.0f);
  EXPECT_EQ(run1(kVmSoftplus, inf), inf);
  EXPECT_EQ(run1(kVmGeluErf, inf), inf);
  EXPECT_EQ(run1(kVmGeluErf, -inf), 0.0f);
  EXPECT_EQ(run1(kVmGeluTanh, inf), inf);
  EXPECT_EQ(run1(kVmGeluTanh, -inf), 0.0f);
  EXPECT_EQ(run1(kVmSilu, inf), inf);
  EXPECT_EQ(run1(kVmSilu, -inf), 0.0f);
  EXPECT_EQ(run1(kVmMish, inf), inf);
  EXPECT_EQ(run1(kVmMish, -inf), 0.0f);
  for (int fn : {kVmGeluErfGrad, kVmGeluTanhGrad, kVmSiluGrad, kVmMishGrad}) {
    EXPECT_EQ(run1(fn, inf), 1.0f) << kFns[fn].name;
    EXPECT_NEAR(run1(fn, -inf), 0.0f, 1e-44f) << kFns[fn].name;
  }
  // NaN in, NaN out, for every function.
  for (int fn = 0; fn < kVmCount; ++fn) {
    EXPECT_TRUE(std::isnan(run1(fn, nan))) << kFns[fn].name;
    EXPECT_TRUE(std::isnan(run1(fn, -nan))) << kFns[fn].name;
  }
}

TEST_P(VecMath, OddFunctionsKeepTheSignOfZero) {
  for (int fn : {kVmExpm1, kVmLog1p, kVmTanh, kVmErf, kVmSin, kVmGeluErf, kVmGeluTanh, kVmSilu, kVmMish}) {
    const float y = run1(fn, -0.0f);
    EXPECT_EQ(y, 0.0f) << kFns[fn].name;
    EXPECT_TRUE(std::signbit(y)) << kFns[fn].name << "(-0) lost its sign";
    EXPECT_FALSE(std::signbit(run1(fn, 0.0f))) << kFns[fn].name;
  }
}

TEST_P(VecMath, TinyArgumentsAreExactWhereTheFunctionIsTheIdentity) {
  for (float x : {0x1p-149f, 0x1p-130f, FLT_MIN, 1e-30f, -1e-30f, -0x1p-140f}) {
    EXPECT_EQ(run1(kVmExpm1, x), x);
    EXPECT_EQ(run1(kVmLog1p, x), x);
    EXPECT_EQ(run1(kVmTanh, x), x);
    EXPECT_EQ(run1(kVmSin, x), x);
    EXPECT_EQ(run1(kVmExp, x), 1.0f);
    EXPECT_EQ(run1(kVmCos, x), 1.0f);
  }
}

INSTANTIATE_TEST_SUITE_P(Widths, VecMath, ::testing::Range(0, int(std::size(kIsas))),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::string(kIsas[info.param].name);
                         });

}  // namespace
