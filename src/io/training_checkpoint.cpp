#include "neural_arch/io/training_checkpoint.hpp"

namespace neural_arch::io {

namespace {
constexpr const char* kOp = "training_checkpoint";

void check_state(const TrainingState& s) {
  NA_CHECK(s.model != nullptr, kOp, "TrainingState.model is null");
  NA_CHECK(s.optimizer != nullptr, kOp, "TrainingState.optimizer is null");
  for (const auto& [key, gen] : s.generators) {
    NA_CHECK(gen != nullptr, kOp, "generator '", key, "' is null");
    NA_CHECK(key != "rng" && key != "loader_rng", kOp, "generator key '", key, "' is reserved");
  }
}
}  // namespace

Checkpoint training_checkpoint(const TrainingState& state, const TrainingPosition& pos) {
  check_state(state);
  NA_CHECK(pos.step >= 0 && pos.epoch >= 0 && pos.batch >= 0, kOp, "negative position: step ", pos.step,
           ", epoch ", pos.epoch, ", batch ", pos.batch);
  Checkpoint ck;
  ck.put_tensors("model", state.model->state_dict());
  ck.put_tensors("optim", state.optimizer->state_dict());
  if (state.scheduler) ck.put_tensors("sched", state.scheduler->state_dict());
  ck.put_int("step", pos.step);
  ck.put_int("epoch", pos.epoch);
  ck.put_int("batch", pos.batch);
  ck.put_generator("rng", default_generator());
  if (state.loader) {
    // Mid-epoch, the order in use was drawn from the state before the epoch began; at a
    // boundary the next draw comes from the current state.
    if (pos.batch > 0) {
      NA_CHECK(!state.loader->epoch_start_state().empty(), kOp, "position is batch ", pos.batch,
               " of an epoch, but the loader has not started one");
      ck.put("loader_rng", state.loader->epoch_start_state());
    } else {
      ck.put_generator("loader_rng", state.loader->generator());
    }
  }
  for (const auto& [key, gen] : state.generators) ck.put_generator(key, *gen);
  return ck;
}

TrainingPosition restore_training(const Checkpoint& ck, const TrainingState& state) {
  check_state(state);
  TrainingPosition pos;
  pos.step = ck.get_int("step");
  pos.epoch = ck.get_int("epoch");
  pos.batch = ck.get_int("batch");
  state.model->load_state_dict(ck.tensors("model"));
  state.optimizer->load_state_dict(ck.tensors("optim"));
  if (state.scheduler) state.scheduler->load_state_dict(ck.tensors("sched"));
  ck.restore_generator("rng", default_generator());
  if (state.loader) {
    ck.restore_generator("loader_rng", state.loader->generator());
    NA_CHECK(pos.batch <= state.loader->num_batches(), kOp, "checkpoint resumes at batch ", pos.batch,
             " but the loader has ", state.loader->num_batches(), " batches per epoch");
  }
  for (const auto& [key, gen] : state.generators) ck.restore_generator(key, *gen);
  return pos;
}

}  // namespace neural_arch::io
