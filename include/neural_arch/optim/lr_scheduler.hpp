// Learning-rate schedulers with torch.optim.lr_scheduler semantics.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "neural_arch/nn/module.hpp"
#include "neural_arch/optim/optimizer.hpp"

namespace neural_arch::optim {

/// Base of the epoch/step schedulers. As in PyTorch: construction records each group's
/// initial lr (ParamGroup::initial_lr, set by the first scheduler attached) as base_lrs() and
/// performs the first step (last_epoch 0), which may already change the lr (LinearLR,
/// OneCycleLR, WarmupCosineLR). Call step() after optimizer.step(), once per epoch or
/// iteration. Schedulers use PyTorch's chainable (recursive) formulas, so two schedulers on
/// one optimizer compose as in PyTorch.
///
///   na::optim::SGD opt(params, na::optim::SGDOptions().lr(0.1));
///   na::optim::StepLR sched(opt, /*step_size=*/30, /*gamma=*/0.1);
///   for (int epoch = 0; epoch < 100; ++epoch) { train(opt); sched.step(); }
///
/// The scheduler keeps a reference to the optimizer, which must outlive it. To resume,
/// construct the optimizer and the scheduler, then load both state dicts.
class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  /// Advances one epoch and writes the new lr into every group.
  void step();
  /// The lr of each group after the last step().
  const std::vector<double>& get_last_lr() const { return last_lr_; }
  const std::vector<double>& base_lrs() const { return base_lrs_; }
  int64_t last_epoch() const { return last_epoch_; }

  /// "last_epoch", "step_count" (0-d float64), "base_lrs", "last_lr" (1-d float64), plus
  /// what a scheduler adds (e.g. OneCycleLR's per-group ranges).
  virtual nn::StateDict state_dict() const;
  /// Restores state_dict() output; checks every key and size before changing anything. The
  /// groups' lrs are not touched (the optimizer's own state_dict carries them).
  virtual void load_state_dict(const nn::StateDict& state);

 protected:
  LRScheduler(Optimizer& optimizer, const char* name);
  /// The lr of each group for last_epoch() (the chainable form: it may read the current lrs).
  virtual std::vector<double> get_lr() = 0;
  /// Must end the derived constructor: sets the first lr (torch's _initial_step).
  void initial_step();
  std::vector<double> current_lrs() const;

  Optimizer& optimizer_;
  std::string name_;
  int64_t last_epoch_ = -1;
  int64_t step_count_ = 0;
  std::vector<double> base_lrs_;
  std::vector<double> last_lr_;
};

/// lr *= gamma every step_size epochs.
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);

 protected:
  std::vector<double> get_lr() override;

 private:
  int64_t step_size_;
  double gamma_;
};

/// lr *= gamma at each milestone (a milestone listed k times multiplies by gamma^k).
class MultiStepLR : public LRScheduler {
 public:
  MultiStepLR(Optimizer& optimizer, std::vector<int64_t> milestones, double gamma = 0.1);

 protected:
  std::vector<double> get_lr() override;

 private:
  std::vector<int64_t> milestones_;  // sorted
  double gamma_;
};

/// lr *= gamma every epoch.
class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(Optimizer& optimizer, double gamma);

 protected:
  std::vector<double> get_lr() override;

 private:
  double gamma_;
};

/// Cosine from the base lr down to eta_min over T_max epochs (and back up after, as PyTorch's
/// CosineAnnealingLR, which is periodic with period 2 T_max).
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min = 0.0);

 protected:
  std::vector<double> get_lr() override;

 private:
  int64_t t_max_;
  double eta_min_;
};

/// lr factor going linearly from start_factor to end_factor over total_iters epochs.
class LinearLR : public LRScheduler {
 public:
  LinearLR(Optimizer& optimizer, double start_factor = 1.0 / 3, double end_factor = 1.0,
           int64_t total_iters = 5);

 protected:
  std::vector<double> get_lr() override;

 private:
  double start_factor_, end_factor_;
  int64_t total_iters_;
};

/// lr = base_lr * lambda(epoch).
class LambdaLR : public LRScheduler {
 public:
  LambdaLR(Optimizer& optimizer, std::function<double(int64_t)> lr_lambda);

 protected:
  std::vector<double> get_lr() override;

 private:
  std::function<double(int64_t)> lambda_;
};

/// Linear warmup then cosine decay, stepped per iteration (the usual transformer schedule):
///   epoch < warmup_steps:  lr = base * (start_factor + (1 - start_factor) * epoch / warmup_steps)
///   after:                 lr = eta_min + (base - eta_min) * (1 + cos(pi * p)) / 2,
///                          p = min(1, (epoch - warmup_steps) / (total_steps - warmup_steps))
/// With start_factor 0 and eta_min 0 this is transformers' get_cosine_schedule_with_warmup.
class WarmupCosineLR : public LRScheduler {
 public:
  WarmupCosineLR(Optimizer& optimizer, int64_t warmup_steps, int64_t total_steps, double eta_min = 0.0,
                 double start_factor = 0.0);

 protected:
  std::vector<double> get_lr() override;

 private:
  int64_t warmup_, total_;
  double eta_min_, start_factor_;
};

/// OneCycleLR options (torch's defaults); total_steps, or epochs and steps_per_epoch, must be set.
struct OneCycleLROptions {
  NA_OPTIM_ARG(int64_t, total_steps, 0);
  NA_OPTIM_ARG(int64_t, epochs, 0);
  NA_OPTIM_ARG(int64_t, steps_per_epoch, 0);
  NA_OPTIM_ARG(double, pct_start, 0.3);
  NA_OPTIM_ARG(std::string, anneal_strategy, "cos");  // "cos" or "linear"
  NA_OPTIM_ARG(bool, cycle_momentum, true);
  NA_OPTIM_ARG(double, base_momentum, 0.85);
  NA_OPTIM_ARG(double, max_momentum, 0.95);
  NA_OPTIM_ARG(double, div_factor, 25.0);
  NA_OPTIM_ARG(double, final_div_factor, 1e4);
  NA_OPTIM_ARG(bool, three_phase, false);
};

/// The 1cycle policy (torch.optim.lr_scheduler.OneCycleLR): lr from max_lr / div_factor up to
/// max_lr and down to initial_lr / final_div_factor, stepped per batch; with cycle_momentum the
/// momentum (SGD, RMSprop) or beta1 (Adam family, Lion) moves the other way. Stepping past
/// total_steps is an error. To resume, construct it with the same arguments, then load the
/// optimizer's and the scheduler's state dicts.
///
///   na::optim::OneCycleLR sched(opt, /*max_lr=*/{0.1}, na::optim::OneCycleLROptions().total_steps(1000));
class OneCycleLR : public LRScheduler {
 public:
  /// max_lr: one value for all groups or one per group.
  OneCycleLR(Optimizer& optimizer, std::vector<double> max_lr, const OneCycleLROptions& options);

 protected:
  std::vector<double> get_lr() override;

 private:
  struct Phase {
    double end_step;
    int start_lr, end_lr, start_momentum, end_momentum;  // indices into GroupRange::v
  };
  struct GroupRange {
    double v[5];  // initial_lr, max_lr, min_lr, max_momentum, base_momentum
  };
  double anneal(double start, double end, double pct) const;
  OneCycleLROptions opt_;
  int64_t total_steps_ = 0;
  std::vector<Phase> phases_;
  std::vector<GroupRange> ranges_;
};

/// ReduceLROnPlateau options (torch's defaults).
struct ReduceLROnPlateauOptions {
  NA_OPTIM_ARG(std::string, mode, "min");  // "min" or "max"
  NA_OPTIM_ARG(double, factor, 0.1);
  NA_OPTIM_ARG(int64_t, patience, 10);
  NA_OPTIM_ARG(double, threshold, 1e-4);
  NA_OPTIM_ARG(std::string, threshold_mode, "rel");  // "rel" or "abs"
  NA_OPTIM_ARG(int64_t, cooldown, 0);
  NA_OPTIM_ARG(std::vector<double>, min_lr, {0.0});  // one value, or one per group
  NA_OPTIM_ARG(double, eps, 1e-8);
};

/// Multiplies the lr by factor when a metric has stopped improving for `patience` epochs
/// (torch.optim.lr_scheduler.ReduceLROnPlateau). step(metric) once per epoch.
///
///   na::optim::ReduceLROnPlateau sched(opt, na::optim::ReduceLROnPlateauOptions().patience(2));
///   sched.step(val_loss);
class ReduceLROnPlateau {
 public:
  explicit ReduceLROnPlateau(Optimizer& optimizer, const ReduceLROnPlateauOptions& options = {});
  void step(double metric);
  const std::vector<double>& get_last_lr() const { return last_lr_; }
  int64_t last_epoch() const { return last_epoch_; }
  double best() const { return best_; }
  int64_t num_bad_epochs() const { return num_bad_epochs_; }
  bool in_cooldown() const { return cooldown_counter_ > 0; }

  /// "last_epoch", "best", "num_bad_epochs", "cooldown_counter" (0-d float64), "last_lr".
  nn::StateDict state_dict() const;
  void load_state_dict(const nn::StateDict& state);

 private:
  bool is_better(double a, double best) const;
  Optimizer& optimizer_;
  ReduceLROnPlateauOptions opt_;
  std::vector<double> min_lrs_;
  double best_;
  int64_t num_bad_epochs_ = 0;
  int64_t cooldown_counter_ = 0;
  int64_t last_epoch_ = 0;
  std::vector<double> last_lr_;
};

}  // namespace neural_arch::optim
