// GradScaler against PyTorch's (tests/reference/gen_amp.py): the scale after every update(),
// which steps were skipped and the parameter trajectory, on scripted runs with injected
// inf/NaN gradients; plus its errors and state_dict; and optimizer master weights for
// narrow parameters.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "neural_arch/ops.hpp"
#include "neural_arch/optim/adam.hpp"
#include "neural_arch/optim/sgd.hpp"
#include "neural_arch/optimization/grad_scaler.hpp"
#include "reference_data.hpp"
#include "test_util.hpp"

namespace {

namespace na = neural_arch;
using na::DType;
using na::Tensor;
using na::optimization::GradScaler;
using na::optimization::GradScalerOptions;

class GradScalerReference : public ::testing::TestWithParam<std::string> {};

TEST_P(GradScalerReference, ScaleSequenceSkippedStepsAndParametersMatchPyTorch) {
  const auto ref = na_reference::load_reference("amp/" + GetParam());
  const Tensor c = ref.at("c"), inject = ref.at("inject").contiguous(), opts = ref.at("options").contiguous();
  const Tensor scales = ref.at("scale").contiguous(), skipped = ref.at("skipped").contiguous();
  const Tensor traj = ref.at("traj"), state = ref.at("state").contiguous();
  const int64_t steps = c.size(0), n = c.size(1);
  GradScalerOptions o;
  o.init_scale = opts.data_ptr<double>()[0];
  o.growth_factor = opts.data_ptr<double>()[1];
  o.backoff_factor = opts.data_ptr<double>()[2];
  o.growth_interval = static_cast<int64_t>(opts.data_ptr<double>()[3]);
  GradScaler scaler(o);
  Tensor p = ref.at("p0").clone();
  p.requires_grad_(true);
  na::optim::SGD opt({p}, na::optim::SGDOptions().lr(ref.at("lr").item()));
  for (int64_t t = 0; t < steps; ++t) {
    SCOPED_TRACE("step " + std::to_string(t));
    opt.zero_grad();
    Tensor loss = na::sum(na::mul(p, c.select(0, t)));
    scaler.scale(loss).backward();
    const int64_t kind = inject.data_ptr<int64_t>()[t];
    float* g = p.grad().data_ptr<float>();
    if (kind == 1) g[t % n] = INFINITY;
    if (kind == 2) g[t % n] = NAN;
    if (kind == 3) g[t % n] = -INFINITY;
    const bool stepped = scaler.step(opt);
    scaler.update();
    ASSERT_EQ(!stepped, skipped.data_ptr<bool>()[t]);
    ASSERT_EQ(scaler.get_scale(), scales.data_ptr<double>()[t]);
    // SGD's fused kernel may contract p - lr*g into one FMA where PyTorch rounds twice.
    ASSERT_TRUE(na_test::close(p.detach(), traj.select(0, t), 1e-6, 1e-7, "p"));
  }
  const auto sd = scaler.state_dict();
  ASSERT_EQ(sd.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(sd[i].second.item(), state.data_ptr<double>()[i]) << sd[i].first;
}

const std::vector<std::string> kScalerCases = {"scaler_defaults", "scaler_custom", "scaler_growth_overflow"};
INSTANTIATE_TEST_SUITE_P(Amp, GradScalerReference, ::testing::ValuesIn(kScalerCases));

TEST(GradScalerReferenceFiles, EveryGeneratedCaseIsTested) {
  // gen_amp.py may gain cases: a file without an entry above would go untested.
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(std::string(NA_REFERENCE_DIR) + "/amp")) {
    const std::string name = e.path().stem().string();
    ++files;
    EXPECT_NE(std::find(kScalerCases.begin(), kScalerCases.end(), name), kScalerCases.end()) << name;
  }
  EXPECT_EQ(files, kScalerCases.size());
}

TEST(GradScaler, StateDictRoundTripsAndChecks) {
  GradScaler a;
  Tensor p = na::ones({3});
  p.requires_grad_(true);
  na::optim::SGD opt({p}, na::optim::SGDOptions().lr(0.1));
  for (int i = 0; i < 3; ++i) {
    opt.zero_grad();
    a.scale(na::sum(p)).backward();
    a.step(opt);
    a.update();
  }
  GradScaler b(GradScalerOptions{.init_scale = 1.0});
  b.load_state_dict(a.state_dict());
  EXPECT_EQ(b.get_scale(), a.get_scale());
  EXPECT_EQ(b.growth_tracker(), 3);
  na_test::expect_error([&] { b.load_state_dict({}); }, {"[GradScaler]", "empty"});
  na_test::expect_error([] { GradScaler bad(GradScalerOptions{.growth_factor = 0.5}); },
                        {"[GradScaler]", "growth_factor"});
}

TEST(GradScaler, MisuseIsAnError) {
  GradScaler s;
  Tensor p = na::ones({2});
  p.requires_grad_(true);
  na::optim::SGD opt({p}, na::optim::SGDOptions().lr(0.1));
  na_test::expect_error([&] { s.update(); }, {"[GradScaler]", "no inf checks"});
  s.scale(na::sum(p)).backward();
  s.unscale_(opt);
  EXPECT_EQ(p.grad().data_ptr<float>()[0], 1.0f);  // unscaled: the true gradient
  na_test::expect_error([&] { s.unscale_(opt); }, {"[GradScaler]", "already been called"});
  EXPECT_TRUE(s.step(opt));
  na_test::expect_error([&] { s.step(opt); }, {"[GradScaler]", "already been called"});
  s.update();
}

TEST(GradScaler, RefusesFloat16GradientsLikePyTorch) {
  GradScaler s;
  Tensor p = na::ones({2}).to(DType::f16);
  p.requires_grad_(true);
  na::optim::SGD opt({p}, na::optim::SGDOptions().lr(0.1));
  Tensor scaled = s.scale(na::sum(p));
  EXPECT_EQ(scaled.dtype(), DType::f32);  // 2 * 2^16 would overflow f16
  EXPECT_EQ(scaled.item(), 131072.0);
  scaled.backward();
  na_test::expect_error([&] { s.unscale_(opt); }, {"[GradScaler]", "float16 gradients", "(2,)"});
}

TEST(GradScaler, DisabledIsATransparentWrapper) {
  GradScaler s(GradScalerOptions{.enabled = false});
  Tensor p = na::ones({2});
  p.requires_grad_(true);
  na::optim::SGD opt({p}, na::optim::SGDOptions().lr(0.5));
  Tensor loss = na::sum(p);
  EXPECT_EQ(s.scale(loss).impl(), loss.impl());
  loss.backward();
  EXPECT_TRUE(s.step(opt));
  s.update();
  EXPECT_EQ(p.data_ptr<float>()[0], 0.5f);
  EXPECT_EQ(s.get_scale(), 1.0);
  EXPECT_TRUE(s.state_dict().empty());
}

TEST(MasterWeights, NarrowParametersNeedThemAndAccumulateTinyUpdates) {
  Tensor p = na::ones({4}).to(DType::bf16);
  p.requires_grad_(true);
  na::optim::SGD plain({p}, na::optim::SGDOptions().lr(1e-3));
  p.set_grad(na::ones({4}).to(DType::bf16));
  na_test::expect_error([&] { plain.step(); }, {"[SGD]", "bfloat16", "set_master_weights"});

  // lr * g = 1e-3 is below half a bf16 ulp at 1 (2^-8): without a master copy p never moves.
  na::optim::SGD opt({p}, na::optim::SGDOptions().lr(1e-3));
  opt.set_master_weights(true);
  for (int i = 0; i < 100; ++i) opt.step();
  EXPECT_EQ(p.dtype(), DType::bf16);
  const Tensor m = opt.master_weight(p);
  ASSERT_TRUE(m.defined());
  EXPECT_EQ(m.dtype(), DType::f32);
  // f32 master: 1 - 100 * 1e-3 (f32 rounding of 100 subtractions), p its bf16 rounding.
  float want = 1.0f;
  for (int i = 0; i < 100; ++i) want -= 1e-3f;
  EXPECT_NEAR(m.data_ptr<float>()[0], want, 1e-6);
  EXPECT_EQ(p.to(DType::f32).data_ptr<float>()[0], na::BFloat16(m.data_ptr<float>()[0]));
  EXPECT_LT(p.to(DType::f32).data_ptr<float>()[0], 0.91f);
}

TEST(MasterWeights, AdamStateIsF32ForNarrowParameters) {
  Tensor p = na::randn({8}).to(DType::f16);
  p.requires_grad_(true);
  na::optim::Adam opt({p}, na::optim::AdamOptions().lr(1e-2));
  opt.set_master_weights(true);
  p.set_grad(na::randn({8}).to(DType::f16));
  opt.step();
  const auto* st = opt.state(p);
  ASSERT_NE(st, nullptr);
  EXPECT_EQ(st->buffers[0].dtype(), DType::f32);
  // Same update as Adam on an f32 copy, rounded to f16.
  Tensor q = opt.master_weight(p);
  EXPECT_TRUE(na_test::close(p.to(DType::f32), q.to(DType::f16).to(DType::f32), 0, 0, "p"));
}

TEST(MasterWeights, StateDictCarriesThemSoResumeIsBitIdentical) {
  na::manual_seed(3);
  const Tensor init = na::randn({64}).to(DType::bf16);
  auto make = [&] {
    Tensor p = init.clone();
    p.requires_grad_(true);
    return p;
  };
  auto grad = [](int step) {
    na::manual_seed(100 + step);
    return na::randn({64}).to(DType::bf16);
  };
  // lr small enough that one update is below half a bf16 ulp for most elements: the master copy
  // holds information the rounded parameter does not.
  auto opts = na::optim::AdamWOptions().lr(1e-4);
  Tensor p = make();
  na::optim::AdamW opt({p}, opts);
  opt.set_master_weights(true);
  for (int i = 0; i < 5; ++i) {
    p.set_grad(grad(i));
    opt.step();
  }
  const na::nn::StateDict saved = opt.state_dict();
  bool has_master = false;
  for (const auto& [k, t] : saved) {
    if (k == "state.0.master") {
      has_master = true;
      EXPECT_EQ(t.dtype(), DType::f32);
    }
    if (k == "state.0.exp_avg") EXPECT_EQ(t.dtype(), DType::f32);
  }
  EXPECT_TRUE(has_master);
  // Deep copies: the optimizer's own tensors change with the next steps.
  na::nn::StateDict copy;
  for (const auto& [k, t] : saved) copy.emplace_back(k, t.clone());
  Tensor resumed = p.detach().clone();
  for (int i = 5; i < 10; ++i) {
    p.set_grad(grad(i));
    opt.step();
  }

  auto resume = [&](const na::nn::StateDict& dict) {
    Tensor q = resumed.clone();
    q.requires_grad_(true);
    na::optim::AdamW o2({q}, opts);
    o2.set_master_weights(true);
    o2.load_state_dict(dict);
    for (int i = 5; i < 10; ++i) {
      q.set_grad(grad(i));
      o2.step();
    }
    return std::make_pair(q, o2.master_weight(q));
  };
  auto [q, qm] = resume(copy);
  EXPECT_EQ(std::memcmp(q.raw_data(), p.raw_data(), 64 * sizeof(na::BFloat16)), 0);
  EXPECT_EQ(std::memcmp(qm.raw_data(), opt.master_weight(p).raw_data(), 64 * sizeof(float)), 0);

  // Without the master entry the copy restarts from the rounded parameter: a different run.
  na::nn::StateDict no_master;
  for (const auto& [k, t] : copy)
    if (k != "state.0.master") no_master.emplace_back(k, t);
  auto [r, rm] = resume(no_master);
  EXPECT_NE(std::memcmp(rm.raw_data(), opt.master_weight(p).raw_data(), 64 * sizeof(float)), 0);
}

TEST(MasterWeights, LoadStateDictChecksTheMasterEntry) {
  Tensor p = na::ones({4}).to(DType::bf16);
  p.requires_grad_(true);
  na::optim::SGD opt({p}, na::optim::SGDOptions().lr(0.1).momentum(0.9));
  opt.set_master_weights(true);
  p.set_grad(na::ones({4}).to(DType::bf16));
  opt.step();
  auto with = [&](const std::string& key, const Tensor& t) {
    na::nn::StateDict d;
    for (const auto& [k, v] : opt.state_dict()) d.emplace_back(k, k == key ? t : v);
    return d;
  };
  na_test::expect_error([&] { opt.load_state_dict(with("state.0.master", na::ones({5}))); },
                        {"[SGD]", "state.0.master", "(5,)"});
  na_test::expect_error([&] { opt.load_state_dict(with("state.0.master", na::ones({4}).to(DType::f64))); },
                        {"[SGD]", "state.0.master", "float32"});
  Tensor f = na::ones({4}, na::TensorOptions().requires_grad(true));
  na::optim::SGD fopt({f}, na::optim::SGDOptions().lr(0.1).momentum(0.9));
  na_test::expect_error([&] { fopt.load_state_dict(opt.state_dict()); },
                        {"[SGD]", "state.0.master", "float32", "master copies belong"});
}

}  // namespace
