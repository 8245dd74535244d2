// Normalization layers: LayerNorm, RMSNorm, GroupNorm, BatchNorm1d/2d and their functional forms.
// Gradient checks (input and parameter gradients), PyTorch reference cases (running statistics
// included), train/eval behaviour and misuse errors.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "neural_arch/autograd.hpp"
#include "neural_arch/nn.hpp"
#include "neural_arch/ops.hpp"
#include "nn_test_util.hpp"

namespace {

namespace na = neural_arch;
namespace nn = neural_arch::nn;
namespace F = neural_arch::functional;
using na::Tensor;
using na_test::expect_error;
using na_test::rand64;

// Non-trivial affine parameters (the defaults ones/zeros would hide a transposed gradient).
void randomize(nn::Module& m, uint64_t seed) {
  na::Generator g(seed);
  for (const Tensor& p : m.parameters()) nn::init::normal_(p, 0.5, 1.0, &g);
}

template <class M> std::shared_ptr<M> f64(std::shared_ptr<M> m, uint64_t seed) {
  m->to(na::kFloat64);
  randomize(*m, seed);
  return m;
}

::testing::AssertionResult check(nn::Module& m, Tensor x, const std::string& name) {
  auto r = na_test::module_gradcheck(m, {x.requires_grad_()}, na_test::one_input(m), name, 1e-5, 1e-3);
  if (r.ok) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << r.message;
}

// ------------------------------------------------------------------ gradient checks

TEST(NnGradCheck, LayerNorm) {
  auto ln = f64(std::make_shared<nn::LayerNorm>(std::vector<int64_t>{3, 4}), 1);
  EXPECT_TRUE(check(*ln, rand64({2, 3, 4}, 2, 2.0, 1.0), "LayerNorm"));
}

TEST(NnGradCheck, LayerNorm_no_affine) {
  auto ln = f64(std::make_shared<nn::LayerNorm>(5, 1e-3, false), 1);
  EXPECT_TRUE(check(*ln, rand64({3, 5}, 3), "LayerNorm_no_affine"));
}

TEST(NnGradCheck, RMSNorm) {
  auto rn = f64(std::make_shared<nn::RMSNorm>(std::vector<int64_t>{4}, 1e-6), 4);
  EXPECT_TRUE(check(*rn, rand64({3, 2, 4}, 5), "RMSNorm"));
}

TEST(NnGradCheck, GroupNorm) {
  auto gn = f64(std::make_shared<nn::GroupNorm>(2, 4), 6);
  EXPECT_TRUE(check(*gn, rand64({2, 4, 3, 2}, 7, 1.5, -0.5), "GroupNorm"));
}

TEST(NnGradCheck, GroupNorm_3d_input) {
  auto gn = f64(std::make_shared<nn::GroupNorm>(3, 3), 8);
  EXPECT_TRUE(check(*gn, rand64({2, 3, 5}, 9), "GroupNorm_3d"));
}

TEST(NnGradCheck, BatchNorm1d_train) {
  auto bn = f64(std::make_shared<nn::BatchNorm1d>(3), 10);
  EXPECT_TRUE(check(*bn, rand64({5, 3}, 11, 2.0), "BatchNorm1d_train"));
}

TEST(NnGradCheck, BatchNorm1d_train_3d) {
  auto bn = f64(std::make_shared<nn::BatchNorm1d>(2), 12);
  EXPECT_TRUE(check(*bn, rand64({3, 2, 4}, 13), "BatchNorm1d_train_3d"));
}

TEST(NnGradCheck, BatchNorm2d_train) {
  auto bn = f64(std::make_shared<nn::BatchNorm2d>(3), 14);
  EXPECT_TRUE(check(*bn, rand64({2, 3, 2, 3}, 15, 1.0, 0.3), "BatchNorm2d_train"));
}

TEST(NnGradCheck, BatchNorm2d_eval) {
  auto bn = f64(std::make_shared<nn::BatchNorm2d>(2), 16);
  {
    na::NoGradGuard ng;
    bn->running_mean.copy_(rand64({2}, 17));
    bn->running_var.copy_(na::abs(rand64({2}, 18)) + 0.5);
  }
  bn->eval();
  EXPECT_TRUE(check(*bn, rand64({2, 2, 3, 2}, 19), "BatchNorm2d_eval"));
}

TEST(NnGradCheck, FunctionalNormForms) {
  // The functional forms with weight and bias passed as plain tensors (no module).
  Tensor x = rand64({2, 4, 3}, 20).requires_grad_();
  Tensor w = rand64({4}, 21).requires_grad_();
  Tensor b = rand64({4}, 22).requires_grad_();
  auto r = na_test::gradcheck([](const std::vector<Tensor>& v) { return F::group_norm(v[0], 2, v[1], v[2]); },
                              {x, w, b}, 1e-6, 1e-5, 1e-3, "group_norm");
  EXPECT_TRUE(r.ok) << r.message;
  Tensor w3 = rand64({3}, 23).requires_grad_();
  r = na_test::gradcheck([](const std::vector<Tensor>& v) { return F::rms_norm(v[0], {3}, v[1]); }, {x, w3},
                         1e-6, 1e-5, 1e-3, "rms_norm");
  EXPECT_TRUE(r.ok) << r.message;
  r = na_test::gradcheck(
      [](const std::vector<Tensor>& v) { return F::batch_norm(v[0], Tensor(), Tensor(), v[1], v[2], true); },
      {x, w, b}, 1e-6, 1e-5, 1e-3, "batch_norm");
  EXPECT_TRUE(r.ok) << r.message;
}

// ------------------------------------------------------------------ reference (PyTorch)

struct NormCase {
  std::string name;
  std::function<nn::ModulePtr()> make;
  bool eval = false;
};
void PrintTo(const NormCase& c, std::ostream* os) { *os << "core_" << c.name; }

std::vector<NormCase> norm_reference_cases() {
  return {
      {"layer_norm",
       [] {
         return std::make_shared<nn::LayerNorm>(std::vector<int64_t>{4, 5});
       }},
      {"layer_norm_f32", [] { return std::make_shared<nn::LayerNorm>(8); }},
      {"layer_norm_noaffine", [] { return std::make_shared<nn::LayerNorm>(6, 1e-3, false); }},
      {"rms_norm",
       [] {
         return std::make_shared<nn::RMSNorm>(std::vector<int64_t>{3, 4}, 1e-6);
       }},
      {"rms_norm_default_eps", [] { return std::make_shared<nn::RMSNorm>(5); }},
      {"group_norm", [] { return std::make_shared<nn::GroupNorm>(3, 6); }},
      {"group_norm_3d", [] { return std::make_shared<nn::GroupNorm>(2, 4, 1e-3); }},
      {"batch_norm1d_train", [] { return std::make_shared<nn::BatchNorm1d>(4); }},
      {"batch_norm1d_train_3d", [] { return std::make_shared<nn::BatchNorm1d>(3, 1e-5, 0.3); }},
      {"batch_norm1d_eval", [] { return std::make_shared<nn::BatchNorm1d>(4); }, true},
      {"batch_norm1d_cumulative", [] { return std::make_shared<nn::BatchNorm1d>(3, 1e-5, std::nullopt); }},
      {"batch_norm1d_no_stats", [] { return std::make_shared<nn::BatchNorm1d>(3, 1e-5, 0.1, true, false); },
       true},
      {"batch_norm2d_train", [] { return std::make_shared<nn::BatchNorm2d>(3); }},
      {"batch_norm2d_eval", [] { return std::make_shared<nn::BatchNorm2d>(3); }, true},
      {"batch_norm2d_train_f32", [] { return std::make_shared<nn::BatchNorm2d>(4); }},
  };
}

class NnNormReference : public ::testing::TestWithParam<NormCase> {};

TEST_P(NnNormReference, MatchesTorch) {
  auto m = GetParam().make();
  if (GetParam().eval) m->eval();
  na_test::check_module_reference("core_" + GetParam().name, *m, {"x"}, na_test::one_input(*m));
}

INSTANTIATE_TEST_SUITE_P(Core, NnNormReference, ::testing::ValuesIn(norm_reference_cases()),
                         [](const auto& info) { return info.param.name; });

// ------------------------------------------------------------------ behaviour

TEST(NnNorm, LayerNormOutputHasZeroMeanUnitVariance) {
  nn::LayerNorm ln(16);
  Tensor y = ln.forward(na::randn({4, 16}) * 3.0 + 2.0);
  for (double m : na::mean(y, {1}).to_vector<double>()) EXPECT_NEAR(m, 0.0, 1e-5);
  for (double v : na::var(y, {1}, 0).to_vector<double>()) EXPECT_NEAR(v, 1.0, 1e-3);
  EXPECT_EQ(ln.weight.to_vector<double>(), std::vector<double>(16, 1.0));
  EXPECT_EQ(ln.bias.to_vector<double>(), std::vector<double>(16, 0.0));
}

TEST(NnNorm, RMSNormDefaultEpsIsTheDtypeEpsilon) {
  // With x = 0 the output is 0 whatever eps; with tiny x the eps is visible: x / sqrt(x^2 + eps).
  Tensor x = na::full({1, 1}, 1e-4, na::kFloat64);
  const double y = F::rms_norm(x, {1}).item();
  const double eps = std::numeric_limits<double>::epsilon();
  EXPECT_NEAR(y, 1e-4 / std::sqrt(1e-8 + eps), 1e-12);
}

TEST(NnNorm, BatchNormTrainUpdatesRunningStatsAndEvalUsesThem) {
  nn::BatchNorm1d bn(2, 1e-5, 0.5);
  Tensor x = na::tensor<float>({1, 10, 3, 20, 5, 30}, na::Shape{3, 2});
  Tensor y_train = bn.forward(x);
  // Batch mean (3, 20), unbiased var (4, 100): running = 0.5 * initial + 0.5 * batch.
  EXPECT_EQ(bn.running_mean.to_vector<double>(), (std::vector<double>{1.5, 10.0}));
  EXPECT_EQ(bn.running_var.to_vector<double>(), (std::vector<double>{2.5, 50.5}));
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 1);
  // Training output uses the batch's biased variance: (1 - 3) / sqrt(8/3 + eps).
  EXPECT_NEAR(y_train.to_vector<double>()[0], -2.0 / std::sqrt(8.0 / 3.0 + 1e-5), 1e-5);

  bn.eval();
  Tensor y_eval = bn.forward(x);
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 1);  // eval does not count batches
  EXPECT_EQ(bn.running_mean.to_vector<double>(), (std::vector<double>{1.5, 10.0}));
  EXPECT_NEAR(y_eval.to_vector<double>()[0], (1.0 - 1.5) / std::sqrt(2.5 + 1e-5), 1e-5);
  EXPECT_FALSE(na::allclose(y_train, y_eval));
  // Running statistics never require grad or join the graph.
  bn.train();
  Tensor x2 = x.clone().requires_grad_();
  bn.forward(x2).sum().backward();
  EXPECT_FALSE(bn.running_mean.requires_grad());
  EXPECT_EQ(bn.running_mean.grad_fn(), nullptr);
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 2);
}

TEST(NnNorm, BatchNormWithoutRunningStatsUsesBatchStatsInEval) {
  nn::BatchNorm2d bn(3, 1e-5, 0.1, false, false);
  EXPECT_TRUE(bn.parameters().empty());
  EXPECT_TRUE(bn.state_dict().empty());
  Tensor x = na::randn({2, 3, 2, 2});
  Tensor a = bn.forward(x);
  bn.eval();
  EXPECT_TRUE(na::allclose(a, bn.forward(x)));
}

TEST(NnNorm, BatchNormStateDictRoundTripCarriesRunningStats) {
  nn::BatchNorm1d a(3), b(3);
  a.forward(na::randn({8, 3}) * 2.0 + 1.0);
  b.load_state_dict(a.state_dict());
  EXPECT_EQ(b.running_mean.to_vector<double>(), a.running_mean.to_vector<double>());
  EXPECT_EQ(b.running_var.to_vector<double>(), a.running_var.to_vector<double>());
  EXPECT_EQ(b.num_batches_tracked.item<int64_t>(), 1);
  a.eval();
  b.eval();
  Tensor x = na::randn({4, 3});
  EXPECT_EQ(a.forward(x).to_vector<double>(), b.forward(x).to_vector<double>());
}

TEST(NnNorm, NarrowFloatInputsAreNormalisedInFloat32) {
  Tensor x = na::randn({4, 8});
  Tensor ref = F::layer_norm(x, {8});
  Tensor y = F::layer_norm(x.to(na::kBFloat16), {8});
  EXPECT_EQ(y.dtype(), na::kBFloat16);
  EXPECT_TRUE(na::allclose(y.to(na::kFloat32), ref, 2e-2, 2e-2));
  Tensor yh = F::group_norm(na::randn({2, 4, 3}).to(na::kFloat16), 2);
  EXPECT_EQ(yh.dtype(), na::kFloat16);
}

// ------------------------------------------------------------------ misuse

TEST(NnNormMisuse, LayerAndShapesAreNamed) {
  nn::LayerNorm ln(8);
  expect_error([&] { ln.forward(na::zeros({2, 5})); }, {"[LayerNorm]", "(8,)", "(2,5)"});
  expect_error([&] { ln.forward(na::zeros({2, 8}, na::kFloat64)); }, {"[LayerNorm]", "float64", "float32"});
  nn::RMSNorm rn(std::vector<int64_t>{2, 3});
  expect_error([&] { rn.forward(na::zeros({3, 2})); }, {"[RMSNorm]", "(2,3)", "(3,2)"});
  nn::GroupNorm gn(2, 4);
  expect_error([&] { gn.forward(na::zeros({2, 6, 3})); }, {"[GroupNorm]", "4 channels", "(2,6,3)"});
  expect_error([&] { gn.forward(na::zeros({4})); }, {"[GroupNorm]", "(4,)"});
  expect_error([] { nn::GroupNorm(3, 4); }, {"[GroupNorm]", "(4)", "(3)"});
  nn::BatchNorm1d bn1(3);
  expect_error(
      [&] {
        bn1.forward(na::zeros({2, 3, 4, 4}));
      },
      {"[BatchNorm1d]", "2D", "3D", "C = 3", "(2,3,4,4)"});
  expect_error([&] { bn1.forward(na::zeros({2, 4})); }, {"[BatchNorm1d]", "C = 3", "(2,4)"});
  expect_error(
      [&] {
        bn1.forward(na::zeros({1, 3}));
      },
      {"[batch_norm]", "more than 1 value per channel", "(1,3)"});
  nn::BatchNorm2d bn2(3);
  expect_error([&] { bn2.forward(na::zeros({2, 3, 4})); }, {"[BatchNorm2d]", "4D", "(2,3,4)"});
  expect_error([] { nn::BatchNorm2d(0); }, {"[BatchNorm2d]", "num_features"});
  expect_error([] { nn::BatchNorm2d(3, 1e-5, 1.5); }, {"[BatchNorm2d]", "momentum", "1.5"});
  expect_error([] { nn::LayerNorm(std::vector<int64_t>{}); }, {"[LayerNorm]", "normalized_shape"});
}

TEST(NnNormMisuse, FunctionalFormsCheckTheirArguments) {
  Tensor x = na::zeros({2, 3, 4});
  expect_error([&] { F::layer_norm(x, {3}); }, {"[layer_norm]", "(3,)", "(2,3,4)"});
  expect_error([&] { F::layer_norm(x, {4}, na::ones({3})); }, {"[layer_norm]", "weight", "(4,)", "(3,)"});
  expect_error([&] { F::group_norm(x, 2); }, {"[group_norm]", "3", "2"});
  expect_error([&] { F::batch_norm(x, Tensor(), Tensor()); }, {"[batch_norm]", "running_mean"});
  expect_error([&] { F::batch_norm(x, na::zeros({4}), na::ones({4}), Tensor(), Tensor(), true); },
               {"[batch_norm]", "(3,)", "(4,)"});
  expect_error([&] { F::rms_norm(na::zeros({2}, na::kInt64), {2}); }, {"[rms_norm]", "int64"});
}

}  // namespace
