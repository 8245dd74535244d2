// Table-driven gradient checks: every differentiable op (and the variants whose backward takes
// a different path: broadcasting, non-contiguous operands, keepdim, zeros in prod, ...) is one
// row below and one CTest test named Ops/GradCheck.MatchesFiniteDifferences/<row>.
// Inputs avoid the points where an op is not differentiable (abs and relu at 0, ties in
// max/min/maximum, clamp at its bounds), since central differences are meaningless there.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gradcheck.hpp"
#include "neural_arch/autograd.hpp"
#include "neural_arch/ops.hpp"
#include "neural_arch/random.hpp"
#include "neural_arch/tensor.hpp"

namespace {

namespace na = neural_arch;
using na::Tensor;
using V = std::vector<Tensor>;

int64_t numel_of(const na::Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

// Input values come from a test-local engine rather than the library's generators, so a bug
// in randn cannot make the inputs degenerate (ties, zeros) without the test noticing.
class Data {
 public:
  explicit Data(uint64_t seed) : rng_(seed) {}

  Tensor values(const std::vector<double>& v, const na::Shape& s, bool grad = true) {
    Tensor t = na::tensor<double>(v, s, na::TensorOptions(na::kFloat64));
    if (grad) t.requires_grad_();
    return t;
  }
  Tensor normal(const na::Shape& s, double scale = 1.0, bool grad = true) {
    std::normal_distribution<double> dist(0.0, scale);
    std::vector<double> v(static_cast<size_t>(numel_of(s)));
    for (auto& x : v) x = dist(rng_);
    return values(v, s, grad);
  }
  Tensor uniform(const na::Shape& s, double lo, double hi, bool grad = true) {
    std::vector<double> v(static_cast<size_t>(numel_of(s)));
    for (auto& x : v) x = uni(lo, hi);
    return values(v, s, grad);
  }
  // Magnitudes in [lo, hi] with random signs: keeps abs/relu/division away from 0.
  Tensor away_from_zero(const na::Shape& s, double lo = 0.2, double hi = 1.5, bool grad = true) {
    std::vector<double> v(static_cast<size_t>(numel_of(s)));
    for (auto& x : v) x = (uni(0, 1) < 0.5 ? -1.0 : 1.0) * uni(lo, hi);
    return values(v, s, grad);
  }
  // Normal values at least `margin` away from each of `points` (clamp bounds, thresholds).
  Tensor avoiding(const na::Shape& s, const std::vector<double>& points, double margin = 0.05,
                  double scale = 1.0) {
    std::normal_distribution<double> dist(0.0, scale);
    std::vector<double> v(static_cast<size_t>(numel_of(s)));
    for (auto& x : v) {
      bool close = true;
      while (close) {
        x = dist(rng_);
        close = false;
        for (double p : points) close = close || std::abs(x - p) < margin;
      }
    }
    return values(v, s);
  }
  // Pairwise distinct values (spaced 0.1 apart, shuffled): no ties for max/min.
  Tensor distinct(const na::Shape& s) {
    const int64_t n = numel_of(s);
    std::vector<double> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
      v[i] = 0.1 * static_cast<double>(i) - 0.05 * static_cast<double>(n) + 0.013;
    std::shuffle(v.begin(), v.end(), rng_);
    return values(v, s);
  }
  // a and b with |a - b| >= 0.1 everywhere (same shape): no ties for maximum/minimum.
  V separated_pair(const na::Shape& s) {
    std::normal_distribution<double> dist(0.0, 1.0);
    std::vector<double> a(static_cast<size_t>(numel_of(s))), b(a.size());
    for (size_t i = 0; i < a.size(); ++i) {
      a[i] = dist(rng_);
      b[i] = a[i] + (uni(0, 1) < 0.5 ? -1.0 : 1.0) * uni(0.1, 1.0);
    }
    return {values(a, s), values(b, s)};
  }
  static Tensor index(const std::vector<int64_t>& v, const na::Shape& s) {
    return na::tensor<int64_t>(v, s, na::TensorOptions(na::kInt64));
  }

 private:
  double uni(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng_); }
  std::mt19937_64 rng_;
};

struct GradCase {
  std::string name;
  std::function<V(Data&)> inputs;
  na_test::GradFn fn;
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
};

// Keeps gtest from dumping the std::function bytes in failure messages.
void PrintTo(const GradCase& c, std::ostream* os) { *os << c.name; }

GradCase C(std::string name, std::function<V(Data&)> in, na_test::GradFn fn) {
  GradCase c;
  c.name = std::move(name);
  c.inputs = std::move(in);
  c.fn = std::move(fn);
  return c;
}

std::vector<GradCase> all_cases() {
  std::vector<GradCase> cs;
  auto add = [&](GradCase c) { cs.push_back(std::move(c)); };

  // ------------------------------------------------------------ elementwise binary
  add(C(
      "add_same_shape",
      [](Data& d) {
        return V{d.normal({3, 4}), d.normal({3, 4})};
      },
      [](const V& v) { return na::add(v[0], v[1]); }));
  add(C(
      "add_broadcast",
      [](Data& d) {
        return V{d.normal({3, 1, 4}), d.normal({2, 4})};
      },
      [](const V& v) { return na::add(v[0], v[1]); }));
  add(C(
      "add_alpha",
      [](Data& d) {
        return V{d.normal({2, 3}), d.normal({3})};
      },
      [](const V& v) { return na::add(v[0], v[1], 2.5); }));
  add(C(
      "add_noncontig",
      [](Data& d) {
        return V{d.normal({4, 3}), d.normal({3, 4})};
      },
      [](const V& v) { return v[0].t() + v[1]; }));
  add(C(
      "scalar_operators",
      [](Data& d) {
        return V{d.normal({2, 3})};
      },
      [](const V& v) { return (2.0 - v[0] * 3.0) + (v[0] / 4.0 - 1.0) * (0.5 + v[0]); }));
  add(C(
      "sub_same_shape",
      [](Data& d) {
        return V{d.normal({3, 4}), d.normal({3, 4})};
      },
      [](const V& v) { return na::sub(v[0], v[1]); }));
  add(C(
      "sub_alpha_broadcast",
      [](Data& d) {
        return V{d.normal({4, 1}), d.normal({3})};
      },
      [](const V& v) { return na::sub(v[0], v[1], -0.5); }));
  add(C(
      "sub_noncontig",
      [](Data& d) {
        return V{d.normal({4, 3}), d.normal({3, 4})};
      },
      [](const V& v) { return v[0].t() - v[1]; }));
  add(C(
      "mul_same_shape",
      [](Data& d) {
        return V{d.normal({3, 4}), d.normal({3, 4})};
      },
      [](const V& v) { return na::mul(v[0], v[1]); }));
  add(C(
      "mul_broadcast",
      [](Data& d) {
        return V{d.normal({2, 3, 1}), d.normal({1, 4})};
      },
      [](const V& v) { return na::mul(v[0], v[1]); }));
  add(C(
      "mul_noncontig",
      [](Data& d) {
        return V{d.normal({4, 3}), d.normal({3, 8})};
      },
      [](const V& v) { return v[0].t() * v[1].slice(1, 0, 8, 2); }));
  add(C(
      "mul_same_input",
      [](Data& d) {
        return V{d.normal({3, 4})};
      },
      [](const V& v) { return na::mul(v[0], v[0]); }));
  add(C(
      "div_same_shape",
      [](Data& d) {
        return V{d.normal({3, 4}), d.away_from_zero({3, 4}, 0.5, 2.0)};
      },
      [](const V& v) { return na::div(v[0], v[1]); }));
  add(C(
      "div_broadcast",
      [](Data& d) {
        return V{d.normal({2, 3}), d.away_from_zero({2, 1}, 0.5, 2.0)};
      },
      [](const V& v) { return na::div(v[0], v[1]); }));
  add(C(
      "div_scalar_by_tensor",
      [](Data& d) {
        return V{d.away_from_zero({3, 4}, 0.5, 2.0)};
      },
      [](const V& v) { return 1.5 / v[0]; }));
  add(C(
      "pow_tensor_tensor",
      [](Data& d) {
        return V{d.uniform({3, 4}, 0.5, 2.0), d.normal({3, 4})};
      },
      [](const V& v) { return na::pow(v[0], v[1]); }));
  add(C(
      "pow_tensor_tensor_broadcast",
      [](Data& d) {
        return V{d.uniform({2, 3}, 0.5, 2.0), d.normal({3})};
      },
      [](const V& v) { return na::pow(v[0], v[1]); }));
  add(C(
      "pow_scalar_int",
      [](Data& d) {
        return V{d.normal({3, 4})};
      },
      [](const V& v) { return na::pow(v[0], 3); }));
  add(C(
      "pow_scalar_fractional",
      [](Data& d) {
        return V{d.uniform({3, 4}, 0.5, 2.0)};
      },
      [](const V& v) { return na::pow(v[0], 2.5); }));
  add(C(
      "pow_scalar_negative",
      [](Data& d) {
        return V{d.away_from_zero({3, 4}, 0.5, 1.5)};
      },
      [](const V& v) { return na::pow(v[0], -2.0); }));
  add(C(
      "maximum",
      [](Data& d) {
        return d.separated_pair({3, 4});
      },
      [](const V& v) { return na::maximum(v[0], v[1]); }));
  add(C(
      "minimum",
      [](Data& d) {
        return d.separated_pair({3, 4});
      },
      [](const V& v) { return na::minimum(v[0], v[1]); }));
  add(C(
      "maximum_broadcast",
      [](Data& d) {
        // The column values of b are the points a must stay away from (no ties).
        Tensor b = d.values({-0.7, 0.1, 0.9, 1.6}, {4});
        return V{d.avoiding({3, 4}, {-0.7, 0.1, 0.9, 1.6}, 0.05), b};
      },
      [](const V& v) { return na::maximum(v[0], v[1]); }));

  // ------------------------------------------------------------ elementwise unary
  add(C(
      "neg",
      [](Data& d) {
        return V{d.normal({3, 4})};
      },
      [](const V& v) { return na::neg(v[0]); }));
  add(C(
      "neg_operator",
      [](Data& d) {
        return V{d.normal({3, 4})};
      },
      [](const V& v) { return -v[0]; }));
  add(C(
      "exp",
      [](Data& d) {
        return V{d.normal({3, 4})};
      },
      [](const V& v) { return na::exp(v[0]); }));
  add(C(
      "exp_noncontig",
      [](Data& d) {
        return V{d.normal({4, 3})};
      },
      [](const V& v) { return na::exp(v[0].t()); }));
  add(C(
      "log",
      [](Data& d) {
        return V{d.uniform({3, 4}, 0.5, 3.0)};
      },
      [](const V& v) { return na::log(v[0]); }));
  add(C(
      "log1p",
      [](Data& d) {
        return V{d.uniform({3, 4}, -0.5, 2.0)};
      },
      [](const V& v) { return na::log1p(v[0]); }));
  add(C(
      "sqrt",
      [](Data& d) {
        return V{d.uniform({3, 4}, 0.5, 3.0)};
      },
      [](const V& v) { return na::sqrt(v[0]); }));
  add(C(
      "rsqrt",
      [](Data& d) {
        return V{d.uniform({3, 4}, 0.5, 3.0)};
      },
      [](const V& v) { return na::rsqrt(v[0]); }));
  add(C(
      "abs",
      [](Data& d) {
        return V{d.away_from_zero({3, 4})};
      },
      [](const V& v) { return na::abs(v[0]); }));
  add(C(
      "clamp_min",
      [](Data& d) {
        return V{d.avoiding({3, 4}, {-0.3})};
      },
      [](const V& v) { return na::clamp(v[0], na::Scalar(-0.3), std::nullopt); }));
  add(C(
      "clamp_max",
      [](Data& d) {
        return V{d.avoiding({3, 4}, {0.4})};
      },
      [](const V& v) { return na::clamp(v[0], std::nullopt, na::Scalar(0.4)); }));
  add(C(
      "clamp_both",
      [](Data& d) {
        return V{d.avoiding({3, 4}, {-0.5, 0.5})};
      },
      [](const V& v) { return na::clamp(v[0], na::Scalar(-0.5), na::Scalar(0.5)); }));
  add(C(
      "where_broadcast",
      [](Data& d) {
        return V{d.normal({3, 4}), d.normal({4}), d.normal({3, 4}, 1.0, false)};
      },
      [](const V& v) { return na::where(v[2] > 0.0, v[0], v[1]); }));
  add(C(
      "masked_fill_broadcast_mask",
      [](Data& d) {
        return V{d.normal({3, 4}), d.normal({4}, 1.0, false)};
      },
      [](const V& v) { return na::masked_fill(v[0], v[1] > 0.0, 2.5); }));
  add(C(
      "sin",
      [](Data& d) {
        return V{d.normal({3, 4})};
      },
      [](const V& v) { return na::sin(v[0]); }));
  add(C(
      "cos",
      [](Data& d) {
        return V{d.normal({3, 4})};
      },
      [](const V& v) { return na::cos(v[0]); }));
  add(C(
      "tanh",
      [](Data& d) {
        return V{d.normal({3, 4})};
      },
      [](const V& v) { return na::tanh(v[0]); }));
  add(C(
      "sigmoid",
      [](Data& d) {
        return V{d.normal({3, 4}, 2.0)};
      },
      [](const V& v) { return na::sigmoid(v[0]); }));
  add(C(
      "relu",
      [](Data& d) {
        return V{d.away_from_zero({3, 4})};
      },
      [](const V& v) { return na::relu(v[0]); }));
  add(C(
      "leaky_relu",
      [](Data& d) {
        return V{d.away_from_zero({3, 4})};
      },
      [](const V& v) { return na::leaky_relu(v[0], 0.2); }));
  add(C(
      "gelu_none",
      [](Data& d) {
        return V{d.normal({3, 4}, 1.5)};
      },
      [](const V& v) { return na::gelu(v[0], "none"); }));
  add(C(
      "gelu_tanh",
      [](Data& d) {
        return V{d.normal({3, 4}, 1.5)};
      },
      [](const V& v) { return na::gelu(v[0], "tanh"); }));
  add(C(
      "silu",
      [](Data& d) {
        return V{d.normal({3, 4}, 1.5)};
      },
      [](const V& v) { return na::silu(v[0]); }));
  add(C(
      "softplus",
      [](Data& d) {
        return V{d.normal({3, 4}, 2.0)};
      },
      [](const V& v) { return na::softplus(v[0]); }));
  // beta * x crosses the threshold for some elements: both the log1p(exp) and the linear branch.
  add(C(
      "softplus_beta_threshold",
      [](Data& d) {
        return V{d.avoiding({3, 4}, {1.5}, 0.05, 1.5)};
      },
      [](const V& v) { return na::softplus(v[0], 2.0, 3.0); }));
  add(C(
      "erf",
      [](Data& d) {
        return V{d.normal({3, 4})};
      },
      [](const V& v) { return na::erf(v[0]); }));

  // ------------------------------------------------------------ reductions
  add(C(
      "sum_all",
      [](Data& d) {
        return V{d.normal({3, 4})};
      },
      [](const V& v) { return na::sum(v[0]); }));
  add(C(
      "sum_dims",
      [](Data& d) {
        return V{d.normal({2, 3, 4})};
      },
      [](const V& v) {
        return na::sum(v[0], {0, 2});
      }));
  add(C(
      "sum_keepdim",
      [](Data& d) {
        return V{d.normal({2, 3, 4})};
      },
      [](const V& v) { return na::sum(v[0], {1}, true); }));
  add(C(
      "sum_negative_dim",
      [](Data& d) {
        return V{d.normal({2, 3, 4})};
      },
      [](const V& v) { return na::sum(v[0], {-1}); }));
  add(C(
      "sum_noncontig",
      [](Data& d) {
        return V{d.normal({2, 3, 4})};
      },
      [](const V& v) { return na::sum(v[0].transpose(0, 2), {1}); }));
  add(C(
      "mean_all",
      [](Data& d) {
        return V{d.normal({3, 4})};
      },
      [](const V& v) { return na::mean(v[0]); }));
  add(C(
      "mean_dims_keepdim",
      [](Data& d) {
        return V{d.normal({2, 3, 4})};
      },
      [](const V& v) {
        return na::mean(v[0], {0, 2}, true);
      }));
  add(C(
      "var_all",
      [](Data& d) {
        return V{d.normal({3, 4})};
      },
      [](const V& v) { return na::var(v[0]); }));
  add(C(
      "var_dim",
      [](Data& d) {
        return V{d.normal({3, 4})};
      },
      [](const V& v) { return na::var(v[0], {1}); }));
  add(C(
      "var_correction0_keepdim",
      [](Data& d) {
        return V{d.normal({3, 4})};
      },
      [](const V& v) { return na::var(v[0], {0}, 0, true); }));
  add(C(
      "std_all",
      [](Data& d) {
        return V{d.normal({3, 4})};
      },
      [](const V& v) { return na::std(v[0]); }));
  add(C(
      "std_dim_keepdim",
      [](Data& d) {
        return V{d.normal({3, 4})};
      },
      [](const V& v) { return na::std(v[0], {1}, 1, true); }));
  add(C(
      "prod_all",
      [](Data& d) {
        return V{d.away_from_zero({2, 3}, 0.5, 1.5)};
      },
      [](const V& v) { return na::prod(v[0]); }));
  add(C(
      "prod_dim",
      [](Data& d) {
        return V{d.away_from_zero({3, 4}, 0.5, 1.5)};
      },
      [](const V& v) { return na::prod(v[0], 1); }));
  add(C(
      "prod_dim_keepdim",
      [](Data& d) {
        return V{d.away_from_zero({3, 4}, 0.5, 1.5)};
      },
      [](const V& v) { return na::prod(v[0], 0, true); }));
  // A zero makes the "product / x" shortcut divide by zero; the gradient is still finite.
  add(C(
      "prod_all_one_zero",
      [](Data& d) {
        return V{d.values({0.7, -1.2, 0.0, 1.3, 0.9, -0.8}, {2, 3})};
      },
      [](const V& v) { return na::prod(v[0]); }));
  add(C(
      "prod_dim_with_zeros",
      [](Data& d) {
        // Row 0: one zero; row 1: two zeros (all-zero gradient); row 2: none.
        return V{d.values({0.7, 0.0, -1.1, 1.4, 0.0, 1.2, 0.0, -0.6, 0.8, -1.3, 1.1, 0.9}, {3, 4})};
      },
      [](const V& v) { return na::prod(v[0], 1); }));
  add(C(
      "max_all",
      [](Data& d) {
        return V{d.distinct({3, 4})};
      },
      [](const V& v) { return na::max(v[0]); }));
  add(C(
      "min_all",
      [](Data& d) {
        return V{d.distinct({3, 4})};
      },
      [](const V& v) { return na::min(v[0]); }));
  add(C(
      "max_dim",
      [](Data& d) {
        return V{d.distinct({3, 4})};
      },
      [](const V& v) { return na::max(v[0], 1).values; }));
  add(C(
      "min_dim_keepdim",
      [](Data& d) {
        return V{d.distinct({3, 4})};
      },
      [](const V& v) { return na::min(v[0], 0, true).values; }));
  add(C(
      "max_dim_noncontig",
      [](Data& d) {
        return V{d.distinct({4, 3})};
      },
      [](const V& v) { return na::max(v[0].t(), 1).values; }));
  add(C(
      "logsumexp_dim",
      [](Data& d) {
        return V{d.normal({3, 4}, 2.0)};
      },
      [](const V& v) { return na::logsumexp(v[0], {1}); }));
  add(C(
      "logsumexp_dims_keepdim",
      [](Data& d) {
        return V{d.normal({2, 3, 4}, 2.0)};
      },
      [](const V& v) {
        return na::logsumexp(v[0], {0, 2}, true);
      }));
  add(C(
      "softmax_last_dim",
      [](Data& d) {
        return V{d.normal({3, 4}, 2.0)};
      },
      [](const V& v) { return na::softmax(v[0], -1); }));
  add(C(
      "softmax_dim0",
      [](Data& d) {
        return V{d.normal({2, 3, 4}, 2.0)};
      },
      [](const V& v) { return na::softmax(v[0], 0); }));
  add(C(
      "softmax_noncontig",
      [](Data& d) {
        return V{d.normal({4, 3}, 2.0)};
      },
      [](const V& v) { return na::softmax(v[0].t(), 1); }));
  add(C(
      "log_softmax_last_dim",
      [](Data& d) {
        return V{d.normal({3, 4}, 2.0)};
      },
      [](const V& v) { return na::log_softmax(v[0], 1); }));
  add(C(
      "log_softmax_dim1_3d",
      [](Data& d) {
        return V{d.normal({2, 3, 4}, 2.0)};
      },
      [](const V& v) { return na::log_softmax(v[0], 1); }));

  // ------------------------------------------------------------ linear algebra
  add(C(
      "matmul_dot",
      [](Data& d) {
        return V{d.normal({4}), d.normal({4})};
      },
      [](const V& v) { return na::matmul(v[0], v[1]); }));
  add(C(
      "matmul_vec_mat",
      [](Data& d) {
        return V{d.normal({3}), d.normal({3, 4})};
      },
      [](const V& v) { return na::matmul(v[0], v[1]); }));
  add(C(
      "matmul_mat_vec",
      [](Data& d) {
        return V{d.normal({3, 4}), d.normal({4})};
      },
      [](const V& v) { return na::matmul(v[0], v[1]); }));
  add(C(
      "matmul_2d",
      [](Data& d) {
        return V{d.normal({3, 4}), d.normal({4, 2})};
      },
      [](const V& v) { return na::matmul(v[0], v[1]); }));
  add(C(
      "matmul_batched_broadcast",
      [](Data& d) {
        return V{d.normal({2, 1, 3, 4}), d.normal({5, 4, 2})};
      },
      [](const V& v) { return na::matmul(v[0], v[1]); }));
  add(C(
      "matmul_batched_by_2d",
      [](Data& d) {
        return V{d.normal({2, 3, 4}), d.normal({4, 2})};
      },
      [](const V& v) { return na::matmul(v[0], v[1]); }));
  add(C(
      "matmul_vec_batched",
      [](Data& d) {
        return V{d.normal({4}), d.normal({2, 4, 3})};
      },
      [](const V& v) { return na::matmul(v[0], v[1]); }));
  add(C(
      "matmul_batched_vec",
      [](Data& d) {
        return V{d.normal({2, 3, 4}), d.normal({4})};
      },
      [](const V& v) { return na::matmul(v[0], v[1]); }));
  add(C(
      "matmul_noncontig",
      [](Data& d) {
        return V{d.normal({4, 3}), d.normal({2, 4})};
      },
      [](const V& v) { return na::matmul(v[0].t(), v[1].t()); }));
  add(C(
      "mm",
      [](Data& d) {
        return V{d.normal({3, 4}), d.normal({4, 5})};
      },
      [](const V& v) { return na::mm(v[0], v[1]); }));
  add(C(
      "mm_noncontig",
      [](Data& d) {
        return V{d.normal({3, 4}), d.normal({5, 4})};
      },
      [](const V& v) { return na::mm(v[0], v[1].t()); }));
  add(C(
      "bmm",
      [](Data& d) {
        return V{d.normal({2, 3, 4}), d.normal({2, 4, 5})};
      },
      [](const V& v) { return na::bmm(v[0], v[1]); }));
  add(C(
      "linear_bias",
      [](Data& d) {
        return V{d.normal({3, 4}), d.normal({5, 4}), d.normal({5})};
      },
      [](const V& v) { return na::linear(v[0], v[1], v[2]); }));
  add(C(
      "linear_no_bias",
      [](Data& d) {
        return V{d.normal({3, 4}), d.normal({5, 4})};
      },
      [](const V& v) { return na::linear(v[0], v[1]); }));
  add(C(
      "linear_3d_input",
      [](Data& d) {
        return V{d.normal({2, 3, 4}), d.normal({5, 4}), d.normal({5})};
      },
      [](const V& v) { return na::linear(v[0], v[1], v[2]); }));
  add(C(
      "outer",
      [](Data& d) {
        return V{d.normal({3}), d.normal({4})};
      },
      [](const V& v) { return na::outer(v[0], v[1]); }));

  // ------------------------------------------------------------ views
  add(C(
      "reshape",
      [](Data& d) {
        return V{d.normal({2, 3, 4})};
      },
      [](const V& v) {
        return v[0].reshape({6, 4});
      }));
  add(C(
      "reshape_inferred_dim",
      [](Data& d) {
        return V{d.normal({2, 3, 4})};
      },
      [](const V& v) {
        return v[0].reshape({4, -1});
      }));
  add(C(
      "reshape_noncontig",
      [](Data& d) {
        return V{d.normal({3, 4})};
      },
      [](const V& v) {
        return v[0].t().reshape({2, 6});
      }));
  add(C(
      "view",
      [](Data& d) {
        return V{d.normal({2, 3, 4})};
      },
      [](const V& v) {
        return v[0].view({4, 3, 2});
      }));
  add(C(
      "flatten_from_dim1",
      [](Data& d) {
        return V{d.normal({2, 3, 4})};
      },
      [](const V& v) { return v[0].flatten(1); }));
  add(C(
      "flatten_all",
      [](Data& d) {
        return V{d.normal({2, 3, 4})};
      },
      [](const V& v) { return v[0].flatten(); }));
  add(C(
      "squeeze_all",
      [](Data& d) {
        return V{d.normal({2, 1, 3, 1})};
      },
      [](const V& v) { return v[0].squeeze(); }));
  add(C(
      "squeeze_dim",
      [](Data& d) {
        return V{d.normal({2, 1, 3})};
      },
      [](const V& v) { return v[0].squeeze(1); }));
  add(C(
      "unsqueeze",
      [](Data& d) {
        return V{d.normal({3, 4})};
      },
      [](const V& v) { return v[0].unsqueeze(1) * v[0].unsqueeze(0); }));
  add(C(
      "transpose",
      [](Data& d) {
        return V{d.normal({2, 3, 4})};
      },
      [](const V& v) { return v[0].transpose(0, 2); }));
  add(C(
      "t",
      [](Data& d) {
        return V{d.normal({3, 4})};
      },
      [](const V& v) { return v[0].t(); }));
  add(C(
      "permute",
      [](Data& d) {
        return V{d.normal({2, 3, 4})};
      },
      [](const V& v) {
        return v[0].permute({2, 0, 1});
      }));
  add(C(
      "narrow",
      [](Data& d) {
        return V{d.normal({3, 5})};
      },
      [](const V& v) { return v[0].narrow(1, 1, 2); }));
  add(C(
      "slice_step",
      [](Data& d) {
        return V{d.normal({3, 5})};
      },
      [](const V& v) { return v[0].slice(1, 0, 5, 2); }));
  add(C(
      "slice_step_into_op",
      [](Data& d) {
        return V{d.normal({5, 3})};
      },
      [](const V& v) { return na::sigmoid(v[0].slice(0, 1, 5, 2)); }));
  add(C(
      "select",
      [](Data& d) {
        return V{d.normal({3, 4})};
      },
      [](const V& v) { return v[0].select(1, 2); }));
  add(C(
      "index_operator",
      [](Data& d) {
        return V{d.normal({3, 4})};
      },
      [](const V& v) { return v[0][1]; }));
  add(C(
      "expand",
      [](Data& d) {
        return V{d.normal({3, 1})};
      },
      [](const V& v) {
        return v[0].expand({3, 4});
      }));
  add(C(
      "expand_new_dims", [](Data& d) { return V{d.normal({4})}; },
      [](const V& v) {
        return v[0].expand({2, 3, 4});
      }));
  // The middle chunk is unused: its gradient must be zero, not missing or garbage.
  add(C(
      "chunk",
      [](Data& d) {
        return V{d.normal({2, 6})};
      },
      [](const V& v) {
        auto c = v[0].chunk(3, 1);
        return c[0] * c[2];
      }));
  add(C(
      "split_uneven",
      [](Data& d) {
        return V{d.normal({5, 3})};
      },
      [](const V& v) {
        auto s = v[0].split(2, 0);  // sizes 2, 2, 1
        return s[0] * s[1] + s[2];
      }));
  add(C(
      "contiguous",
      [](Data& d) {
        return V{d.normal({3, 4})};
      },
      [](const V& v) { return v[0].t().contiguous(); }));

  // ------------------------------------------------------------ joining and indexing
  add(C(
      "cat_dim0",
      [](Data& d) {
        return V{d.normal({2, 3}), d.normal({1, 3}), d.normal({3, 3})};
      },
      [](const V& v) {
        return na::cat({v[0], v[1], v[2]}, 0);
      }));
  add(C(
      "cat_dim1_noncontig",
      [](Data& d) {
        return V{d.normal({2, 3}), d.normal({4, 2})};
      },
      [](const V& v) {
        return na::cat({v[0], v[1].t()}, 1);
      }));
  add(C(
      "stack_dim1",
      [](Data& d) {
        return V{d.normal({2, 3}), d.normal({2, 3}), d.normal({2, 3})};
      },
      [](const V& v) {
        return na::stack({v[0], v[1], v[2]}, 1);
      }));
  add(C(
      "index_select_dim0_repeated",
      [](Data& d) {
        return V{d.normal({4, 3}), Data::index({2, 0, 2}, {3})};
      },
      [](const V& v) { return na::index_select(v[0], 0, v[1]); }));
  add(C(
      "index_select_dim1",
      [](Data& d) {
        return V{d.normal({3, 4}), Data::index({3, 1, 1}, {3})};
      },
      [](const V& v) { return na::index_select(v[0], 1, v[1]); }));
  add(C(
      "gather_dim1",
      [](Data& d) {
        return V{d.normal({3, 4}), Data::index({0, 3, 2, 2, 1, 0}, {3, 2})};
      },
      [](const V& v) { return na::gather(v[0], 1, v[1]); }));
  add(C(
      "gather_dim0",
      [](Data& d) {
        return V{d.normal({3, 4}), Data::index({2, 0, 1, 2, 0, 0, 2, 1}, {2, 4})};
      },
      [](const V& v) { return na::gather(v[0], 0, v[1]); }));
  // Unique indices per row: with duplicates the written value (and so the gradient) is unspecified.
  add(C(
      "scatter",
      [](Data& d) {
        return V{d.normal({3, 5}), Data::index({4, 1, 0, 2, 3, 4}, {3, 2}), d.normal({3, 2})};
      },
      [](const V& v) { return na::scatter(v[0], 1, v[1], v[2]); }));
  add(C(
      "scatter_add_duplicates",
      [](Data& d) {
        return V{d.normal({3, 4}), Data::index({0, 1, 2, 0, 0, 1, 0, 2}, {2, 4}), d.normal({2, 4})};
      },
      [](const V& v) { return na::scatter_add(v[0], 0, v[1], v[2]); }));
  add(C(
      "embedding_weight",
      [](Data& d) {
        return V{d.normal({5, 3}), Data::index({0, 2, 4, 2, 1, 1, 3, 0}, {2, 4})};
      },
      [](const V& v) { return na::embedding(v[0], v[1]); }));

  // ------------------------------------------------------------ conversion, copies, dropout
  add(C(
      "to_f64_noop",
      [](Data& d) {
        return V{d.normal({3, 4})};
      },
      [](const V& v) { return v[0].to(na::kFloat64); }));
  add(C(
      "to_f64_noncontig",
      [](Data& d) {
        return V{d.normal({3, 4})};
      },
      [](const V& v) { return v[0].t().to(na::kFloat64) * 2.0; }));
  {
    // float32 rounding (~1e-7 relative) would swamp a 1e-6 step; the function is linear, so a
    // large step costs nothing.
    GradCase c = C(
        "to_f32_and_back",
        [](Data& d) {
          return V{d.normal({3, 4})};
        },
        [](const V& v) { return v[0].to(na::kFloat32).to(na::kFloat64); });
    c.eps = 1e-2;
    c.atol = 1e-4;
    add(c);
  }
  add(C(
      "clone",
      [](Data& d) {
        return V{d.normal({3, 4})};
      },
      [](const V& v) { return v[0].clone() * v[0]; }));
  // A fresh generator per call: the analytic and every numerical evaluation draw the same mask.
  add(C(
      "dropout_train",
      [](Data& d) {
        return V{d.normal({4, 5})};
      },
      [](const V& v) {
        na::Generator gen(2024);
        return na::dropout(v[0], 0.3, true, &gen);
      }));
  add(C(
      "dropout_eval",
      [](Data& d) {
        return V{d.normal({4, 5})};
      },
      [](const V& v) { return na::dropout(v[0], 0.3, false); }));

  // ------------------------------------------------------------ in-place ops on non-leaves
  add(C(
      "inplace_add_alpha",
      [](Data& d) {
        return V{d.normal({3, 4}), d.normal({3, 4})};
      },
      [](const V& v) {
        Tensor y = v[0] * 1.5;
        y.add_(v[1], 2.0);
        return y;
      }));
  add(C(
      "inplace_sub_broadcast",
      [](Data& d) {
        return V{d.normal({3, 4}), d.normal({4})};
      },
      [](const V& v) {
        Tensor y = v[0] * 1.5;
        y.sub_(v[1]);
        return y;
      }));
  add(C(
      "inplace_mul_tensor",
      [](Data& d) {
        return V{d.normal({3, 4}), d.normal({3, 4})};
      },
      [](const V& v) {
        Tensor y = v[0] + 0.5;
        y.mul_(v[1]);
        return y;
      }));
  add(C(
      "inplace_div_tensor",
      [](Data& d) {
        return V{d.normal({3, 4}), d.away_from_zero({3, 4}, 0.5, 2.0)};
      },
      [](const V& v) {
        Tensor y = v[0] + 0.5;
        y.div_(v[1]);
        return y;
      }));
  add(C(
      "inplace_scalar_chain",
      [](Data& d) {
        return V{d.normal({3, 4})};
      },
      [](const V& v) {
        Tensor y = v[0] * v[0];
        y.mul_(3.0).add_(1.0).div_(2.0).sub_(0.25);
        return y;
      }));
  add(C(
      "inplace_clamp",
      [](Data& d) {
        return V{d.avoiding({3, 4}, {-0.5, 0.5})};
      },
      [](const V& v) {
        Tensor y = v[0] * 1.0;
        y.clamp_(-0.5, 0.5);
        return y;
      }));
  add(C(
      "inplace_masked_fill",
      [](Data& d) {
        return V{d.normal({3, 4}), d.normal({3, 4}, 1.0, false)};
      },
      [](const V& v) {
        Tensor y = v[0] * 2.0;
        y.masked_fill_(v[1] > 0.0, 0.0);
        return y;
      }));
  add(C(
      "inplace_copy",
      [](Data& d) {
        return V{d.normal({3, 4}), d.normal({3, 4})};
      },
      [](const V& v) {
        Tensor y = v[0] * 2.0;
        y.copy_(v[1]);
        return y * v[0];
      }));
  return cs;
}

class GradCheck : public ::testing::TestWithParam<GradCase> {};

TEST_P(GradCheck, MatchesFiniteDifferences) {
  const GradCase& c = GetParam();
  Data data(std::hash<std::string>{}(c.name));
  V inputs = c.inputs(data);
  na_test::GradcheckOptions opt;
  opt.eps = c.eps;
  opt.atol = c.atol;
  opt.rtol = c.rtol;
  opt.name = c.name;
  const na_test::GradcheckResult r = na_test::gradcheck(c.fn, inputs, opt);
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_GT(r.elements_checked, 0);
  // Every row has some non-zero derivative; an all-zero one would pass against a broken op.
  EXPECT_GT(r.max_abs_numeric, 1e-3) << c.name;
}

INSTANTIATE_TEST_SUITE_P(Ops, GradCheck, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<GradCase>& info) { return info.param.name; });

TEST(GradCheckTable, HasOneRowPerOpVariantWithUniqueNames) {
  auto cs = all_cases();
  EXPECT_GE(cs.size(), 65u);
  std::set<std::string> names;
  for (const auto& c : cs) EXPECT_TRUE(names.insert(c.name).second) << "duplicate case " << c.name;
}

// The utility itself must catch a wrong gradient, or every row above proves nothing.
TEST(GradCheckUtility, ReportsAWrongGradientWithItsLocation) {
  // x * detach(x) has analytic gradient x but true derivative 2x.
  Data d(7);
  V in{d.away_from_zero({2, 3}, 0.5, 1.5)};
  auto r = na_test::gradcheck([](const V& v) { return v[0] * v[0].detach(); }, in, 1e-6, 1e-5, 1e-3,
                              "half_square");
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.message.find("half_square"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("input 0"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("analytic"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("numeric"), std::string::npos) << r.message;
  EXPECT_GT(r.max_abs_error, 0.4);  // |x| >= 0.5 everywhere
}

TEST(GradCheckUtility, AcceptsACorrectGradientAndSkipsNonGradInputs) {
  Data d(8);
  V in{d.normal({2, 3}), d.normal({2, 3}, 1.0, false)};
  auto r = na_test::gradcheck([](const V& v) { return v[0] * v[1]; }, in);
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_EQ(r.elements_checked, 6);  // only input 0 requires grad
}

TEST(GradCheckUtility, RejectsNonFloat64Inputs) {
  Tensor x = na::ones({3}, na::TensorOptions(na::kFloat32)).requires_grad_();
  auto r = na_test::gradcheck([](const V& v) { return v[0] * 2.0; }, {x});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.message.find("float64"), std::string::npos) << r.message;
}

// Dropout's gradient is exactly the kept-mask scaled by 1/(1-p): replaying the generator state
// on a tensor of ones yields that scaled mask without assuming how the mask is drawn.
TEST(GradCheckDropout, GradientIsMaskOverKeepProbability) {
  const double p = 0.3;
  Data d(9);
  Tensor x = d.away_from_zero({8, 16}, 0.5, 1.5);
  na::Generator gen(77);
  const std::string state = gen.get_state();
  Tensor y = na::dropout(x, p, true, &gen);
  y.sum().backward();
  ASSERT_TRUE(x.grad().defined());

  gen.set_state(state);
  Tensor scaled_mask = na::dropout(na::ones({8, 16}, na::TensorOptions(na::kFloat64)), p, true, &gen);

  const auto g = x.grad().to_vector<double>();
  const auto m = scaled_mask.to_vector<double>();
  const auto yv = y.to_vector<double>();
  const auto xv = x.to_vector<double>();
  ASSERT_EQ(g.size(), m.size());
  int64_t kept = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    EXPECT_TRUE(m[i] == 0.0 || std::abs(m[i] - 1.0 / (1.0 - p)) < 1e-12)
        << "mask value " << m[i] << " at " << i;
    EXPECT_NEAR(g[i], m[i], 1e-12) << "element " << i;
    // The forward used the same mask as the gradient.
    EXPECT_NEAR(yv[i], xv[i] * m[i], 1e-12) << "element " << i;
    kept += m[i] != 0.0;
  }
  // 128 draws at keep probability 0.7: both outcomes must occur (the chance of either count
  // being 0 is below 1e-20), so the test cannot pass on an all-keep or all-drop mask.
  EXPECT_GT(kept, 0);
  EXPECT_LT(kept, static_cast<int64_t>(g.size()));
}

}  // namespace
