// na::optim::Optimizer: parameter groups, per-parameter state, the fused step, state_dict.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "neural_arch/nn/module.hpp"
#include "neural_arch/tensor.hpp"

namespace neural_arch::cpu {
struct OptimArgs;
}

namespace neural_arch::optim {

/// (beta1, beta2) of Adam-style optimizers.
using Betas = std::pair<double, double>;

/// Receives an options object's hyper-parameters by name (see OptimizerOptions::visit).
class OptionsVisitor {
 public:
  virtual ~OptionsVisitor() = default;
  virtual void field(const char* name, double& value) = 0;
  virtual void field(const char* name, bool& value) = 0;
  virtual void field(const char* name, Betas& value) = 0;
};

/// Base of the per-optimizer options (SGDOptions, AdamOptions, ...). Each concrete options
/// type has chained setters and getters of the same name, with PyTorch's defaults:
///
///   auto opt = na::optim::AdamWOptions().lr(3e-4).weight_decay(0.1);
///   double lr = opt.lr();
///
/// The virtual interface is what optimizer-agnostic code needs: schedulers read and write the
/// learning rate (and, for OneCycleLR, the momentum or beta1), and state_dict walks every
/// hyper-parameter by name through visit().
class OptimizerOptions {
 public:
  virtual ~OptimizerOptions() = default;
  virtual std::unique_ptr<OptimizerOptions> clone() const = 0;
  virtual double get_lr() const = 0;
  virtual void set_lr(double lr) = 0;
  /// momentum (SGD, RMSprop) or beta1 (Adam, AdamW, Lion); nullopt when there is none (Adagrad).
  virtual std::optional<double> get_momentum() const { return std::nullopt; }
  /// Sets momentum or beta1; throws neural_arch::Error for options without one.
  virtual void set_momentum(double momentum);
  /// Calls v.field(name, value) for every hyper-parameter, in a fixed order.
  virtual void visit(OptionsVisitor& v) = 0;

  /// Whether the hyper-parameter `name` was given through its setter. A ParamGroup's options
  /// take these from the group and every other one from the optimizer's defaults, as a
  /// PyTorch group dict inherits the keys it does not have.
  bool is_set(const std::string& name) const;
  /// Names of the hyper-parameters given through their setters, in the order first given.
  const std::vector<std::string>& set_fields() const { return set_fields_; }
  /// Records that `name` was given (the NA_OPTIM_ARG setters call it).
  void mark_set(const char* name);

 private:
  std::vector<std::string> set_fields_;
};

namespace options_internal {
// The NA_OPTIM_ARG setters mark the field as set on optimizer options; other option structs
// that use the macro (the schedulers') have nothing to mark.
inline void mark_option_set(OptimizerOptions* o, const char* name) { o->mark_set(name); }
inline void mark_option_set(const void*, const char*) {}
}  // namespace options_internal

// Declares a hyper-parameter: a chained setter `name(v)` and a getter `name()`.
#define NA_OPTIM_ARG(T, name, default_value)                              \
 public:                                                                  \
  auto& name(const T& value) {                                            \
    name##_ = value;                                                      \
    ::neural_arch::optim::options_internal::mark_option_set(this, #name); \
    return *this;                                                         \
  }                                                                       \
  const T& name() const { return name##_; }                               \
                                                                          \
 private:                                                                 \
  T name##_ = default_value

/// The overrides every options class would write the same way, from its own chained setters and
/// getters: clone(), the learning rate, and momentum() (SGD, RMSprop) or betas().first (Adam,
/// AdamW, Lion) as the momentum schedulers cycle.
///
///   struct MyOptions : OptionsBase<MyOptions> { NA_OPTIM_ARG(double, lr, 1e-3); ... };
template <class Derived> class OptionsBase : public OptimizerOptions {
 public:
  std::unique_ptr<OptimizerOptions> clone() const override { return std::make_unique<Derived>(self()); }
  double get_lr() const override { return self().lr(); }
  void set_lr(double v) override { self().lr(v); }
  std::optional<double> get_momentum() const override {
    if constexpr (requires(const Derived& d) { d.momentum(); })
      return self().momentum();
    else if constexpr (requires(const Derived& d) { d.betas(); })
      return self().betas().first;
    else
      return std::nullopt;
  }
  void set_momentum(double v) override {
    if constexpr (requires(const Derived& d) { d.momentum(); }) {
      self().momentum(v);
    } else if constexpr (requires(const Derived& d) { d.betas(); }) {
      Betas b = self().betas();
      b.first = v;
      self().betas(b);
    } else {
      OptimizerOptions::set_momentum(v);
    }
  }

 private:
  const Derived& self() const { return static_cast<const Derived&>(*this); }
  Derived& self() { return static_cast<Derived&>(*this); }
};

/// A set of parameters updated with the same options. `options` null means "the optimizer's
/// defaults" (filled in by the optimizer when the group is added). Otherwise the hyper-parameters
/// the options were given through setters override the defaults and the rest are inherited:
/// ParamGroup(b, AdamWOptions().weight_decay(0)) in AdamW(groups, AdamWOptions().lr(0.1)) trains
/// with lr 0.1 and weight_decay 0, like {'params': b, 'weight_decay': 0} in PyTorch.
///
///   opt.add_param_group(na::optim::ParamGroup(head->parameters(), na::optim::AdamOptions().lr(1e-4)));
struct ParamGroup {
  std::vector<Tensor> params;
  std::unique_ptr<OptimizerOptions> options;
  /// The learning rate a scheduler started from (torch's group['initial_lr']); set by the first
  /// scheduler attached to the optimizer, saved in state_dict.
  std::optional<double> initial_lr;

  explicit ParamGroup(std::vector<Tensor> params);
  ParamGroup(std::vector<Tensor> params, const OptimizerOptions& options);
  ParamGroup(const ParamGroup& other);
  ParamGroup& operator=(const ParamGroup& other);
  ParamGroup(ParamGroup&&) = default;
  ParamGroup& operator=(ParamGroup&&) = default;

  /// The options as their concrete type; throws neural_arch::Error when they are another type.
  template <class O> O& options_as() const {
    auto* o = dynamic_cast<O*>(options.get());
    if (o == nullptr) throw_wrong_options_type();
    return *o;
  }

 private:
  [[noreturn]] static void throw_wrong_options_type();
};

/// One parameter's optimizer state: the number of steps taken and up to three buffers whose
/// meaning and names are the optimizer's (Optimizer::buffer_names(), e.g. Adam:
/// exp_avg, exp_avg_sq, max_exp_avg_sq). Buffers have the parameter's shape and dtype.
struct ParamState {
  int64_t step = 0;
  std::array<Tensor, 3> buffers;
};

/// The base of every optimizer. Usage, as in PyTorch:
///
///   na::optim::AdamW opt(model->parameters(), na::optim::AdamWOptions().lr(1e-3));
///   opt.zero_grad();
///   loss.backward();
///   opt.step();
///
/// step() skips parameters whose grad is undefined. Each parameter is updated by one fused
/// kernel that reads the parameter, its grad and its state once and writes them once; the
/// parameters of a step are split across OpenMP threads as one range of elements (so many
/// small tensors are as cheap as one large one), and results are bitwise identical for any
/// thread count. No clipping and no NaN/inf replacement happen inside an optimizer.
/// Parameters must be float32 or float64 (or f16/bf16 with set_master_weights(true)); state has
/// the parameter's dtype (f32 for narrow parameters with master weights).
///
/// state_dict() layout (flat, so the checkpoint code can save it as named tensors):
///   "state.<i>.step"               0-d float64: steps taken (optimizers that count steps)
///   "state.<i>.<buffer>"           the buffer (e.g. "state.0.exp_avg"), the parameter's shape/dtype
///                                  (float32 for a float16/bfloat16 parameter)
///   "state.<i>.master"             float32 master copy of a float16/bfloat16 parameter, once it has
///                                  one (set_master_weights)
///   "param_groups.<g>.params"      1-d int64: the indices i of the group's parameters
///   "param_groups.<g>.<option>"    0-d float64 per hyper-parameter ("lr", "weight_decay", ...;
///                                  booleans as 0/1), "betas" as a 1-d float64 of 2
///   "param_groups.<g>.initial_lr"  0-d float64, when a scheduler has set it
/// <i> counts parameters over all groups in order, as PyTorch does; state is saved only for
/// parameters that have some. The state tensors are the optimizer's own (not copies): save
/// them before the next step(). load_state_dict copies values in.
class Optimizer {
 public:
  /// A fused update kernel over elements [begin, end) of one parameter (internal).
  using Kernel = void (*)(const cpu::OptimArgs&, int64_t, int64_t);

  virtual ~Optimizer();
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// One update of every parameter that has a grad.
  void step();
  /// Evaluates closure() with grad mode on (it typically zeroes grads, runs forward and
  /// backward), then steps; returns the closure's loss.
  Tensor step(const std::function<Tensor()>& closure);
  /// Clears grads (set_to_none) or zeroes them in place.
  void zero_grad(bool set_to_none = true);
  /// Adds a group; its options default to the optimizer's defaults. Options are validated,
  /// and a parameter may belong to one group only.
  void add_param_group(ParamGroup group);

  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  const OptimizerOptions& defaults() const { return *defaults_; }
  /// "SGD", "Adam", ... (the prefix of this optimizer's error messages).
  const std::string& name() const { return name_; }

  /// See the class comment for the layout.
  nn::StateDict state_dict() const;
  /// Restores state and group hyper-parameters from state_dict() output of the same optimizer
  /// type with the same group sizes. Everything is checked before anything changes; a
  /// mismatch throws neural_arch::Error naming the key.
  void load_state_dict(const nn::StateDict& state);

  /// The state of a parameter, or null when it has none yet.
  const ParamState* state(const Tensor& param) const;
  /// Names of ParamState::buffers slots, in slot order.
  virtual const std::vector<std::string>& buffer_names() const = 0;

  /// Mixed precision: keep an f32 master copy of every f16/bf16 parameter. step() then updates
  /// the copy (with f32 state) from the widened gradient and writes it back rounded, so updates
  /// smaller than the narrow type's resolution accumulate instead of vanishing. Off by
  /// default, and then a narrow parameter is an error. The copies are made from the parameters
  /// at their first step; state_dict() holds them ("state.<i>.master"), so a resumed run
  /// continues from the exact f32 values (a state_dict without them re-makes the copies from
  /// the rounded parameters). The switch itself is not saved: set it again after loading.
  void set_master_weights(bool on) { master_weights_ = on; }
  bool master_weights() const { return master_weights_; }
  /// The f32 master copy of a narrow parameter; undefined before its first step.
  Tensor master_weight(const Tensor& param) const;

 protected:
  /// The derived constructor then calls init_groups, which validates defaults and groups
  /// (validate is virtual, so it cannot run here).
  Optimizer(std::string name, const OptimizerOptions& defaults);

  /// Throws neural_arch::Error("[<name>] ...") when an option is out of range.
  virtual void validate(const OptimizerOptions& options) const = 0;
  /// Whether state carries a step count that state_dict saves ("state.<i>.step").
  virtual bool counts_steps() const { return true; }
  /// Prepares one parameter's update: creates missing state buffers, advances the step, fills
  /// args.c and returns the kernel. dtype_index: 0 float32, 1 float64. The base class fills the
  /// pointers in args from the parameter, its grad and state.buffers after this returns.
  virtual Kernel prepare(const OptimizerOptions& options, ParamState& state, const Tensor& param,
                         int dtype_index, cpu::OptimArgs& args) = 0;
  /// Adds the initial groups; throws when there are none or they hold no parameter.
  void init_groups(std::vector<ParamGroup> groups);

 private:
  struct Scratch;
  std::string name_;
  std::unique_ptr<OptimizerOptions> defaults_;
  std::vector<ParamGroup> groups_;
  std::unordered_map<const detail::TensorImpl*, ParamState> state_;
  bool master_weights_ = false;
  std::unordered_map<const detail::TensorImpl*, Tensor> masters_;
  std::unique_ptr<Scratch> scratch_;
};

}  // namespace neural_arch::optim
