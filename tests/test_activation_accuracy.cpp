// Accuracy of the activation ops and their fused backward kernels, through the public ops (so
// through the kernel table, the runtime ISA choice, threading and the scalar tails), against
// references evaluated in double (for f32) or long double (for f64) from formulas that do not
// cancel. The bounds below are the stated maximum errors (docs/ARCHITECTURE.md, "Activation
// kernels"); a value passes when it is within max_ulp ulps of the exact result or within
// max_abs of it (gradients cross zero, where no relative bound can hold). CTest runs this file
// at the default ISA and again with NA_CPU_ISA=avx2.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "gradcheck.hpp"
#include "neural_arch/autograd.hpp"
#include "neural_arch/functional/activation.hpp"
#include "neural_arch/ops.hpp"
#include "neural_arch/random.hpp"
#include "test_util.hpp"

namespace na = neural_arch;
namespace F = neural_arch::functional;

namespace {

using LD = long double;

// ------------------------------------------------------------------ references (long double)
LD sigmoid_ref(LD x) { return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x)); }
LD softplus_ref(LD x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }
LD cdf_ref(LD x) { return 0.5L * std::erfc(-x / std::sqrt(2.0L)); }
LD pdf_ref(LD x) {
  return std::exp(-0.5L * x * x) / std::sqrt(2.0L * 3.14159265358979323846264338327950288L);
}
LD gelu_v(LD x) {
  return std::sqrt(8.0L / 3.14159265358979323846264338327950288L) * (x + 0.044715L * x * x * x);
}
LD gelu_dv(LD x) {
  return std::sqrt(8.0L / 3.14159265358979323846264338327950288L) * (1 + 3 * 0.044715L * x * x);
}

LD lim(LD x, LD at_pos, LD at_neg, LD v) { return std::isinf(x) ? (x > 0 ? at_pos : at_neg) : v; }
const LD kInf = std::numeric_limits<LD>::infinity();

// Growth of an f32 bound with |x|: gelu_tanh's kernels form the exponent v = sqrt(8/pi)
// (x + 0.044715 x^3) in plain float and gelu's form -x^2/2 so (vec_math.hpp); the rounding
// becomes a relative error of about |v| or x^2/2 ulp of the exponential.
struct Growth {
  double per_v = 0, per_x2 = 0;  // ulp per unit of |v(x)| and of x^2
  double at(LD x) const {
    return per_v * static_cast<double>(std::fabs(gelu_v(x))) + per_x2 * static_cast<double>(x * x);
  }
};
// Measured: gelu_tanh 2.55 |v| (forward, x < 0) and 1.83 |v| (gradient); gelu 0.473 x^2.
constexpr Growth kGeluTanhGrowth{2.6, 0}, kGeluTanhGradGrowth{2.0, 0}, kGeluGrowth{0, 0.5};

struct Case {
  const char* name;
  std::function<na::Tensor(const na::Tensor&)> op;
  std::function<LD(LD)> value, grad;            // exact f(x), f'(x)
  double ulp_f32, abs_f32;                      // stated forward bound, f32
  double gulp_f32, gabs_f32;                    // stated backward bound, f32 (grad of sum(f(x)))
  double ulp_f64, abs_f64, gulp_f64, gabs_f64;  // the same for f64 (+ x^2 ulp, see "f64 bounds")
  Growth f32_growth = {}, f32_ggrowth = {};     // f32 forward / backward bounds grow so
};

// Extra ulps allowed at x: f64 x^2 (see "f64 bounds"), f32 the case's growth.
double extra_ulps(LD x, bool f64, const Growth& growth) {
  return f64 ? static_cast<double>(x * x) : growth.at(x);
}

// f64 absolute floors (see "f64 bounds" below).
constexpr double k2m50 = 0x1p-50, k2m51 = 0x1p-51, k2m52 = 0x1p-52, k2m54 = 0x1p-54, k2m56 = 0x1p-56;

const std::vector<Case>& cases() {
  static const std::vector<Case> c = {
      {"relu", [](const na::Tensor& x) { return na::relu(x); }, [](LD x) { return x < 0 ? 0.0L : x; },
       // NaN: the value stays NaN and the gradient passes, as torch's relu / threshold_backward
       [](LD x) { return x <= 0 ? 0.0L : 1.0L; }, 0, 0, 0, 0, 0, 0, 0, 0},
      {"leaky_relu", [](const na::Tensor& x) { return na::leaky_relu(x, 0.125); },
       // 0.125 x is exact except where it underflows into the subnormals: correctly rounded
       [](LD x) { return x > 0 ? x : 0.125L * x; }, [](LD x) { return x > 0 ? 1.0L : 0.125L; }, 0.5, 0, 0, 0,
       0.5, 0, 0, 0},
      {"gelu", [](const na::Tensor& x) { return na::gelu(x, "none"); },
       [](LD x) { return lim(x, kInf, -0.0L, x * cdf_ref(x)); },
       [](LD x) { return lim(x, 1, 0, cdf_ref(x) + x * pdf_ref(x)); }, 6.5, 0, 2, 8e-8, 4, k2m56, 3, k2m52,
       kGeluGrowth},
      {"gelu_tanh", [](const na::Tensor& x) { return na::gelu(x, "tanh"); },
       [](LD x) { return lim(x, kInf, -0.0L, x * sigmoid_ref(gelu_v(x))); },
       [](LD x) {
         return lim(x, 1, 0, sigmoid_ref(gelu_v(x)) * (1 + x * sigmoid_ref(-gelu_v(x)) * gelu_dv(x)));
       },
       4, 0, 4, 6e-8, 5, k2m54, 3, k2m52, kGeluTanhGrowth, kGeluTanhGradGrowth},
      {"silu", [](const na::Tensor& x) { return na::silu(x); },
       [](LD x) { return lim(x, kInf, -0.0L, x * sigmoid_ref(x)); },
       [](LD x) { return lim(x, 1, 0, sigmoid_ref(x) * (1 + x * sigmoid_ref(-x))); }, 4, 0, 4.5, 1e-8, 4,
       0x1p-1000, 3, k2m52},
      {"sigmoid", [](const na::Tensor& x) { return na::sigmoid(x); }, [](LD x) { return sigmoid_ref(x); },
       // backward from the output y: y (1 - y) inherits y's absolute error
       [](LD x) { return sigmoid_ref(x) * sigmoid_ref(-x); }, 3, 0, 4, 2.5e-7, 3, 0, 3, k2m51},
      {"tanh", [](const na::Tensor& x) { return na::tanh(x); }, [](LD x) { return std::tanh(x); },
       [](LD x) {
         const LD t = std::tanh(x);
         return lim(x, 0, 0, 1 - t * t);
       },
       2, 0, 4, 5e-7, 3, 0, 3, k2m50},
      {"softplus", [](const na::Tensor& x) { return na::softplus(x, 1.0, 20.0); },
       [](LD x) { return x > 20 ? x : softplus_ref(x); }, [](LD x) { return x > 20 ? 1.0L : sigmoid_ref(x); },
       2, 0, 3, 0, 4.5, 0, 3.5, 0},
      {"softplus_beta2", [](const na::Tensor& x) { return na::softplus(x, 2.0, 20.0); },
       [](LD x) { return 2 * x > 20 ? x : softplus_ref(2 * x) / 2; },
       [](LD x) { return 2 * x > 20 ? 1.0L : sigmoid_ref(2 * x); }, 2, 0, 3, 0, 4.5, 0, 3.5, 0},
      {"mish", [](const na::Tensor& x) { return F::mish(x); },
       [](LD x) { return lim(x, kInf, -0.0L, x * std::tanh(softplus_ref(x))); },
       [](LD x) {
         const LD sp = softplus_ref(x), ch = std::cosh(sp);
         return lim(x, 1, 0, std::tanh(sp) + x * sigmoid_ref(x) / (ch * ch));
       },
       5, 0, 6, 6e-8, 5, 0, 6, k2m52},
  };
  return c;
}

// f64 bounds (per case, ulp_f64 etc.): C + x^2 ulp of the result, or an absolute floor A. The
// kernels run glibc's libmvec (vec_math_f64.hpp; glibc tests each function to 4 ulp). The x^2
// term is the rounding of the argument that erfc/exp receive (x/sqrt2, x^2/2), which they turn
// into a relative error about x^2 ulp (the f32 gelu kernels have the same kind of term, Growth).
// The floors cover zeros of gradients, gradients taken from the output y (tanh, sigmoid: 2|y|
// times y's error), far negative tails where gelu_tanh's cubic argument rounds by more than
// x^2 ulp (gelu 2^-56, gelu_tanh 2^-54), and silu's x / (1 + e^-x) flushing to 0 once e^-x
// overflows (x < -709.8, results below 2^-1000). Measured values: docs/ARCHITECTURE.md.

double ulp_of(LD exact, bool f64) {
  const LD a = std::fabs(exact);
  const int mant = f64 ? 53 : 24;
  const LD tiny = f64 ? 0x1p-1022L : 0x1p-126L;
  if (a < tiny) return f64 ? 0x1p-1074 : 0x1p-149;
  int e;
  std::frexp(a, &e);
  return static_cast<double>(std::ldexp(1.0L, e - mant));
}

// Number of values outside (max_ulp, max_abs); `worst` describes the largest violation.
template <class T>
size_t count_bad(const std::vector<T>& xs, const T* got, const std::function<LD(LD)>& ref, double max_ulp,
                 double max_abs, const Growth& growth, std::string& worst) {
  const bool f64 = sizeof(T) == 8;
  // Exact values at or beyond the largest finite value plus half an ulp round to infinity.
  const LD overflow = f64 ? LD(DBL_MAX) + std::ldexp(1.0L, 1023 - 54) : LD(0x1.ffffffp127);
  size_t bad = 0;
  double worst_ulps = -1;
  for (size_t i = 0; i < xs.size(); ++i) {
    const LD exact = ref(static_cast<LD>(xs[i]));
    const T g = got[i];
    bool ok;
    double ulps = 0;
    if (std::isnan(exact))
      ok = std::isnan(g);
    else if (std::fabs(exact) >= overflow)
      ok = std::isinf(g) && (g > 0) == (exact > 0);
    else if (!std::isfinite(g))
      ok = false, ulps = INFINITY;
    else {
      const LD err = std::fabs(static_cast<LD>(g) - exact);
      ulps = static_cast<double>(err) / ulp_of(exact, f64);
      ok = ulps <= max_ulp + extra_ulps(xs[i], f64, growth) || err <= max_abs;
    }
    if (ok) continue;
    ++bad;
    if (ulps > worst_ulps) {
      worst_ulps = ulps;
      std::ostringstream os;
      os.precision(17);
      os << "x = " << xs[i] << ": got " << g << ", exact " << static_cast<double>(exact) << " (" << ulps
         << " ulp)";
      worst = os.str();
    }
  }
  return bad;
}

// A dense grid over [-lo, hi], every 65537th float bit pattern (all exponents, subnormals,
// infinities and NaNs), and the values on implementation edges, in an odd count so that the
// scalar tails run too.
template <class T> std::vector<T> sweep_values() {
  std::vector<T> xs;
  const int dense = sizeof(T) == 4 ? (1 << 18) : (1 << 16);
  for (int i = 0; i <= dense; ++i) xs.push_back(static_cast<T>(-40.0 + 80.0 * i / dense));
  // Random points too: grid points have few significant bits, so x^2 would be exact on them.
  na::Generator gen(99);
  const na::Tensor r = na::rand({dense / 4}, na::kFloat64, &gen);
  for (int64_t i = 0; i < r.numel(); ++i)
    xs.push_back(static_cast<T>(-40.0 + 80.0 * r.data_ptr<double>()[i]));
  for (uint64_t b = 0; b < (uint64_t{1} << 32); b += 65537) {
    float f;
    const uint32_t bits = static_cast<uint32_t>(b);
    std::memcpy(&f, &bits, 4);
    xs.push_back(static_cast<T>(f));
  }
  const T inf = std::numeric_limits<T>::infinity();
  for (T v : {T(0),
              inf,
              std::numeric_limits<T>::denorm_min(),
              std::numeric_limits<T>::min(),
              std::numeric_limits<T>::max(),
              T(1e-30),
              T(0.5),
              T(0.7),
              T(0.7518),
              T(1.1924),
              T(1.2785),
              T(3.92),
              T(10),
              T(11),
              T(14.5),
              T(20),
              T(20.000002),
              T(88.72),
              T(89),
              T(104),
              T(200),
              T(1e10),
              T(1e30)}) {
    xs.push_back(v);
    xs.push_back(-v);
  }
  xs.push_back(std::numeric_limits<T>::quiet_NaN());
  if (xs.size() % 2 == 0) xs.push_back(T(0.25));
  return xs;
}

template <class T> na::Tensor to_tensor(const std::vector<T>& v) {
  na::Tensor t = na::empty({static_cast<int64_t>(v.size())}, sizeof(T) == 8 ? na::kFloat64 : na::kFloat32);
  std::memcpy(t.data_ptr<T>(), v.data(), v.size() * sizeof(T));
  return t;
}

template <class T> void check_case(const Case& c) {
  const bool f64 = sizeof(T) == 8;
  const std::vector<T> xs = sweep_values<T>();
  na::Tensor x = to_tensor(xs).requires_grad_();
  na::Tensor y = c.op(x);
  // Backward of sum(y): the fused kernel (no create_graph) with an upstream gradient of ones.
  na::Tensor gx = na::autograd::grad({y}, {x}, {na::ones_like(y)})[0];
  std::string worst;
  const size_t bad = count_bad<T>(xs, y.detach().template data_ptr<T>(), c.value, f64 ? c.ulp_f64 : c.ulp_f32,
                                  f64 ? c.abs_f64 : c.abs_f32, c.f32_growth, worst);
  EXPECT_EQ(bad, 0u) << c.name << (f64 ? " f64" : " f32") << " forward: " << bad << " of " << xs.size()
                     << " outside the bound; worst " << worst;
  worst.clear();
  const size_t gbad = count_bad<T>(xs, gx.template data_ptr<T>(), c.grad, f64 ? c.gulp_f64 : c.gulp_f32,
                                   f64 ? c.gabs_f64 : c.gabs_f32, c.f32_ggrowth, worst);
  EXPECT_EQ(gbad, 0u) << c.name << (f64 ? " f64" : " f32") << " backward: " << gbad << " of " << xs.size()
                      << " outside the bound; worst " << worst;
}

TEST(ActivationAccuracy, F32WithinStatedBounds) {
  for (const Case& c : cases()) check_case<float>(c);
}

TEST(ActivationAccuracy, F64WithinStatedBounds) {
  for (const Case& c : cases()) check_case<double>(c);
}

// ------------------------------------------------------------------ gated units

struct Gate {
  const char* name;
  std::function<na::Tensor(const na::Tensor&, int64_t)> op;
  std::function<LD(LD)> gate, dgate;
  double ulp_f32, gulp_f32, gabs_f32;
  double ulp_f64, gulp_f64, gabs_f64;  // f64: plus b^2 ulp ("f64 bounds")
  Growth f32_growth = {};              // f32: the gate's growth with b
};

// f64: 4 + b^2 ulp, 2^-52 absolute (relative to |g a|) for grad_b.
constexpr double GU = 4, GA = 0x1p-52;
const std::vector<Gate>& gates() {
  static const std::vector<Gate> g = {
      {"glu", [](const na::Tensor& x, int64_t d) { return F::glu(x, d); },
       [](LD b) { return sigmoid_ref(b); }, [](LD b) { return sigmoid_ref(b) * sigmoid_ref(-b); }, 4, 5, 1e-7,
       GU, GU, GA},
      {"geglu", [](const na::Tensor& x, int64_t d) { return F::geglu(x, d); },
       [](LD b) { return b * cdf_ref(b); }, [](LD b) { return cdf_ref(b) + b * pdf_ref(b); }, 7.5, 3.5, 1e-7,
       GU, GU, GA, kGeluGrowth},
      {"geglu_tanh", [](const na::Tensor& x, int64_t d) { return F::geglu(x, d, "tanh"); },
       [](LD b) { return b * sigmoid_ref(gelu_v(b)); },
       [](LD b) { return sigmoid_ref(gelu_v(b)) * (1 + b * sigmoid_ref(-gelu_v(b)) * gelu_dv(b)); }, 5, 5.5,
       1e-7, GU, GU, GA, kGeluTanhGrowth},
      {"swiglu", [](const na::Tensor& x, int64_t d) { return F::swiglu(x, d); },
       [](LD b) { return b * sigmoid_ref(b); },
       [](LD b) { return sigmoid_ref(b) * (1 + b * sigmoid_ref(-b)); }, 5, 6, 1e-7, GU, GU, GA},
  };
  return g;
}

// out = a * gate(b); grad_a = g gate(b), grad_b = g a gate'(b), for the halves along dim.
template <class T> void check_gate(const Gate& gt, const na::Shape& shape, int64_t dim) {
  const bool f64 = sizeof(T) == 8;
  const na::DType dt = f64 ? na::kFloat64 : na::kFloat32;
  na::manual_seed(21);
  na::Tensor x = (na::randn(shape, dt) * 4.0).requires_grad_();
  na::Tensor y = gt.op(x, dim);
  const int64_t d = dim < 0 ? dim + x.dim() : dim, half = x.size(d) / 2;
  na::Tensor r = na::randn(y.shape(), dt);
  na::Tensor gx = na::autograd::grad({y}, {x}, {r})[0];
  // Reference per element, in long double, on contiguous copies of the halves.
  na::Tensor a = x.detach().narrow(d, 0, half).contiguous(),
             b = x.detach().narrow(d, half, half).contiguous();
  na::Tensor ga = gx.narrow(d, 0, half).contiguous(), gb = gx.narrow(d, half, half).contiguous();
  na::Tensor yc = y.detach().contiguous(), rc = r.contiguous();
  const T *pa = a.data_ptr<T>(), *pb = b.data_ptr<T>(), *py = yc.data_ptr<T>(), *pr = rc.data_ptr<T>();
  const T *pga = ga.data_ptr<T>(), *pgb = gb.data_ptr<T>();
  const double eps = f64 ? 0x1p-53 : 0x1p-24;
  const double tiny = f64 ? 0x1p-1074 : 0x1p-149;  // results in the subnormals round absolutely
  size_t bad = 0;
  std::string worst;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const LD av = pa[i], bv = pb[i], rv = pr[i];
    const LD e_y = av * gt.gate(bv), e_ga = rv * gt.gate(bv), e_gb = rv * av * gt.dgate(bv);
    // Relative bounds on each product's own scale: the factors are exact inputs.
    const double uf = f64 ? gt.ulp_f64 : gt.ulp_f32, ug = f64 ? gt.gulp_f64 : gt.gulp_f32;
    const double ag = f64 ? gt.gabs_f64 : gt.gabs_f32;
    const double xf = extra_ulps(bv, f64, gt.f32_growth), xg = xf;
    auto ok = [&](LD got, LD exact, double ulps, LD abs_scale, LD factor) {
      return std::fabs(got - exact) <=
             ulps * 2 * eps * std::fabs(exact) + abs_scale + (ulps + 1) * tiny * (1 + std::fabs(factor));
    };
    const bool good = ok(py[i], e_y, uf + xf, 0, av) && ok(pga[i], e_ga, uf + xf, 0, rv) &&
                      ok(pgb[i], e_gb, ug + xg, ag * std::fabs(rv * av), rv * av);
    if (!good && bad++ == 0) {
      std::ostringstream os;
      os.precision(12);
      os << "a=" << pa[i] << " b=" << pb[i] << " g=" << pr[i] << ": y " << py[i] << " vs " << double(e_y)
         << ", ga " << pga[i] << " vs " << double(e_ga) << ", gb " << pgb[i] << " vs " << double(e_gb);
      worst = os.str();
    }
  }
  EXPECT_EQ(bad, 0u) << gt.name << (f64 ? " f64" : " f32") << " dim " << dim << ": " << worst;
}

TEST(ActivationAccuracy, GatedUnitsWithinStatedBounds) {
  for (const Gate& g : gates()) {
    check_gate<float>(g, {64, 2 * 1031}, -1);  // long rows, odd half: vector body and tails
    check_gate<float>(g, {6, 10, 7}, 1);       // middle dim: halves are strided blocks
    check_gate<float>(g, {40000, 3}, 0);       // dim 0: one long span, split across threads
    check_gate<double>(g, {16, 2 * 77}, -1);
    check_gate<double>(g, {4, 6, 5}, 1);
  }
}

// ------------------------------------------------------------------ gradients and misuse

TEST(ActivationKernels, GradcheckAndDoubleBackward) {
  na::manual_seed(5);
  const std::vector<std::pair<const char*, std::function<na::Tensor(const na::Tensor&)>>> fns = {
      {"mish", [](const na::Tensor& x) { return F::mish(x); }},
      {"glu", [](const na::Tensor& x) { return F::glu(x, 1); }},
      {"geglu", [](const na::Tensor& x) { return F::geglu(x, -1); }},
      {"geglu_tanh", [](const na::Tensor& x) { return F::geglu(x, 0, "tanh"); }},
      {"swiglu", [](const na::Tensor& x) { return F::swiglu(x); }},
  };
  for (const auto& [name, f] : fns) {
    na::Tensor x = (na::randn({4, 6}, na::kFloat64) * 2.0).requires_grad_();
    auto r = na_test::gradcheck([&f](const std::vector<na::Tensor>& v) { return f(v[0]); }, {x});
    EXPECT_TRUE(r.ok) << name << ": " << r.message;
    // Double backward (composed under create_graph) against finite differences of the
    // first derivative.
    auto r2 = na_test::gradcheck(
        [&f](const std::vector<na::Tensor>& v) {
          // The numerical pass hands in perturbed copies that do not require grad.
          na::EnableGradGuard eg;
          na::Tensor xi = v[0].requires_grad() ? v[0] : v[0].detach().requires_grad_();
          na::Tensor y = f(xi);
          return na::autograd::grad({na::sum(y * y)}, {xi}, {}, true, true)[0];
        },
        {x});
    EXPECT_TRUE(r2.ok) << name << " double backward: " << r2.message;
  }
}

TEST(ActivationKernels, GatedUnitsMatchTheirCompositions) {
  na::manual_seed(6);
  na::Tensor x = na::randn({3, 8, 5});
  auto halves = [&](int64_t d) {
    return std::pair{x.narrow(d, 0, x.size(d) / 2), x.narrow(d, x.size(d) / 2, x.size(d) / 2)};
  };
  auto [a, b] = halves(1);
  EXPECT_TRUE(na_test::close(F::glu(x, 1), a * na::sigmoid(b), 1e-6, 1e-6));
  EXPECT_TRUE(na_test::close(F::geglu(x, 1), a * na::gelu(b, "none"), 1e-6, 1e-6));
  EXPECT_TRUE(na_test::close(F::geglu(x, -2, "tanh"), a * na::gelu(b, "tanh"), 1e-6, 1e-6));
  EXPECT_TRUE(na_test::close(F::swiglu(x, 1), a * na::silu(b), 1e-6, 1e-6));
  // Narrow floats compute in f32 and keep their dtype.
  na::Tensor h = F::swiglu(x.to(na::kBFloat16), 1);
  EXPECT_EQ(h.dtype(), na::kBFloat16);
  EXPECT_TRUE(na_test::close(h.to(na::kFloat32), a * na::silu(b), 3e-2, 3e-2));
}

// Each element's result depends on its own value alone: not on its neighbours, not on where
// the vector body ends and the scalar tail starts, not on the thread count.  (A per-vector fast
// path with a fallback, tried for gelu, has to keep this too.)
TEST(ActivationKernels, ResultsDoNotDependOnPosition) {
  na::manual_seed(8);
  // Mostly narrow values with wide ones and specials mixed in (and ±3, where a narrow-input fast
  // path would end).
  std::vector<float> v;
  const na::Tensor r = na::randn({4099});
  for (int64_t i = 0; i < r.numel(); ++i) {
    const float z = r.data_ptr<float>()[i];
    v.push_back(i % 7 == 0 ? 5.0f * z : z);
  }
  for (float e : {-3.0f, 3.0f, std::nextafter(3.0f, 0.0f), std::nextafter(-3.0f, -4.0f), -14.5f, -30.0f,
                  std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                  std::numeric_limits<float>::quiet_NaN(), -0.0f})
    v.insert(v.begin() + static_cast<std::ptrdiff_t>(v.size() / 3), e);
  na::Tensor x = na::empty({static_cast<int64_t>(v.size())});
  std::memcpy(x.data_ptr<float>(), v.data(), v.size() * sizeof(float));
  const int threads = na::get_num_threads();
  for (const char* approx : {"none", "tanh"}) {
    const na::Tensor whole = na::gelu(x, approx);
    na::set_num_threads(1);
    const na::Tensor one_thread = na::gelu(x, approx);
    na::set_num_threads(threads);
    size_t differ = 0, first = 0;
    for (size_t i = 0; i < v.size(); ++i) {
      // One element alone runs the scalar path.
      const float alone =
          na::gelu(x.narrow(0, static_cast<int64_t>(i), 1).contiguous(), approx).item<float>();
      const float a = whole.data_ptr<float>()[i], b = one_thread.data_ptr<float>()[i];
      uint32_t ba, bb, bc;
      std::memcpy(&ba, &a, 4);
      std::memcpy(&bb, &b, 4);
      std::memcpy(&bc, &alone, 4);
      const bool same = (std::isnan(a) && std::isnan(b) && std::isnan(alone)) || (ba == bb && ba == bc);
      if (!same && differ++ == 0) first = i;
    }
    EXPECT_EQ(differ, 0u) << approx << ": e.g. x = " << v[first];
  }
}

TEST(ActivationKernels, Misuse) {
  na_test::expect_error([] { F::glu(na::randn({3, 5}), -1); }, {"[glu]", "even", "5"});
  na_test::expect_error([] { F::swiglu(na::randn({4}), 2); }, {"[swiglu]", "dim 2"});
  na_test::expect_error([] { F::geglu(na::randn({4}), -1, "fast"); }, {"[geglu]", "fast"});
  na_test::expect_error([] { F::geglu(na::ones({4}, na::kInt64)); }, {"[geglu]", "int64"});
  na_test::expect_error([] { F::mish(na::ones({4}, na::kInt32)); }, {"[mish]", "int32"});
  na_test::expect_error([] { F::glu(na::scalar_tensor(1.0)); }, {"[glu]", "0-d"});
}

}  // namespace
