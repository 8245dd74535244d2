// Resuming from a training checkpoint gives bit-identical parameters: a run that saves at
// step N and goes on to N+M ends exactly where fresh objects restored from that checkpoint
// end after the same M steps (model with dropout, shuffled DataLoader, AdamW, warmup-cosine).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <tuple>

#include "neural_arch/data/dataloader.hpp"
#include "neural_arch/data/dataset.hpp"
#include "neural_arch/functional/loss.hpp"
#include "neural_arch/io/training_checkpoint.hpp"
#include "neural_arch/nn/mlp.hpp"
#include "neural_arch/ops.hpp"
#include "neural_arch/optim/adam.hpp"
#include "neural_arch/optim/lr_scheduler.hpp"

namespace na = neural_arch;

namespace {

constexpr int64_t kExamples = 100, kBatch = 16, kTotalSteps = 30;

std::shared_ptr<na::data::TensorDataset> make_dataset() {
  na::Generator gen(77);
  na::Tensor x = na::randn({kExamples, 8}, na::kFloat32, &gen);
  na::Tensor y = na::randint(0, 3, {kExamples}, na::DType::i64, &gen);
  return std::make_shared<na::data::TensorDataset>(x, y);
}

// One training run's objects, built the same way each time (same seed: same init).
struct TrainRun {
  std::shared_ptr<na::nn::MLP> model;
  std::unique_ptr<na::optim::AdamW> opt;
  std::unique_ptr<na::optim::WarmupCosineLR> sched;
  std::unique_ptr<na::data::DataLoader> loader;
  na::Generator noise;  // an extra generator the loop draws from (input noise)

  // seed sets the initial weights, the loader's shuffle seed and the noise generator.
  TrainRun(bool prefetch, uint64_t seed = 123) : noise(seed + 1) {
    na::manual_seed(seed);
    model = std::make_shared<na::nn::MLP>(std::vector<int64_t>{8, 32, 32, 3}, "relu", 0.3);
    opt = std::make_unique<na::optim::AdamW>(model->parameters(), na::optim::AdamWOptions().lr(1e-2));
    sched = std::make_unique<na::optim::WarmupCosineLR>(*opt, 5, kTotalSteps);
    loader = std::make_unique<na::data::DataLoader>(
        make_dataset(),
        na::data::DataLoaderOptions().batch_size(kBatch).shuffle().seed(seed + 2).prefetch(prefetch));
  }
  na::io::TrainingState state() {
    return {model.get(), opt.get(), sched.get(), loader.get(), {{"noise", &noise}}};
  }
};

// Trains from pos until pos.step == until; saves a checkpoint to `path` right after step
// `save_at` (if it is reached). Mid-epoch positions continue with begin_at().
void train(TrainRun& r, na::io::TrainingPosition& pos, int64_t until, int64_t save_at = -1,
           const std::string& path = "") {
  const int64_t nb = r.loader->num_batches();
  while (pos.step < until) {
    auto it = pos.batch > 0 ? r.loader->begin_at(pos.batch) : r.loader->begin();
    for (; it != r.loader->end() && pos.step < until; ++it) {
      na::Tensor x = it->data + 0.01 * na::randn(it->data.shape(), na::kFloat32, &r.noise);
      na::Tensor loss = na::functional::cross_entropy(r.model->forward(x), it->target);
      r.opt->zero_grad();
      loss.backward();
      r.opt->step();
      r.sched->step();
      ++pos.step;
      if (++pos.batch == nb) {
        ++pos.epoch;
        pos.batch = 0;
      }
      if (pos.step == save_at) na::io::training_checkpoint(r.state(), pos).save(path);
    }
  }
}

void expect_bit_identical(const na::nn::StateDict& a, const na::nn::StateDict& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE(a[i].first);
    ASSERT_EQ(a[i].first, b[i].first);
    const na::Tensor x = a[i].second.contiguous(), y = b[i].second.contiguous();
    ASSERT_EQ(x.shape(), y.shape());
    ASSERT_EQ(x.dtype(), y.dtype());
    EXPECT_EQ(0, std::memcmp(x.raw_data(), y.raw_data(), static_cast<size_t>(x.numel()) * x.element_size()));
  }
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("na_resume_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

class TrainingResume : public ::testing::TestWithParam<std::tuple<int64_t, bool>> {};

TEST_P(TrainingResume, RestoredRunMatchesUninterruptedRunBitForBit) {
  const auto [save_at, prefetch] = GetParam();
  const std::string path = temp_path(std::to_string(save_at) + (prefetch ? "_p" : "") + ".safetensors");

  // Uninterrupted run, no checkpoint at all.
  TrainRun plain(prefetch);
  na::io::TrainingPosition p0;
  train(plain, p0, kTotalSteps);

  // The same run saving at save_at and going on: saving must not disturb it.
  TrainRun saving(prefetch);
  na::io::TrainingPosition p1;
  train(saving, p1, kTotalSteps, save_at, path);
  const std::string rng_after = na::default_generator().get_state();
  expect_bit_identical(plain.model->state_dict(), saving.model->state_dict());

  // Fresh objects (other weights, shuffle seed and noise seed; then restored) continue from
  // the checkpoint.
  TrainRun resumed(prefetch, 999);
  na::manual_seed(4242);  // the default generator's state must come from the checkpoint
  na::io::TrainingPosition p2 = na::io::restore_training(na::io::Checkpoint::load(path), resumed.state());
  EXPECT_EQ(p2.step, save_at);
  train(resumed, p2, kTotalSteps);
  EXPECT_EQ(p2.step, p1.step);
  EXPECT_EQ(p2.epoch, p1.epoch);
  EXPECT_EQ(p2.batch, p1.batch);
  expect_bit_identical(saving.model->state_dict(), resumed.model->state_dict());
  expect_bit_identical(saving.opt->state_dict(), resumed.opt->state_dict());
  EXPECT_EQ(saving.sched->get_last_lr(), resumed.sched->get_last_lr());
  EXPECT_EQ(rng_after, na::default_generator().get_state());  // same dropout draws
  std::filesystem::remove(path);
}

// 7 batches per epoch: step 10 is in the middle of epoch 1, step 7 at a boundary, 3 in epoch 0.
INSTANTIATE_TEST_SUITE_P(Positions, TrainingResume,
                         ::testing::Values(std::make_tuple(int64_t{10}, false),
                                           std::make_tuple(int64_t{7}, false),
                                           std::make_tuple(int64_t{3}, false),
                                           std::make_tuple(int64_t{10}, true)));

TEST(TrainingResumeErrors, ResumePastTheLoadersBatchesIsAnError) {
  TrainRun r(false);
  r.loader->begin();
  na::io::TrainingPosition pos{3, 0, 3};
  na::io::Checkpoint ck = na::io::training_checkpoint(r.state(), pos);
  ck.put_int("batch", 100);  // overrides: a checkpoint of another data set
  EXPECT_THROW(na::io::restore_training(ck, r.state()), na::Error);
}

TEST(TrainingResumeErrors, MidEpochPositionNeedsAStartedEpoch) {
  TrainRun r(false);
  EXPECT_THROW(na::io::training_checkpoint(r.state(), {3, 0, 3}), na::Error);
}

TEST(DataLoaderResume, BeginAtRedrawsTheSameOrderFromTheEpochStartState) {
  auto ds = make_dataset();
  na::data::DataLoader a(ds, na::data::DataLoaderOptions().batch_size(kBatch).shuffle().seed(3));
  a.begin();
  auto it = a.begin();  // epoch 2
  const std::string start = a.epoch_start_state();
  ++it;
  ++it;
  na::data::DataLoader b(ds, na::data::DataLoaderOptions().batch_size(kBatch).shuffle().seed(1234));
  b.generator().set_state(start);
  auto jt = b.begin_at(2);
  EXPECT_EQ(a.order(), b.order());
  EXPECT_EQ(jt.index(), 2);
  EXPECT_TRUE(na::allclose(it->data, jt->data, 0, 0));
  EXPECT_THROW(b.begin_at(b.num_batches() + 1), na::Error);
  EXPECT_TRUE(b.begin_at(b.num_batches()) == b.end());
}

}  // namespace
