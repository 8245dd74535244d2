// Behaviour of the autograd engine itself: how gradients are seeded, accumulated, retained,
// hooked and guarded, and which misuses are reported. Per-op gradients are in test_gradcheck.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "neural_arch/autograd.hpp"
#include "neural_arch/ops.hpp"
#include "neural_arch/tensor.hpp"

namespace {

namespace na = neural_arch;
using na::Tensor;

Tensor f64(std::vector<double> v, bool grad = true) {
  Tensor t = na::tensor<double>(v, std::nullopt, na::TensorOptions(na::kFloat64));
  if (grad) t.requires_grad_();
  return t;
}

void expect_values(const Tensor& t, const std::vector<double>& want, double tol = 1e-12) {
  ASSERT_TRUE(t.defined());
  auto got = t.to_vector<double>();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

// Runs f, which must throw neural_arch::Error, and returns the message (empty if it did not throw).
template <class F> std::string error_of(F&& f) {
  try {
    f();
  } catch (const na::Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw a non-neural_arch exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "did not throw";
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(Autograd, BackwardOnScalarFillsLeafGrad) {
  Tensor x = f64({1.0, -2.0, 3.0});
  Tensor y = (x * x).sum();
  EXPECT_TRUE(y.requires_grad());
  EXPECT_FALSE(y.is_leaf());
  EXPECT_TRUE(y.grad_fn() != nullptr);
  y.backward();
  expect_values(x.grad(), {2.0, -4.0, 6.0});
}

TEST(Autograd, LeavesAndGradFn) {
  Tensor x = f64({1.0, 2.0});
  Tensor c = f64({1.0, 2.0}, false);
  EXPECT_TRUE(x.is_leaf());
  EXPECT_TRUE(c.is_leaf());
  EXPECT_TRUE(x.grad_fn() == nullptr);
  EXPECT_FALSE(x.grad().defined());
  Tensor y = x * c;
  EXPECT_FALSE(y.is_leaf());
  ASSERT_TRUE(y.grad_fn() != nullptr);
  EXPECT_FALSE(y.grad_fn()->name().empty());
  // An op on tensors that do not require grad records nothing.
  Tensor z = c * c;
  EXPECT_FALSE(z.requires_grad());
  EXPECT_TRUE(z.grad_fn() == nullptr);
}

TEST(Autograd, NonScalarWithoutGradientIsAnError) {
  Tensor x = f64({1.0, 2.0, 3.0});
  Tensor y = x * 2.0;
  std::string msg = error_of([&] { y.backward(); });
  EXPECT_TRUE(contains(msg, "backward")) << msg;
}

TEST(Autograd, BackwardOnTensorNotRequiringGradIsAnError) {
  Tensor x = f64({1.0, 2.0}, false);
  Tensor y = (x * 2.0).sum();
  std::string msg = error_of([&] { y.backward(); });
  EXPECT_FALSE(msg.empty());
}

TEST(Autograd, ExplicitGradientIsTheVectorJacobianProduct) {
  Tensor x = f64({1.0, -2.0, 3.0});
  Tensor y = x * x;
  y.backward(f64({0.5, 2.0, -1.0}, false));
  expect_values(x.grad(), {1.0, -8.0, -6.0});
}

TEST(Autograd, GradientOfWrongShapeIsAnError) {
  Tensor x = f64({1.0, -2.0, 3.0});
  Tensor y = x * x;
  std::string msg = error_of([&] { y.backward(f64({1.0, 2.0}, false)); });
  EXPECT_FALSE(msg.empty());
}

TEST(Autograd, GradAccumulatesOverBackwardCalls) {
  Tensor x = f64({1.0, 2.0});
  (x * 3.0).sum().backward();
  expect_values(x.grad(), {3.0, 3.0});
  (x * x).sum().backward();
  expect_values(x.grad(), {3.0 + 2.0, 3.0 + 4.0});
}

TEST(Autograd, DiamondGraphSumsBothPaths) {
  // y = sum(2x * sin x): both branches start at x and meet again at the product.
  Tensor x = f64({0.3, -1.1, 2.0});
  Tensor a = x * 2.0;
  Tensor b = na::sin(x);
  (a * b).sum().backward();
  std::vector<double> want;
  for (double v : {0.3, -1.1, 2.0}) want.push_back(2.0 * std::sin(v) + 2.0 * v * std::cos(v));
  expect_values(x.grad(), want);
}

TEST(Autograd, SameTensorTwiceInOneOp) {
  Tensor x = f64({1.5, -0.5});
  (x + x).sum().backward();
  expect_values(x.grad(), {2.0, 2.0});
}

TEST(Autograd, RetainGraphAllowsASecondBackward) {
  Tensor x = f64({0.5, -1.0});
  Tensor y = na::exp(x).sum();  // exp saves its output: a freed graph cannot be replayed
  y.backward(Tensor(), /*retain_graph=*/true);
  y.backward();
  expect_values(x.grad(), {2.0 * std::exp(0.5), 2.0 * std::exp(-1.0)});
}

TEST(Autograd, SecondBackwardWithoutRetainGraphIsAnError) {
  Tensor x = f64({0.5, -1.0});
  Tensor y = (x * x).sum();
  y.backward();
  std::string msg = error_of([&] { y.backward(); });
  EXPECT_TRUE(contains(msg, "retain_graph")) << msg;
  // The first backward's result is intact.
  expect_values(x.grad(), {1.0, -2.0});
}

TEST(Autograd, NoGradGuardStopsRecording) {
  Tensor x = f64({1.0, 2.0});
  EXPECT_TRUE(na::is_grad_enabled());
  {
    na::NoGradGuard guard;
    EXPECT_FALSE(na::is_grad_enabled());
    Tensor y = x * 2.0;
    EXPECT_FALSE(y.requires_grad());
    EXPECT_TRUE(y.grad_fn() == nullptr);
    {
      na::EnableGradGuard enable;
      EXPECT_TRUE(na::is_grad_enabled());
      Tensor z = x * 2.0;
      EXPECT_TRUE(z.requires_grad());
      EXPECT_TRUE(z.grad_fn() != nullptr);
    }
    EXPECT_FALSE(na::is_grad_enabled());
  }
  EXPECT_TRUE(na::is_grad_enabled());
  EXPECT_TRUE((x * 2.0).requires_grad());
}

TEST(Autograd, SetGradEnabled) {
  na::set_grad_enabled(false);
  EXPECT_FALSE(na::is_grad_enabled());
  Tensor x = f64({1.0});
  EXPECT_FALSE((x * 2.0).requires_grad());
  na::set_grad_enabled(true);
  EXPECT_TRUE((x * 2.0).requires_grad());
}

TEST(Autograd, AutogradGradReturnsGradientsWithoutTouchingDotGrad) {
  Tensor x = f64({1.0, -2.0});
  Tensor w = f64({3.0, 4.0});
  Tensor y = (x * w).sum();
  auto g = na::autograd::grad({y}, {x, w});
  ASSERT_EQ(g.size(), 2u);
  expect_values(g[0], {3.0, 4.0});
  expect_values(g[1], {1.0, -2.0});
  EXPECT_FALSE(x.grad().defined());
  EXPECT_FALSE(w.grad().defined());
}

TEST(Autograd, AutogradGradOfNonLeaf) {
  Tensor x = f64({1.0, -2.0});
  Tensor h = x * 3.0;
  Tensor y = (h * h).sum();
  auto g = na::autograd::grad({y}, {h});
  expect_values(g[0], {6.0, -12.0});
  EXPECT_FALSE(x.grad().defined());
}

TEST(Autograd, UnusedInputIsAnErrorUnlessAllowed) {
  Tensor x = f64({1.0, 2.0});
  Tensor unused = f64({5.0});
  {
    Tensor y = (x * x).sum();
    std::string msg = error_of([&] { na::autograd::grad({y}, {x, unused}); });
    EXPECT_FALSE(msg.empty());
  }
  Tensor y = (x * x).sum();
  auto g = na::autograd::grad({y}, {x, unused}, {}, false, false, /*allow_unused=*/true);
  ASSERT_EQ(g.size(), 2u);
  expect_values(g[0], {2.0, 4.0});
  EXPECT_FALSE(g[1].defined());
}

TEST(Autograd, HookOnLeafSeesAndReplacesGradient) {
  Tensor x = f64({1.0, 2.0});
  std::vector<double> seen;
  x.register_hook([&](const Tensor& g) {
    seen = g.to_vector<double>();
    return g * 2.0;
  });
  (x * f64({3.0, -1.0}, false)).sum().backward();
  EXPECT_EQ(seen, (std::vector<double>{3.0, -1.0}));
  expect_values(x.grad(), {6.0, -2.0});
}

TEST(Autograd, HookOnNonLeafChangesWhatFlowsUpstream) {
  Tensor x = f64({1.0, 2.0});
  Tensor h = x * 3.0;
  std::vector<double> seen;
  h.register_hook([&](const Tensor& g) {
    seen = g.to_vector<double>();
    return g * 2.0;
  });
  (h * f64({0.5, -4.0}, false)).sum().backward();
  EXPECT_EQ(seen, (std::vector<double>{0.5, -4.0}));
  expect_values(x.grad(), {2.0 * 0.5 * 3.0, 2.0 * -4.0 * 3.0});
}

TEST(Autograd, HookReturningUndefinedKeepsGradient) {
  Tensor x = f64({1.0, 2.0});
  int calls = 0;
  x.register_hook([&](const Tensor&) {
    ++calls;
    return Tensor();
  });
  (x * 5.0).sum().backward();
  EXPECT_EQ(calls, 1);
  expect_values(x.grad(), {5.0, 5.0});
}

TEST(Autograd, RetainGradKeepsNonLeafGradient) {
  Tensor x = f64({1.0, -2.0});
  Tensor h = x * 3.0;
  Tensor k = x * 4.0;
  h.retain_grad();
  ((h * h).sum() + (k * k).sum()).backward();
  expect_values(h.grad(), {6.0, -12.0});
  EXPECT_FALSE(k.grad().defined());  // not retained
  expect_values(x.grad(), {18.0 + 32.0, -36.0 - 64.0});
}

TEST(Autograd, InplaceChangeOfSavedOutputIsReported) {
  Tensor x = f64({0.5, 1.0});
  Tensor y = na::exp(x);  // exp saves y for its backward
  y.add_(1.0);
  std::string msg = error_of([&] { y.sum().backward(); });
  EXPECT_TRUE(contains(msg, "modified by an inplace operation")) << msg;
}

TEST(Autograd, InplaceChangeOfSavedInputIsReported) {
  Tensor x = f64({0.5, 1.0});
  Tensor b = f64({2.0, 3.0});
  Tensor a = x * 1.0;  // a non-leaf, so the in-place write itself is allowed
  Tensor z = a * b;    // saves a
  const uint64_t before = a.version();
  a.mul_(2.0);
  EXPECT_GT(a.version(), before);
  std::string msg = error_of([&] { z.sum().backward(); });
  EXPECT_TRUE(contains(msg, "modified by an inplace operation")) << msg;
}

TEST(Autograd, InplaceOnUnsavedNonLeafKeepsGradientsRight) {
  // add saves nothing, so writing into its output afterwards is legal and differentiable.
  Tensor x = f64({0.5, 1.0});
  Tensor y = x + 1.0;
  y.mul_(3.0);
  y.sum().backward();
  expect_values(x.grad(), {3.0, 3.0});
}

TEST(Autograd, InplaceOnLeafRequiringGradIsAnErrorUnderGradMode) {
  Tensor x = f64({0.5, 1.0});
  EXPECT_FALSE(error_of([&] { x.add_(1.0); }).empty());
  EXPECT_FALSE(error_of([&] { x.mul_(f64({2.0, 2.0}, false)); }).empty());
  EXPECT_FALSE(error_of([&] { x.zero_(); }).empty());
  expect_values(x, {0.5, 1.0});  // the failed writes left the data alone
  {
    // The optimizer's path: updating parameters without recording.
    na::NoGradGuard guard;
    const uint64_t before = x.version();
    x.sub_(0.25);
    EXPECT_GT(x.version(), before);
  }
  expect_values(x, {0.25, 0.75});
  EXPECT_TRUE(x.requires_grad());
  EXPECT_TRUE(x.is_leaf());
}

TEST(Autograd, RequiresGradOnIntegerTensorIsAnError) {
  Tensor i = na::tensor<int64_t>({1, 2, 3}, std::nullopt, na::TensorOptions(na::kInt64));
  EXPECT_FALSE(error_of([&] { i.requires_grad_(); }).empty());
  EXPECT_FALSE(i.requires_grad());
  Tensor b = na::zeros({2}, na::TensorOptions(na::kBool));
  EXPECT_FALSE(error_of([&] { b.requires_grad_(); }).empty());
}

TEST(Autograd, DetachSharesStorageAndLeavesTheGraph) {
  Tensor x = f64({1.0, 2.0});
  Tensor y = x * 2.0;
  Tensor d = y.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_TRUE(d.grad_fn() == nullptr);
  EXPECT_TRUE(d.is_leaf());
  EXPECT_EQ(d.storage().get(), y.storage().get());
  EXPECT_EQ(d.data_ptr<double>(), y.data_ptr<double>());
  // Writing through the detached handle is visible in y and bumps the shared version.
  const uint64_t before = y.version();
  d.fill_(7.0);
  expect_values(y, {7.0, 7.0});
  EXPECT_GT(y.version(), before);
}

TEST(Autograd, CreateGraphGivesSecondDerivativeOfPow) {
  Tensor x = f64({2.0, -1.5, 0.5});
  Tensor y = na::pow(x, 3).sum();
  auto g = na::autograd::grad({y}, {x}, {}, /*retain_graph=*/false, /*create_graph=*/true);
  expect_values(g[0], {12.0, 6.75, 0.75});
  ASSERT_TRUE(g[0].requires_grad());
  auto g2 = na::autograd::grad({g[0].sum()}, {x});
  expect_values(g2[0], {12.0, -9.0, 3.0});
}

TEST(Autograd, CreateGraphGivesSecondDerivativeOfMul) {
  Tensor x = f64({2.0, -1.5, 0.5});
  Tensor y = (x * x * x).sum();
  auto g = na::autograd::grad({y}, {x}, {}, false, true);
  expect_values(g[0], {12.0, 6.75, 0.75});
  auto g2 = na::autograd::grad({g[0].sum()}, {x});
  expect_values(g2[0], {12.0, -9.0, 3.0});
}

TEST(Autograd, BackwardWithCreateGraphMakesDifferentiableGrad) {
  Tensor x = f64({2.0, -1.5});
  Tensor y = (x * x * x).sum();
  y.backward(Tensor(), false, /*create_graph=*/true);
  Tensor g = x.grad();
  expect_values(g, {12.0, 6.75});
  ASSERT_TRUE(g.requires_grad());
  auto g2 = na::autograd::grad({g.sum()}, {x});
  expect_values(g2[0], {12.0, -9.0});
}

TEST(Autograd, GradWithoutCreateGraphIsNotDifferentiable) {
  Tensor x = f64({2.0, -1.5});
  auto g = na::autograd::grad({(x * x).sum()}, {x});
  EXPECT_FALSE(g[0].requires_grad());
}

TEST(Autograd, MultipleOutputsInOneBackward) {
  Tensor x = f64({1.0, 2.0});
  Tensor a = (x * 2.0).sum();
  Tensor b = x * x;
  na::autograd::backward({a, b}, {Tensor(), f64({1.0, 10.0}, false)});
  expect_values(x.grad(), {2.0 + 2.0, 2.0 + 40.0});
}

// A leaf's first gradient is the buffer backward produced, not a copy (a training step's
// weight grads would otherwise cost one extra pass over all parameters); later gradients are
// added into that buffer in place.
TEST(Autograd, FirstLeafGradientTakesTheIncomingBufferWithoutCopy) {
  Tensor w = na::randn({64, 32}).requires_grad_();
  const Tensor x = na::randn({8, 64});
  const void* incoming = nullptr;
  // Captures only the address: holding the tensor would make the buffer shared.
  w.register_hook([&incoming](const Tensor& g) {
    incoming = g.raw_data();
    return Tensor();
  });
  na::matmul(x, w).sum().backward();
  ASSERT_NE(incoming, nullptr);
  EXPECT_EQ(w.grad().raw_data(), incoming);
  const void* buffer = incoming;
  const Tensor first = w.grad().clone();
  na::matmul(x, w).sum().backward();
  EXPECT_NE(incoming, buffer);             // the second gradient arrived in a new buffer ...
  EXPECT_EQ(w.grad().raw_data(), buffer);  // ... and was added into the first in place
  EXPECT_TRUE(na::allclose(w.grad(), first * 2.0, 1e-6, 1e-6));
}

}  // namespace
