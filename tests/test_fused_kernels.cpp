// Fused NN kernels (nn_kernels_isa.cpp) against the compositions they replace: softmax and
// log_softmax, cross_entropy, layer_norm, rms_norm, bias_dropout_add and blocked attention.
// Each case runs the same public call with the fused switch on and off (functional/fused.hpp)
// and compares values and gradients; f64 gradchecks run the fused backward; double backward
// (which takes the composition) is compared too. PyTorch agreement is covered by the existing
// Reference tests, which run the fused paths by default.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "gradcheck.hpp"
#include "neural_arch/autograd.hpp"
#include "neural_arch/functional/attention.hpp"
#include "neural_arch/functional/fused.hpp"
#include "neural_arch/functional/loss.hpp"
#include "neural_arch/functional/normalization.hpp"
#include "neural_arch/ops.hpp"
#include "neural_arch/optimization/memory.hpp"
#include "nn_test_util.hpp"
#include "test_util.hpp"

namespace {

namespace na = neural_arch;
namespace F = neural_arch::functional;
using na::Tensor;

Tensor randn_t(const na::Shape& s, na::DType t, uint64_t seed, double scale = 1.0) {
  na::Generator g(seed);
  return (na::randn(s, na::TensorOptions(na::DType::f64), &g) * scale).to(t);
}

struct Result {
  Tensor value;
  std::vector<Tensor> grads;
};

// Runs fn on fresh leaves cloned from inputs, backpropagates a fixed random upstream gradient
// and returns the value and the leaves' gradients.
Result run(const std::function<Tensor(const std::vector<Tensor>&)>& fn, const std::vector<Tensor>& inputs,
           bool fused) {
  F::FusedKernelsGuard guard(fused);
  std::vector<Tensor> leaves;
  for (const Tensor& t : inputs)
    leaves.push_back(na::is_floating(t.dtype()) ? t.detach().clone().requires_grad_() : t);
  Tensor y = fn(leaves);
  Tensor up = randn_t(y.shape(), y.dtype(), 99);
  na::autograd::backward({y}, {up});
  Result r{y.detach(), {}};
  for (const Tensor& l : leaves)
    if (na::is_floating(l.dtype())) r.grads.push_back(l.grad());
  return r;
}

void expect_fused_matches(const std::string& what,
                          const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                          const std::vector<Tensor>& inputs, double rtol, double atol) {
  Result a = run(fn, inputs, true), b = run(fn, inputs, false);
  EXPECT_TRUE(na_test::close(a.value, b.value, rtol, atol, what + " value", /*nan_equal=*/true));
  ASSERT_EQ(a.grads.size(), b.grads.size());
  for (size_t i = 0; i < a.grads.size(); ++i)
    EXPECT_TRUE(
        na_test::close(a.grads[i], b.grads[i], rtol, atol, what + " grad " + std::to_string(i), true));
}

double tol(na::DType t) { return t == na::DType::f32 ? 2e-5 : 1e-11; }

void expect_gradcheck(const std::string& name, const na_test::GradFn& fn, const std::vector<Tensor>& inputs) {
  na_test::GradcheckOptions o;
  o.name = name;
  auto r = na_test::gradcheck(fn, inputs, o);
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_GT(r.max_abs_numeric, 0.0) << name;
}

// Second derivatives: grad of (grad(fn) · v) with the fused switch on (its backward falls back to
// the composition under create_graph) against the same with it off.
void expect_double_backward_matches(const std::string& what,
                                    const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                                    const std::vector<Tensor>& inputs) {
  std::vector<Tensor> res[2];
  for (int f = 0; f < 2; ++f) {
    F::FusedKernelsGuard guard(f == 0);
    std::vector<Tensor> leaves;
    for (const Tensor& t : inputs) leaves.push_back(t.detach().clone().requires_grad_());
    Tensor y = fn(leaves);
    Tensor up = randn_t(y.shape(), y.dtype(), 7);
    auto g = na::autograd::grad({y}, leaves, {up}, true, true);
    Tensor s = na::zeros({}, na::TensorOptions(y.dtype()));
    for (size_t i = 0; i < g.size(); ++i) s = s + (g[i] * randn_t(g[i].shape(), g[i].dtype(), 11 + i)).sum();
    res[f] = na::autograd::grad({s}, leaves, {}, false, false, /*allow_unused=*/true);
  }
  for (size_t i = 0; i < res[0].size(); ++i) {
    ASSERT_EQ(res[0][i].defined(), res[1][i].defined()) << what << " input " << i;
    if (res[0][i].defined())
      EXPECT_TRUE(na_test::close(res[0][i], res[1][i], 1e-9, 1e-10,
                                 what + " second derivative " + std::to_string(i)));
  }
}

// ------------------------------------------------------------------ softmax

TEST(FusedSoftmax, MatchesCompositionAlongEveryDim) {
  for (na::DType t : {na::DType::f32, na::DType::f64}) {
    for (bool log_form : {false, true}) {
      auto fn = [log_form](int64_t d) {
        return [log_form, d](const std::vector<Tensor>& v) {
          return log_form ? na::log_softmax(v[0], d) : na::softmax(v[0], d);
        };
      };
      const std::string name = std::string(log_form ? "log_softmax " : "softmax ") + na::dtype_name(t);
      expect_fused_matches(name + " rows 37", fn(-1), {randn_t({7, 37}, t, 1, 3.0)}, tol(t), tol(t));
      expect_fused_matches(name + " rows 1000", fn(1), {randn_t({3, 1000}, t, 2, 10.0)}, tol(t), tol(t));
      expect_fused_matches(name + " dim 1 of 3", fn(1), {randn_t({3, 5, 19}, t, 3)}, tol(t), tol(t));
      expect_fused_matches(name + " dim 0", fn(0), {randn_t({6, 4}, t, 4)}, tol(t), tol(t));
    }
  }
}

TEST(FusedSoftmax, InfinitiesAndNaNAsComposition) {
  const double inf = std::numeric_limits<double>::infinity();
  Tensor x =
      na::tensor<double>({1, -inf, 3, -inf, -inf, -inf, -inf, -inf, std::nan(""), 2, 1, 0}, na::Shape{3, 4})
          .to(na::DType::f32);
  for (bool log_form : {false, true}) {
    Tensor a, b;
    {
      F::FusedKernelsGuard on(true);
      a = log_form ? na::log_softmax(x, 1) : na::softmax(x, 1);
    }
    {
      F::FusedKernelsGuard off(false);
      b = log_form ? na::log_softmax(x, 1) : na::softmax(x, 1);
    }
    const auto av = a.to_vector<float>(), bv = b.to_vector<float>();
    for (size_t i = 0; i < av.size(); ++i)  // equal infinities, both NaN, or close
      EXPECT_TRUE(av[i] == bv[i] || (std::isnan(av[i]) && std::isnan(bv[i])) ||
                  std::abs(av[i] - bv[i]) < 1e-6)
          << (log_form ? "log_softmax" : "softmax") << " element " << i << ": " << av[i] << " vs " << bv[i];
    EXPECT_TRUE(std::isnan(a.to_vector<float>()[4]));  // the all -inf row is NaN, as in torch
    EXPECT_TRUE(std::isnan(a.to_vector<float>()[9]));  // a NaN spreads over its row
  }
}

TEST(FusedSoftmax, Gradcheck) {
  expect_gradcheck("softmax", [](const std::vector<Tensor>& v) { return na::softmax(v[0], 1); },
                   {na_test::rand64({3, 9}, 5, 2.0).requires_grad_()});
  expect_gradcheck("log_softmax", [](const std::vector<Tensor>& v) { return na::log_softmax(v[0], 0); },
                   {na_test::rand64({9, 3}, 6, 2.0).requires_grad_()});
  expect_double_backward_matches("softmax",
                                 [](const std::vector<Tensor>& v) { return na::softmax(v[0], -1); },
                                 {na_test::rand64({2, 7}, 8)});
  expect_double_backward_matches("log_softmax",
                                 [](const std::vector<Tensor>& v) { return na::log_softmax(v[0], -1); },
                                 {na_test::rand64({2, 7}, 9)});
}

// ------------------------------------------------------------------ cross_entropy

TEST(FusedCrossEntropy, ClassIndicesMatchComposition) {
  for (na::DType t : {na::DType::f32, na::DType::f64}) {
    Tensor logits = randn_t({6, 11}, t, 10, 4.0);
    Tensor idx = na::tensor<int64_t>({3, -100, 0, 10, 5, 3}, na::Shape{6});
    Tensor w = (na::rand({11}, na::TensorOptions(na::DType::f64)) + 0.5).to(t);
    for (const std::string red : {"mean", "sum", "none"})
      for (double ls : {0.0, 0.2})
        for (bool weighted : {false, true}) {
          const std::string name = std::string(na::dtype_name(t)) + " " + red + " ls=" + std::to_string(ls) +
                                   (weighted ? " weighted" : "");
          expect_fused_matches(
              name,
              [&](const std::vector<Tensor>& v) {
                return F::cross_entropy(v[0], idx, weighted ? w : Tensor(), -100, red, ls);
              },
              {logits}, tol(t), tol(t));
        }
    // (C) input and (N, C, d1, d2) input with spatial targets
    expect_fused_matches(
        "1-D",
        [&](const std::vector<Tensor>& v) {
          return F::cross_entropy(v[0], na::tensor<int64_t>({4}, na::Shape{}), Tensor(), -100, "mean", 0.1);
        },
        {randn_t({7}, t, 11)}, tol(t), tol(t));
    Tensor sp = na::tensor<int64_t>({0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1}, na::Shape{2, 3, 2});
    expect_fused_matches(
        "spatial",
        [&](const std::vector<Tensor>& v) {
          return F::cross_entropy(v[0], sp, w.narrow(0, 0, 5), -100, "none", 0.3);
        },
        {randn_t({2, 5, 3, 2}, t, 12)}, tol(t), tol(t));
  }
}

TEST(FusedCrossEntropy, ProbabilityTargetsMatchComposition) {
  for (na::DType t : {na::DType::f32, na::DType::f64}) {
    Tensor logits = randn_t({5, 9}, t, 20, 3.0);
    Tensor probs = na::softmax(randn_t({5, 9}, t, 21), 1);
    Tensor w = (na::rand({9}, na::TensorOptions(na::DType::f64)) + 0.5).to(t);
    for (const std::string red : {"mean", "sum", "none"})
      for (double ls : {0.0, 0.25})
        for (bool weighted : {false, true})
          expect_fused_matches(
              std::string("probs ") + red,
              [&](const std::vector<Tensor>& v) {
                return F::cross_entropy(v[0], probs, weighted ? w : Tensor(), -100, red, ls);
              },
              {logits}, tol(t), tol(t));
    expect_fused_matches(
        "probs spatial",
        [&](const std::vector<Tensor>& v) {
          return F::cross_entropy(v[0], na::softmax(randn_t({2, 4, 3}, t, 23), 1), Tensor(), -100, "mean",
                                  0.1);
        },
        {randn_t({2, 4, 3}, t, 22)}, tol(t), tol(t));
  }
}

TEST(FusedCrossEntropy, AllIgnoredMeanIsNaNWithZeroGradient) {
  // torch: the loss is 0/0 = NaN, and nll_loss's backward writes nothing for ignored targets, so
  // the gradient is 0 (the composition's autograd would give NaN here).
  Tensor logits = randn_t({3, 4}, na::DType::f32, 30).requires_grad_();
  Tensor idx = na::tensor<int64_t>({-100, -100, -100}, na::Shape{3});
  Tensor loss = F::cross_entropy(logits, idx);
  EXPECT_TRUE(std::isnan(loss.item()));
  na::autograd::backward({loss});
  EXPECT_TRUE(na_test::close(logits.grad(), na::zeros({3, 4}), 0, 0, "grad"));
}

TEST(FusedCrossEntropy, GradcheckAndDoubleBackward) {
  Tensor idx = na::tensor<int64_t>({2, 0, -100, 4}, na::Shape{4});
  Tensor w = na_test::rand64({5}, 41, 1.0, 0.5);
  expect_gradcheck(
      "cross_entropy",
      [&](const std::vector<Tensor>& v) { return F::cross_entropy(v[0], idx, w, -100, "mean", 0.1); },
      {na_test::rand64({4, 5}, 40, 3.0).requires_grad_()});
  Tensor probs = na::softmax(na_test::rand64({4, 5}, 42), 1);
  expect_gradcheck("cross_entropy probs",
                   [&](const std::vector<Tensor>& v) {
                     return F::cross_entropy(v[0], probs, Tensor(), -100, "none", 0.2);
                   },
                   {na_test::rand64({4, 5}, 43, 3.0).requires_grad_()});
  expect_double_backward_matches(
      "cross_entropy",
      [&](const std::vector<Tensor>& v) { return F::cross_entropy(v[0], idx, w, -100, "sum", 0.1); },
      {na_test::rand64({4, 5}, 44)});
}

TEST(FusedCrossEntropy, WeightGradientTakesComposition) {
  // The fused kernel only differentiates the logits; a weight that requires grad still gets one.
  Tensor x = na_test::rand64({3, 4}, 50).requires_grad_();
  Tensor w = na_test::rand64({4}, 51, 1.0, 0.5).requires_grad_();
  Tensor loss = F::cross_entropy(x, na::tensor<int64_t>({1, 2, 3}, na::Shape{3}), w);
  na::autograd::backward({loss});
  ASSERT_TRUE(w.grad().defined());
  EXPECT_GT(w.grad().abs().sum().item(), 0.0);
}

// ------------------------------------------------------------------ layer_norm / rms_norm

TEST(FusedNorm, MatchesComposition) {
  for (na::DType t : {na::DType::f32, na::DType::f64}) {
    Tensor x = randn_t({4, 3, 50}, t, 60, 2.0) + 3.0;  // an offset: the variance must be centred
    Tensor w = randn_t({50}, t, 61), b = randn_t({50}, t, 62);
    const std::string dt = na::dtype_name(t);
    expect_fused_matches(
        "layer_norm affine " + dt,
        [](const std::vector<Tensor>& v) { return F::layer_norm(v[0], {50}, v[1], v[2], 1e-5); }, {x, w, b},
        tol(t) * 5, tol(t) * 5);
    expect_fused_matches(
        "layer_norm plain " + dt,
        [](const std::vector<Tensor>& v) {
          return F::layer_norm(v[0], {3, 50});
        },
        {x}, tol(t) * 5, tol(t) * 5);
    expect_fused_matches(
        "layer_norm weight only " + dt,
        [](const std::vector<Tensor>& v) { return F::layer_norm(v[0], {50}, v[1]); }, {x, w}, tol(t) * 5,
        tol(t) * 5);
    expect_fused_matches(
        "rms_norm " + dt, [](const std::vector<Tensor>& v) { return F::rms_norm(v[0], {50}, v[1], 1e-6); },
        {x, w}, tol(t) * 5, tol(t) * 5);
    expect_fused_matches(
        "rms_norm plain " + dt,
        [](const std::vector<Tensor>& v) {
          return F::rms_norm(v[0], {3, 50});
        },
        {x}, tol(t) * 5, tol(t) * 5);
  }
}

TEST(FusedNorm, GradcheckAndDoubleBackward) {
  expect_gradcheck("layer_norm",
                   [](const std::vector<Tensor>& v) { return F::layer_norm(v[0], {6}, v[1], v[2]); },
                   {na_test::rand64({5, 6}, 70).requires_grad_(), na_test::rand64({6}, 71).requires_grad_(),
                    na_test::rand64({6}, 72).requires_grad_()});
  expect_gradcheck("rms_norm", [](const std::vector<Tensor>& v) { return F::rms_norm(v[0], {6}, v[1]); },
                   {na_test::rand64({5, 6}, 73).requires_grad_(), na_test::rand64({6}, 74).requires_grad_()});
  expect_double_backward_matches(
      "layer_norm", [](const std::vector<Tensor>& v) { return F::layer_norm(v[0], {6}, v[1], v[2]); },
      {na_test::rand64({3, 6}, 75), na_test::rand64({6}, 76), na_test::rand64({6}, 77)});
  expect_double_backward_matches("rms_norm",
                                 [](const std::vector<Tensor>& v) { return F::rms_norm(v[0], {6}, v[1]); },
                                 {na_test::rand64({3, 6}, 78), na_test::rand64({6}, 79)});
}

// ------------------------------------------------------------------ bias_dropout_add

TEST(FusedBiasDropoutAdd, NoDropoutIsTheSum) {
  Tensor x = randn_t({4, 8}, na::DType::f32, 80), b = randn_t({8}, na::DType::f32, 81);
  Tensor r = randn_t({4, 8}, na::DType::f32, 82);
  EXPECT_TRUE(na_test::close(F::bias_dropout_add(x, b, r, 0.3, false), r + (x + b), 1e-7, 1e-7, "eval"));
  EXPECT_TRUE(na_test::close(F::bias_dropout_add(x, b, r, 0.0, true), r + (x + b), 1e-7, 1e-7, "p=0"));
  EXPECT_TRUE(na_test::close(F::bias_dropout_add(x, Tensor(), Tensor(), 0.0, true), x, 0, 0, "x only"));
}

TEST(FusedBiasDropoutAdd, MaskScaleGradientsAndReproducibility) {
  const double p = 0.3;
  Tensor x = randn_t({64, 96}, na::DType::f32, 83).requires_grad_();
  Tensor b = randn_t({96}, na::DType::f32, 84).requires_grad_();
  Tensor r = randn_t({64, 96}, na::DType::f32, 85).requires_grad_();
  na::Generator g1(5), g2(5);
  Tensor y = F::bias_dropout_add(x, b, r, p, true, &g1);
  Tensor y2 = F::bias_dropout_add(x, b, r, p, true, &g2);
  EXPECT_TRUE(na_test::close(y, y2, 0, 0, "same generator state, same mask"));
  // Each element is either the residual alone or residual + (x + b) / (1 - p).
  const auto yv = y.to_vector<float>(), xv = (x + b).to_vector<float>(), rv = r.to_vector<float>();
  std::vector<float> keep(yv.size());
  int64_t kept = 0;
  for (size_t i = 0; i < yv.size(); ++i) {
    const bool k = std::abs(yv[i] - rv[i] - xv[i] / (1.0 - p)) < 1e-4;
    const bool d = std::abs(yv[i] - rv[i]) < 1e-6;
    ASSERT_TRUE(k || d) << "element " << i;
    keep[i] = k && !d ? 1.0f : (d && !k ? 0.0f : (std::abs(xv[i]) < 1e-6 ? 1.0f : 0.0f));
    kept += keep[i] > 0;
  }
  const double frac = static_cast<double>(kept) / static_cast<double>(yv.size());
  EXPECT_NEAR(frac, 1.0 - p, 0.03);  // 6144 draws: the standard deviation is 0.006
  Tensor up = randn_t(y.shape(), na::DType::f32, 86);
  na::autograd::backward({y}, {up});
  Tensor mask = na::tensor<float>(keep, y.shape());
  Tensor gx = up * mask * (1.0 / (1.0 - p));
  EXPECT_TRUE(na_test::close(x.grad(), gx, 1e-6, 1e-6, "x grad"));
  EXPECT_TRUE(na_test::close(b.grad(), gx.sum({0}), 1e-5, 1e-5, "bias grad"));
  EXPECT_TRUE(na_test::close(r.grad(), up, 0, 0, "residual grad"));
}

TEST(FusedBiasDropoutAdd, GradcheckAndErrors) {
  expect_gradcheck("bias_dropout_add",
                   [](const std::vector<Tensor>& v) {
                     na::Generator g(3);  // the same mask for every evaluation
                     return F::bias_dropout_add(v[0], v[1], v[2], 0.4, true, &g);
                   },
                   {na_test::rand64({5, 7}, 90).requires_grad_(), na_test::rand64({7}, 91).requires_grad_(),
                    na_test::rand64({5, 7}, 92).requires_grad_()});
  Tensor x = randn_t({2, 3}, na::DType::f32, 93);
  na_test::expect_error([&] { F::bias_dropout_add(x, randn_t({4}, na::DType::f32, 1), Tensor(), 0.1, true); },
                        {"[bias_dropout_add]", "bias", "(4,)"});
  na_test::expect_error(
      [&] {
        F::bias_dropout_add(x, Tensor(), randn_t({3, 2}, na::DType::f32, 1), 0.1, true);
      },
      {"[bias_dropout_add]", "residual", "(3,2)"});
  na_test::expect_error([&] { F::bias_dropout_add(x, Tensor(), Tensor(), 1.5, true); },
                        {"[bias_dropout_add]", "1.5"});
}

TEST(FusedBiasDropoutAdd, CreateGraphGivesTheSameFirstDerivative) {
  // Under create_graph the backward builds gy * mask through ops (differentiable in gy).
  Tensor x = randn_t({8, 16}, na::DType::f64, 94).requires_grad_();
  Tensor b = randn_t({16}, na::DType::f64, 95).requires_grad_();
  Tensor up = randn_t({8, 16}, na::DType::f64, 96).requires_grad_();
  std::vector<Tensor> g[2];
  for (int cg = 0; cg < 2; ++cg) {
    na::Generator gen(9);
    Tensor y = F::bias_dropout_add(x, b, Tensor(), 0.5, true, &gen);
    g[cg] = na::autograd::grad({y}, {x, b}, {up}, true, cg == 1);
  }
  EXPECT_TRUE(na_test::close(g[1][0], g[0][0], 1e-12, 1e-12, "x grad"));
  EXPECT_TRUE(na_test::close(g[1][1], g[0][1], 1e-12, 1e-12, "bias grad"));
  // d(sum(gx * gx))/d(up) = 2 * gx * mask * scale = 2 * gx * scale (gx is 0 where dropped)
  Tensor dup = na::autograd::grad({(g[1][0] * g[1][0]).sum()}, {up})[0];
  EXPECT_TRUE(na_test::close(dup, g[0][0] * 4.0, 1e-12, 1e-12, "second derivative"));
}

// ------------------------------------------------------------------ attention

Tensor sdpa(const std::vector<Tensor>& v, bool causal) {
  return F::scaled_dot_product_attention(v[0], v[1], v[2], Tensor(), 0.0, causal);
}

TEST(FusedAttention, MatchesCompositionAcrossBlockEdges) {
  for (na::DType t : {na::DType::f32, na::DType::f64}) {
    const double e = t == na::DType::f32 ? 1e-4 : 1e-10;
    for (bool causal : {false, true}) {
      const std::string name = std::string(na::dtype_name(t)) + (causal ? " causal" : "");
      // L = S not a multiple of the 64-row blocks
      expect_fused_matches(
          name + " 70", [causal](const std::vector<Tensor>& v) { return sdpa(v, causal); },
          {randn_t({2, 3, 70, 16}, t, 100), randn_t({2, 3, 70, 16}, t, 101), randn_t({2, 3, 70, 16}, t, 102)},
          e, e);
      // L != S, value features != key features, 3-D inputs
      expect_fused_matches(
          name + " L130 S70", [causal](const std::vector<Tensor>& v) { return sdpa(v, causal); },
          {randn_t({2, 130, 24}, t, 103), randn_t({2, 70, 24}, t, 104), randn_t({2, 70, 40}, t, 105)}, e, e);
      expect_fused_matches(
          name + " L5 S140", [causal](const std::vector<Tensor>& v) { return sdpa(v, causal); },
          {randn_t({1, 5, 8}, t, 106), randn_t({1, 140, 8}, t, 107), randn_t({1, 140, 3}, t, 108)}, e, e);
    }
  }
}

TEST(FusedAttention, StridedViewsAndScale) {
  // (L, N, H, D) permuted to (N, H, L, D): read in place by per-head offsets.
  auto fn = [](const std::vector<Tensor>& v) {
    auto view = [](const Tensor& t) { return t.permute({1, 2, 0, 3}); };
    return F::scaled_dot_product_attention(view(v[0]), view(v[1]), view(v[2]), Tensor(), 0.0, true, 0.3);
  };
  expect_fused_matches(
      "permuted", fn,
      {randn_t({67, 2, 3, 16}, na::DType::f32, 110), randn_t({67, 2, 3, 16}, na::DType::f32, 111),
       randn_t({67, 2, 3, 16}, na::DType::f32, 112)},
      1e-4, 1e-4);
  // A transposed feature dim (non-unit stride) is copied first.
  auto fn2 = [](const std::vector<Tensor>& v) {
    return F::scaled_dot_product_attention(v[0].transpose(-2, -1), v[1], v[2], Tensor(), 0.0, false);
  };
  expect_fused_matches("transposed q", fn2,
                       {randn_t({2, 8, 9}, na::DType::f32, 113), randn_t({2, 11, 8}, na::DType::f32, 114),
                        randn_t({2, 11, 5}, na::DType::f32, 115)},
                       1e-4, 1e-4);
}

TEST(FusedAttention, GradcheckAndDoubleBackward) {
  for (bool causal : {false, true})
    expect_gradcheck(
        causal ? "sdpa causal" : "sdpa", [causal](const std::vector<Tensor>& v) { return sdpa(v, causal); },
        {na_test::rand64({2, 9, 4}, 120).requires_grad_(), na_test::rand64({2, 9, 4}, 121).requires_grad_(),
         na_test::rand64({2, 9, 3}, 122).requires_grad_()});
  expect_double_backward_matches(
      "sdpa", [](const std::vector<Tensor>& v) { return sdpa(v, true); },
      {na_test::rand64({1, 6, 4}, 123), na_test::rand64({1, 6, 4}, 124), na_test::rand64({1, 6, 4}, 125)});
}

TEST(FusedAttention, MultiheadAttentionCausalMatchesComposition) {
  // multi_head_attention_forward passes a lone causal mask to the blocked kernel, and with a key
  // padding mask folds it into the additive mask (composition path); both must agree.
  const int64_t L = 70, N = 2, E = 32, H = 4;
  Tensor w_in = randn_t({3 * E, E}, na::DType::f32, 140, 0.2), b_in = randn_t({3 * E}, na::DType::f32, 141);
  Tensor w_out = randn_t({E, E}, na::DType::f32, 142, 0.2), b_out = randn_t({E}, na::DType::f32, 143);
  Tensor kpm = na::zeros({N, L}, na::TensorOptions(na::DType::boolean));
  for (bool with_kpm : {false, true}) {
    auto fn = [&](const std::vector<Tensor>& v) {
      F::MultiheadAttentionOptions o;
      o.is_causal = true;
      o.need_weights = false;
      if (with_kpm) o.key_padding_mask = kpm;
      return F::multi_head_attention_forward(v[0], v[0], v[0], H, v[1], v[2], v[3], v[4], o).first;
    };
    expect_fused_matches(with_kpm ? "mha causal + key padding" : "mha causal", fn,
                         {randn_t({L, N, E}, na::DType::f32, 144), w_in, b_in, w_out, b_out}, 1e-4, 1e-4);
  }
}

TEST(FusedAttention, PeakMemoryBelowTheScoreMatrix) {
  // A 1024×1024 score matrix per head would be 4 MiB; the blocked forward+backward stays far below.
  const int64_t T = 1024, D = 32;
  Tensor q = randn_t({1, 2, T, D}, na::DType::f32, 130).requires_grad_();
  Tensor k = randn_t({1, 2, T, D}, na::DType::f32, 131).requires_grad_();
  Tensor v = randn_t({1, 2, T, D}, na::DType::f32, 132).requires_grad_();
  const size_t before = na::optimization::get_memory_stats().allocated_bytes;
  na::optimization::reset_peak();
  Tensor o = F::scaled_dot_product_attention(q, k, v, Tensor(), 0.0, true);
  na::autograd::backward({o.sum()});
  const size_t peak = na::optimization::get_memory_stats().peak_allocated_bytes - before;
  EXPECT_LT(peak, static_cast<size_t>(2 * T * T * 4) / 2) << "peak " << peak << " bytes";
}

}  // namespace
