#include "neural_arch/optim/adagrad.hpp"

#include "backends/cpu/optim_kernels.hpp"
#include "optim/optim_util.hpp"

namespace neural_arch::optim {

void AdagradOptions::visit(OptionsVisitor& v) {
  v.field("lr", lr_);
  v.field("lr_decay", lr_decay_);
  v.field("weight_decay", weight_decay_);
  v.field("initial_accumulator_value", initial_accumulator_value_);
  v.field("eps", eps_);
  v.field("maximize", maximize_);
}

Adagrad::Adagrad(std::vector<Tensor> params, const AdagradOptions& defaults)
    : Adagrad(std::vector<ParamGroup>{ParamGroup(std::move(params))}, defaults) {}
Adagrad::Adagrad(std::vector<ParamGroup> groups, const AdagradOptions& defaults)
    : Optimizer("Adagrad", defaults) {
  init_groups(std::move(groups));
}

const std::vector<std::string>& Adagrad::buffer_names() const {
  static const std::vector<std::string> names{"sum", "", ""};
  return names;
}

void Adagrad::validate(const OptimizerOptions& options) const {
  const auto& o = internal::options_of<AdagradOptions>(options, name());
  internal::check_option(name(), o.lr() >= 0, "learning rate", o.lr(), "must be >= 0");
  internal::check_option(name(), o.lr_decay() >= 0, "lr_decay value", o.lr_decay(), "must be >= 0");
  internal::check_option(name(), o.weight_decay() >= 0, "weight_decay value", o.weight_decay(),
                         "must be >= 0");
  internal::check_option(name(), o.initial_accumulator_value() >= 0, "initial_accumulator_value value",
                         o.initial_accumulator_value(), "must be >= 0");
  internal::check_option(name(), o.eps() >= 0, "epsilon value", o.eps(), "must be >= 0");
}

Optimizer::Kernel Adagrad::prepare(const OptimizerOptions& options, ParamState& state, const Tensor& param,
                                   int d, cpu::OptimArgs& args) {
  const auto& o = internal::options_of<AdagradOptions>(options, name());
  if (!state.buffers[0].defined())
    state.buffers[0] = full(param.shape(), o.initial_accumulator_value(), param.dtype());
  const int64_t step = ++state.step;
  const double clr = o.lr() / (1.0 + static_cast<double>(step - 1) * o.lr_decay());
  args.c[0] = -clr;
  args.c[1] = o.weight_decay();
  args.c[2] = o.eps();
  args.c[3] = o.maximize() ? -1.0 : 1.0;
  return cpu::optim_kernels().adagrad[d][o.weight_decay() != 0];
}

}  // namespace neural_arch::optim
