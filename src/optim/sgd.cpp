#include "neural_arch/optim/sgd.hpp"

#include "backends/cpu/optim_kernels.hpp"
#include "optim/optim_util.hpp"

namespace neural_arch::optim {

void SGDOptions::visit(OptionsVisitor& v) {
  v.field("lr", lr_);
  v.field("momentum", momentum_);
  v.field("dampening", dampening_);
  v.field("weight_decay", weight_decay_);
  v.field("nesterov", nesterov_);
  v.field("maximize", maximize_);
}

SGD::SGD(std::vector<Tensor> params, const SGDOptions& defaults)
    : SGD(std::vector<ParamGroup>{ParamGroup(std::move(params))}, defaults) {}

SGD::SGD(std::vector<ParamGroup> groups, const SGDOptions& defaults) : Optimizer("SGD", defaults) {
  init_groups(std::move(groups));
}

const std::vector<std::string>& SGD::buffer_names() const {
  static const std::vector<std::string> names{"momentum_buffer", "", ""};
  return names;
}

void SGD::validate(const OptimizerOptions& options) const {
  const auto& o = internal::options_of<SGDOptions>(options, name());
  internal::check_option(name(), o.lr() >= 0, "learning rate", o.lr(), "must be >= 0");
  internal::check_option(name(), o.momentum() >= 0, "momentum", o.momentum(), "must be >= 0");
  internal::check_option(name(), o.weight_decay() >= 0, "weight_decay", o.weight_decay(), "must be >= 0");
  internal::check_option(name(), std::isfinite(o.dampening()), "dampening", o.dampening(), "must be finite");
  NA_CHECK(!o.nesterov() || (o.momentum() > 0 && o.dampening() == 0), name().c_str(),
           "Nesterov momentum requires a momentum > 0 and zero dampening (got momentum ", o.momentum(),
           ", dampening ", o.dampening(), ")");
}

Optimizer::Kernel SGD::prepare(const OptimizerOptions& options, ParamState& state, const Tensor& param, int d,
                               cpu::OptimArgs& args) {
  const auto& o = internal::options_of<SGDOptions>(options, name());
  int mode = 0;
  if (o.momentum() != 0) {
    if (state.buffers[0].defined()) {
      mode = 2;
    } else {
      state.buffers[0] = empty(param.shape(), param.dtype());  // the first step writes all of it
      mode = 1;
    }
  }
  ++state.step;
  args.c[0] = -o.lr();
  args.c[1] = o.weight_decay();
  args.c[2] = o.momentum();
  args.c[3] = 1.0 - o.dampening();
  args.c[4] = o.maximize() ? -1.0 : 1.0;
  return cpu::optim_kernels().sgd[d][o.weight_decay() != 0][mode][o.nesterov() && mode != 0];
}

}  // namespace neural_arch::optim
