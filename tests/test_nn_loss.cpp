// Losses: PyTorch reference cases for every loss and option (tests/reference/gen_nn_conv.py ->
// data/nn/loss_*.bin), float64 gradient checks, numerical stability and misuse errors.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "neural_arch/autograd.hpp"
#include "neural_arch/functional/loss.hpp"
#include "neural_arch/nn/loss.hpp"
#include "neural_arch/ops.hpp"
#include "nn_test_util.hpp"
#include "reference_data.hpp"

namespace {
using na_test::PrintTo;

namespace na = neural_arch;
namespace nn = neural_arch::nn;
namespace F = neural_arch::functional;
using na::Tensor;
using na_test::Inputs;

using na_test::close;
using na_test::error_of;
using na_test::leaf;
using na_test::rand64;

// Runs fn on the inputs of data/nn/<name>.bin and compares the loss and the gradients that the
// case stores (for its upstream gradient `gout`, which every loss case has).
void check_reference(const std::string& name, const std::function<Tensor(const Inputs&)>& fn) {
  na_test::check_reference(name, fn, {1e-5, 1e-6}, "loss", /*gout_required=*/true);
}

Tensor uniform_leaf(double lo, double hi, const na::Shape& shape, uint64_t seed) {
  na::Generator g(seed);
  return na::uniform(lo, hi, shape, na::kFloat64, &g).requires_grad_();
}
Tensor labels(std::vector<int64_t> v, na::Shape shape = {}) {
  if (shape.empty()) shape = {static_cast<int64_t>(v.size())};
  return na::tensor<int64_t>(v, shape);
}
const Tensor& x_of(const Inputs& v) { return v.at("x"); }

// ------------------------------------------------------------------ reference: functional losses

struct RefCaseFn {
  const char* name;
  std::function<Tensor(const Inputs&)> fn;
};

class NnLossReference : public ::testing::TestWithParam<RefCaseFn> {};

TEST_P(NnLossReference, MatchesPyTorch) { check_reference(GetParam().name, GetParam().fn); }

Tensor none_t() { return Tensor(); }

INSTANTIATE_TEST_SUITE_P(
    Functional, NnLossReference,
    ::testing::Values(
        RefCaseFn{"loss_ce_mean", [](const Inputs& v) { return F::cross_entropy(x_of(v), v.at("y")); }},
        RefCaseFn{"loss_ce_sum",
                  [](const Inputs& v) { return F::cross_entropy(x_of(v), v.at("y"), none_t(), -100, "sum"); }},
        RefCaseFn{"loss_ce_none",
                  [](const Inputs& v) { return F::cross_entropy(x_of(v), v.at("y"), none_t(), -100, "none"); }},
        RefCaseFn{"loss_ce_weight_ignore_mean",
                  [](const Inputs& v) { return F::cross_entropy(x_of(v), v.at("y"), v.at("w")); }},
        RefCaseFn{"loss_ce_weight_ignore_none",
                  [](const Inputs& v) { return F::cross_entropy(x_of(v), v.at("y"), v.at("w"), -100, "none"); }},
        RefCaseFn{"loss_ce_ignore_index_in_range",
                  [](const Inputs& v) { return F::cross_entropy(x_of(v), v.at("y"), none_t(), 1); }},
        RefCaseFn{"loss_ce_smoothing_mean",
                  [](const Inputs& v) { return F::cross_entropy(x_of(v), v.at("y"), none_t(), -100, "mean", 0.1); }},
        RefCaseFn{"loss_ce_smoothing_weight_mean",
                  [](const Inputs& v) { return F::cross_entropy(x_of(v), v.at("y"), v.at("w"), -100, "mean", 0.2); }},
        RefCaseFn{"loss_ce_smoothing_weight_sum",
                  [](const Inputs& v) { return F::cross_entropy(x_of(v), v.at("y"), v.at("w"), -100, "sum", 0.3); }},
        RefCaseFn{"loss_ce_smoothing_none",
                  [](const Inputs& v) { return F::cross_entropy(x_of(v), v.at("y"), none_t(), -100, "none", 0.25); }},
        RefCaseFn{"loss_ce_probs", [](const Inputs& v) { return F::cross_entropy(x_of(v), v.at("t")); }},
        RefCaseFn{"loss_ce_probs_weight_smoothing",
                  [](const Inputs& v) { return F::cross_entropy(x_of(v), v.at("t"), v.at("w"), -100, "mean", 0.15); }},
        RefCaseFn{"loss_ce_probs_sum_nd",
                  [](const Inputs& v) { return F::cross_entropy(x_of(v), v.at("t"), none_t(), -100, "sum"); }},
        RefCaseFn{"loss_ce_nd", [](const Inputs& v) { return F::cross_entropy(x_of(v), v.at("y")); }},
        RefCaseFn{"loss_ce_unbatched", [](const Inputs& v) { return F::cross_entropy(x_of(v), v.at("y")); }},
        RefCaseFn{"loss_ce_large_logits", [](const Inputs& v) { return F::cross_entropy(x_of(v), v.at("y")); }},
        RefCaseFn{"loss_nll_mean", [](const Inputs& v) { return F::nll_loss(x_of(v), v.at("y")); }},
        RefCaseFn{"loss_nll_weight_ignore_none",
                  [](const Inputs& v) { return F::nll_loss(x_of(v), v.at("y"), v.at("w"), 2, "none"); }},
        RefCaseFn{"loss_nll_weight_mean_nd", [](const Inputs& v) { return F::nll_loss(x_of(v), v.at("y"), v.at("w")); }},
        RefCaseFn{"loss_mse_mean", [](const Inputs& v) { return F::mse_loss(x_of(v), v.at("t")); }},
        RefCaseFn{"loss_mse_sum", [](const Inputs& v) { return F::mse_loss(x_of(v), v.at("t"), "sum"); }},
        RefCaseFn{"loss_mse_none", [](const Inputs& v) { return F::mse_loss(x_of(v), v.at("t"), "none"); }},
        RefCaseFn{"loss_mse_f32", [](const Inputs& v) { return F::mse_loss(x_of(v), v.at("t")); }},
        RefCaseFn{"loss_l1_mean", [](const Inputs& v) { return F::l1_loss(x_of(v), v.at("t")); }},
        RefCaseFn{"loss_l1_sum", [](const Inputs& v) { return F::l1_loss(x_of(v), v.at("t"), "sum"); }},
        RefCaseFn{"loss_l1_none", [](const Inputs& v) { return F::l1_loss(x_of(v), v.at("t"), "none"); }},
        RefCaseFn{"loss_smooth_l1_beta",
                  [](const Inputs& v) { return F::smooth_l1_loss(x_of(v), v.at("t"), "mean", 0.5); }},
        RefCaseFn{"loss_smooth_l1_beta0_sum",
                  [](const Inputs& v) { return F::smooth_l1_loss(x_of(v), v.at("t"), "sum", 0.0); }},
        RefCaseFn{"loss_smooth_l1_none", [](const Inputs& v) { return F::smooth_l1_loss(x_of(v), v.at("t"), "none"); }},
        RefCaseFn{"loss_huber_delta", [](const Inputs& v) { return F::huber_loss(x_of(v), v.at("t"), "mean", 0.7); }},
        RefCaseFn{"loss_huber_none", [](const Inputs& v) { return F::huber_loss(x_of(v), v.at("t"), "none", 1.5); }},
        RefCaseFn{"loss_bce_mean", [](const Inputs& v) { return F::binary_cross_entropy(x_of(v), v.at("t")); }},
        RefCaseFn{"loss_bce_weight_none",
                  [](const Inputs& v) { return F::binary_cross_entropy(x_of(v), v.at("t"), v.at("w"), "none"); }},
        RefCaseFn{"loss_bce_logits_mean",
                  [](const Inputs& v) { return F::binary_cross_entropy_with_logits(x_of(v), v.at("t")); }},
        RefCaseFn{"loss_bce_logits_pos_weight_sum",
                  [](const Inputs& v) {
                    return F::binary_cross_entropy_with_logits(x_of(v), v.at("t"), v.at("w"), "sum", v.at("pw"));
                  }},
        RefCaseFn{"loss_bce_logits_extreme",
                  [](const Inputs& v) {
                    return F::binary_cross_entropy_with_logits(x_of(v), v.at("t"), none_t(), "none");
                  }},
        RefCaseFn{"loss_kl_div_batchmean", [](const Inputs& v) { return F::kl_div(x_of(v), v.at("t"), "batchmean"); }},
        RefCaseFn{"loss_kl_div_mean", [](const Inputs& v) { return F::kl_div(x_of(v), v.at("t"), "mean"); }},
        RefCaseFn{"loss_kl_div_sum_zero_target", [](const Inputs& v) { return F::kl_div(x_of(v), v.at("t"), "sum"); }},
        RefCaseFn{"loss_kl_div_log_target_none",
                  [](const Inputs& v) { return F::kl_div(x_of(v), v.at("t"), "none", true); }}),
    [](const ::testing::TestParamInfo<RefCaseFn>& i) { return std::string(i.param.name).substr(5); });

// ------------------------------------------------------------------ reference: loss modules

INSTANTIATE_TEST_SUITE_P(
    Modules, NnLossReference,
    ::testing::Values(
        RefCaseFn{"loss_ce_smoothing_weight_mean",
                  [](const Inputs& v) {
                    nn::CrossEntropyLoss m(
                        nn::CrossEntropyLossOptions().weight(v.at("w")).label_smoothing(0.2));
                    return m.forward(x_of(v), v.at("y"));
                  }},
        RefCaseFn{
            "loss_ce_ignore_index_in_range",
            [](const Inputs& v) { return nn::CrossEntropyLoss(Tensor(), 1).forward(x_of(v), v.at("y")); }},
        RefCaseFn{
            "loss_nll_weight_ignore_none",
            [](const Inputs& v) { return nn::NLLLoss(v.at("w"), 2, "none").forward(x_of(v), v.at("y")); }},
        RefCaseFn{"loss_mse_sum",
                  [](const Inputs& v) { return nn::MSELoss("sum").forward(x_of(v), v.at("t")); }},
        RefCaseFn{"loss_l1_none",
                  [](const Inputs& v) { return nn::L1Loss("none").forward(x_of(v), v.at("t")); }},
        RefCaseFn{"loss_smooth_l1_beta",
                  [](const Inputs& v) { return nn::SmoothL1Loss("mean", 0.5).forward(x_of(v), v.at("t")); }},
        RefCaseFn{"loss_huber_delta",
                  [](const Inputs& v) { return nn::HuberLoss("mean", 0.7).forward(x_of(v), v.at("t")); }},
        RefCaseFn{"loss_bce_weight_none",
                  [](const Inputs& v) { return nn::BCELoss(v.at("w"), "none").forward(x_of(v), v.at("t")); }},
        RefCaseFn{"loss_bce_logits_pos_weight_sum",
                  [](const Inputs& v) {
                    return nn::BCEWithLogitsLoss(v.at("w"), "sum", v.at("pw")).forward(x_of(v), v.at("t"));
                  }},
        RefCaseFn{"loss_kl_div_log_target_none",
                  [](const Inputs& v) { return nn::KLDivLoss("none", true).forward(x_of(v), v.at("t")); }}),
    [](const ::testing::TestParamInfo<RefCaseFn>& i) { return std::string(i.param.name).substr(5); });

// ------------------------------------------------------------------ gradient checks

struct GradCase {
  const char* name;
  std::function<Tensor(const std::vector<Tensor>&)> fn;
  std::function<std::vector<Tensor>()> inputs;
};

class NnLossGradCheck : public ::testing::TestWithParam<GradCase> {};

TEST_P(NnLossGradCheck, InputAndTargetGradients) {
  auto r = na_test::gradcheck(GetParam().fn, GetParam().inputs(), 1e-6, 1e-6, 1e-4, GetParam().name);
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_GT(r.max_abs_numeric, 0.0);
}

INSTANTIATE_TEST_SUITE_P(
    Losses, NnLossGradCheck,
    ::testing::Values(
        GradCase{"cross_entropy_mean", [](const auto& v) { return F::cross_entropy(v[0], v[1]); },
                 [] {
                   return std::vector<Tensor>{leaf({4, 5}, 1), labels({0, 3, 4, 1})};
                 }},
        GradCase{"cross_entropy_weight_ignore_smoothing",
                 [](const auto& v) { return F::cross_entropy(v[0], v[1], v[2], -100, "mean", 0.2); },
                 [] {
                   return std::vector<Tensor>{leaf({5, 4}, 2), labels({0, -100, 3, 1, 1}),
                                              uniform_leaf(0.5, 2.0, {4}, 3)};
                 }},
        GradCase{"cross_entropy_none_nd",
                 [](const auto& v) { return F::cross_entropy(v[0], v[1], Tensor(), 2, "none", 0.1); },
                 [] {
                   return std::vector<Tensor>{leaf({2, 3, 4}, 4), labels({0, 2, 1, 2, 1, 0, 0, 1}, {2, 4})};
                 }},
        GradCase{
            "cross_entropy_probabilities",
            [](const auto& v) {
              return F::cross_entropy(v[0], na::softmax(v[1], 1), v[2], -100, "mean", 0.1);
            },
            [] {
              return std::vector<Tensor>{leaf({3, 4}, 5), leaf({3, 4}, 6), uniform_leaf(0.5, 2.0, {4}, 7)};
            }},
        GradCase{"nll_loss_weight_ignore",
                 [](const auto& v) { return F::nll_loss(v[0], v[1], v[2], 0, "mean"); },
                 [] {
                   return std::vector<Tensor>{leaf({5, 3}, 8), labels({0, 2, 1, 2, 1}),
                                              uniform_leaf(0.5, 2.0, {3}, 9)};
                 }},
        GradCase{"mse_loss", [](const auto& v) { return F::mse_loss(v[0], v[1]); },
                 [] {
                   return std::vector<Tensor>{leaf({3, 4}, 10), leaf({3, 4}, 11)};
                 }},
        GradCase{"mse_loss_broadcast_sum", [](const auto& v) { return F::mse_loss(v[0], v[1], "sum"); },
                 [] {
                   return std::vector<Tensor>{leaf({3, 4}, 12), leaf({4}, 13)};
                 }},
        GradCase{"l1_loss", [](const auto& v) { return F::l1_loss(v[0], v[1], "none"); },
                 [] {
                   return std::vector<Tensor>{leaf({3, 4}, 14), leaf({3, 4}, 15)};
                 }},
        GradCase{"smooth_l1_loss", [](const auto& v) { return F::smooth_l1_loss(v[0], v[1], "mean", 0.7); },
                 [] {
                   return std::vector<Tensor>{leaf({4, 4}, 16), leaf({4, 4}, 17)};
                 }},
        GradCase{"huber_loss", [](const auto& v) { return F::huber_loss(v[0], v[1], "sum", 0.6); },
                 [] {
                   return std::vector<Tensor>{leaf({4, 4}, 18), leaf({4, 4}, 19)};
                 }},
        GradCase{"binary_cross_entropy_weight",
                 [](const auto& v) { return F::binary_cross_entropy(v[0], v[1], v[2]); },
                 [] {
                   return std::vector<Tensor>{uniform_leaf(0.1, 0.9, {3, 4}, 20),
                                              uniform_leaf(0.0, 1.0, {3, 4}, 21),
                                              uniform_leaf(0.5, 2.0, {4}, 22)};
                 }},
        GradCase{
            "binary_cross_entropy_with_logits_pos_weight",
            [](const auto& v) { return F::binary_cross_entropy_with_logits(v[0], v[1], v[2], "mean", v[3]); },
            [] {
              return std::vector<Tensor>{leaf({3, 4}, 23, 3.0), uniform_leaf(0.0, 1.0, {3, 4}, 24),
                                         uniform_leaf(0.5, 2.0, {3, 1}, 25), uniform_leaf(0.5, 3.0, {4}, 26)};
            }},
        GradCase{"kl_div_batchmean",
                 [](const auto& v) { return F::kl_div(na::log_softmax(v[0], 1), v[1], "batchmean"); },
                 [] {
                   return std::vector<Tensor>{leaf({3, 4}, 27), uniform_leaf(0.1, 1.0, {3, 4}, 28)};
                 }},
        GradCase{"kl_div_log_target", [](const auto& v) { return F::kl_div(v[0], v[1], "none", true); },
                 [] {
                   return std::vector<Tensor>{leaf({3, 4}, 29), leaf({3, 4}, 30)};
                 }}),
    [](const ::testing::TestParamInfo<GradCase>& i) { return std::string(i.param.name); });

TEST(NnLossGradCheck, CrossEntropyLoss_module_float64_buffers) {
  // to(kFloat64) converts the weight buffer; the module's gradient matches finite differences.
  auto m = std::make_shared<nn::CrossEntropyLoss>(na::tensor<float>({0.5f, 1.0f, 2.0f}), -100, "mean", 0.1);
  m->to(na::kFloat64);
  EXPECT_EQ(m->weight.dtype(), na::kFloat64);
  Tensor y = labels({2, 0, 1, 1});
  auto r = na_test::gradcheck([&](const std::vector<Tensor>& v) { return m->forward(v[0], y); },
                              {leaf({4, 3}, 31)}, 1e-6, 1e-6, 1e-4, "CrossEntropyLoss");
  EXPECT_TRUE(r.ok) << r.message;
}

// ------------------------------------------------------------------ behaviour

TEST(NnLoss, CrossEntropyIsLogSoftmaxPlusNll) {
  Tensor x = rand64({6, 5}, 40), y = labels({0, 4, 2, 2, 1, 3});
  EXPECT_TRUE(close(F::cross_entropy(x, y), F::nll_loss(na::log_softmax(x, 1), y), 1e-14, 1e-14));
}

TEST(NnLoss, CrossEntropyStaysFiniteForHugeLogits) {
  Tensor x = (rand64({4, 3}, 41) * 1e6).to(na::kFloat32).requires_grad_();
  Tensor loss = F::cross_entropy(x, labels({0, 1, 2, 0}));
  EXPECT_TRUE(std::isfinite(loss.item()));
  loss.backward();
  for (double g : x.grad().to_vector<double>()) EXPECT_TRUE(std::isfinite(g));
}

TEST(NnLoss, AllTargetsIgnoredGivesNaNMeanLikePyTorch) {
  Tensor loss = F::cross_entropy(rand64({2, 3}, 42), labels({-100, -100}));
  EXPECT_TRUE(std::isnan(loss.item()));
  EXPECT_EQ(F::cross_entropy(rand64({2, 3}, 42), labels({-100, -100}), Tensor(), -100, "sum").item(), 0.0);
}

TEST(NnLoss, BinaryCrossEntropyClampsLogAtMinus100) {
  Tensor x = na::tensor<double>({0.0, 1.0}), t = na::tensor<double>({1.0, 0.0});
  EXPECT_DOUBLE_EQ(F::binary_cross_entropy(x, t, Tensor(), "sum").item(), 200.0);
}

TEST(NnLoss, ModulesKeepWeightsAsBuffers) {
  nn::CrossEntropyLoss ce(na::ones({3}));
  EXPECT_EQ(ce.named_buffers().size(), 1u);
  EXPECT_EQ(ce.named_parameters().size(), 0u);
  nn::CrossEntropyLoss plain;
  EXPECT_EQ(plain.state_dict().size(), 0u);
  nn::BCEWithLogitsLoss bce(Tensor(), "mean", na::ones({4}));
  EXPECT_EQ(bce.state_dict().size(), 1u);
  EXPECT_EQ(bce.state_dict()[0].first, "pos_weight");
  EXPECT_EQ(plain.extra_repr(), "reduction=mean");
}

// ------------------------------------------------------------------ misuse

TEST(NnLossErrors, CrossEntropyTargets) {
  Tensor x = na::randn({3, 4});
  EXPECT_EQ(error_of([&] {
              F::cross_entropy(x, labels({0, 4, 1}));
            }),
            "[cross_entropy] target 4 is out of bounds for 4 classes (at position 1 of target shape (3,))");
  EXPECT_EQ(error_of([&] {
              F::cross_entropy(x, labels({0, 1, -1}));
            }),
            "[cross_entropy] target -1 is out of bounds for 4 classes (at position 2 of target shape (3,))");
  EXPECT_EQ(
      error_of([&] {
        nn::CrossEntropyLoss().forward(x, labels({0, 1, 2, 3}));
      }),
      "[cross_entropy] expected target of shape (3,) for input of shape (3,4), got target of shape (4,)");
  EXPECT_EQ(error_of([&] { F::cross_entropy(x, na::zeros({3}, na::kBool)); }),
            "[cross_entropy] expected class-index targets of an integer dtype, got bool");
  EXPECT_EQ(error_of([&] {
              F::cross_entropy(x, na::zeros({3, 5}));
            }),
            "[cross_entropy] expected probability targets of the input's shape (3,4), got shape (3,5)");
  EXPECT_EQ(error_of([&] {
              F::cross_entropy(x, labels({0, 1, 2}), na::ones({3}));
            }),
            "[cross_entropy] expected a floating class weight of shape (4,) for input of shape (3,4), got "
            "float32 of "
            "shape (3,)");
  EXPECT_EQ(error_of([&] {
              F::cross_entropy(x, labels({0, 1, 2}), Tensor(), -100, "mean", 1.5);
            }),
            "[cross_entropy] label_smoothing must be between 0.0 and 1.0, got 1.5");
  EXPECT_EQ(error_of([&] {
              F::nll_loss(x, labels({0, 1, 9}));
            }),
            "[nll_loss] target 9 is out of bounds for 4 classes (at position 2 of target shape (3,))");
}

TEST(NnLossErrors, ReductionsShapesAndRanges) {
  EXPECT_EQ(error_of([] { F::mse_loss(na::randn({3}), na::randn({3}), "avg"); }),
            "[mse_loss] reduction must be 'none', 'mean' or 'sum', got 'avg'");
  EXPECT_EQ(error_of([] { F::kl_div(na::randn({3}), na::rand({3}), "batch"); }),
            "[kl_div] reduction must be 'none', 'mean', 'sum' or 'batchmean', got 'batch'");
  EXPECT_EQ(error_of([] {
              F::l1_loss(na::randn({3, 4}), na::randn({5}));
            }),
            "[l1_loss] input of shape (3,4) and target of shape (5,) cannot be broadcast together");
  EXPECT_EQ(
      error_of([] {
        F::binary_cross_entropy(na::tensor<float>({-0.5f, 0.5f}), na::zeros({2}));
      }),
      "[binary_cross_entropy] all elements of input should be between 0 and 1, got values in [-0.5, 0.5]");
  EXPECT_EQ(error_of([] {
              F::binary_cross_entropy_with_logits(na::randn({2, 3}), na::zeros({3, 2}));
            }),
            "[binary_cross_entropy_with_logits] expected target of the input's shape (2,3), got shape (3,2)");
  EXPECT_EQ(error_of([] { F::huber_loss(na::randn({2}), na::randn({2}), "mean", 0.0); }),
            "[huber_loss] delta must be positive, got 0");
  // A loss module needs a target: the one-tensor forward is an error, not a crash.
  nn::MSELoss mse;
  nn::Module& base = mse;
  EXPECT_THROW(base.forward(na::randn({2})), na::Error);
}

}  // namespace
