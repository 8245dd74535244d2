// Learning-rate schedulers: lr sequences against PyTorch (tests/reference/gen_optim.py ->
// data/optim/sched_*.bin), state_dict round trips and misuse errors.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "neural_arch/ops.hpp"
#include "neural_arch/optim/adagrad.hpp"
#include "neural_arch/optim/adam.hpp"
#include "neural_arch/optim/lr_scheduler.hpp"
#include "neural_arch/optim/sgd.hpp"
#include "reference_data.hpp"
#include "test_util.hpp"

namespace lr_scheduler_test {
using na_test::PrintTo;

namespace na = neural_arch;
namespace optim = neural_arch::optim;
using na::Tensor;
using OptimPtr = std::unique_ptr<optim::Optimizer>;
using SchedPtr = std::unique_ptr<optim::LRScheduler>;

void expect_error(const std::function<void()>& f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "expected neural_arch::Error";
  } catch (const na::Error& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

// One SGD group per lr, each holding a one-element parameter (gen_optim.py's sgd_groups).
OptimPtr sgd_groups(const std::vector<double>& lrs, double momentum = 0.0) {
  std::vector<optim::ParamGroup> groups;
  for (double lr : lrs)
    groups.emplace_back(std::vector<Tensor>{na::zeros({1}).requires_grad_()},
                        optim::SGDOptions().lr(lr).momentum(momentum));
  return std::make_unique<optim::SGD>(groups, optim::SGDOptions().lr(lrs[0]).momentum(momentum));
}

std::vector<double> momenta(const optim::Optimizer& opt) {
  std::vector<double> m;
  for (const auto& g : opt.param_groups()) m.push_back(*g.options->get_momentum());
  return m;
}

::testing::AssertionResult same_values(const std::vector<double>& got, const Tensor& expected_row) {
  const auto e = expected_row.to_vector<double>();
  if (got.size() != e.size())
    return ::testing::AssertionFailure() << got.size() << " groups, expected " << e.size();
  for (size_t i = 0; i < e.size(); ++i)
    if (!(std::abs(got[i] - e[i]) <= 1e-12 * std::abs(e[i]) + 1e-18))
      return ::testing::AssertionFailure() << "group " << i << ": " << got[i] << " vs expected " << e[i];
  return ::testing::AssertionSuccess();
}

// ------------------------------------------------------------------ PyTorch sequences

struct SchedCase {
  std::string name;
  std::function<OptimPtr()> make_opt;
  std::function<std::vector<SchedPtr>(optim::Optimizer&)> make_scheds;  // stepped in order
  bool with_momentum = false;
};

template <class S, class... Args> std::vector<SchedPtr> one(optim::Optimizer& o, Args&&... args) {
  std::vector<SchedPtr> v;
  v.push_back(std::make_unique<S>(o, std::forward<Args>(args)...));
  return v;
}

const std::vector<SchedCase>& sched_cases() {
  using namespace optim;
  static const std::vector<SchedCase> cases = {
      {"sched_steplr",
       [] {
         return sgd_groups({0.1, 0.02});
       },
       [](auto& o) { return one<StepLR>(o, 3, 0.5); }},
      {"sched_multisteplr", [] { return sgd_groups({0.1}); },
       [](auto& o) {
         return one<MultiStepLR>(o, std::vector<int64_t>{2, 5, 5, 9}, 0.3);
       }},
      {"sched_exponentiallr",
       [] {
         return sgd_groups({0.1, 0.3});
       },
       [](auto& o) { return one<ExponentialLR>(o, 0.9); }},
      {"sched_cosine",
       [] {
         return sgd_groups({0.1, 0.05});
       },
       [](auto& o) { return one<CosineAnnealingLR>(o, 10, 1e-3); }},
      {"sched_linearlr", [] { return sgd_groups({0.1}); },
       [](auto& o) { return one<LinearLR>(o, 0.25, 1.0, 6); }},
      {"sched_linearlr_decay", [] { return sgd_groups({0.1}); },
       [](auto& o) { return one<LinearLR>(o, 1.0, 0.1, 8); }},
      {"sched_chained_step_exp", [] { return sgd_groups({0.1}); },
       [](auto& o) {
         std::vector<SchedPtr> v;
         v.push_back(std::make_unique<StepLR>(o, 4, 0.5));
         v.push_back(std::make_unique<ExponentialLR>(o, 0.95));
         return v;
       }},
      {"sched_onecycle_cos_adam",
       [] {
         return OptimPtr(std::make_unique<Adam>(std::vector<Tensor>{na::zeros({1}).requires_grad_()},
                                                AdamOptions().lr(1e-3)));
       },
       [](auto& o) {
         return one<OneCycleLR>(o, std::vector<double>{0.1}, OneCycleLROptions().total_steps(20));
       },
       true},
      {"sched_onecycle_linear_three_phase_sgd",
       [] {
         return sgd_groups({0.01, 0.01}, 0.9);
       },
       [](auto& o) {
         return one<OneCycleLR>(o, std::vector<double>{0.1, 0.2},
                                OneCycleLROptions()
                                    .epochs(4)
                                    .steps_per_epoch(5)
                                    .anneal_strategy("linear")
                                    .three_phase(true)
                                    .div_factor(10.0)
                                    .final_div_factor(100.0));
       },
       true},
      {"sched_warmup_cosine", [] { return sgd_groups({0.1}); },
       [](auto& o) { return one<WarmupCosineLR>(o, 5, 20); }},
      {"sched_warmup_cosine_eta_start", [] { return sgd_groups({0.1}); },
       [](auto& o) { return one<WarmupCosineLR>(o, 4, 16, 1e-3, 0.1); }},
  };
  return cases;
}

class SchedulerReference : public ::testing::TestWithParam<SchedCase> {};

TEST_P(SchedulerReference, LrSequenceMatchesTorch) {
  const SchedCase& c = GetParam();
  const auto ref = na_reference::load_reference("optim/" + c.name);
  const Tensor& lr = ref.at("lr");
  OptimPtr opt = c.make_opt();
  auto scheds = c.make_scheds(*opt);
  ASSERT_TRUE(same_values(scheds.back()->get_last_lr(), lr[0])) << "after construction";
  if (c.with_momentum)
    ASSERT_TRUE(same_values(momenta(*opt), ref.at("momentum")[0])) << "momentum after construction";
  for (int64_t s = 1; s < lr.size(0); ++s) {
    opt->step();
    for (auto& sc : scheds) sc->step();
    ASSERT_TRUE(same_values(scheds.back()->get_last_lr(), lr[s])) << "after step " << s;
    std::vector<double> group_lrs;
    for (const auto& g : opt->param_groups()) group_lrs.push_back(g.options->get_lr());
    ASSERT_TRUE(same_values(group_lrs, lr[s])) << "group lrs after step " << s;
    if (c.with_momentum)
      ASSERT_TRUE(same_values(momenta(*opt), ref.at("momentum")[s])) << "momentum after step " << s;
  }
}

INSTANTIATE_TEST_SUITE_P(Reference, SchedulerReference, ::testing::ValuesIn(sched_cases()),
                         [](const ::testing::TestParamInfo<SchedCase>& info) { return info.param.name; });

struct PlateauCase {
  std::string name;
  std::vector<double> lrs;
  optim::ReduceLROnPlateauOptions options;
};

class PlateauReference : public ::testing::TestWithParam<PlateauCase> {};

TEST_P(PlateauReference, LrSequenceMatchesTorch) {
  const PlateauCase& c = GetParam();
  const auto ref = na_reference::load_reference("optim/" + c.name);
  OptimPtr opt = sgd_groups(c.lrs);
  optim::ReduceLROnPlateau sched(*opt, c.options);
  const auto metrics = ref.at("metrics").to_vector<double>();
  ASSERT_TRUE(same_values(sched.get_last_lr(), ref.at("lr")[0]));
  for (size_t s = 0; s < metrics.size(); ++s) {
    opt->step();
    sched.step(metrics[s]);
    ASSERT_TRUE(same_values(sched.get_last_lr(), ref.at("lr")[static_cast<int64_t>(s) + 1]))
        << "after step " << s + 1;
  }
}

INSTANTIATE_TEST_SUITE_P(Reference, PlateauReference,
                         ::testing::Values(PlateauCase{"sched_plateau_min_rel",
                                                       {0.1, 0.05},
                                                       optim::ReduceLROnPlateauOptions()
                                                           .mode("min")
                                                           .factor(0.5)
                                                           .patience(2)
                                                           .threshold(0.01)
                                                           .cooldown(1)
                                                           .min_lr({0.01})},
                                           PlateauCase{"sched_plateau_max_abs",
                                                       {0.1},
                                                       optim::ReduceLROnPlateauOptions()
                                                           .mode("max")
                                                           .factor(0.2)
                                                           .patience(1)
                                                           .threshold(0.02)
                                                           .threshold_mode("abs")
                                                           .min_lr({0.001})}),
                         [](const ::testing::TestParamInfo<PlateauCase>& info) { return info.param.name; });

TEST(SchedulerReferenceFiles, EveryFileHasATest) {
  std::set<std::string> known{"sched_plateau_min_rel", "sched_plateau_max_abs"};
  for (const auto& c : sched_cases()) known.insert(c.name);
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(NA_REFERENCE_DIR) + "/optim")) {
    const std::string stem = entry.path().stem().string();
    if (stem.rfind("sched_", 0) != 0) continue;
    ++files;
    EXPECT_TRUE(known.count(stem)) << entry.path() << " has no test";
  }
  EXPECT_EQ(files, static_cast<int>(known.size()));
}

// ------------------------------------------------------------------ resume, composition, errors

TEST(LRScheduler, StateDictResume) {
  auto make = [](optim::Optimizer& o) {
    return std::make_unique<optim::OneCycleLR>(o, std::vector<double>{0.1},
                                               optim::OneCycleLROptions().total_steps(30));
  };
  OptimPtr a = sgd_groups({0.01}, 0.9);
  auto sa = make(*a);
  std::vector<std::vector<double>> expected;
  for (int s = 0; s < 25; ++s) sa->step(), expected.push_back(sa->get_last_lr());

  OptimPtr b = sgd_groups({0.01}, 0.9);
  auto sb = make(*b);
  for (int s = 0; s < 10; ++s) sb->step();
  na::nn::StateDict opt_state, sched_state;
  for (const auto& [k, t] : b->state_dict()) opt_state.emplace_back(k, t.clone());
  for (const auto& [k, t] : sb->state_dict()) sched_state.emplace_back(k, t.clone());

  OptimPtr c = sgd_groups({0.01}, 0.9);
  auto sc = make(*c);
  c->load_state_dict(opt_state);
  sc->load_state_dict(sched_state);
  EXPECT_EQ(sc->last_epoch(), 10);
  EXPECT_EQ(sc->get_last_lr(), expected[9]);
  for (int s = 10; s < 25; ++s) {
    sc->step();
    EXPECT_EQ(sc->get_last_lr(), expected[static_cast<size_t>(s)]) << "step " << s + 1;
  }
  EXPECT_EQ(*c->param_groups()[0].options->get_momentum(), *a->param_groups()[0].options->get_momentum());

  auto bad = sched_state;
  bad.emplace_back("unknown", na::scalar_tensor(1.0, na::kFloat64));
  expect_error([&] { sc->load_state_dict(bad); }, {"[OneCycleLR]", "unknown"});
}

TEST(LRScheduler, PlateauStateDict) {
  OptimPtr opt = sgd_groups({0.1});
  optim::ReduceLROnPlateau s(*opt, optim::ReduceLROnPlateauOptions().patience(0));
  s.step(1.0);
  s.step(2.0);
  EXPECT_NEAR(s.get_last_lr()[0], 0.01, 1e-15);
  const auto sd = s.state_dict();
  optim::ReduceLROnPlateau t(*opt, optim::ReduceLROnPlateauOptions().patience(0));
  EXPECT_TRUE(std::isinf(t.best()));
  t.load_state_dict(sd);
  EXPECT_EQ(t.best(), 1.0);
  EXPECT_EQ(t.last_epoch(), 2);
}

TEST(LRScheduler, SecondSchedulerKeepsInitialLr) {
  OptimPtr opt = sgd_groups({0.1});
  optim::StepLR a(*opt, 1, 0.5);
  a.step();
  optim::ExponentialLR b(*opt, 0.9);  // base_lrs come from the group's initial_lr, as torch
  EXPECT_EQ(b.base_lrs(), std::vector<double>{0.1});
  EXPECT_EQ(opt->param_groups()[0].initial_lr, 0.1);
  EXPECT_TRUE(opt->state_dict().back().first == "param_groups.0.initial_lr");
}

TEST(LRScheduler, Errors) {
  using namespace optim;
  OptimPtr opt = sgd_groups({0.1});
  expect_error([&] { StepLR(*opt, 0); }, {"[StepLR]", "step_size", "0"});
  expect_error([&] { LinearLR(*opt, 0.0); }, {"[LinearLR]", "start_factor", "0"});
  expect_error([&] { CosineAnnealingLR(*opt, -3); }, {"[CosineAnnealingLR]", "-3"});
  expect_error([&] { WarmupCosineLR(*opt, 10, 5); }, {"[WarmupCosineLR]", "5", "10"});
  expect_error([&] { OneCycleLR(*opt, {0.1}, OneCycleLROptions()); }, {"[OneCycleLR]", "total_steps"});
  expect_error(
      [&] {
        OneCycleLR(*opt, {0.1, 0.2}, OneCycleLROptions().total_steps(5));
      },
      {"[OneCycleLR]", "max_lr"});
  expect_error([&] { OneCycleLR(*opt, {0.1}, OneCycleLROptions().total_steps(5).anneal_strategy("exp")); },
               {"[OneCycleLR]", "'exp'"});
  expect_error([&] { ReduceLROnPlateau(*opt, ReduceLROnPlateauOptions().factor(1.0)); },
               {"[ReduceLROnPlateau]", "factor", "1"});
  expect_error([&] { ReduceLROnPlateau(*opt, ReduceLROnPlateauOptions().mode("avg")); },
               {"[ReduceLROnPlateau]", "'avg'"});

  Adagrad ada({na::zeros({1}).requires_grad_()});
  expect_error([&] { OneCycleLR(ada, {0.1}, OneCycleLROptions().total_steps(5)); },
               {"[OneCycleLR]", "Adagrad"});
  OneCycleLR no_momentum(ada, {0.1}, OneCycleLROptions().total_steps(3).cycle_momentum(false));
  no_momentum.step();
  no_momentum.step();
  no_momentum.step();
  expect_error([&] { no_momentum.step(); }, {"[OneCycleLR]", "5 times", "3"});

  StepLR s(*opt, 2);
  opt->add_param_group(optim::ParamGroup({na::zeros({1}).requires_grad_()}));
  expect_error([&] { s.step(); }, {"[StepLR]", "2 parameter groups", "1"});
}

}  // namespace lr_scheduler_test
