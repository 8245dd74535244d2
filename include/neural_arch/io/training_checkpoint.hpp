// Saving and restoring a whole training run: the state a loop needs to continue exactly
// where it stopped, so that a resumed run takes the same steps bit for bit as one that
// never stopped. Both the main job (examples/train_fashion_mnist --resume) and the resume
// test use these two functions.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "neural_arch/data/dataloader.hpp"
#include "neural_arch/io/checkpoint.hpp"
#include "neural_arch/nn/module.hpp"
#include "neural_arch/optim/lr_scheduler.hpp"
#include "neural_arch/optim/optimizer.hpp"
#include "neural_arch/random.hpp"

namespace neural_arch::io {

/// The objects of a training run. model and optimizer are required; the rest are saved
/// when set. The default generator (dropout masks, random init) is always saved.
struct TrainingState {
  nn::Module* model = nullptr;
  optim::Optimizer* optimizer = nullptr;
  optim::LRScheduler* scheduler = nullptr;
  data::DataLoader* loader = nullptr;
  /// Further generators the loop draws from, each under its own key.
  std::vector<std::pair<std::string, Generator*>> generators;
};

/// Where the loop stands: `step` optimizer steps taken in all, and the next batch to train
/// on is batch `batch` of epoch `epoch` (both from 0). batch 0 is an epoch boundary: the
/// loader's next begin() draws the order. batch > 0 means the loader is in the middle of
/// epoch `epoch`, which a resumed loop continues with loader.begin_at(batch).
struct TrainingPosition {
  int64_t step = 0;
  int64_t epoch = 0;
  int64_t batch = 0;
};

/// A checkpoint of everything in `state` at `pos`: tensors "model.*", "optim.*", "sched.*";
/// metadata "step", "epoch", "batch", "rng" (default generator), "loader_rng" and one entry
/// per extra generator. Add your own metadata to it, then save() it (atomic).
Checkpoint training_checkpoint(const TrainingState& state, const TrainingPosition& pos);

/// Restores into `state` (same model/optimizer/scheduler types and shapes as when saved;
/// errors name what is missing or mismatched) and returns the position to continue from.
/// With a loader and pos.batch > 0, continue the epoch with state.loader->begin_at(pos.batch).
TrainingPosition restore_training(const Checkpoint& ck, const TrainingState& state);

}  // namespace neural_arch::io
