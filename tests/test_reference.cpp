// neural_arch against PyTorch: every case in tests/reference/data (written by
// tests/reference/generate.py) is recomputed here and compared, forward values and, where the
// file stores them, the gradients of each input for the stored upstream gradient `gout`.
//
// Adding a case: a builder in generate.py and one line in all_ops() (or unary_ops())
// below with the same name.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "neural_arch/autograd.hpp"
#include "neural_arch/ops.hpp"
#include "neural_arch/tensor.hpp"
#include "reference_data.hpp"

namespace {

namespace na = neural_arch;
using na_reference::RefCase;
using Outputs = std::vector<std::pair<std::string, na::Tensor>>;

// ------------------------------------------------------------------ comparison
struct Tol {
  double rtol;
  double atol;
};
// float64 cases differ from PyTorch only by summation order and libm rounding.
constexpr Tol kF64Tol{1e-9, 1e-12};
constexpr Tol kF32Tol{1e-5, 1e-6};
constexpr Tol kExact{0.0, 0.0};

Tol default_tol(na::DType t) {
  if (t == na::DType::f64) return kF64Tol;
  if (t == na::DType::f32) return kF32Tol;
  return kExact;
}

std::string shape_text(const na::Shape& s) {
  std::ostringstream os;
  os << '(';
  for (size_t i = 0; i < s.size(); ++i) os << (i ? "," : "") << s[i];
  if (s.size() == 1) os << ',';
  os << ')';
  return os.str();
}

/// Same dtype, same shape and |actual - expected| <= atol + rtol*|expected| everywhere
/// (NaN matches NaN, infinities must match exactly).
::testing::AssertionResult matches(const na::Tensor& actual, const na::Tensor& expected, Tol tol) {
  if (!actual.defined()) return ::testing::AssertionFailure() << "result is an undefined tensor";
  const std::string shapes = "actual " + shape_text(actual.shape()) + " " + na::dtype_name(actual.dtype()) +
                             ", expected " + shape_text(expected.shape()) + " " +
                             na::dtype_name(expected.dtype());
  if (actual.dtype() != expected.dtype() || actual.shape() != expected.shape())
    return ::testing::AssertionFailure() << "dtype or shape differs: " << shapes;
  const std::vector<double> a = actual.to_vector<double>();
  const std::vector<double> e = expected.to_vector<double>();
  if (a.size() != e.size())
    return ::testing::AssertionFailure()
           << "to_vector() gave " << a.size() << " values for " << e.size() << " elements: " << shapes;
  size_t bad = 0;
  size_t worst = 0;
  double max_diff = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    bool ok;
    double diff;
    if (std::isnan(e[i]) || std::isnan(a[i])) {
      ok = std::isnan(e[i]) && std::isnan(a[i]);
      diff = ok ? 0.0 : INFINITY;
    } else if (std::isinf(e[i]) || std::isinf(a[i])) {
      ok = a[i] == e[i];
      diff = ok ? 0.0 : INFINITY;
    } else {
      diff = std::abs(a[i] - e[i]);
      ok = diff <= tol.atol + tol.rtol * std::abs(e[i]);
    }
    if (!ok) {
      if (bad == 0 || diff > max_diff) worst = i;
      ++bad;
    }
    if (diff > max_diff) max_diff = diff;
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  std::ostringstream os;
  os.precision(17);
  os << bad << " of " << a.size() << " elements differ beyond rtol=" << tol.rtol << " atol=" << tol.atol
     << "; max |diff| = " << max_diff << "; worst at flat index " << worst << ": actual " << a[worst]
     << ", expected " << e[worst] << "; " << shapes;
  if (a.size() <= 24) {
    os << "\n  actual:   ";
    for (double v : a) os << v << ' ';
    os << "\n  expected: ";
    for (double v : e) os << v << ' ';
  }
  return ::testing::AssertionFailure() << os.str();
}

// ------------------------------------------------------------------ case runner
/// Hands a case's stored inputs to the op under test. An input whose gradient the file
/// stores becomes a fresh leaf that requires grad; asking twice gives the same tensor.
class Inputs {
 public:
  explicit Inputs(const RefCase& c) : c_(c) {}
  na::Tensor operator()(const std::string& name) {
    for (const auto& [n, t] : used_)
      if (n == name) return t;
    na::Tensor t = c_.at(name);
    if (c_.has("grad_" + name)) {
      t = t.clone();
      t.requires_grad_();
    }
    used_.emplace_back(name, t);
    return t;
  }
  const std::vector<std::pair<std::string, na::Tensor>>& used() const { return used_; }

 private:
  const RefCase& c_;
  std::vector<std::pair<std::string, na::Tensor>> used_;
};

struct RefOp {
  std::string name;
  std::function<Outputs(Inputs&)> fn;
  std::optional<Tol> tol = std::nullopt;  // default: by dtype (default_tol)
};

Outputs out(const na::Tensor& t) { return {{"out", t}}; }

void run_case(const RefOp& op) {
  const RefCase c = na_reference::load_reference(op.name);
  Inputs in(c);
  const Outputs outs = op.fn(in);
  std::set<std::string> accounted;
  for (const auto& [n, t] : in.used()) accounted.insert(n);

  for (const auto& [name, actual] : outs) {
    const na::Tensor& expected = c.at(name);
    EXPECT_TRUE(matches(actual, expected, op.tol.value_or(default_tol(expected.dtype()))))
        << "case " << op.name << ", output '" << name << "'";
    accounted.insert(name);
  }

  if (c.has("gout")) {
    accounted.insert("gout");
    auto it = std::find_if(outs.begin(), outs.end(), [](const auto& p) { return p.first == "out"; });
    ASSERT_NE(it, outs.end()) << "case " << op.name << " stores gout but the test returns no 'out'";
    std::vector<na::Tensor> leaves;
    std::vector<std::string> names;
    for (const auto& [n, t] : in.used()) {
      if (!c.has("grad_" + n)) continue;
      leaves.push_back(t);
      names.push_back(n);
    }
    ASSERT_FALSE(leaves.empty()) << "case " << op.name << " stores gout but no used input has a grad_";
    const std::vector<na::Tensor> grads = na::autograd::grad({it->second}, leaves, {c.at("gout")});
    ASSERT_EQ(grads.size(), leaves.size()) << "case " << op.name;
    for (size_t i = 0; i < grads.size(); ++i) {
      const na::Tensor& expected = c.at("grad_" + names[i]);
      EXPECT_TRUE(matches(grads[i], expected, op.tol.value_or(default_tol(expected.dtype()))))
          << "case " << op.name << ", gradient of input '" << names[i] << "'";
      accounted.insert("grad_" + names[i]);
    }
  }

  // A stored tensor nobody looked at means this table and generate.py have drifted apart.
  for (const auto& [n, t] : c.tensors())
    EXPECT_TRUE(accounted.count(n)) << "case " << op.name << ": stored tensor '" << n
                                    << "' is neither an input used by the test, an output it returns, "
                                       "nor a gradient it checks";
}

// ------------------------------------------------------------------ the cases
// Same names, same arguments as the builders in tests/reference/generate.py.
std::vector<RefOp> unary_ops() {
  using Fn = std::function<na::Tensor(const na::Tensor&)>;
  const std::vector<std::pair<std::string, Fn>> table = {
      {"neg", [](const na::Tensor& x) { return na::neg(x); }},
      {"exp", [](const na::Tensor& x) { return na::exp(x); }},
      {"log", [](const na::Tensor& x) { return na::log(x); }},
      {"log1p", [](const na::Tensor& x) { return na::log1p(x); }},
      {"sqrt", [](const na::Tensor& x) { return na::sqrt(x); }},
      {"rsqrt", [](const na::Tensor& x) { return na::rsqrt(x); }},
      {"abs", [](const na::Tensor& x) { return na::abs(x); }},
      {"sign", [](const na::Tensor& x) { return na::sign(x); }},
      {"sin", [](const na::Tensor& x) { return na::sin(x); }},
      {"cos", [](const na::Tensor& x) { return na::cos(x); }},
      {"tanh", [](const na::Tensor& x) { return na::tanh(x); }},
      {"sigmoid", [](const na::Tensor& x) { return na::sigmoid(x); }},
      {"relu", [](const na::Tensor& x) { return na::relu(x); }},
      {"leaky_relu", [](const na::Tensor& x) { return na::leaky_relu(x, 0.2); }},
      {"gelu", [](const na::Tensor& x) { return na::gelu(x, "none"); }},
      {"gelu_tanh", [](const na::Tensor& x) { return na::gelu(x, "tanh"); }},
      {"silu", [](const na::Tensor& x) { return na::silu(x); }},
      {"softplus", [](const na::Tensor& x) { return na::softplus(x, 2.0, 3.0); }},
      {"erf", [](const na::Tensor& x) { return na::erf(x); }},
  };
  const std::set<std::string> f32_also = {"exp",       "log",  "tanh",     "sigmoid", "gelu",
                                          "gelu_tanh", "silu", "softplus", "erf",     "rsqrt"};
  std::vector<RefOp> ops;
  for (const auto& [name, fn] : table) {
    ops.push_back({"unary_" + name, [fn = fn](Inputs& in) { return out(fn(in("x"))); }});
    if (f32_also.count(name))
      ops.push_back({"f32_unary_" + name, [fn = fn](Inputs& in) { return out(fn(in("x"))); }});
  }
  return ops;
}

std::vector<RefOp> all_ops() {
  std::vector<RefOp> ops = {
      // --- elementwise binary
      {"add_broadcast", [](Inputs& in) { return out(na::add(in("x"), in("y"))); }},
      {"add_alpha", [](Inputs& in) { return out(na::add(in("x"), in("y"), 2.5)); }},
      {"sub_broadcast", [](Inputs& in) { return out(na::sub(in("x"), in("y"))); }},
      {"sub_alpha", [](Inputs& in) { return out(na::sub(in("x"), in("y"), -0.5)); }},
      {"mul_broadcast", [](Inputs& in) { return out(in("x") * in("y")); }},
      {"mul_scalar_tensor_0d", [](Inputs& in) { return out(in("x") * in("y")); }},
      {"div_broadcast", [](Inputs& in) { return out(in("x") / in("y")); }},
      {"pow_tensor", [](Inputs& in) { return out(na::pow(in("x"), in("y"))); }},
      {"pow_scalar_int", [](Inputs& in) { return out(na::pow(in("x"), na::Scalar(3))); }},
      {"pow_scalar_float", [](Inputs& in) { return out(na::pow(in("x"), na::Scalar(2.5))); }},
      {"pow_scalar_negative", [](Inputs& in) { return out(na::pow(in("x"), na::Scalar(-1.5))); }},
      {"maximum_broadcast", [](Inputs& in) { return out(na::maximum(in("x"), in("y"))); }},
      {"minimum_broadcast", [](Inputs& in) { return out(na::minimum(in("x"), in("y"))); }},
      {"comparisons",
       [](Inputs& in) {
         auto x = in("x"), y = in("y");
         return Outputs{{"eq", na::eq(x, y)}, {"ne", na::ne(x, y)}, {"lt", na::lt(x, y)},
                        {"le", na::le(x, y)}, {"gt", na::gt(x, y)}, {"ge", na::ge(x, y)}};
       }},
      {"comparisons_mixed_dtype",
       [](Inputs& in) {
         auto x = in("x"), y = in("y");
         return Outputs{{"eq", x == y}, {"lt", x < y}, {"ge", x >= y}};
       }},
      {"logical_ops",
       [](Inputs& in) {
         auto a = in("a"), b = in("b"), x = in("x");
         return Outputs{{"and_", na::logical_and(a, b)},      {"or_", na::logical_or(a, b)},
                        {"xor_", na::logical_xor(a, b)},      {"not_a", na::logical_not(a)},
                        {"and_float", na::logical_and(x, b)}, {"not_float", na::logical_not(x)}};
       }},
      {"where_broadcast", [](Inputs& in) { return out(na::where(in("cond"), in("x"), in("y"))); }},
      {"masked_fill_broadcast", [](Inputs& in) { return out(na::masked_fill(in("x"), in("mask"), -1.5)); }},
      {"clamp_both", [](Inputs& in) { return out(na::clamp(in("x"), na::Scalar(-0.5), na::Scalar(0.7))); }},
      {"clamp_min_only", [](Inputs& in) { return out(na::clamp(in("x"), na::Scalar(-0.3), std::nullopt)); }},
      {"clamp_max_only", [](Inputs& in) { return out(na::clamp(in("x"), std::nullopt, na::Scalar(0.25))); }},
      {"int_unary_dtypes",
       [](Inputs& in) {
         auto x = in("x");
         return Outputs{{"sqrt", na::sqrt(x)}, {"exp", na::exp(x)}, {"abs", na::abs(x)}, {"neg", na::neg(x)}};
       }},

      // --- reductions
      {"sum_dims",
       [](Inputs& in) {
         return out(na::sum(in("x"), {0, 2}));
       }},
      {"sum_keepdim_negative_dim", [](Inputs& in) { return out(na::sum(in("x"), {-1}, true)); }},
      {"sum_all", [](Inputs& in) { return out(na::sum(in("x"))); }},
      {"sum_integer_and_bool",
       [](Inputs& in) {
         auto x = in("x"), b = in("b");
         return Outputs{{"sum_int", na::sum(x, {1})}, {"sum_bool", na::sum(b)}, {"sum_int_all", na::sum(x)}};
       }},
      {"mean_dims",
       [](Inputs& in) {
         return out(na::mean(in("x"), {1, 2}));
       }},
      {"mean_all_keepdim",
       [](Inputs& in) {
         return out(na::mean(in("x"), {0, 1}, true));
       }},
      {"var_dim_unbiased", [](Inputs& in) { return out(na::var(in("x"), {1})); }},
      {"var_dims_correction0_keepdim",
       [](Inputs& in) {
         return out(na::var(in("x"), {0, 2}, 0, true));
       }},
      {"var_all", [](Inputs& in) { return out(na::var(in("x"))); }},
      {"std_dim", [](Inputs& in) { return out(na::std(in("x"), {2})); }},
      {"std_all_correction0", [](Inputs& in) { return out(na::std(in("x"), {}, 0)); }},
      {"max_dim",
       [](Inputs& in) {
         auto r = na::max(in("x"), 1);
         return Outputs{{"out", r.values}, {"indices", r.indices}};
       }},
      {"min_dim_keepdim",
       [](Inputs& in) {
         auto r = na::min(in("x"), 0, true);
         return Outputs{{"out", r.values}, {"indices", r.indices}};
       }},
      {"max_all", [](Inputs& in) { return out(na::max(in("x"))); }},
      {"min_all", [](Inputs& in) { return out(na::min(in("x"))); }},
      {"argmax_argmin",
       [](Inputs& in) {
         auto x = in("x");
         return Outputs{{"argmax_dim1", na::argmax(x, 1)},
                        {"argmax_all", na::argmax(x)},
                        {"argmin_dim0_keepdim", na::argmin(x, 0, true)},
                        {"argmin_all", na::argmin(x)}};
       }},
      {"argmax_ties_first",
       [](Inputs& in) {
         auto x = in("x");
         return Outputs{{"argmax", na::argmax(x, 1)}, {"argmin", na::argmin(x, 1)}};
       }},
      {"logsumexp_dim", [](Inputs& in) { return out(na::logsumexp(in("x"), {1})); }},
      {"logsumexp_large_keepdim",
       [](Inputs& in) {
         return out(na::logsumexp(in("x"), {0, 2}, true));
       }},
      {"prod_dim", [](Inputs& in) { return out(na::prod(in("x"), 1)); }},
      {"prod_all", [](Inputs& in) { return out(na::prod(in("x"))); }},
      {"prod_with_zeros", [](Inputs& in) { return out(na::prod(in("x"), 1, true)); }},
      {"softmax_dim1", [](Inputs& in) { return out(na::softmax(in("x"), 1)); }},
      {"softmax_dim0_large", [](Inputs& in) { return out(na::softmax(in("x"), 0)); }},
      {"log_softmax_last", [](Inputs& in) { return out(na::log_softmax(in("x"), -1)); }},

      // --- linear algebra
      {"matmul_dot", [](Inputs& in) { return out(na::matmul(in("a"), in("b"))); }},
      {"matmul_2d", [](Inputs& in) { return out(na::matmul(in("a"), in("b"))); }},
      {"matmul_batched_broadcast", [](Inputs& in) { return out(na::matmul(in("a"), in("b"))); }},
      {"matmul_1d_nd", [](Inputs& in) { return out(na::matmul(in("a"), in("b"))); }},
      {"matmul_nd_1d", [](Inputs& in) { return out(na::matmul(in("a"), in("b"))); }},
      {"matmul_2d_1d", [](Inputs& in) { return out(na::matmul(in("a"), in("b"))); }},
      {"mm", [](Inputs& in) { return out(na::mm(in("a"), in("b"))); }},
      {"bmm", [](Inputs& in) { return out(na::bmm(in("a"), in("b"))); }},
      {"linear_bias", [](Inputs& in) { return out(na::linear(in("x"), in("w"), in("b"))); }},
      {"linear_no_bias", [](Inputs& in) { return out(na::linear(in("x"), in("w"))); }},
      {"outer", [](Inputs& in) { return out(na::outer(in("a"), in("b"))); }},
      {"f32_matmul_batched", [](Inputs& in) { return out(na::matmul(in("a"), in("b"))); }},
      {"f32_linear_bias", [](Inputs& in) { return out(na::linear(in("x"), in("w"), in("b"))); }},
      {"f32_reductions",
       [](Inputs& in) {
         auto x = in("x");
         return Outputs{{"sum", na::sum(x, {1})},
                        {"mean", na::mean(x)},
                        {"var", na::var(x, {0})},
                        {"std", na::std(x, {1}, 1, true)},
                        {"logsumexp", na::logsumexp(x, {1})},
                        {"softmax", na::softmax(x, 1)},
                        {"log_softmax", na::log_softmax(x, 0)}};
       }},

      // --- shape and indexing
      {"cat_dim1",
       [](Inputs& in) {
         return out(na::cat({in("a"), in("b"), in("c")}, 1));
       }},
      {"cat_negative_dim",
       [](Inputs& in) {
         return out(na::cat({in("a"), in("b")}, -1));
       }},
      {"stack_dim1",
       [](Inputs& in) {
         return out(na::stack({in("a"), in("b"), in("c")}, 1));
       }},
      {"index_select_repeated", [](Inputs& in) { return out(na::index_select(in("x"), 1, in("index"))); }},
      {"gather_dim1", [](Inputs& in) { return out(na::gather(in("x"), 1, in("index"))); }},
      {"gather_dim0", [](Inputs& in) { return out(na::gather(in("x"), 0, in("index"))); }},
      {"scatter_dim1", [](Inputs& in) { return out(na::scatter(in("x"), 1, in("index"), in("src"))); }},
      {"scatter_add_dim1",
       [](Inputs& in) { return out(na::scatter_add(in("x"), 1, in("index"), in("src"))); }},
      {"scatter_add_dim0",
       [](Inputs& in) { return out(na::scatter_add(in("x"), 0, in("index"), in("src"))); }},
      {"embedding_repeated", [](Inputs& in) { return out(na::embedding(in("w"), in("indices"))); }},

      // --- non-contiguous inputs (views of the leaf; the gradient is the leaf's)
      {"transpose_mul", [](Inputs& in) { return out(in("x").t() * in("y")); }},
      {"transpose_matmul", [](Inputs& in) { return out(na::matmul(in("a").t(), in("b"))); }},
      {"permute_exp_sum",
       [](Inputs& in) {
         return out(na::sum(na::exp(in("x").permute({2, 0, 1})), {1}));
       }},
      {"narrow_matmul", [](Inputs& in) { return out(na::matmul(in("x").narrow(0, 1, 3), in("w"))); }},
      {"slice_step_add", [](Inputs& in) { return out(in("x").slice(0, 0, 6, 2) + in("y")); }},
      {"expand_mul",
       [](Inputs& in) {
         return out(in("x").expand({3, 4}) * in("y"));
       }},
      {"transpose_softmax", [](Inputs& in) { return out(na::softmax(in("x").t(), 1)); }},
      {"select_sum_keepdim", [](Inputs& in) { return out(na::sum(in("x").select(1, 2), {0}, true)); }},

      // --- creation
      {"creation",
       [](Inputs&) {
         return Outputs{
             {"linspace_f64", na::linspace(-1.0, 2.0, 7, na::kFloat64)},
             {"linspace_f32", na::linspace(0.0, 1.0, 5)},
             {"linspace_one", na::linspace(3.0, 5.0, 1)},
             {"arange_int", na::arange(10)},
             {"arange_int_step", na::arange(-3, 7, 2)},
             {"arange_float", na::arange(-1.0, 1.25, 0.25)},
             {"arange_float_f64_step", na::arange(0.0, 1.0, 0.3, na::TensorOptions(na::kFloat64))},
             {"eye_square", na::eye(3)},
             {"eye_rect_f64", na::eye(2, 4, na::kFloat64)},
         };
       }},

      // --- type promotion (PyTorch's lattice, 0-d tensors and wrapped numbers)
      {"type_promotion",
       [](Inputs& in) {
         auto i64 = in("i64"), i32 = in("i32"), f32 = in("f32"), f64 = in("f64"), b = in("b"), u8 = in("u8");
         auto f64_0d = in("f64_0d"), i64_0d = in("i64_0d");
         return Outputs{
             {"i64_add_f32", i64 + f32},
             {"i64_div_i64", i64 / (i64 + 10)},
             {"b_add_i64", b + i64},
             {"i32_mul_i64", i32 * i64},
             {"f32_add_f64", f32 + f64},
             {"i64_mul_float_scalar", i64 * 2.5},
             {"i32_add_int_scalar", i32 + 5},
             {"f32_add_f64_0d", f32 + f64_0d},
             {"i64_add_f64_0d", i64 + f64_0d},
             {"i32_add_i64_0d", i32 + i64_0d},
             {"u8_add_b", u8 + b},
         };
       }},
  };
  for (auto& op : unary_ops()) ops.push_back(std::move(op));
  return ops;
}

const std::vector<RefOp>& ops_table() {
  static const std::vector<RefOp> ops = all_ops();
  return ops;
}

// One GoogleTest (and so one CTest) case per reference file, named Reference.<case>.
// Registered by hand rather than with TEST_P so that CTest names carry no parameter index.
class ReferenceCase : public ::testing::Test {
 public:
  explicit ReferenceCase(size_t index) : index_(index) {}
  void TestBody() override { run_case(ops_table()[index_]); }

 private:
  size_t index_;
};

[[maybe_unused]] const bool kReferenceCasesRegistered = [] {
  for (size_t i = 0; i < ops_table().size(); ++i)
    ::testing::RegisterTest("Reference", ops_table()[i].name.c_str(), nullptr, nullptr, __FILE__, __LINE__,
                            [i]() -> ReferenceCase* { return new ReferenceCase(i); });
  return true;
}();

// Every data file has a case here and vice versa, so a case dropped on either side is noticed.
TEST(ReferenceCoverage, every_data_file_has_a_test) {
  std::set<std::string> in_table;
  for (const auto& op : ops_table()) {
    EXPECT_TRUE(in_table.insert(op.name).second) << "case " << op.name << " listed twice";
    EXPECT_TRUE(std::filesystem::exists(na_reference::reference_path(op.name)))
        << "no data file for case " << op.name;
  }
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(NA_REFERENCE_DIR)) {
    if (entry.path().extension() != ".bin") continue;
    ++files;
    EXPECT_TRUE(in_table.count(entry.path().stem().string()))
        << entry.path() << " has no test case in test_reference.cpp";
  }
  EXPECT_GE(files, 45u);
}

// ------------------------------------------------------------------ the loader itself
std::string header(const std::string& lines) { return "NAREF 1\n" + lines + "data\n"; }

std::string f64_bytes(std::initializer_list<double> values) {
  std::string s;
  for (double v : values) s.append(reinterpret_cast<const char*>(&v), sizeof v);
  return s;
}

TEST(ReferenceLoader, parses_a_well_formed_file) {
  std::string bytes = header("tensor a float64 2 1 2\ntensor flag bool 0\ntensor e int32 1 0\n") +
                      f64_bytes({1.5, -2.25}) + std::string(1, '\1');
  RefCase c = na_reference::parse_reference(bytes, "inline");
  ASSERT_EQ(c.tensors().size(), 3u);
  const na::Tensor& a = c.at("a");
  EXPECT_EQ(a.dtype(), na::kFloat64);
  EXPECT_EQ(a.shape(), (na::Shape{1, 2}));
  EXPECT_EQ(a.to_vector<double>(), (std::vector<double>{1.5, -2.25}));
  EXPECT_EQ(c.at("flag").dtype(), na::kBool);
  EXPECT_EQ(c.at("flag").dim(), 0);
  EXPECT_EQ(c.at("e").numel(), 0);
}

TEST(ReferenceLoader, rejects_malformed_files) {
  const std::string two = f64_bytes({1.0, 2.0});
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"empty file", ""},
      {"wrong magic", "NAREF 2\ntensor a float64 1 2\ndata\n" + two},
      {"no data line", "NAREF 1\ntensor a float64 1 2\n"},
      {"unterminated header", "NAREF 1\ntensor a float64 1 2"},
      {"truncated data", header("tensor a float64 1 2\n") + two.substr(0, 12)},
      {"trailing data", header("tensor a float64 1 2\n") + two + "x"},
      {"unknown dtype", header("tensor a float128 1 2\n") + two},
      {"ndim and sizes disagree", header("tensor a float64 2 2\n") + two},
      {"negative size", header("tensor a float64 1 -2\n") + two},
      {"non-numeric size", header("tensor a float64 1 2x\n") + two},
      {"ndim too large", header("tensor a float64 99 2\n") + two},
      {"size overflow", header("tensor a float64 2 4611686018427387904 4611686018427387904\n") + two},
      {"duplicate name", header("tensor a float64 1 1\ntensor a float64 1 1\n") + two},
      {"bool byte not 0 or 1", header("tensor m bool 1 2\n") + std::string("\1\2")},
      {"unknown line", header("weights a float64 1 2\n") + two},
  };
  for (const auto& [what, bytes] : bad) {
    try {
      na_reference::parse_reference(bytes, what);
      ADD_FAILURE() << "accepted a file with: " << what;
    } catch (const na::Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind("[reference]", 0), 0u) << e.what();
    }
  }
}

TEST(ReferenceLoader, missing_file_and_missing_tensor_are_errors) {
  EXPECT_THROW(na_reference::load_reference("no_such_case"), na::Error);
  RefCase c = na_reference::parse_reference(header("tensor a float64 1 1\n") + f64_bytes({3.0}), "inline");
  EXPECT_THROW(c.at("b"), na::Error);
}

}  // namespace
