// Edge-case semantics where neural_arch must behave as PyTorch does: NaN through relu,
// a second backward through nodes that saved no tensors, relu6's gradient at its kinks,
// logsumexp over an empty dim, integer pow errors, ParamGroup options inheriting the
// optimizer's defaults, dtype-casting load_state_dict, SinusoidalPositionalEncoding in f64.
// Each expected value is PyTorch 1.13's (the comment next to it says what torch gives).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "gradcheck.hpp"
#include "neural_arch/autograd.hpp"
#include "neural_arch/functional/activation.hpp"
#include "neural_arch/functional/attention.hpp"
#include "neural_arch/functional/normalization.hpp"
#include "neural_arch/nn/activation.hpp"
#include "neural_arch/nn/attention.hpp"
#include "neural_arch/nn/linear.hpp"
#include "neural_arch/ops.hpp"
#include "neural_arch/optim/adam.hpp"
#include "neural_arch/optim/sgd.hpp"
#include "test_util.hpp"

namespace {

namespace na = neural_arch;
namespace optim = neural_arch::optim;
using na::Tensor;
using na_test::expect_error;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// ------------------------------------------------------------------ 1. relu(NaN) = NaN
TEST(PytorchSemantics, ReluPropagatesNaN) {
  // Long enough (67 elements) that the vector body and the scalar tail both see NaNs.
  for (na::DType t : {na::kFloat32, na::kFloat64}) {
    std::vector<double> v(67, -1.0);
    for (size_t i = 0; i < v.size(); i += 5) v[i] = kNaN;
    v[1] = 2.0;
    v[2] = kInf;
    v[3] = -kInf;
    Tensor x = na::tensor<double>(v).to(t);
    na::nn::ReLU module;
    for (const Tensor& y : {na::relu(x), module.forward(x), na::relu(x.reshape({67, 1}).t())}) {
      auto r = y.to_vector<double>();
      for (size_t i = 0; i < v.size(); ++i) {
        if (std::isnan(v[i]))
          EXPECT_TRUE(std::isnan(r[i])) << na::dtype_name(t) << " element " << i << " gave " << r[i];
        else
          EXPECT_EQ(r[i], v[i] > 0 ? v[i] : 0.0) << na::dtype_name(t) << " element " << i;
      }
    }
  }
}

// ------------------------------------------------------------------ 2. re-entrant backward
TEST(PytorchSemantics, SecondBackwardThroughNodesWithoutSavedTensors) {
  // torch: v = w.t(); (v*2).sum().backward(); (v*3).sum().backward() -> w.grad = 5.
  using View = std::function<Tensor(const Tensor&)>;
  const std::vector<std::pair<const char*, View>> views = {
      {"t", [](const Tensor& w) { return w.t(); }},
      {"slice", [](const Tensor& w) { return w.slice(1, 0, 3); }},
      {"narrow", [](const Tensor& w) { return w.narrow(0, 0, 2); }},
      {"select", [](const Tensor& w) { return w.select(0, 1); }},
      {"reshape", [](const Tensor& w) { return w.reshape({6}); }},
      {"expand",
       [](const Tensor& w) {
         return w.unsqueeze(0).expand({2, 2, 3});
       }},
      {"add_scalar", [](const Tensor& w) { return w + 1.0; }},
      {"neg", [](const Tensor& w) { return -w; }},
      {"clone", [](const Tensor& w) { return w.clone(); }},
      {"sum_dim", [](const Tensor& w) { return na::sum(w, {1}); }},
  };
  for (const auto& [name, view] : views) {
    Tensor w = na::ones({2, 3}, na::kFloat64).requires_grad_();
    Tensor v = view(w);
    (v * 2.0).sum().backward();
    Tensor g1 = w.grad().clone();
    ASSERT_NO_THROW((v * 3.0).sum().backward()) << name;
    EXPECT_TRUE(na::allclose(w.grad(), g1 * 2.5)) << name;  // 2 + 3 per use of each element
  }
}

TEST(PytorchSemantics, SecondBackwardThroughFreedSavedTensorsStillFails) {
  // torch: y = w.exp(); y.sum().backward(); y.sum().backward() -> "backward through the graph a second time".
  Tensor w = na::ones({3}, na::kFloat64).requires_grad_();
  Tensor y = na::exp(w);
  y.sum().backward();
  expect_error([&] { y.sum().backward(); }, {"second time", "ExpBackward"});
  // retain_graph keeps them.
  Tensor z = na::exp(w);
  z.sum().backward({}, /*retain_graph=*/true);
  EXPECT_NO_THROW(z.sum().backward());
}

// ------------------------------------------------------------------ 3. relu6 kinks
TEST(PytorchSemantics, Relu6GradientIsZeroAtBothKinks) {
  // torch.nn.functional.relu6 = hardtanh(0, 6): gradient 1 strictly inside (0, 6), else 0.
  Tensor x = na::tensor<double>({-1.0, 0.0, 3.0, 6.0, 7.0}).requires_grad_();
  na::functional::relu6(x).sum().backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{0, 0, 1, 0, 0}));
  Tensor n = na::tensor<double>({kNaN});
  EXPECT_TRUE(std::isnan(na::functional::relu6(n).item<double>()));
  Tensor h = na::tensor<double>({-1.0, -0.5, 1.0}).requires_grad_();
  na::functional::hardtanh(h).sum().backward();
  EXPECT_EQ(h.grad().to_vector<double>(), (std::vector<double>{0, 1, 0}));
}

// ------------------------------------------------------------------ 4. logsumexp over nothing
TEST(PytorchSemantics, LogsumexpOverZeroSizeDimIsMinusInf) {
  // torch.logsumexp(torch.zeros(3, 0), 1) -> tensor([-inf, -inf, -inf]).
  Tensor x = na::zeros({3, 0}, na::kFloat64);
  Tensor r = na::logsumexp(x, {1});
  ASSERT_EQ(r.shape(), (na::Shape{3}));
  for (double v : r.to_vector<double>()) EXPECT_EQ(v, -kInf);
  EXPECT_EQ(na::logsumexp(x, {1}, true).shape(), (na::Shape{3, 1}));
  EXPECT_EQ(na::logsumexp(na::zeros({0, 2}), {0}).to_vector<float>(),
            (std::vector<float>{-INFINITY, -INFINITY}));
}

// ------------------------------------------------------------------ 5. integer pow
TEST(PytorchSemantics, IntegerToNegativeIntegerPowerIsAnError) {
  // torch.pow(torch.tensor([0, 2]), -1): "Integers to negative integer powers are not allowed."
  Tensor i = na::tensor<int64_t>({0, 2});
  expect_error([&] { na::pow(i, -1); }, {"[pow]", "Integers to negative integer powers are not allowed"});
  expect_error([&] { na::pow(i.to(na::DType::i32), -2); }, {"negative integer powers"});
  EXPECT_EQ(na::pow(i, 2).to_vector<int64_t>(), (std::vector<int64_t>{0, 4}));
  // A float exponent promotes to float32: 0^-1 = inf, 2^-1 = 0.5.
  EXPECT_EQ(na::pow(i, -1.0).to_vector<float>(), (std::vector<float>{INFINITY, 0.5f}));
}

// ------------------------------------------------------------------ 7. param groups inherit
TEST(PytorchSemantics, ParamGroupOptionsInheritTheOptimizerDefaults) {
  // AdamW([{'params': [a]}, {'params': [b], 'weight_decay': 0.0}], lr=0.1, amsgrad=True,
  //       betas=(0.5, 0.6)): group 1 has lr 0.1, amsgrad, betas (0.5, 0.6) and weight_decay 0.
  Tensor a = na::ones({2}).requires_grad_(), b = na::ones({2}).requires_grad_();
  optim::AdamW opt(
      std::vector<optim::ParamGroup>{optim::ParamGroup({a}),
                                     optim::ParamGroup({b}, optim::AdamWOptions().weight_decay(0.0))},
      optim::AdamWOptions().lr(0.1).amsgrad(true).betas({0.5, 0.6}));
  const auto& g1 = opt.param_groups()[1].options_as<optim::AdamWOptions>();
  EXPECT_EQ(g1.lr(), 0.1);
  EXPECT_TRUE(g1.amsgrad());
  EXPECT_EQ(g1.betas(), (optim::Betas{0.5, 0.6}));
  EXPECT_EQ(g1.weight_decay(), 0.0);
  EXPECT_EQ(g1.eps(), 1e-8);  // neither set it: torch's default
  const auto& g0 = opt.param_groups()[0].options_as<optim::AdamWOptions>();
  EXPECT_EQ(g0.weight_decay(), 1e-2);
  EXPECT_EQ(g0.lr(), 0.1);

  // Same update as the group-less optimizer with the merged options (one step).
  Tensor c = na::ones({2}).requires_grad_();
  optim::AdamW ref(std::vector<Tensor>{c},
                   optim::AdamWOptions().lr(0.1).amsgrad(true).betas({0.5, 0.6}).weight_decay(0));
  for (Tensor* p : {&b, &c}) p->set_grad(na::tensor<float>({0.5f, -2.0f}));
  opt.step();
  ref.step();
  EXPECT_EQ(b.to_vector<float>(), c.to_vector<float>());

  // add_param_group later inherits too; an explicitly set value equal to the default stays set.
  Tensor d = na::ones({1}).requires_grad_();
  opt.add_param_group(optim::ParamGroup({d}, optim::AdamWOptions().lr(1e-3)));
  EXPECT_EQ(opt.param_groups()[2].options_as<optim::AdamWOptions>().lr(), 1e-3);
  EXPECT_TRUE(opt.param_groups()[2].options_as<optim::AdamWOptions>().amsgrad());
  EXPECT_TRUE(optim::AdamWOptions().lr(1e-3).is_set("lr"));
  EXPECT_FALSE(optim::AdamWOptions().lr(1e-3).is_set("eps"));

  optim::SGD sgd(std::vector<optim::ParamGroup>{optim::ParamGroup({na::ones({1}).requires_grad_()},
                                                                  optim::SGDOptions().lr(0.5))},
                 optim::SGDOptions().lr(0.1).momentum(0.9).nesterov(true));
  const auto& s = sgd.param_groups()[0].options_as<optim::SGDOptions>();
  EXPECT_EQ(s.lr(), 0.5);
  EXPECT_EQ(s.momentum(), 0.9);
  EXPECT_TRUE(s.nesterov());
}

// ------------------------------------------------------------------ 8. dtype-casting load
TEST(PytorchSemantics, LoadStateDictCastsFloatingCheckpoints) {
  na::nn::Linear lin(3, 2);
  for (na::DType t : {na::kBFloat16, na::kFloat16, na::kFloat64}) {
    na::nn::StateDict sd;
    Tensor w = na::randn({2, 3}).to(t), bias = na::randn({2}).to(t);
    sd.emplace_back("weight", w);
    sd.emplace_back("bias", bias);
    lin.load_state_dict(sd);
    EXPECT_EQ(lin.weight.dtype(), na::kFloat32);  // the model keeps its dtype, as in torch
    EXPECT_EQ(lin.weight.to_vector<float>(), w.to(na::kFloat32).to_vector<float>()) << na::dtype_name(t);
    EXPECT_EQ(lin.bias.to_vector<float>(), bias.to(na::kFloat32).to_vector<float>());
  }
  na::nn::StateDict bad{{"weight", na::zeros({2, 3}, na::kInt64)}, {"bias", na::zeros({2})}};
  expect_error([&] { lin.load_state_dict(bad); }, {"dtype mismatch for weight", "int64"});
}

// ------------------------------------------------------------------ 9. sinusoidal table in f64
TEST(PytorchSemantics, SinusoidalPositionalEncodingIsExactAfterToFloat64) {
  na::nn::SinusoidalPositionalEncoding pe(16, 64);
  pe.to(na::kFloat64);
  ASSERT_EQ(pe.pe.dtype(), na::kFloat64);
  Tensor expected = na::functional::sinusoidal_position_encoding(64, 16, na::kFloat64);
  EXPECT_EQ(pe.pe.to_vector<double>(), expected.to_vector<double>());
  Tensor x = na::zeros({1, 10, 16}, na::kFloat64);
  EXPECT_EQ(pe.forward(x).to_vector<double>(), expected.narrow(0, 0, 10).to_vector<double>());
  pe.to(na::kFloat32);
  EXPECT_EQ(pe.pe.to_vector<float>(),
            na::functional::sinusoidal_position_encoding(64, 16).to_vector<float>());
}

// ------------------------------------------------------------------ 6. the added ops' edges
// (values, gradients and dtypes against PyTorch: tests/test_opinfo.cpp; here what its random
// samples cannot reach)
TEST(PytorchSemantics, CumprodGradientWithZeros) {
  // One zero, two zeros and none in a row: the exact formula, checked by finite differences.
  Tensor x =
      na::tensor<double>({2.0, 0.0, 3.0, -1.5, 0.0, 1.0, 0.0, 4.0, 0.5, 1.5, -2.0, 0.25}, na::Shape{3, 4});
  for (int64_t dim : {0, 1}) {
    auto r = na_test::gradcheck([dim](const std::vector<Tensor>& v) { return na::cumprod(v[0], dim); },
                                {x.clone().requires_grad_()});
    EXPECT_TRUE(r.ok) << r.message;
  }
  // torch.cumprod(torch.tensor([2., 0., 3.]), 0) backward of ones: [1, 8, 0].
  Tensor y = na::tensor<double>({2.0, 0.0, 3.0}).requires_grad_();
  na::cumprod(y, 0).sum().backward();
  EXPECT_EQ(y.grad().to_vector<double>(), (std::vector<double>{1.0, 8.0, 0.0}));
}

TEST(PytorchSemantics, IntegerDivisionOpsAndScalarComparisons) {
  Tensor a = na::tensor<int64_t>({7, -7, 7, -7}), b = na::tensor<int64_t>({2, 2, -2, -2});
  // torch: floor_divide [3, -4, -4, 3], trunc [3, -3, -3, 3], remainder [1, 1, -1, -1], fmod [1, -1, 1, -1].
  EXPECT_EQ(na::floor_divide(a, b).to_vector<int64_t>(), (std::vector<int64_t>{3, -4, -4, 3}));
  EXPECT_EQ(na::div(a, b, std::string("trunc")).to_vector<int64_t>(), (std::vector<int64_t>{3, -3, -3, 3}));
  EXPECT_EQ(na::remainder(a, b).to_vector<int64_t>(), (std::vector<int64_t>{1, 1, -1, -1}));
  EXPECT_EQ((a % b).to_vector<int64_t>(), (std::vector<int64_t>{1, 1, -1, -1}));
  EXPECT_EQ(na::fmod(a, b).to_vector<int64_t>(), (std::vector<int64_t>{1, -1, 1, -1}));
  EXPECT_EQ(na::fmod(a, 3).dtype(), na::kInt64);
  // torch: ZeroDivisionError for integers; IEEE results for floats.
  expect_error([&] { na::remainder(a, na::zeros_like(a)); }, {"[remainder]", "ZeroDivisionError"});
  expect_error([&] { na::div(a, na::zeros_like(a), std::string("floor")); }, {"[div]", "ZeroDivisionError"});
  expect_error([&] { na::div(a, b, std::string("round")); }, {"[div]", "rounding_mode"});
  Tensor f = na::tensor<double>({1.0, -1.0});
  EXPECT_EQ(na::div(f, na::zeros_like(f), std::string("floor")).to_vector<double>(),
            (std::vector<double>{kInf, -kInf}));
  EXPECT_EQ((a == 7).to(na::kInt64).to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 1, 0}));
  EXPECT_EQ((a != 7).dtype(), na::kBool);
  EXPECT_EQ((f == 1.0).to(na::kInt64).to_vector<int64_t>(), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(na::ge(a, 0).to(na::kInt64).to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 1, 0}));
}

TEST(PytorchSemantics, InferenceModeDisablesRecording) {
  Tensor w = na::ones({2}).requires_grad_();
  {
    na::InferenceModeGuard guard;
    EXPECT_TRUE(na::is_inference_mode_enabled());
    EXPECT_FALSE(na::is_grad_enabled());
    Tensor y = w * 2.0;
    EXPECT_FALSE(y.requires_grad());
    {
      na::InferenceModeGuard off(false);  // torch.inference_mode(False)
      EXPECT_TRUE(na::is_grad_enabled());
      EXPECT_TRUE((w * 2.0).requires_grad());
    }
    EXPECT_FALSE(na::is_grad_enabled());
  }
  EXPECT_FALSE(na::is_inference_mode_enabled());
  EXPECT_TRUE(na::is_grad_enabled());
}

TEST(PytorchSemantics, NormalizeAndVectorNormEdges) {
  // torch: F.normalize of a zero row is the zero row; vector_norm's gradient at 0 is 0.
  Tensor x = na::tensor<double>({0.0, 0.0, 3.0, 4.0}, na::Shape{2, 2}).requires_grad_();
  Tensor y = na::functional::normalize(x);
  EXPECT_EQ(y.to_vector<double>(), (std::vector<double>{0.0, 0.0, 0.6, 0.8}));
  Tensor z = na::zeros({3}, na::kFloat64).requires_grad_();
  na::vector_norm(z).backward();
  EXPECT_EQ(z.grad().to_vector<double>(), (std::vector<double>{0, 0, 0}));
  EXPECT_EQ(na::vector_norm(na::zeros({2, 0}), 2, {1}).to_vector<float>(), (std::vector<float>{0, 0}));
  expect_error([&] { na::vector_norm(na::zeros({2, 0}), INFINITY, {1}); }, {"[vector_norm]", "zero-size"});
  expect_error([&] { na::vector_norm(na::tensor<int64_t>({1, 2})); }, {"[vector_norm]", "floating"});
  EXPECT_EQ(na::vector_norm(na::tensor<float>({3, -4, 0}), 0).item<float>(), 2.0f);
}

}  // namespace
