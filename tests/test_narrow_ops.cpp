// Every elementwise and reduction op on f16 and bf16 tensors: the result keeps the narrow dtype
// and equals the op computed in f32 on the widened input, rounded once (the "opmath" rule), and
// gradients come back in the inputs' narrow dtype. matmul/linear in bf16 (oneDNN, f32
// accumulation) against the f32 result within bf16 rounding.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "neural_arch/autograd.hpp"
#include "neural_arch/nn/linear.hpp"
#include "neural_arch/ops.hpp"
#include "neural_arch/random.hpp"
#include "test_util.hpp"

namespace {

namespace na = neural_arch;
using na::DType;
using na::Tensor;

using Unary = std::function<Tensor(const Tensor&)>;
using Binary = std::function<Tensor(const Tensor&, const Tensor&)>;

const std::vector<std::pair<std::string, Unary>>& unary_ops() {
  static const std::vector<std::pair<std::string, Unary>> ops = {
      {"neg", [](const Tensor& x) { return na::neg(x); }},
      {"exp", [](const Tensor& x) { return na::exp(x); }},
      {"log", [](const Tensor& x) { return na::log(na::abs(x)); }},
      {"log1p", [](const Tensor& x) { return na::log1p(na::abs(x)); }},
      {"sqrt", [](const Tensor& x) { return na::sqrt(na::abs(x)); }},
      {"rsqrt", [](const Tensor& x) { return na::rsqrt(na::abs(x)); }},
      {"abs", [](const Tensor& x) { return na::abs(x); }},
      {"sign", [](const Tensor& x) { return na::sign(x); }},
      {"sin", [](const Tensor& x) { return na::sin(x); }},
      {"cos", [](const Tensor& x) { return na::cos(x); }},
      {"tanh", [](const Tensor& x) { return na::tanh(x); }},
      {"sigmoid", [](const Tensor& x) { return na::sigmoid(x); }},
      {"relu", [](const Tensor& x) { return na::relu(x); }},
      {"leaky_relu", [](const Tensor& x) { return na::leaky_relu(x, 0.1); }},
      {"gelu", [](const Tensor& x) { return na::gelu(x); }},
      {"gelu_tanh", [](const Tensor& x) { return na::gelu(x, "tanh"); }},
      {"silu", [](const Tensor& x) { return na::silu(x); }},
      {"softplus", [](const Tensor& x) { return na::softplus(x); }},
      {"erf", [](const Tensor& x) { return na::erf(x); }},
      {"clamp", [](const Tensor& x) { return na::clamp(x, -0.5, 0.5); }},
      {"pow_scalar", [](const Tensor& x) { return na::pow(x, 2.5); }},
      {"sum", [](const Tensor& x) { return na::sum(x); }},
      {"sum_dim0", [](const Tensor& x) { return na::sum(x, {0}); }},
      {"sum_dim1", [](const Tensor& x) { return na::sum(x, {1}, true); }},
      {"mean", [](const Tensor& x) { return na::mean(x, {1}); }},
      {"var", [](const Tensor& x) { return na::var(x, {1}); }},
      {"std", [](const Tensor& x) { return na::std(x, {0}); }},
      {"prod", [](const Tensor& x) { return na::prod(x, 1); }},
      {"logsumexp", [](const Tensor& x) { return na::logsumexp(x, {1}); }},
      {"max", [](const Tensor& x) { return na::max(x); }},
      {"min", [](const Tensor& x) { return na::min(x); }},
      {"max_dim", [](const Tensor& x) { return na::max(x, 1).values; }},
      {"min_dim", [](const Tensor& x) { return na::min(x, 0).values; }},
      {"softmax", [](const Tensor& x) { return na::softmax(x, 1); }},
      {"log_softmax", [](const Tensor& x) { return na::log_softmax(x, 0); }},
      {"sum_transposed", [](const Tensor& x) { return na::sum(x.t(), {1}); }},
      {"exp_transposed", [](const Tensor& x) { return na::exp(x.t()); }},  // strided operands
      {"silu_sliced", [](const Tensor& x) { return na::silu(x.narrow(1, 1, x.size(1) - 2)); }},
  };
  return ops;
}

const std::vector<std::pair<std::string, Binary>>& binary_ops() {
  static const std::vector<std::pair<std::string, Binary>> ops = {
      {"add", [](const Tensor& a, const Tensor& b) { return na::add(a, b, 0.5); }},
      {"sub", [](const Tensor& a, const Tensor& b) { return na::sub(a, b); }},
      {"mul", [](const Tensor& a, const Tensor& b) { return na::mul(a, b); }},
      {"div", [](const Tensor& a, const Tensor& b) { return na::div(a, b); }},
      {"pow", [](const Tensor& a, const Tensor& b) { return na::pow(na::abs(a), b); }},
      {"maximum", [](const Tensor& a, const Tensor& b) { return na::maximum(a, b); }},
      {"minimum", [](const Tensor& a, const Tensor& b) { return na::minimum(a, b); }},
      {"broadcast_add", [](const Tensor& a, const Tensor& b) { return na::add(a, b.narrow(0, 0, 1)); }},
      {"mul_transposed", [](const Tensor& a, const Tensor& b) { return na::mul(a.t(), b.t()); }},
      {"div_column_broadcast",
       [](const Tensor& a, const Tensor& b) { return na::div(a, b.narrow(1, 0, 1)); }},
      {"where", [](const Tensor& a, const Tensor& b) { return na::where(na::gt(a, b), a, b); }},
  };
  return ops;
}

// Bitwise equality of two tensors of the same dtype and shape (NaN matches NaN).
::testing::AssertionResult same_bits(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape())
    return ::testing::AssertionFailure()
           << "dtype/shape " << na::dtype_name(a.dtype()) << na::shape_str(a.shape()) << " vs "
           << na::dtype_name(b.dtype()) << na::shape_str(b.shape());
  Tensor af = a.to(DType::f32).contiguous(), bf = b.to(DType::f32).contiguous();
  const float* x = af.data_ptr<float>();
  const float* y = bf.data_ptr<float>();
  for (int64_t i = 0; i < af.numel(); ++i)
    if (!(x[i] == y[i] || (std::isnan(x[i]) && std::isnan(y[i]))))
      return ::testing::AssertionFailure() << "element " << i << ": " << x[i] << " vs " << y[i];
  return ::testing::AssertionSuccess();
}

class NarrowOps : public ::testing::TestWithParam<DType> {};

TEST_P(NarrowOps, UnaryAndReductionOpsComputeInF32AndStoreNarrow) {
  const DType t = GetParam();
  na::manual_seed(3);
  // 37 x 41: odd sizes so vector tails and non-contiguous reductions run.
  Tensor x = na::randn({37, 41}).to(t);
  for (const auto& [name, op] : unary_ops()) {
    SCOPED_TRACE(name);
    Tensor got = op(x);
    EXPECT_EQ(got.dtype(), t);
    EXPECT_TRUE(same_bits(got, op(x.to(DType::f32)).to(t)));
  }
}

TEST_P(NarrowOps, BinaryOpsComputeInF32AndStoreNarrow) {
  const DType t = GetParam();
  na::manual_seed(4);
  Tensor a = na::randn({37, 41}).to(t), b = na::randn({37, 41}).to(t);
  for (const auto& [name, op] : binary_ops()) {
    SCOPED_TRACE(name);
    Tensor got = op(a, b);
    EXPECT_EQ(got.dtype(), t);
    EXPECT_TRUE(same_bits(got, op(a.to(DType::f32), b.to(DType::f32)).to(t)));
  }
  // Mixed with f32: the wider type wins (PyTorch promotion); with a Python-like scalar: narrow.
  EXPECT_EQ(na::add(a, b.to(DType::f32)).dtype(), DType::f32);
  EXPECT_EQ(na::mul(a, na::scalar_tensor(2.0)).dtype(), t);
}

TEST_P(NarrowOps, GradientsComeBackInTheInputDtype) {
  const DType t = GetParam();
  na::manual_seed(5);
  for (const auto& [name, op] : unary_ops()) {
    if (name == "sign" || name == "max" || name == "min" || name == "max_dim" || name == "min_dim") continue;
    SCOPED_TRACE(name);
    Tensor x = na::randn({5, 7}).to(t);
    x.requires_grad_(true);
    na::sum(op(x)).backward();
    ASSERT_TRUE(x.grad().defined());
    EXPECT_EQ(x.grad().dtype(), t);
  }
}

TEST_P(NarrowOps, MatmulAndLinearMatchF32WithinNarrowRounding) {
  const DType t = GetParam();
  na::manual_seed(6);
  // Inputs exactly representable in the narrow type, so only the output rounding differs.
  Tensor a = na::randn({2, 33, 65}).to(t), b = na::randn({65, 47}).to(t), w = na::randn({47, 65}).to(t),
         bias = na::randn({47}).to(t);
  const double eps = t == DType::bf16 ? 0x1p-8 : 0x1p-11;  // half an ulp, relative
  Tensor ref = na::matmul(a.to(DType::f32), b.to(DType::f32));
  Tensor got = na::matmul(a, b);
  EXPECT_EQ(got.dtype(), t);
  EXPECT_TRUE(na_test::close(got.to(DType::f32), ref, eps, 1e-5, "matmul"));
  Tensor lref = na::linear(a.to(DType::f32), w.to(DType::f32), bias.to(DType::f32));
  Tensor lgot = na::linear(a, w, bias);
  EXPECT_EQ(lgot.dtype(), t);
  // The bias is added before the single rounding, as in f32.
  EXPECT_TRUE(na_test::close(lgot.to(DType::f32), lref, eps, 1e-5, "linear"));
  // Transposed and batched operands take other GEMM layouts.
  Tensor a3 = na::randn({3, 33, 65}).to(t), bt = na::randn({3, 47, 65}).to(t);
  EXPECT_TRUE(na_test::close(na::bmm(a3, bt.transpose(1, 2)).to(DType::f32),
                             na::bmm(a3.to(DType::f32), bt.to(DType::f32).transpose(1, 2)), eps, 1e-5,
                             "bmm"));
  // Backward in the narrow type.
  Tensor x = a.clone(), wl = w.clone();
  x.requires_grad_(true);
  wl.requires_grad_(true);
  na::sum(na::linear(x, wl)).backward();
  EXPECT_EQ(x.grad().dtype(), t);
  EXPECT_EQ(wl.grad().dtype(), t);
  Tensor xf = a.to(DType::f32), wf = w.to(DType::f32);
  xf.requires_grad_(true);
  wf.requires_grad_(true);
  na::sum(na::linear(xf, wf)).backward();
  // grad_W sums 66 rows of bf16 products: f32 accumulation, one rounding.
  EXPECT_TRUE(na_test::close(wl.grad().to(DType::f32), wf.grad(), eps, 1e-4, "grad_W"));
}

TEST_P(NarrowOps, ModuleToNarrowDtypeTrainsInIt) {
  const DType t = GetParam();
  na::manual_seed(7);
  auto lin = std::make_shared<na::nn::Linear>(16, 4);
  Tensor w32 = lin->weight.to(DType::f32);
  lin->to(t);
  EXPECT_EQ(lin->weight.dtype(), t);
  EXPECT_TRUE(same_bits(lin->weight, w32.to(t)));
  Tensor y = lin->forward(na::randn({3, 16}).to(t));
  EXPECT_EQ(y.dtype(), t);
  na::sum(y).backward();
  EXPECT_EQ(lin->weight.grad().dtype(), t);
}

INSTANTIATE_TEST_SUITE_P(Narrow, NarrowOps, ::testing::Values(DType::f16, DType::bf16),
                         [](const auto& info) { return std::string(na::dtype_name(info.param)); });

}  // namespace
