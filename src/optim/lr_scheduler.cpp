#include "neural_arch/optim/lr_scheduler.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numbers>
#include <set>

#include "neural_arch/autograd.hpp"
#include "neural_arch/ops.hpp"

namespace neural_arch::optim {

namespace {

constexpr double kPi = std::numbers::pi;

// Python's a % m for m > 0 (non-negative result), which torch's formulas are written with.
int64_t py_mod(int64_t a, int64_t m) { return ((a % m) + m) % m; }

std::vector<double> group_lrs(const Optimizer& opt) {
  std::vector<double> v;
  v.reserve(opt.param_groups().size());
  for (const auto& g : opt.param_groups()) v.push_back(g.options->get_lr());
  return v;
}

Tensor vec_tensor(const std::vector<double>& v) {
  return tensor<double>(v, Shape{static_cast<int64_t>(v.size())});
}

// Looks up scheduler state_dict entries, checking kinds and sizes; every key must be used.
class DictView {
 public:
  DictView(const nn::StateDict& d, std::string op) : op_(std::move(op)) {
    for (const auto& [k, t] : d) {
      NA_CHECK(t.defined(), op_.c_str(), "state_dict entry '", k, "' is an undefined tensor");
      NA_CHECK(map_.emplace(k, t).second, op_.c_str(), "state_dict key '", k, "' appears twice");
    }
  }
  double scalar(const std::string& key) {
    const Tensor& t = get(key);
    NA_CHECK(t.dim() == 0 && is_floating(t.dtype()), op_.c_str(), "'", key,
             "' must be a 0-d floating tensor, got ", dtype_name(t.dtype()), " ", shape_str(t.shape()));
    return t.item<double>();
  }
  int64_t integer(const std::string& key) {
    const double v = scalar(key);
    NA_CHECK(v == std::floor(v) && std::fabs(v) < 9.0e15, op_.c_str(), "'", key,
             "' must hold an integer, got ", v);
    return static_cast<int64_t>(v);
  }
  std::vector<double> vec(const std::string& key, size_t n) {
    const Tensor& t = get(key);
    NA_CHECK(t.dim() == 1 && static_cast<size_t>(t.numel()) == n && is_floating(t.dtype()), op_.c_str(), "'",
             key, "' must be a 1-d floating tensor of ", n, " elements (one per parameter group), got ",
             dtype_name(t.dtype()), " ", shape_str(t.shape()));
    return t.to_vector<double>();
  }
  void check_all_used() const {
    for (const auto& [k, t] : map_)
      NA_CHECK(used_.count(k), op_.c_str(), "unexpected state_dict key '", k, "'");
  }

 private:
  const Tensor& get(const std::string& key) {
    auto it = map_.find(key);
    NA_CHECK(it != map_.end(), op_.c_str(), "state_dict lacks '", key, "'");
    used_.insert(key);
    return it->second;
  }
  std::string op_;
  std::map<std::string, Tensor> map_;
  std::set<std::string> used_;
};

}  // namespace

// ------------------------------------------------------------------ base

LRScheduler::LRScheduler(Optimizer& optimizer, const char* name) : optimizer_(optimizer), name_(name) {
  for (auto& g : optimizer_.param_groups()) {
    if (!g.initial_lr) g.initial_lr = g.options->get_lr();
    base_lrs_.push_back(*g.initial_lr);
  }
}

std::vector<double> LRScheduler::current_lrs() const { return group_lrs(optimizer_); }

void LRScheduler::initial_step() {
  step_count_ = 0;
  step();
}

void LRScheduler::step() {
  auto& groups = optimizer_.param_groups();
  NA_CHECK(groups.size() == base_lrs_.size(), name_.c_str(), "the optimizer has ", groups.size(),
           " parameter groups but the scheduler was made for ", base_lrs_.size());
  ++step_count_;
  ++last_epoch_;
  const std::vector<double> lrs = get_lr();
  for (size_t i = 0; i < groups.size(); ++i) groups[i].options->set_lr(lrs[i]);
  last_lr_ = current_lrs();
}

nn::StateDict LRScheduler::state_dict() const {
  return {{"last_epoch", scalar_tensor(static_cast<double>(last_epoch_), DType::f64)},
          {"step_count", scalar_tensor(static_cast<double>(step_count_), DType::f64)},
          {"base_lrs", vec_tensor(base_lrs_)},
          {"last_lr", vec_tensor(last_lr_)}};
}

void LRScheduler::load_state_dict(const nn::StateDict& state) {
  NoGradGuard no_grad;
  DictView d(state, name_);
  const size_t n = base_lrs_.size();
  const int64_t last_epoch = d.integer("last_epoch");
  const int64_t step_count = d.integer("step_count");
  auto base = d.vec("base_lrs", n);
  auto last = d.vec("last_lr", n);
  d.check_all_used();
  NA_CHECK(last_epoch >= 0 && step_count >= 1, name_.c_str(), "state_dict has last_epoch ", last_epoch,
           " and step_count ", step_count, "; expected last_epoch >= 0 and step_count >= 1");
  last_epoch_ = last_epoch;
  step_count_ = step_count;
  base_lrs_ = std::move(base);
  last_lr_ = std::move(last);
}

// ------------------------------------------------------------------ StepLR

StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma)
    : LRScheduler(optimizer, "StepLR"), step_size_(step_size), gamma_(gamma) {
  NA_CHECK(step_size > 0, "StepLR", "step_size must be positive, got ", step_size);
  initial_step();
}

std::vector<double> StepLR::get_lr() {
  auto lrs = current_lrs();
  if (last_epoch_ == 0 || last_epoch_ % step_size_ != 0) return lrs;
  for (auto& lr : lrs) lr *= gamma_;
  return lrs;
}

// ------------------------------------------------------------------ MultiStepLR

MultiStepLR::MultiStepLR(Optimizer& optimizer, std::vector<int64_t> milestones, double gamma)
    : LRScheduler(optimizer, "MultiStepLR"), milestones_(std::move(milestones)), gamma_(gamma) {
  std::sort(milestones_.begin(), milestones_.end());
  initial_step();
}

std::vector<double> MultiStepLR::get_lr() {
  auto lrs = current_lrs();
  const auto hits = std::count(milestones_.begin(), milestones_.end(), last_epoch_);
  if (hits == 0) return lrs;
  for (auto& lr : lrs) lr *= std::pow(gamma_, static_cast<double>(hits));
  return lrs;
}

// ------------------------------------------------------------------ ExponentialLR

ExponentialLR::ExponentialLR(Optimizer& optimizer, double gamma)
    : LRScheduler(optimizer, "ExponentialLR"), gamma_(gamma) {
  initial_step();
}

std::vector<double> ExponentialLR::get_lr() {
  auto lrs = current_lrs();
  if (last_epoch_ == 0) return lrs;
  for (auto& lr : lrs) lr *= gamma_;
  return lrs;
}

// ------------------------------------------------------------------ CosineAnnealingLR

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min)
    : LRScheduler(optimizer, "CosineAnnealingLR"), t_max_(T_max), eta_min_(eta_min) {
  NA_CHECK(T_max > 0, "CosineAnnealingLR", "T_max must be positive, got ", T_max);
  initial_step();
}

std::vector<double> CosineAnnealingLR::get_lr() {
  auto lrs = current_lrs();
  const double e = static_cast<double>(last_epoch_), t = static_cast<double>(t_max_);
  if (last_epoch_ == 0) return lrs;
  if (step_count_ == 1 && last_epoch_ > 0) {  // first step after resuming mid-schedule: closed form
    for (size_t i = 0; i < lrs.size(); ++i)
      lrs[i] = eta_min_ + (base_lrs_[i] - eta_min_) * (1 + std::cos(e * kPi / t)) / 2;
    return lrs;
  }
  if (py_mod(last_epoch_ - 1 - t_max_, 2 * t_max_) == 0) {
    for (size_t i = 0; i < lrs.size(); ++i)
      lrs[i] = lrs[i] + (base_lrs_[i] - eta_min_) * (1 - std::cos(kPi / t)) / 2;
    return lrs;
  }
  for (auto& lr : lrs)
    lr = (1 + std::cos(kPi * e / t)) / (1 + std::cos(kPi * (e - 1) / t)) * (lr - eta_min_) + eta_min_;
  return lrs;
}

// ------------------------------------------------------------------ LinearLR

LinearLR::LinearLR(Optimizer& optimizer, double start_factor, double end_factor, int64_t total_iters)
    : LRScheduler(optimizer, "LinearLR"),
      start_factor_(start_factor),
      end_factor_(end_factor),
      total_iters_(total_iters) {
  // start_factor 0 would divide by zero on the second step (later PyTorch versions reject it too).
  NA_CHECK(start_factor > 0 && start_factor <= 1, "LinearLR", "start_factor must be in (0, 1], got ",
           start_factor);
  NA_CHECK(end_factor >= 0 && end_factor <= 1, "LinearLR", "end_factor must be in [0, 1], got ", end_factor);
  NA_CHECK(total_iters > 0, "LinearLR", "total_iters must be positive, got ", total_iters);
  initial_step();
}

std::vector<double> LinearLR::get_lr() {
  auto lrs = current_lrs();
  if (last_epoch_ == 0) {
    for (auto& lr : lrs) lr *= start_factor_;
    return lrs;
  }
  if (last_epoch_ > total_iters_) return lrs;
  const double d = end_factor_ - start_factor_;
  for (auto& lr : lrs)
    lr *= 1. +
          d / (static_cast<double>(total_iters_) * start_factor_ + static_cast<double>(last_epoch_ - 1) * d);
  return lrs;
}

// ------------------------------------------------------------------ LambdaLR

LambdaLR::LambdaLR(Optimizer& optimizer, std::function<double(int64_t)> lr_lambda)
    : LRScheduler(optimizer, "LambdaLR"), lambda_(std::move(lr_lambda)) {
  NA_CHECK(static_cast<bool>(lambda_), "LambdaLR", "lr_lambda is empty");
  initial_step();
}

std::vector<double> LambdaLR::get_lr() {
  std::vector<double> lrs(base_lrs_.size());
  const double f = lambda_(last_epoch_);
  for (size_t i = 0; i < lrs.size(); ++i) lrs[i] = base_lrs_[i] * f;
  return lrs;
}

// ------------------------------------------------------------------ WarmupCosineLR

WarmupCosineLR::WarmupCosineLR(Optimizer& optimizer, int64_t warmup_steps, int64_t total_steps,
                               double eta_min, double start_factor)
    : LRScheduler(optimizer, "WarmupCosineLR"),
      warmup_(warmup_steps),
      total_(total_steps),
      eta_min_(eta_min),
      start_factor_(start_factor) {
  NA_CHECK(warmup_steps >= 0, "WarmupCosineLR", "warmup_steps must be >= 0, got ", warmup_steps);
  NA_CHECK(total_steps >= warmup_steps && total_steps > 0, "WarmupCosineLR", "total_steps (", total_steps,
           ") must be positive and at least warmup_steps (", warmup_steps, ")");
  NA_CHECK(start_factor >= 0 && start_factor <= 1, "WarmupCosineLR", "start_factor must be in [0, 1], got ",
           start_factor);
  NA_CHECK(eta_min >= 0, "WarmupCosineLR", "eta_min must be >= 0, got ", eta_min);
  initial_step();
}

std::vector<double> WarmupCosineLR::get_lr() {
  std::vector<double> lrs(base_lrs_.size());
  const double e = static_cast<double>(last_epoch_);
  if (last_epoch_ < warmup_) {
    const double f = start_factor_ + (1 - start_factor_) * e / static_cast<double>(warmup_);
    for (size_t i = 0; i < lrs.size(); ++i) lrs[i] = base_lrs_[i] * f;
    return lrs;
  }
  const double span = static_cast<double>(std::max<int64_t>(1, total_ - warmup_));
  const double p = std::min(1.0, (e - static_cast<double>(warmup_)) / span);
  const double c = 0.5 * (1 + std::cos(kPi * p));
  for (size_t i = 0; i < lrs.size(); ++i) lrs[i] = eta_min_ + (base_lrs_[i] - eta_min_) * c;
  return lrs;
}

// ------------------------------------------------------------------ OneCycleLR

OneCycleLR::OneCycleLR(Optimizer& optimizer, std::vector<double> max_lr, const OneCycleLROptions& o)
    : LRScheduler(optimizer, "OneCycleLR"), opt_(o) {
  const char* op = "OneCycleLR";
  if (o.total_steps() > 0) {
    total_steps_ = o.total_steps();
  } else {
    NA_CHECK(o.total_steps() == 0, op, "expected positive integer total_steps, but got ", o.total_steps());
    NA_CHECK(o.epochs() > 0 && o.steps_per_epoch() > 0, op,
             "set total_steps or both epochs and steps_per_epoch (got epochs ", o.epochs(),
             ", steps_per_epoch ", o.steps_per_epoch(), ")");
    total_steps_ = o.epochs() * o.steps_per_epoch();
  }
  NA_CHECK(o.pct_start() >= 0 && o.pct_start() <= 1, op, "expected pct_start in [0, 1], but got ",
           o.pct_start());
  NA_CHECK(o.anneal_strategy() == "cos" || o.anneal_strategy() == "linear", op,
           "anneal_strategy must be 'cos' or 'linear', got '", o.anneal_strategy(), "'");
  NA_CHECK(o.div_factor() > 0 && o.final_div_factor() > 0, op, "div_factor (", o.div_factor(),
           ") and final_div_factor (", o.final_div_factor(), ") must be positive");
  const double total = static_cast<double>(total_steps_);
  // Indices into GroupRange::v: 0 initial_lr, 1 max_lr, 2 min_lr, 3 max_momentum, 4 base_momentum.
  if (o.three_phase()) {
    phases_ = {{o.pct_start() * total - 1, 0, 1, 3, 4},
               {2 * o.pct_start() * total - 2, 1, 0, 4, 3},
               {total - 1, 0, 2, 3, 3}};
  } else {
    phases_ = {{o.pct_start() * total - 1, 0, 1, 3, 4}, {total - 1, 1, 2, 4, 3}};
  }
  auto& groups = optimizer.param_groups();
  NA_CHECK(max_lr.size() == 1 || max_lr.size() == groups.size(), op, "expected 1 or ", groups.size(),
           " values for max_lr, got ", max_lr.size());
  if (o.cycle_momentum()) {
    for (const auto& g : groups)
      NA_CHECK(g.options->get_momentum().has_value(), op, "optimizer ", optimizer.name(),
               " has no momentum or beta1 to cycle; construct with cycle_momentum(false)");
  }
  for (size_t i = 0; i < groups.size(); ++i) {
    const double m = max_lr.size() == 1 ? max_lr[0] : max_lr[i];
    GroupRange r{};
    r.v[0] = m / o.div_factor();
    r.v[1] = m;
    r.v[2] = r.v[0] / o.final_div_factor();
    r.v[3] = o.max_momentum();
    r.v[4] = o.base_momentum();
    ranges_.push_back(r);
    groups[i].initial_lr = r.v[0];
    base_lrs_[i] = r.v[0];
    if (o.cycle_momentum()) groups[i].options->set_momentum(o.max_momentum());
  }
  initial_step();
}

double OneCycleLR::anneal(double start, double end, double pct) const {
  if (opt_.anneal_strategy() == "cos") {
    const double cos_out = std::cos(kPi * pct) + 1;
    return end + (start - end) / 2.0 * cos_out;
  }
  return (end - start) * pct + start;
}

std::vector<double> OneCycleLR::get_lr() {
  const int64_t step_num = last_epoch_;
  NA_CHECK(step_num <= total_steps_, "OneCycleLR", "tried to step ", step_num + 1,
           " times; the specified number of total steps is ", total_steps_);
  auto& groups = optimizer_.param_groups();
  std::vector<double> lrs;
  for (size_t g = 0; g < groups.size(); ++g) {
    const GroupRange& r = ranges_[g];
    double start_step = 0, lr = 0, momentum = 0;
    for (size_t i = 0; i < phases_.size(); ++i) {
      const Phase& ph = phases_[i];
      if (static_cast<double>(step_num) <= ph.end_step || i + 1 == phases_.size()) {
        const double pct = (static_cast<double>(step_num) - start_step) / (ph.end_step - start_step);
        lr = anneal(r.v[ph.start_lr], r.v[ph.end_lr], pct);
        momentum = anneal(r.v[ph.start_momentum], r.v[ph.end_momentum], pct);
        break;
      }
      start_step = ph.end_step;
    }
    lrs.push_back(lr);
    if (opt_.cycle_momentum()) groups[g].options->set_momentum(momentum);
  }
  return lrs;
}

// ------------------------------------------------------------------ ReduceLROnPlateau

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, const ReduceLROnPlateauOptions& o)
    : optimizer_(optimizer), opt_(o) {
  const char* op = "ReduceLROnPlateau";
  NA_CHECK(o.factor() >= 0 && o.factor() < 1, op, "factor must be in [0, 1), got ", o.factor());
  NA_CHECK(o.mode() == "min" || o.mode() == "max", op, "mode must be 'min' or 'max', got '", o.mode(), "'");
  NA_CHECK(o.threshold_mode() == "rel" || o.threshold_mode() == "abs", op,
           "threshold_mode must be 'rel' or 'abs', got '", o.threshold_mode(), "'");
  NA_CHECK(o.patience() >= 0 && o.cooldown() >= 0, op, "patience (", o.patience(), ") and cooldown (",
           o.cooldown(), ") must be >= 0");
  const size_t n = optimizer.param_groups().size();
  NA_CHECK(o.min_lr().size() == 1 || o.min_lr().size() == n, op, "expected 1 or ", n, " min_lr values, got ",
           o.min_lr().size());
  min_lrs_ = o.min_lr().size() == 1 ? std::vector<double>(n, o.min_lr()[0]) : o.min_lr();
  best_ =
      o.mode() == "min" ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
  last_lr_ = group_lrs(optimizer_);
}

bool ReduceLROnPlateau::is_better(double a, double best) const {
  const bool rel = opt_.threshold_mode() == "rel";
  if (opt_.mode() == "min") return rel ? a < best * (1. - opt_.threshold()) : a < best - opt_.threshold();
  return rel ? a > best * (opt_.threshold() + 1.) : a > best + opt_.threshold();
}

void ReduceLROnPlateau::step(double metric) {
  auto& groups = optimizer_.param_groups();
  NA_CHECK(groups.size() == min_lrs_.size(), "ReduceLROnPlateau", "the optimizer has ", groups.size(),
           " parameter groups but the scheduler was made for ", min_lrs_.size());
  ++last_epoch_;
  if (is_better(metric, best_)) {
    best_ = metric;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    num_bad_epochs_ = 0;  // bad epochs during cooldown do not count
  }
  if (num_bad_epochs_ > opt_.patience()) {
    for (size_t i = 0; i < groups.size(); ++i) {
      const double old_lr = groups[i].options->get_lr();
      const double new_lr = std::max(old_lr * opt_.factor(), min_lrs_[i]);
      if (old_lr - new_lr > opt_.eps()) groups[i].options->set_lr(new_lr);
    }
    cooldown_counter_ = opt_.cooldown();
    num_bad_epochs_ = 0;
  }
  last_lr_ = group_lrs(optimizer_);
}

nn::StateDict ReduceLROnPlateau::state_dict() const {
  return {{"last_epoch", scalar_tensor(static_cast<double>(last_epoch_), DType::f64)},
          {"best", scalar_tensor(best_, DType::f64)},
          {"num_bad_epochs", scalar_tensor(static_cast<double>(num_bad_epochs_), DType::f64)},
          {"cooldown_counter", scalar_tensor(static_cast<double>(cooldown_counter_), DType::f64)},
          {"last_lr", vec_tensor(last_lr_)}};
}

void ReduceLROnPlateau::load_state_dict(const nn::StateDict& state) {
  NoGradGuard no_grad;
  DictView d(state, "ReduceLROnPlateau");
  const int64_t last_epoch = d.integer("last_epoch");
  const double best = d.scalar("best");
  const int64_t bad = d.integer("num_bad_epochs");
  const int64_t cooldown = d.integer("cooldown_counter");
  auto last = d.vec("last_lr", min_lrs_.size());
  d.check_all_used();
  NA_CHECK(last_epoch >= 0 && bad >= 0 && cooldown >= 0, "ReduceLROnPlateau",
           "state_dict counters must be >= 0 (last_epoch ", last_epoch, ", num_bad_epochs ", bad,
           ", cooldown_counter ", cooldown, ")");
  last_epoch_ = last_epoch;
  best_ = best;
  num_bad_epochs_ = bad;
  cooldown_counter_ = cooldown;
  last_lr_ = std::move(last);
}

}  // namespace neural_arch::optim
