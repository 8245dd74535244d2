// Optimizers (SGD, Adam, AdamW, Lion, RMSprop, Adagrad) and gradient clipping: 20-step
// trajectories against PyTorch (tests/reference/gen_optim.py -> data/optim/traj_*.bin),
// state_dict round trips, thread-count independence, misuse errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "neural_arch/autograd.hpp"
#include "neural_arch/ops.hpp"
#include "neural_arch/optim/adagrad.hpp"
#include "neural_arch/optim/adam.hpp"
#include "neural_arch/optim/clip_grad.hpp"
#include "neural_arch/optim/lion.hpp"
#include "neural_arch/optim/rmsprop.hpp"
#include "neural_arch/optim/sgd.hpp"
#include "neural_arch/optimization/memory.hpp"
#include "reference_data.hpp"
#include "test_util.hpp"

namespace optim_test {
using na_test::PrintTo;

namespace na = neural_arch;
namespace optim = neural_arch::optim;
using na::Tensor;
using OptimPtr = std::unique_ptr<optim::Optimizer>;
using Groups = std::vector<optim::ParamGroup>;

// ------------------------------------------------------------------ helpers

// Relative error: |a - e| <= rtol * max(|e|, floor) per element. floor < 0 means "the largest
// |e| of the tensor", i.e. the error relative to the parameter tensor's magnitude.
::testing::AssertionResult rel_close(const Tensor& actual, const Tensor& expected, double rtol,
                                     double floor) {
  if (actual.dtype() != expected.dtype() || actual.shape() != expected.shape())
    return ::testing::AssertionFailure()
           << "got " << na::shape_str(actual.shape()) << " " << na::dtype_name(actual.dtype())
           << ", expected " << na::shape_str(expected.shape()) << " " << na::dtype_name(expected.dtype());
  const auto a = actual.to_vector<double>(), e = expected.to_vector<double>();
  if (floor < 0) {
    floor = 0;
    for (double v : e) floor = std::max(floor, std::abs(v));
  }
  size_t bad = 0, worst = 0;
  double worst_rel = -1;
  for (size_t i = 0; i < a.size(); ++i) {
    const double rel = std::abs(a[i] - e[i]) / std::max(std::abs(e[i]), floor);
    if (!(rel <= rtol)) {
      ++bad;
      if (rel > worst_rel || std::isnan(rel)) worst_rel = rel, worst = i;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << bad << " of " << a.size() << " elements off; worst at " << worst << ": " << a[worst] << " vs "
         << e[worst] << " (relative " << worst_rel << ")";
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  const Tensor ac = a.contiguous(), bc = b.contiguous();
  return std::memcmp(ac.raw_data(), bc.raw_data(), static_cast<size_t>(a.numel()) * a.element_size()) == 0;
}

void expect_error(const std::function<void()>& f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "expected neural_arch::Error";
  } catch (const na::Error& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

Tensor leaf(const Tensor& values) { return values.clone().requires_grad_(); }

// ------------------------------------------------------------------ PyTorch trajectories

// The same names and options as gen_optim.py. A factory gets one group per parameter list.
struct TrajCase {
  std::string name;
  std::function<OptimPtr(std::vector<Tensor>)> make;
};

Groups single(std::vector<Tensor> p) { return Groups{optim::ParamGroup(std::move(p))}; }

const std::vector<TrajCase>& traj_cases() {
  using namespace optim;
  static const std::vector<TrajCase> cases = {
      {"traj_sgd", [](auto p) -> OptimPtr { return std::make_unique<SGD>(p, SGDOptions().lr(0.1)); }},
      {"traj_sgd_wd",
       [](auto p) -> OptimPtr { return std::make_unique<SGD>(p, SGDOptions().lr(0.1).weight_decay(0.01)); }},
      {"traj_sgd_momentum",
       [](auto p) -> OptimPtr { return std::make_unique<SGD>(p, SGDOptions().lr(0.05).momentum(0.9)); }},
      {"traj_sgd_momentum_dampening_wd",
       [](auto p) -> OptimPtr {
         return std::make_unique<SGD>(p,
                                      SGDOptions().lr(0.05).momentum(0.9).dampening(0.1).weight_decay(0.01));
       }},
      {"traj_sgd_nesterov",
       [](auto p) -> OptimPtr {
         return std::make_unique<SGD>(p,
                                      SGDOptions().lr(0.05).momentum(0.9).nesterov(true).weight_decay(1e-3));
       }},
      {"traj_sgd_maximize",
       [](auto p) -> OptimPtr {
         return std::make_unique<SGD>(p, SGDOptions().lr(0.05).momentum(0.5).maximize(true));
       }},
      {"traj_sgd_nesterov_f32",
       [](auto p) -> OptimPtr {
         return std::make_unique<SGD>(p,
                                      SGDOptions().lr(0.05).momentum(0.9).nesterov(true).weight_decay(1e-3));
       }},
      {"traj_adam", [](auto p) -> OptimPtr { return std::make_unique<Adam>(p, AdamOptions().lr(1e-2)); }},
      {"traj_adam_wd",
       [](auto p) -> OptimPtr {
         return std::make_unique<Adam>(p, AdamOptions().lr(1e-2).weight_decay(0.1));
       }},
      {"traj_adam_amsgrad_wd",
       [](auto p) -> OptimPtr {
         return std::make_unique<Adam>(
             p, AdamOptions().lr(1e-2).betas({0.8, 0.99}).eps(1e-6).weight_decay(0.05).amsgrad(true));
       }},
      {"traj_adam_maximize",
       [](auto p) -> OptimPtr { return std::make_unique<Adam>(p, AdamOptions().lr(1e-2).maximize(true)); }},
      {"traj_adam_f32",
       [](auto p) -> OptimPtr {
         return std::make_unique<Adam>(p, AdamOptions().lr(1e-2).weight_decay(0.01));
       }},
      {"traj_adam_groups",
       [](auto p) -> OptimPtr {
         Groups g;
         g.emplace_back(std::vector<Tensor>{p[0]}, AdamOptions().lr(3e-2).weight_decay(0.1));
         g.emplace_back(std::vector<Tensor>{p[1], p[2]});  // the defaults
         return std::make_unique<Adam>(g, AdamOptions().lr(1e-2));
       }},
      {"traj_adam_skip",
       [](auto p) -> OptimPtr { return std::make_unique<Adam>(p, AdamOptions().lr(1e-2)); }},
      {"traj_adamw", [](auto p) -> OptimPtr { return std::make_unique<AdamW>(p, AdamWOptions().lr(1e-2)); }},
      {"traj_adamw_wd",
       [](auto p) -> OptimPtr {
         return std::make_unique<AdamW>(p, AdamWOptions().lr(1e-2).weight_decay(0.1));
       }},
      {"traj_adamw_amsgrad",
       [](auto p) -> OptimPtr { return std::make_unique<AdamW>(p, AdamWOptions().lr(1e-2).amsgrad(true)); }},
      {"traj_adamw_amsgrad_f32",
       [](auto p) -> OptimPtr { return std::make_unique<AdamW>(p, AdamWOptions().lr(1e-2).amsgrad(true)); }},
      {"traj_lion", [](auto p) -> OptimPtr { return std::make_unique<Lion>(p, LionOptions().lr(1e-3)); }},
      {"traj_lion_wd",
       [](auto p) -> OptimPtr {
         return std::make_unique<Lion>(p, LionOptions().lr(1e-3).betas({0.95, 0.98}).weight_decay(0.1));
       }},
      {"traj_lion_f32",
       [](auto p) -> OptimPtr {
         return std::make_unique<Lion>(p, LionOptions().lr(1e-3).weight_decay(0.1));
       }},
      {"traj_rmsprop", [](auto p) -> OptimPtr { return std::make_unique<RMSprop>(p); }},
      {"traj_rmsprop_momentum_wd",
       [](auto p) -> OptimPtr {
         return std::make_unique<RMSprop>(p, RMSpropOptions().lr(1e-3).momentum(0.9).weight_decay(0.01));
       }},
      {"traj_rmsprop_centered",
       [](auto p) -> OptimPtr {
         return std::make_unique<RMSprop>(p, RMSpropOptions().lr(1e-3).alpha(0.9).centered(true));
       }},
      {"traj_rmsprop_centered_momentum",
       [](auto p) -> OptimPtr {
         return std::make_unique<RMSprop>(p,
                                          RMSpropOptions().lr(1e-3).momentum(0.5).centered(true).eps(1e-6));
       }},
      {"traj_rmsprop_centered_momentum_f32",
       [](auto p) -> OptimPtr {
         return std::make_unique<RMSprop>(p,
                                          RMSpropOptions().lr(1e-3).momentum(0.5).centered(true).eps(1e-6));
       }},
      {"traj_adagrad", [](auto p) -> OptimPtr { return std::make_unique<Adagrad>(p); }},
      {"traj_adagrad_decay_wd",
       [](auto p) -> OptimPtr {
         return std::make_unique<Adagrad>(
             p, AdagradOptions().lr(0.05).lr_decay(0.01).weight_decay(0.01).initial_accumulator_value(0.1));
       }},
      {"traj_adagrad_f32",
       [](auto p) -> OptimPtr { return std::make_unique<Adagrad>(p, AdagradOptions().lr(0.05)); }},
  };
  return cases;
}

class OptimReference : public ::testing::TestWithParam<TrajCase> {};

TEST_P(OptimReference, TrajectoryMatchesTorch) {
  const TrajCase& c = GetParam();
  const auto ref = na_reference::load_reference("optim/" + c.name);
  std::vector<Tensor> params;
  for (int k = 0; ref.has("p0." + std::to_string(k)); ++k)
    params.push_back(leaf(ref.at("p0." + std::to_string(k))));
  ASSERT_FALSE(params.empty());
  OptimPtr opt = c.make(params);
  const int64_t steps = ref.at("grads.0").size(0);
  // float64: every element within 1e-6 of its own value. float32: PyTorch rounds after each of
  // its separate ops, the fused kernel once per FMA, so single updates differ by float ulps of
  // the values they combine; where a parameter moves from ~1 to near 0 that difference is
  // large relative to the element, so float32 errors are taken relative to the tensor's largest
  // element (still 1e-6: ~10 float ulps of the parameters' scale).
  const double floor = params[0].dtype() == na::kFloat64 ? 1e-12 : -1;
  for (int64_t s = 0; s < steps; ++s) {
    for (size_t k = 0; k < params.size(); ++k) {
      const std::string ks = std::to_string(k);
      const bool has = ref.at("has_grad." + ks)[s].item<bool>();
      params[k].set_grad(has ? ref.at("grads." + ks)[s].clone() : Tensor());
    }
    opt->step();
    for (size_t k = 0; k < params.size(); ++k) {
      const std::string ks = std::to_string(k);
      ASSERT_TRUE(rel_close(params[k].detach(), ref.at("traj." + ks)[s], 1e-6, floor))
          << c.name << ": parameter " << k << " after step " << s + 1;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Reference, OptimReference, ::testing::ValuesIn(traj_cases()),
                         [](const ::testing::TestParamInfo<TrajCase>& info) { return info.param.name; });

// Every file the generator wrote has a runner: a case dropped from the tables fails here.
TEST(OptimReferenceFiles, EveryFileHasATest) {
  std::set<std::string> known;
  for (const auto& c : traj_cases()) known.insert(c.name);
  for (const char* n : {"clip_norm2", "clip_norm2_no_clip", "clip_norm1", "clip_norm_inf", "clip_norm3"})
    known.insert(n);
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(NA_REFERENCE_DIR) + "/optim")) {
    const std::string stem = entry.path().stem().string();
    if (stem.rfind("sched_", 0) == 0) continue;  // test_lr_scheduler.cpp checks those
    ++files;
    EXPECT_TRUE(known.count(stem)) << entry.path() << " has no test";
  }
  EXPECT_EQ(files, static_cast<int>(known.size()));
}

// ------------------------------------------------------------------ clip_grad_norm_

struct ClipCase {
  std::string name;
  double max_norm, norm_type;
};

class ClipReference : public ::testing::TestWithParam<ClipCase> {};

TEST_P(ClipReference, ClipGradNormMatchesTorch) {
  const ClipCase& c = GetParam();
  const auto ref = na_reference::load_reference("optim/" + c.name);
  std::vector<Tensor> params;
  for (int k = 0; ref.has("grads." + std::to_string(k)); ++k) {
    Tensor p = leaf(na::zeros_like(ref.at("grads." + std::to_string(k))));
    p.set_grad(ref.at("grads." + std::to_string(k)).clone());
    params.push_back(p);
  }
  const double norm = optim::clip_grad_norm_(params, c.max_norm, c.norm_type);
  EXPECT_NEAR(norm, ref.at("norm").item<double>(), 1e-12 * ref.at("norm").item<double>());
  for (size_t k = 0; k < params.size(); ++k)
    EXPECT_TRUE(rel_close(params[k].grad(), ref.at("clipped." + std::to_string(k)), 1e-12, 1e-12))
        << "grad " << k;
}

INSTANTIATE_TEST_SUITE_P(
    Reference, ClipReference,
    ::testing::Values(ClipCase{"clip_norm2", 1.0, 2.0}, ClipCase{"clip_norm2_no_clip", 100.0, 2.0},
                      ClipCase{"clip_norm1", 2.0, 1.0},
                      ClipCase{"clip_norm_inf", 0.5, std::numeric_limits<double>::infinity()},
                      ClipCase{"clip_norm3", 0.7, 3.0}),
    [](const ::testing::TestParamInfo<ClipCase>& info) { return info.param.name; });

// The virtual interface the schedulers use reaches each options class's own fields: lr, and
// momentum or beta1; a clone is independent of its original; Adagrad has no momentum.
TEST(OptimizerOptions, VirtualInterfaceReachesEachClassFields) {
  optim::SGDOptions sgd;
  optim::OptimizerOptions& s = sgd;
  s.set_lr(0.5);
  s.set_momentum(0.8);
  EXPECT_EQ(sgd.lr(), 0.5);
  EXPECT_EQ(sgd.momentum(), 0.8);
  EXPECT_EQ(*s.get_momentum(), 0.8);

  optim::AdamWOptions adamw;
  optim::OptimizerOptions& a = adamw;
  a.set_momentum(0.85);
  EXPECT_EQ(adamw.betas().first, 0.85);
  EXPECT_EQ(adamw.betas().second, 0.999);  // beta2 untouched
  EXPECT_EQ(a.get_lr(), 1e-3);

  std::unique_ptr<optim::OptimizerOptions> c = a.clone();
  c->set_lr(0.25);
  EXPECT_EQ(adamw.lr(), 1e-3);
  EXPECT_EQ(dynamic_cast<optim::AdamWOptions&>(*c).lr(), 0.25);
  EXPECT_EQ(dynamic_cast<optim::AdamWOptions&>(*c).betas().first, 0.85);

  optim::AdagradOptions ada;
  optim::OptimizerOptions& g = ada;
  EXPECT_FALSE(g.get_momentum().has_value());
  expect_error([&] { g.set_momentum(0.9); }, {"[optim]", "no momentum"});
}

TEST(ClipGrad, SkipsMissingGradsAndKeepsNaN) {
  Tensor a = leaf(na::tensor<float>({3.f, 4.f}));
  Tensor b = leaf(na::tensor<float>({1.f}));  // no grad: ignored
  a.set_grad(na::tensor<float>({3.f, 4.f}));
  EXPECT_NEAR(optim::clip_grad_norm_({a, b}, 1.0), 5.0, 1e-6);
  const auto g = a.grad().to_vector<float>();
  EXPECT_NEAR(g[0], 3.0 / (5.0 + 1e-6), 1e-6);
  EXPECT_NEAR(g[1], 4.0 / (5.0 + 1e-6), 1e-6);
  EXPECT_EQ(optim::clip_grad_norm_({b}, 1.0), 0.0);

  const float nan = std::numeric_limits<float>::quiet_NaN();
  a.set_grad(na::tensor<float>({nan, 1.f}));
  expect_error([&] { optim::clip_grad_norm_({a}, 1.0, 2.0, /*error_if_nonfinite=*/true); },
               {"[clip_grad_norm_]", "nan"});
  EXPECT_TRUE(std::isnan(a.grad().to_vector<float>()[0]));
  EXPECT_EQ(a.grad().to_vector<float>()[1], 1.f);  // left unchanged by the error
  EXPECT_TRUE(std::isnan(optim::clip_grad_norm_({a}, 1.0)));
  EXPECT_TRUE(std::isnan(a.grad().to_vector<float>()[1]));  // scaled by NaN, as PyTorch
  expect_error([&] { optim::clip_grad_norm_({a}, 1.0, -1.0); }, {"[clip_grad_norm_]", "-1"});
}

TEST(ClipGrad, ClipGradValue) {
  Tensor a = leaf(na::zeros({4}, na::kFloat64));
  a.set_grad(na::tensor<double>({-3.0, -0.5, 0.25, 7.0}));
  optim::clip_grad_value_({a}, 1.0);
  EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{-1.0, -0.5, 0.25, 1.0}));
  expect_error([&] { optim::clip_grad_value_({a}, -1.0); }, {"[clip_grad_value_]", "-1"});
}

// ------------------------------------------------------------------ state_dict round trip

struct RoundTripCase {
  std::string name;
  std::function<OptimPtr(std::vector<Tensor>)> make;
};

std::vector<RoundTripCase> round_trip_cases() {
  using namespace optim;
  return {
      {"SGDNesterov",
       [](auto p) -> OptimPtr {
         return std::make_unique<SGD>(p,
                                      SGDOptions().lr(0.05).momentum(0.9).nesterov(true).weight_decay(1e-3));
       }},
      {"AdamAmsgrad",
       [](auto p) -> OptimPtr {
         return std::make_unique<Adam>(p, AdamOptions().lr(1e-2).amsgrad(true).weight_decay(0.01));
       }},
      {"AdamW", [](auto p) -> OptimPtr { return std::make_unique<AdamW>(p, AdamWOptions().lr(1e-2)); }},
      {"Lion",
       [](auto p) -> OptimPtr {
         return std::make_unique<Lion>(p, LionOptions().lr(1e-3).weight_decay(0.1));
       }},
      {"RMSpropCenteredMomentum",
       [](auto p) -> OptimPtr {
         return std::make_unique<RMSprop>(p, RMSpropOptions().lr(1e-3).centered(true).momentum(0.9));
       }},
      {"Adagrad",
       [](auto p) -> OptimPtr {
         return std::make_unique<Adagrad>(p, AdagradOptions().lr(0.05).lr_decay(0.01));
       }},
  };
}

class OptimStateDict : public ::testing::TestWithParam<RoundTripCase> {};

// Save after 10 steps, load into a fresh optimizer over fresh copies of the parameters,
// continue 10 steps: bit-identical to 20 uninterrupted steps.
TEST_P(OptimStateDict, ResumeIsBitIdentical) {
  const auto& c = GetParam();
  na::Generator gen(1234);
  const std::vector<na::Shape> shapes = {{33, 17}, {5}, {}};
  std::vector<Tensor> init, grads;
  for (const auto& s : shapes) init.push_back(na::randn(s, na::kFloat32, &gen));
  for (int step = 0; step < 20; ++step)
    for (const auto& s : shapes) grads.push_back(na::randn(s, na::kFloat32, &gen));
  auto feed = [&](std::vector<Tensor>& ps, int step) {
    for (size_t k = 0; k < ps.size(); ++k)
      ps[k].set_grad(grads[static_cast<size_t>(step) * ps.size() + k].clone());
  };
  auto fresh = [&] {
    std::vector<Tensor> ps;
    for (const auto& t : init) ps.push_back(leaf(t));
    return ps;
  };

  auto pu = fresh();
  OptimPtr uninterrupted = c.make(pu);
  for (int s = 0; s < 20; ++s) feed(pu, s), uninterrupted->step();

  auto pa = fresh();
  OptimPtr first = c.make(pa);
  for (int s = 0; s < 10; ++s) feed(pa, s), first->step();
  na::nn::StateDict saved;
  for (const auto& [k, t] : first->state_dict()) saved.emplace_back(k, t.clone());  // as a checkpoint would
  first.reset();

  std::vector<Tensor> pb;
  for (const auto& p : pa) pb.push_back(leaf(p.detach()));
  OptimPtr resumed = c.make(pb);
  resumed->load_state_dict(saved);
  for (int s = 10; s < 20; ++s) feed(pb, s), resumed->step();
  for (size_t k = 0; k < pu.size(); ++k) EXPECT_TRUE(bitwise_equal(pb[k], pu[k])) << "parameter " << k;

  // The reloaded optimizer saves the same keys as the uninterrupted one.
  const auto a = uninterrupted->state_dict(), b = resumed->state_dict();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(bitwise_equal(a[i].second, b[i].second)) << a[i].first;
  }
}

INSTANTIATE_TEST_SUITE_P(Optim, OptimStateDict, ::testing::ValuesIn(round_trip_cases()),
                         [](const ::testing::TestParamInfo<RoundTripCase>& info) { return info.param.name; });

TEST(OptimStateDict, Layout) {
  Tensor a = leaf(na::ones({2, 3})), b = leaf(na::ones({4})), c = leaf(na::ones({1}));
  optim::Adam opt(Groups{optim::ParamGroup({a}), optim::ParamGroup({b, c}, optim::AdamOptions().lr(0.5))},
                  optim::AdamOptions().amsgrad(true));
  a.set_grad(na::ones({2, 3}));
  c.set_grad(na::ones({1}));
  opt.step();
  opt.step();
  std::vector<std::string> keys;
  for (const auto& [k, t] : opt.state_dict()) keys.push_back(k);
  const std::vector<std::string> expected = {
      "state.0.step", "state.0.exp_avg", "state.0.exp_avg_sq", "state.0.max_exp_avg_sq", "state.2.step",
      "state.2.exp_avg", "state.2.exp_avg_sq",
      // group 1 sets only lr: amsgrad is inherited, as in torch
      "state.2.max_exp_avg_sq", "param_groups.0.params", "param_groups.0.lr", "param_groups.0.betas",
      "param_groups.0.eps", "param_groups.0.weight_decay", "param_groups.0.amsgrad",
      "param_groups.0.maximize", "param_groups.1.params", "param_groups.1.lr", "param_groups.1.betas",
      "param_groups.1.eps", "param_groups.1.weight_decay", "param_groups.1.amsgrad",
      "param_groups.1.maximize"};
  EXPECT_EQ(keys, expected);
  const auto sd = opt.state_dict();
  auto get = [&](const std::string& k) {
    for (const auto& [n, t] : sd)
      if (n == k) return t;
    return Tensor();
  };
  EXPECT_EQ(get("state.0.step").item<double>(), 2.0);
  EXPECT_EQ(get("state.0.step").dtype(), na::kFloat64);
  EXPECT_EQ(get("state.0.step").dim(), 0);
  EXPECT_EQ(get("param_groups.1.params").to_vector<int64_t>(), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(get("param_groups.1.lr").item<double>(), 0.5);
  EXPECT_EQ(get("param_groups.0.lr").item<double>(), 1e-3);
  EXPECT_EQ(get("param_groups.0.amsgrad").item<double>(), 1.0);
  EXPECT_EQ(get("param_groups.0.betas").to_vector<double>(), (std::vector<double>{0.9, 0.999}));
}

TEST(OptimStateDict, BadDictsAreRejectedWithoutChanges) {
  Tensor a = leaf(na::ones({2, 3}));
  optim::Adam opt({a}, optim::AdamOptions().lr(0.1));
  a.set_grad(na::ones({2, 3}));
  opt.step();
  const auto good = opt.state_dict();
  const Tensor before = opt.state(a)->buffers[0].clone();

  auto with = [&](const std::string& key, const Tensor& t) {
    na::nn::StateDict d;
    for (const auto& [k, v] : good) d.emplace_back(k, k == key ? t : v);
    return d;
  };
  auto without = [&](const std::string& key) {
    na::nn::StateDict d;
    for (const auto& [k, v] : good)
      if (k != key) d.emplace_back(k, v);
    return d;
  };
  expect_error(
      [&] {
        opt.load_state_dict(with("state.0.exp_avg", na::zeros({3, 2})));
      },
      {"[Adam]", "state.0.exp_avg", "(3,2)", "(2,3)"});
  expect_error([&] { opt.load_state_dict(with("param_groups.0.lr", na::scalar_tensor(-1.0, na::kFloat64))); },
               {"[Adam]", "learning rate", "-1"});
  expect_error([&] { opt.load_state_dict(without("param_groups.0.eps")); }, {"[Adam]", "param_groups.0.eps"});
  auto extra = good;
  extra.emplace_back("state.0.momentum_buffer", na::zeros({2, 3}));
  expect_error([&] { opt.load_state_dict(extra); }, {"[Adam]", "state.0.momentum_buffer"});
  auto other_group = good;
  other_group.emplace_back("param_groups.1.params", na::tensor<int64_t>({0}));
  expect_error([&] { opt.load_state_dict(other_group); }, {"[Adam]", "2 parameter groups", "has 1"});
  expect_error([&] { opt.load_state_dict(with("state.0.step", na::scalar_tensor(1.5, na::kFloat64))); },
               {"[Adam]", "state.0.step", "1.5"});

  // SGD's dict into Adam: the option names do not fit.
  Tensor s = leaf(na::ones({2, 3}));
  optim::SGD sgd({s}, optim::SGDOptions().momentum(0.9));
  expect_error([&] { opt.load_state_dict(sgd.state_dict()); }, {"[Adam]", "param_groups.0."});

  EXPECT_TRUE(bitwise_equal(opt.state(a)->buffers[0], before));
  EXPECT_EQ(opt.param_groups()[0].options->get_lr(), 0.1);
}

// ------------------------------------------------------------------ step behaviour

TEST(Optim, SameResultForAnyThreadCount) {
  // Large enough to be split across threads, with a ragged size.
  na::Generator gen(7);
  const Tensor init = na::randn({100003}, na::kFloat32, &gen), small = na::randn({77}, na::kFloat32, &gen);
  const Tensor g1 = na::randn({100003}, na::kFloat32, &gen), g2 = na::randn({77}, na::kFloat32, &gen);
  const int threads = na::get_num_threads();
  auto run = [&](int n) {
    na::set_num_threads(n);
    std::vector<Tensor> p = {leaf(small), leaf(init), leaf(small.to(na::kFloat64))};
    optim::AdamW opt(p, optim::AdamWOptions().lr(1e-2).amsgrad(true));
    for (int s = 0; s < 3; ++s) {
      p[0].set_grad(g2.clone());
      p[1].set_grad(g1.clone());
      p[2].set_grad(g2.to(na::kFloat64));
      opt.step();
    }
    return p;
  };
  auto one = run(1), two = run(2), three = run(3);
  na::set_num_threads(threads);
  for (size_t k = 0; k < one.size(); ++k) {
    EXPECT_TRUE(bitwise_equal(one[k], two[k])) << k;
    EXPECT_TRUE(bitwise_equal(one[k], three[k])) << k;
  }
}

// State is created on the first step; later steps allocate no tensor (the pool's count).
TEST(Optim, StepsAfterTheFirstAllocateNoTensors) {
  for (const auto& c : round_trip_cases()) {
    std::vector<Tensor> p = {leaf(na::ones({300})), leaf(na::ones({3, 5})), leaf(na::ones({}))};
    OptimPtr opt = c.make(p);
    for (auto& t : p) t.set_grad(na::full(t.shape(), 0.5));
    opt->step();
    const auto before = na::optimization::get_memory_stats().allocation_count;
    for (int s = 0; s < 5; ++s) opt->step();
    EXPECT_EQ(na::optimization::get_memory_stats().allocation_count, before) << c.name;
  }
}

TEST(Optim, NoClippingNoNaNReplacement) {
  const double inf = std::numeric_limits<double>::infinity();
  Tensor p = leaf(na::tensor<double>({1.0, 2.0, 3.0}));
  optim::SGD sgd({p}, optim::SGDOptions().lr(1.0));
  p.set_grad(na::tensor<double>({1e300, -inf, std::nan("")}));
  sgd.step();
  const auto v = p.to_vector<double>();
  EXPECT_EQ(v[0], 1.0 - 1e300);
  EXPECT_EQ(v[1], inf);
  EXPECT_TRUE(std::isnan(v[2]));

  Tensor q = leaf(na::tensor<float>({1.f, 2.f}));
  optim::Adam adam({q}, optim::AdamOptions().lr(0.1));
  q.set_grad(na::tensor<float>({std::numeric_limits<float>::infinity(), 1.f}));
  adam.step();
  const auto w = q.to_vector<float>();
  EXPECT_TRUE(std::isnan(w[0]));  // inf / (sqrt(inf) + eps), as the formula gives
  EXPECT_NEAR(w[1], 2.f - 0.1f, 1e-6);
}

TEST(Optim, NonContiguousParameterAndVersion) {
  na::Generator gen(3);
  const Tensor base = na::randn({5, 7}, na::kFloat64, &gen), g = na::randn({7, 5}, na::kFloat64, &gen);
  Tensor strided = base.clone().t();  // a (7,5) leaf view with transposed strides
  strided.requires_grad_();
  ASSERT_FALSE(strided.is_contiguous());
  Tensor dense = leaf(base.t().contiguous());
  optim::Adam a({strided}, optim::AdamOptions().lr(0.1)), b({dense}, optim::AdamOptions().lr(0.1));
  const uint64_t v0 = dense.version();
  for (int s = 0; s < 3; ++s) {
    strided.set_grad(g.clone());
    dense.set_grad(g.t().contiguous().t());  // a strided grad
    a.step();
    b.step();
  }
  EXPECT_GT(dense.version(), v0);
  EXPECT_TRUE(bitwise_equal(strided, dense));
}

TEST(Optim, ZeroGradAndSkippedParams) {
  Tensor a = leaf(na::ones({3})), b = leaf(na::ones({2}));
  optim::SGD opt({a, b}, optim::SGDOptions().lr(0.5).momentum(0.9));
  a.set_grad(na::ones({3}));
  opt.step();
  EXPECT_EQ(a.to_vector<float>(), (std::vector<float>{0.5f, 0.5f, 0.5f}));
  EXPECT_EQ(b.to_vector<float>(), (std::vector<float>{1.f, 1.f}));  // no grad: untouched
  EXPECT_EQ(opt.state(b), nullptr);
  ASSERT_NE(opt.state(a), nullptr);
  EXPECT_TRUE(opt.state(a)->buffers[0].defined());

  opt.zero_grad(/*set_to_none=*/false);
  ASSERT_TRUE(a.grad().defined());
  EXPECT_EQ(a.grad().to_vector<float>(), (std::vector<float>{0.f, 0.f, 0.f}));
  opt.zero_grad();
  EXPECT_FALSE(a.grad().defined());
}

TEST(Optim, ParamGroupsAndLrChanges) {
  Tensor a = leaf(na::zeros({2})), b = leaf(na::zeros({2}));
  optim::SGD opt({a}, optim::SGDOptions().lr(1.0));
  opt.add_param_group(optim::ParamGroup({b}, optim::SGDOptions().lr(0.25)));
  ASSERT_EQ(opt.param_groups().size(), 2u);
  EXPECT_EQ(opt.param_groups()[1].options_as<optim::SGDOptions>().lr(), 0.25);
  opt.param_groups()[0].options->set_lr(2.0);
  a.set_grad(na::ones({2}));
  b.set_grad(na::ones({2}));
  opt.step();
  EXPECT_EQ(a.to_vector<float>(), (std::vector<float>{-2.f, -2.f}));
  EXPECT_EQ(b.to_vector<float>(), (std::vector<float>{-0.25f, -0.25f}));
  expect_error([&] { opt.param_groups()[0].options_as<optim::AdamOptions>(); }, {"[ParamGroup]"});
  expect_error([&] { opt.add_param_group(optim::ParamGroup({a})); }, {"[SGD]", "more than once"});
  expect_error([&] { opt.add_param_group(optim::ParamGroup({leaf(na::zeros({1}))}, optim::AdamOptions())); },
               {"[SGD]", "another optimizer"});
}

TEST(Optim, ClosureStep) {
  Tensor w = leaf(na::tensor<double>({3.0}));
  optim::SGD opt({w}, optim::SGDOptions().lr(0.25));
  Tensor loss = opt.step([&] {
    opt.zero_grad();
    Tensor l = (w * w).sum();
    l.backward();
    return l;
  });
  EXPECT_EQ(loss.item<double>(), 9.0);
  EXPECT_EQ(w.item<double>(), 3.0 - 0.25 * 6.0);
}

TEST(Optim, BadOptionsNameTheOptimizerAndValue) {
  Tensor p = leaf(na::zeros({2}));
  using namespace optim;
  expect_error([&] { SGD({p}, SGDOptions().lr(-0.1)); }, {"[SGD]", "learning rate", "-0.1"});
  expect_error([&] { SGD({p}, SGDOptions().momentum(-1)); }, {"[SGD]", "momentum", "-1"});
  expect_error([&] { SGD({p}, SGDOptions().nesterov(true)); }, {"[SGD]", "Nesterov"});
  expect_error([&] { SGD({p}, SGDOptions().momentum(0.9).dampening(0.5).nesterov(true)); },
               {"[SGD]", "dampening 0.5"});
  expect_error([&] { Adam({p}, AdamOptions().lr(-0.001)); }, {"[Adam]", "learning rate", "-0.001"});
  expect_error([&] { Adam({p}, AdamOptions().betas({1.0, 0.999})); }, {"[Adam]", "index 0", "1", "[0, 1)"});
  expect_error([&] { Adam({p}, AdamOptions().betas({0.9, -0.5})); }, {"[Adam]", "index 1", "-0.5"});
  expect_error([&] { Adam({p}, AdamOptions().eps(-1e-8)); }, {"[Adam]", "epsilon", "-1e-08"});
  expect_error([&] { AdamW({p}, AdamWOptions().weight_decay(-0.01)); }, {"[AdamW]", "weight_decay", "-0.01"});
  expect_error([&] { AdamW({p}, AdamWOptions().betas({0.9, 1.5})); }, {"[AdamW]", "index 1", "1.5"});
  expect_error([&] { Lion({p}, LionOptions().lr(-1e-4)); }, {"[Lion]", "learning rate", "-0.0001"});
  expect_error([&] { Lion({p}, LionOptions().betas({1.1, 0.99})); }, {"[Lion]", "index 0", "1.1"});
  expect_error([&] { RMSprop({p}, RMSpropOptions().alpha(-0.1)); }, {"[RMSprop]", "alpha", "-0.1"});
  expect_error([&] { RMSprop({p}, RMSpropOptions().lr(std::nan(""))); },
               {"[RMSprop]", "learning rate", "nan"});
  expect_error([&] { Adagrad({p}, AdagradOptions().lr_decay(-1)); }, {"[Adagrad]", "lr_decay", "-1"});
  expect_error([&] { Adagrad({p}, AdagradOptions().initial_accumulator_value(-2)); },
               {"[Adagrad]", "initial_accumulator_value", "-2"});
  // Per-group options are checked too.
  Adam ok({p});
  expect_error([&] { ok.add_param_group(ParamGroup({leaf(na::zeros({1}))}, AdamOptions().lr(-5))); },
               {"[Adam]", "-5"});
}

TEST(Optim, BadParameters) {
  using namespace optim;
  expect_error([] { Adam(std::vector<Tensor>{}); }, {"[Adam]", "empty parameter list"});
  Tensor x = leaf(na::ones({2}));
  Tensor y = x * 2;  // not a leaf
  expect_error([&] { SGD({y}); }, {"[SGD]", "non-leaf"});
  expect_error([&] { SGD({x, x}); }, {"[SGD]", "more than once"});
  expect_error([&] { SGD({na::zeros({2}, na::kInt64)}); }, {"[SGD]", "int64"});
  expect_error([&] { SGD({Tensor()}); }, {"[SGD]", "undefined"});

  // A parameter converted to another dtype after its state was created.
  Tensor p = leaf(na::ones({2}));
  Adam opt({p});
  p.set_grad(na::ones({2}));
  opt.step();
  p.set_data(na::ones({2}, na::kFloat64));
  p.set_grad(na::ones({2}, na::kFloat64));
  expect_error([&] { opt.step(); }, {"[Adam]", "exp_avg", "float32", "float64"});
}

}  // namespace optim_test
