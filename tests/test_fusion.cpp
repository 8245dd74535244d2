// Fused Linear + activation (optimization::fuse_linear_activation, nn::OptimizedLinear): the
// fused path agrees with the plain composition in values and in every gradient, passes
// finite-difference gradchecks (double backward included) and rejects misuse.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gradcheck.hpp"
#include "neural_arch/autograd.hpp"
#include "neural_arch/nn.hpp"
#include "neural_arch/ops.hpp"
#include "neural_arch/optimization/fusion.hpp"
#include "neural_arch/random.hpp"
#include "test_util.hpp"

namespace na = neural_arch;
namespace opt = neural_arch::optimization;

namespace {

const std::vector<std::string> kActs = {"none", "relu", "gelu", "gelu_tanh", "silu"};

struct Result {
  na::Tensor y, gx, gw, gb;
};

// y = f(x, W, b) and the gradients of sum(y * r) (r a random upstream gradient).
Result run(bool fused, const na::Tensor& x0, const na::Tensor& w0, const na::Tensor& b0,
           const std::string& act, const na::Tensor& r) {
  na::Tensor x = x0.detach().requires_grad_(), w = w0.detach().requires_grad_(),
             b = b0.detach().requires_grad_();
  na::Tensor y =
      fused ? opt::fuse_linear_activation(x, w, b, act) : opt::linear_activation_unfused(x, w, b, act);
  na::autograd::backward({y}, {r});
  return {y.detach(), x.grad(), w.grad(), b.grad()};
}

class FusionAct : public ::testing::TestWithParam<std::string> {};

TEST_P(FusionAct, FusedMatchesCompositionF32) {
  const std::string act = GetParam();
  na::manual_seed(7);
  // 3-D input (leading dims flattened), rows not a multiple of the 32-row chunk.
  na::Tensor x = na::randn({3, 45, 64}), w = na::randn({96, 64}) * 0.2, b = na::randn({96});
  na::Tensor r = na::randn({3, 45, 96});
  Result f = run(true, x, w, b, act, r), u = run(false, x, w, b, act, r);
  EXPECT_TRUE(na_test::close(f.y, u.y, 1e-5, 1e-5)) << act;
  EXPECT_TRUE(na_test::close(f.gx, u.gx, 1e-4, 1e-4)) << act;
  EXPECT_TRUE(na_test::close(f.gw, u.gw, 1e-4, 1e-4)) << act;
  EXPECT_TRUE(na_test::close(f.gb, u.gb, 1e-4, 1e-4)) << act;
  // Inference (no graph) takes the single-GEMM post-op path: same values.
  na::NoGradGuard ng;
  EXPECT_TRUE(na_test::close(opt::fuse_linear_activation(x, w, b, act), u.y, 1e-5, 1e-5)) << act;
}

TEST_P(FusionAct, FusedMatchesCompositionF64AndNoBias) {
  const std::string act = GetParam();
  na::manual_seed(8);
  na::Tensor x = na::randn({70, 33}, na::kFloat64), w = na::randn({20, 33}, na::kFloat64) * 0.3;
  na::Tensor r = na::randn({70, 20}, na::kFloat64);
  na::Tensor x1 = x.detach().requires_grad_(), w1 = w.detach().requires_grad_();
  na::Tensor x2 = x.detach().requires_grad_(), w2 = w.detach().requires_grad_();
  na::Tensor y1 = opt::fuse_linear_activation(x1, w1, na::Tensor(), act);
  na::Tensor y2 = opt::linear_activation_unfused(x2, w2, na::Tensor(), act);
  na::autograd::backward({y1}, {r});
  na::autograd::backward({y2}, {r});
  EXPECT_TRUE(na_test::close(y1.detach(), y2.detach(), 1e-12, 1e-12)) << act;
  EXPECT_TRUE(na_test::close(x1.grad(), x2.grad(), 1e-11, 1e-11)) << act;
  EXPECT_TRUE(na_test::close(w1.grad(), w2.grad(), 1e-11, 1e-11)) << act;
}

TEST_P(FusionAct, Gradcheck) {
  const std::string act = GetParam();
  na::manual_seed(9);
  // Inputs away from relu's kink: finite differences are meaningless across it.
  auto fn = [act](const std::vector<na::Tensor>& v) {
    return opt::fuse_linear_activation(v[0], v[1], v[2], act);
  };
  auto r = na_test::gradcheck(
      fn, {na::randn({5, 4}, na::kFloat64).requires_grad_(), na::randn({3, 4}, na::kFloat64).requires_grad_(),
           na::randn({3}, na::kFloat64).requires_grad_()});
  EXPECT_TRUE(r.ok) << act << ": " << r.message;
}

TEST_P(FusionAct, DoubleBackwardMatchesComposition) {
  const std::string act = GetParam();
  na::manual_seed(10);
  na::Tensor x = na::randn({6, 5}, na::kFloat64), w = na::randn({4, 5}, na::kFloat64),
             b = na::randn({4}, na::kFloat64);
  auto second = [&](bool fused) {
    na::Tensor xx = x.detach().requires_grad_(), ww = w.detach().requires_grad_(),
               bb = b.detach().requires_grad_();
    na::Tensor y = fused ? opt::fuse_linear_activation(xx, ww, bb, act)
                         : opt::linear_activation_unfused(xx, ww, bb, act);
    auto g = na::autograd::grad({na::sum(y * y)}, {xx}, {}, true, true);
    // d/dW of |dL/dx|^2: needs the backward of the backward.
    auto gg = na::autograd::grad({na::sum(g[0] * g[0])}, {ww, bb});
    return std::vector<na::Tensor>{g[0].detach(), gg[0], gg[1]};
  };
  auto f = second(true), u = second(false);
  for (size_t i = 0; i < f.size(); ++i)
    EXPECT_TRUE(na_test::close(f[i], u[i], 1e-10, 1e-10)) << act << " " << i;
}

INSTANTIATE_TEST_SUITE_P(Acts, FusionAct, ::testing::ValuesIn(kActs));

TEST(OptimizedLinear, FusedAndUnfusedLayersAgree) {
  for (const std::string& act : kActs) {
    na::manual_seed(11);
    na::nn::OptimizedLinear fused(16, 24, act, true);
    na::manual_seed(11);
    na::nn::OptimizedLinear plain(16, 24, act, false);
    EXPECT_TRUE(na_test::close(fused.weight, plain.weight, 0, 0));
    na::Tensor x = na::randn({10, 16});
    na::Tensor r = na::randn({10, 24});
    na::Tensor y1 = fused.forward(x), y2 = plain.forward(x);
    EXPECT_TRUE(na_test::close(y1, y2, 1e-5, 1e-5)) << act;
    na::autograd::backward({y1}, {r});
    na::autograd::backward({y2}, {r});
    EXPECT_TRUE(na_test::close(fused.weight.grad(), plain.weight.grad(), 1e-4, 1e-4)) << act;
    EXPECT_TRUE(na_test::close(fused.bias.grad(), plain.bias.grad(), 1e-4, 1e-4)) << act;
    // Same parameter names as nn::Linear.
    EXPECT_EQ(fused.state_dict().size(), 2u);
  }
}

TEST(OptimizedLinear, MatchesLinearThenActivation) {
  na::manual_seed(12);
  na::nn::Linear lin(8, 5);
  na::nn::OptimizedLinear ol(8, 5, "gelu_tanh");
  ol.load_state_dict(lin.state_dict());
  na::Tensor x = na::randn({4, 8});
  EXPECT_TRUE(na_test::close(ol.forward(x), na::gelu(lin.forward(x), "tanh"), 1e-5, 1e-5));
}

TEST(OptimizedLinear, HalfPrecisionFallsBackToComposition) {
  na::manual_seed(13);
  na::Tensor x = na::randn({4, 8}), w = na::randn({3, 8}), b = na::randn({3});
  na::Tensor y =
      opt::fuse_linear_activation(x.to(na::kBFloat16), w.to(na::kBFloat16), b.to(na::kBFloat16), "silu");
  EXPECT_EQ(y.dtype(), na::kBFloat16);
  EXPECT_TRUE(na_test::close(y.to(na::kFloat32), na::silu(na::linear(x, w, b)), 3e-2, 3e-2));
}

TEST(OptimizedLinear, EmptyBatchAndZeroInFeatures) {
  na::Tensor w = na::randn({3, 4}).requires_grad_(), b = na::randn({3}).requires_grad_();
  na::Tensor y = opt::fuse_linear_activation(na::randn({0, 4}), w, b, "gelu");
  EXPECT_EQ(y.shape(), (na::Shape{0, 3}));
  na::sum(y).backward();
  EXPECT_TRUE(na_test::close(w.grad(), na::zeros({3, 4}), 0, 0));
  EXPECT_TRUE(na_test::close(b.grad(), na::zeros({3}), 0, 0));
  // in = 0: y = act(b).
  na::Tensor b2 = na::randn({3});
  EXPECT_TRUE(na_test::close(opt::fuse_linear_activation(na::randn({2, 0}), na::randn({3, 0}), b2, "relu"),
                             na::relu(b2).unsqueeze(0).expand({2, 3}), 0, 0));
}

TEST(OptimizedLinear, Misuse) {
  na_test::expect_error([] { na::nn::OptimizedLinear(4, 3, "tanhh"); }, {"[OptimizedLinear]", "tanhh"});
  na_test::expect_error([] { na::nn::OptimizedLinear(-1, 3); }, {"[OptimizedLinear]", "-1"});
  na::nn::OptimizedLinear l(4, 3, "relu");
  na_test::expect_error([&] { l.forward(na::randn({2, 5})); }, {"[OptimizedLinear]", "(2,5)"});
  na_test::expect_error(
      [&] {
        l.forward(na::randn({2, 4}, na::kFloat64));
      },
      {"[OptimizedLinear]", "float64"});
  na::Tensor x = na::randn({2, 4}), w = na::randn({3, 4});
  na_test::expect_error([&] { opt::fuse_linear_activation(x, w, na::Tensor(), "swish"); },
                        {"[fuse_linear_activation]", "swish"});
  na_test::expect_error(
      [&] {
        opt::fuse_linear_activation(x, na::randn({3, 5}), na::Tensor(), "relu");
      },
      {"[fuse_linear_activation]", "(2,4)", "(3,5)"});
  na_test::expect_error([&] { opt::fuse_linear_activation(x, w, na::randn({4}), "relu"); },
                        {"[fuse_linear_activation]", "bias"});
  na_test::expect_error([&] { opt::fuse_linear_activation(x, w.to(na::kFloat64), na::Tensor(), "relu"); },
                        {"[fuse_linear_activation]", "float64"});
  na_test::expect_error(
      [&] {
        opt::fuse_linear_activation(na::ones({2, 4}, na::kInt64), w, na::Tensor(), "relu");
      },
      {"[fuse_linear_activation]", "int64"});
}

TEST(OptimizedLinear, SavedInputModifiedInPlaceIsReported) {
  na::Tensor x = na::randn({3, 4}).requires_grad_(), w = na::randn({2, 4}).requires_grad_();
  na::Tensor xi = x * 1.0;
  na::Tensor y = opt::fuse_linear_activation(xi, w, na::Tensor(), "gelu");
  {
    na::NoGradGuard ng;
    xi.add_(1.0);
  }
  na_test::expect_error([&] { na::sum(y).backward(); }, {"inplace"});
}

}  // namespace
