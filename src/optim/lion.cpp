#include "neural_arch/optim/lion.hpp"

#include "backends/cpu/optim_kernels.hpp"
#include "optim/optim_util.hpp"

namespace neural_arch::optim {

void LionOptions::visit(OptionsVisitor& v) {
  v.field("lr", lr_);
  v.field("betas", betas_);
  v.field("weight_decay", weight_decay_);
}

Lion::Lion(std::vector<Tensor> params, const LionOptions& defaults)
    : Lion(std::vector<ParamGroup>{ParamGroup(std::move(params))}, defaults) {}
Lion::Lion(std::vector<ParamGroup> groups, const LionOptions& defaults) : Optimizer("Lion", defaults) {
  init_groups(std::move(groups));
}

const std::vector<std::string>& Lion::buffer_names() const {
  static const std::vector<std::string> names{"exp_avg", "", ""};
  return names;
}

void Lion::validate(const OptimizerOptions& options) const {
  const auto& o = internal::options_of<LionOptions>(options, name());
  internal::check_option(name(), o.lr() >= 0, "learning rate", o.lr(), "must be >= 0");
  internal::check_option(name(), o.betas().first >= 0 && o.betas().first <= 1, "beta parameter at index 0",
                         o.betas().first, "must be in [0, 1]");
  internal::check_option(name(), o.betas().second >= 0 && o.betas().second <= 1, "beta parameter at index 1",
                         o.betas().second, "must be in [0, 1]");
  internal::check_option(name(), o.weight_decay() >= 0, "weight_decay value", o.weight_decay(),
                         "must be >= 0");
}

Optimizer::Kernel Lion::prepare(const OptimizerOptions& options, ParamState& state, const Tensor& param,
                                int d, cpu::OptimArgs& args) {
  const auto& o = internal::options_of<LionOptions>(options, name());
  if (!state.buffers[0].defined()) state.buffers[0] = internal::zeros_like_param(param);
  ++state.step;
  const double b1 = o.betas().first, b2 = o.betas().second;
  args.c[0] = -o.lr();
  args.c[1] = 1.0 - o.lr() * o.weight_decay();
  args.c[2] = b1;
  args.c[3] = 1.0 - b1;
  args.c[4] = b2;
  args.c[5] = 1.0 - b2;
  return cpu::optim_kernels().lion[d];
}

}  // namespace neural_arch::optim
