// DistributedDataParallel against one process running the whole global batch, and
// DistributedSampler's shares.
#include <gtest/gtest.h>

#include <cstring>
#include <set>

#include "neural_arch/autograd.hpp"
#include "neural_arch/data/dataloader.hpp"
#include "neural_arch/distributed.hpp"
#include "neural_arch/functional/loss.hpp"
#include "neural_arch/nn/activation.hpp"
#include "neural_arch/nn/containers.hpp"
#include "neural_arch/nn/linear.hpp"
#include "neural_arch/ops.hpp"
#include "neural_arch/optim/adam.hpp"
#include "neural_arch/optim/sgd.hpp"
#include "neural_arch/optimization/autocast.hpp"
#include "neural_arch/optimization/checkpoint.hpp"
#include "neural_arch/optimization/grad_scaler.hpp"
#include "neural_arch/random.hpp"
#include "test_util.hpp"

namespace {
namespace na = neural_arch;
namespace nn = neural_arch::nn;
namespace dist = neural_arch::distributed;

constexpr int64_t kGlobalBatch = 12;  // divisible by 1, 2, 3 and 4 ranks

std::shared_ptr<nn::Module> make_model(uint64_t seed) {
  na::manual_seed(seed);
  return std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(8, 32), std::make_shared<nn::Tanh>(),
                                          std::make_shared<nn::Linear>(32, 16), std::make_shared<nn::Tanh>(),
                                          std::make_shared<nn::Linear>(16, 4));
}

// The global batch of step s (the same on every rank) and this rank's rows of it.
struct Batch {
  na::Tensor x, y;
};
Batch global_batch(int step) {
  na::Generator g(500 + static_cast<uint64_t>(step));
  std::normal_distribution<float> n(0, 1);
  std::vector<float> x(kGlobalBatch * 8), y(kGlobalBatch * 4);
  for (auto& v : x) v = n(g.engine());
  for (auto& v : y) v = n(g.engine());
  return {na::tensor(x, na::Shape{kGlobalBatch, 8}), na::tensor(y, na::Shape{kGlobalBatch, 4})};
}
Batch local_rows(const Batch& b) {
  const int64_t per = kGlobalBatch / dist::get_world_size();
  return {b.x.narrow(0, per * dist::get_rank(), per), b.y.narrow(0, per * dist::get_rank(), per)};
}

std::shared_ptr<nn::Module> copy_of(const nn::Module& m) {
  auto c = make_model(0);
  nn::StateDict sd;
  for (auto& [k, v] : m.state_dict()) sd.emplace_back(k, v.clone());
  c->load_state_dict(sd);
  return c;
}

// Every rank holds bit-identical values of t.
void expect_same_on_all_ranks(const na::Tensor& t, const std::string& what) {
  auto parts = dist::all_gather(t.contiguous());
  for (size_t k = 1; k < parts.size(); ++k)
    EXPECT_EQ(std::memcmp(parts[k].raw_data(), parts[0].raw_data(), t.numel() * t.element_size()), 0)
        << what << " differs between rank 0 and rank " << k;
}

// 20 SGD steps with DDP on each rank's share equal 20 steps of one model on the global batch.
// Tolerance: the gradient of the global mean is summed in a different order (per-rank means,
// then averaged by the all-reduce, vs one mean over 12 rows), a difference of a few f32 ulps
// per step that momentum carries along: 2e-5 absolute + 1e-4 relative after 20 steps.
void ddp_matches_single_process(double bucket_cap_mb) {
  // Different initial weights on every rank: DDP must start all from rank 0's.
  auto model = make_model(100 + static_cast<uint64_t>(dist::get_rank()));
  dist::DDPOptions opt;
  opt.bucket_cap_mb = bucket_cap_mb;
  auto ddp = std::make_shared<dist::DistributedDataParallel>(model, opt);
  auto ref = copy_of(*model);
  na::optim::SGD opt_ddp(ddp->parameters(), na::optim::SGDOptions().lr(0.05).momentum(0.9));
  na::optim::SGD opt_ref(ref->parameters(), na::optim::SGDOptions().lr(0.05).momentum(0.9));
  for (int step = 0; step < 20; ++step) {
    Batch g = global_batch(step), l = local_rows(g);
    opt_ddp.zero_grad();
    na::functional::mse_loss(ddp->forward(l.x), l.y).backward();
    opt_ddp.step();
    opt_ref.zero_grad();
    na::functional::mse_loss(ref->forward(g.x), g.y).backward();
    opt_ref.step();
  }
  auto pd = model->named_parameters(), pr = ref->named_parameters();
  ASSERT_EQ(pd.size(), pr.size());
  for (size_t i = 0; i < pd.size(); ++i) {
    EXPECT_TRUE(na_test::close(pd[i].second, pr[i].second, 1e-4, 2e-5, pd[i].first));
    expect_same_on_all_ranks(pd[i].second, pd[i].first);
  }
}

TEST(DistDDP, TwentyStepsEqualOneProcessOneBucket) { ddp_matches_single_process(25); }

TEST(DistDDP, TwentyStepsEqualOneProcessManySmallBuckets) {
  auto model = make_model(1);
  dist::DDPOptions opt;
  opt.bucket_cap_mb = 64.0 / (1024 * 1024);  // 64 bytes: about one parameter per bucket
  dist::DistributedDataParallel probe(model, opt);
  EXPECT_GE(probe.bucket_assignment().size(), 4u);
  // Buckets follow reverse registration order (the last layer's gradients arrive first).
  EXPECT_EQ(probe.bucket_assignment().front().front(), model->parameters().size() - 1);
  ddp_matches_single_process(64.0 / (1024 * 1024));
}

TEST(DistDDP, NoSyncAccumulatesLocallyThenAverages) {
  auto model = make_model(7 + static_cast<uint64_t>(dist::get_rank()));
  auto ddp = std::make_shared<dist::DistributedDataParallel>(model);
  auto ref = copy_of(*model);
  Batch g1 = global_batch(1), g2 = global_batch(2);
  Batch l1 = local_rows(g1), l2 = local_rows(g2);
  {
    auto guard = ddp->no_sync();
    na::functional::mse_loss(ddp->forward(l1.x), l1.y).backward();
  }
  // Under no_sync the gradient is this rank's own: equal to a local backward on a copy.
  auto local = copy_of(*model);
  na::functional::mse_loss(local->forward(l1.x), l1.y).backward();
  auto pl = local->parameters();
  auto pd = model->parameters();
  for (size_t i = 0; i < pd.size(); ++i)
    EXPECT_TRUE(na_test::close(pd[i].grad(), pl[i].grad(), 0, 0, "no_sync"));
  na::functional::mse_loss(ddp->forward(l2.x), l2.y).backward();
  na::functional::mse_loss(ref->forward(g1.x), g1.y).backward();
  na::functional::mse_loss(ref->forward(g2.x), g2.y).backward();
  auto pr = ref->parameters();
  for (size_t i = 0; i < pd.size(); ++i) {
    EXPECT_TRUE(na_test::close(pd[i].grad(), pr[i].grad(), 1e-5, 1e-6, "accumulated grad"));
    expect_same_on_all_ranks(pd[i].grad(), "grad");
  }
}

TEST(DistDDP, UnusedParameterGetsAveragedZeroGradient) {
  auto model = make_model(3);
  dist::DistributedDataParallel ddp(model);
  auto layers = model->children();
  // Only rank 0 uses the last layer; the others give it no gradient (it counts as zero).
  na::Tensor x = na::ones({2, 8});
  na::Tensor h = layers[1]->forward(layers[0]->forward(x));
  h = layers[3]->forward(layers[2]->forward(h));
  na::Tensor loss = dist::get_rank() == 0 ? layers[4]->forward(h).sum() : h.sum();
  loss.backward();
  for (const na::Tensor& p : model->parameters()) {
    ASSERT_TRUE(p.grad().defined());
    expect_same_on_all_ranks(p.grad(), "grad");
  }
}

// Gradient checkpointing runs the parameters' gradient accumulation inside a nested backward;
// DDP must still wait for the outermost one and give the same gradients as without it.
TEST(DistDDP, GradientCheckpointingGivesTheSameGradients) {
  auto plain = make_model(21);
  auto ckpt = copy_of(*plain);
  na::optimization::enable_gradient_checkpointing(*ckpt, 2);
  dist::DistributedDataParallel ddp_plain(plain), ddp_ckpt(ckpt);
  Batch l = local_rows(global_batch(3));
  na::functional::mse_loss(ddp_plain.forward(l.x), l.y).backward();
  na::functional::mse_loss(ddp_ckpt.forward(l.x), l.y).backward();
  auto pp = plain->parameters(), pc = ckpt->parameters();
  for (size_t i = 0; i < pp.size(); ++i) {
    EXPECT_TRUE(na_test::close(pc[i].grad(), pp[i].grad(), 1e-6, 1e-7, "checkpointed grad"));
    expect_same_on_all_ranks(pc[i].grad(), "checkpointed grad");
  }
}

// autocast (f16 forward) with a GradScaler and AdamW: every rank takes the same steps (the
// scaler's inf checks see the averaged gradients) and ends with identical parameters.
TEST(DistDDP, AutocastGradScalerAdamWStayInSync) {
  auto model = make_model(30 + static_cast<uint64_t>(dist::get_rank()));
  dist::DistributedDataParallel ddp(model);
  na::optim::AdamW opt(ddp.parameters(), na::optim::AdamWOptions().lr(1e-2));
  na::optimization::GradScaler scaler;
  int stepped = 0;
  for (int step = 0; step < 5; ++step) {
    Batch l = local_rows(global_batch(step));
    na::Tensor loss;
    {
      na::optimization::autocast ac(na::kFloat16);
      loss = na::functional::mse_loss(ddp.forward(l.x), l.y);
    }
    opt.zero_grad();
    scaler.scale(loss).backward();
    stepped += scaler.step(opt) ? 1 : 0;
    scaler.update();
  }
  EXPECT_GT(stepped, 0);
  for (const na::Tensor& p : model->parameters()) expect_same_on_all_ranks(p, "parameter");
}

// A backward that throws after some buckets started leaves DDP ready for the next one.
TEST(DistDDP, BackwardThatThrowsLeavesDdpUsable) {
  auto model = make_model(40);
  auto ref = copy_of(*model);
  dist::DDPOptions opt;
  opt.bucket_cap_mb = 64.0 / (1024 * 1024);
  auto ddp = std::make_shared<dist::DistributedDataParallel>(model, opt);
  Batch g = global_batch(4), l = local_rows(g);
  auto layers = model->children();
  na::Tensor h = layers[0]->forward(l.x);
  h.register_hook([](const na::Tensor&) -> na::Tensor { throw na::Error("[test] hook failure"); });
  for (size_t k = 1; k < layers.size(); ++k) h = layers[k]->forward(h);
  na_test::expect_error([&] { na::functional::mse_loss(h, l.y).backward(); }, {"hook failure"});
  model->zero_grad();
  na::functional::mse_loss(ddp->forward(l.x), l.y).backward();
  na::functional::mse_loss(ref->forward(g.x), g.y).backward();
  auto pd = model->parameters(), pr = ref->parameters();
  for (size_t i = 0; i < pd.size(); ++i) {
    EXPECT_TRUE(na_test::close(pd[i].grad(), pr[i].grad(), 1e-5, 1e-6, "grad after a failed backward"));
    expect_same_on_all_ranks(pd[i].grad(), "grad");
  }
}

TEST(DistSampler, SharesCoverTheDatasetWithPadding) {
  auto ds = std::make_shared<na::data::TensorDataset>(na::arange(10).reshape({10, 1}));
  for (int w : {1, 2, 3, 4}) {
    std::multiset<int64_t> seen;
    for (int r = 0; r < w; ++r) {
      dist::DistributedSampler s(ds, w, r, /*shuffle=*/true, /*seed=*/5);
      EXPECT_EQ(s.num_samples(), (10 + w - 1) / w);
      EXPECT_EQ(static_cast<int64_t>(s.indices().size()), s.num_samples());
      seen.insert(s.indices().begin(), s.indices().end());
    }
    EXPECT_EQ(static_cast<int64_t>(seen.size()), ((10 + w - 1) / w) * w) << w;
    for (int64_t i = 0; i < 10; ++i) EXPECT_GE(seen.count(i), 1u) << "index " << i << " world " << w;
  }
  dist::DistributedSampler cut(ds, 3, 0, false, 0, /*drop_last=*/true);
  EXPECT_EQ(cut.indices(), (std::vector<int64_t>{0, 3, 6}));
  dist::DistributedSampler plain(ds, 4, 3, /*shuffle=*/false);
  EXPECT_EQ(plain.indices(), (std::vector<int64_t>{3, 7, 1}));  // padded with 0, 1 at the end
}

TEST(DistSampler, EpochReshufflesAndLoaderReadsTheShare) {
  auto ds = std::make_shared<na::data::TensorDataset>(na::arange(20).reshape({20, 1}));
  auto s = std::make_shared<dist::DistributedSampler>(ds, 2, 1, true, 9);
  auto s_again = std::make_shared<dist::DistributedSampler>(ds, 2, 1, true, 9);
  EXPECT_EQ(s->indices(), s_again->indices());
  const auto first = s->indices();
  s->set_epoch(1);
  EXPECT_NE(s->indices(), first);
  na::data::DataLoader loader(s->dataset(), na::data::DataLoaderOptions().batch_size(4));
  std::vector<int64_t> got;
  for (const auto& b : loader)
    for (float v : b.data.to_vector<float>()) got.push_back(static_cast<int64_t>(v));
  EXPECT_EQ(got, s->indices());
}

}  // namespace
