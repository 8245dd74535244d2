#include "neural_arch/optim/rmsprop.hpp"

#include "backends/cpu/optim_kernels.hpp"
#include "optim/optim_util.hpp"

namespace neural_arch::optim {

void RMSpropOptions::visit(OptionsVisitor& v) {
  v.field("lr", lr_);
  v.field("alpha", alpha_);
  v.field("eps", eps_);
  v.field("weight_decay", weight_decay_);
  v.field("momentum", momentum_);
  v.field("centered", centered_);
  v.field("maximize", maximize_);
}

RMSprop::RMSprop(std::vector<Tensor> params, const RMSpropOptions& defaults)
    : RMSprop(std::vector<ParamGroup>{ParamGroup(std::move(params))}, defaults) {}
RMSprop::RMSprop(std::vector<ParamGroup> groups, const RMSpropOptions& defaults)
    : Optimizer("RMSprop", defaults) {
  init_groups(std::move(groups));
}

const std::vector<std::string>& RMSprop::buffer_names() const {
  static const std::vector<std::string> names{"square_avg", "momentum_buffer", "grad_avg"};
  return names;
}

void RMSprop::validate(const OptimizerOptions& options) const {
  const auto& o = internal::options_of<RMSpropOptions>(options, name());
  internal::check_option(name(), o.lr() >= 0, "learning rate", o.lr(), "must be >= 0");
  internal::check_option(name(), o.eps() >= 0, "epsilon value", o.eps(), "must be >= 0");
  internal::check_option(name(), o.momentum() >= 0, "momentum value", o.momentum(), "must be >= 0");
  internal::check_option(name(), o.weight_decay() >= 0, "weight_decay value", o.weight_decay(),
                         "must be >= 0");
  internal::check_option(name(), o.alpha() >= 0, "alpha value", o.alpha(), "must be >= 0");
}

Optimizer::Kernel RMSprop::prepare(const OptimizerOptions& options, ParamState& state, const Tensor& param,
                                   int d, cpu::OptimArgs& args) {
  const auto& o = internal::options_of<RMSpropOptions>(options, name());
  const bool momentum = o.momentum() > 0;
  if (!state.buffers[0].defined()) state.buffers[0] = internal::zeros_like_param(param);
  if (momentum && !state.buffers[1].defined()) state.buffers[1] = internal::zeros_like_param(param);
  if (o.centered() && !state.buffers[2].defined()) state.buffers[2] = internal::zeros_like_param(param);
  ++state.step;
  args.c[0] = -o.lr();
  args.c[1] = o.weight_decay();
  args.c[2] = o.alpha();
  args.c[3] = 1.0 - o.alpha();
  args.c[4] = o.eps();
  args.c[5] = o.momentum();
  args.c[6] = o.maximize() ? -1.0 : 1.0;
  return cpu::optim_kernels().rmsprop[d][o.weight_decay() != 0][o.centered()][momentum];
}

}  // namespace neural_arch::optim
