#include "neural_arch/optim/adam.hpp"

#include <cmath>

#include "backends/cpu/optim_kernels.hpp"
#include "optim/optim_util.hpp"

namespace neural_arch::optim {

namespace {

template <class O> void validate_adam(const std::string& opt, const O& o) {
  internal::check_option(opt, o.lr() >= 0, "learning rate", o.lr(), "must be >= 0");
  internal::check_option(opt, o.eps() >= 0, "epsilon value", o.eps(), "must be >= 0");
  internal::check_option(opt, o.betas().first >= 0 && o.betas().first < 1, "beta parameter at index 0",
                         o.betas().first, "must be in [0, 1)");
  internal::check_option(opt, o.betas().second >= 0 && o.betas().second < 1, "beta parameter at index 1",
                         o.betas().second, "must be in [0, 1)");
  internal::check_option(opt, o.weight_decay() >= 0, "weight_decay value", o.weight_decay(), "must be >= 0");
}

template <class O>
void visit_adam(O& o, OptionsVisitor& v, double& lr, Betas& betas, double& eps, double& wd, bool& amsgrad,
                bool& maximize) {
  (void)o;
  v.field("lr", lr);
  v.field("betas", betas);
  v.field("eps", eps);
  v.field("weight_decay", wd);
  v.field("amsgrad", amsgrad);
  v.field("maximize", maximize);
}

// wd_mode 1: L2 (Adam), 2: decoupled (AdamW).
template <class O>
Optimizer::Kernel prepare_adam(const O& o, int wd_mode, ParamState& state, const Tensor& param, int d,
                               cpu::OptimArgs& args) {
  if (!state.buffers[0].defined()) state.buffers[0] = internal::zeros_like_param(param);
  if (!state.buffers[1].defined()) state.buffers[1] = internal::zeros_like_param(param);
  if (o.amsgrad() && !state.buffers[2].defined()) state.buffers[2] = internal::zeros_like_param(param);
  const int64_t step = ++state.step;
  const double b1 = o.betas().first, b2 = o.betas().second;
  const double bias_correction1 = 1.0 - std::pow(b1, static_cast<double>(step));
  const double bias_correction2 = 1.0 - std::pow(b2, static_cast<double>(step));
  args.c[0] = -(o.lr() / bias_correction1);
  if (wd_mode == 2) {
    args.c[1] = 1.0 - o.lr() * o.weight_decay();
  } else {
    args.c[1] = o.weight_decay();
    if (o.weight_decay() == 0) wd_mode = 0;
  }
  args.c[2] = b1;
  args.c[3] = 1.0 - b1;
  args.c[4] = b2;
  args.c[5] = 1.0 - b2;
  args.c[6] = std::sqrt(bias_correction2);
  args.c[7] = o.eps();
  args.c[8] = o.maximize() ? -1.0 : 1.0;
  return cpu::optim_kernels().adam[d][wd_mode][o.amsgrad()];
}

const std::vector<std::string>& adam_buffer_names() {
  static const std::vector<std::string> names{"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  return names;
}

}  // namespace

void AdamOptions::visit(OptionsVisitor& v) {
  visit_adam(*this, v, lr_, betas_, eps_, weight_decay_, amsgrad_, maximize_);
}
void AdamWOptions::visit(OptionsVisitor& v) {
  visit_adam(*this, v, lr_, betas_, eps_, weight_decay_, amsgrad_, maximize_);
}

Adam::Adam(std::vector<Tensor> params, const AdamOptions& defaults)
    : Adam(std::vector<ParamGroup>{ParamGroup(std::move(params))}, defaults) {}
Adam::Adam(std::vector<ParamGroup> groups, const AdamOptions& defaults) : Optimizer("Adam", defaults) {
  init_groups(std::move(groups));
}
const std::vector<std::string>& Adam::buffer_names() const { return adam_buffer_names(); }
void Adam::validate(const OptimizerOptions& options) const {
  validate_adam(name(), internal::options_of<AdamOptions>(options, name()));
}
Optimizer::Kernel Adam::prepare(const OptimizerOptions& options, ParamState& state, const Tensor& param,
                                int d, cpu::OptimArgs& args) {
  return prepare_adam(internal::options_of<AdamOptions>(options, name()), 1, state, param, d, args);
}

AdamW::AdamW(std::vector<Tensor> params, const AdamWOptions& defaults)
    : AdamW(std::vector<ParamGroup>{ParamGroup(std::move(params))}, defaults) {}
AdamW::AdamW(std::vector<ParamGroup> groups, const AdamWOptions& defaults) : Optimizer("AdamW", defaults) {
  init_groups(std::move(groups));
}
const std::vector<std::string>& AdamW::buffer_names() const { return adam_buffer_names(); }
void AdamW::validate(const OptimizerOptions& options) const {
  validate_adam(name(), internal::options_of<AdamWOptions>(options, name()));
}
Optimizer::Kernel AdamW::prepare(const OptimizerOptions& options, ParamState& state, const Tensor& param,
                                 int d, cpu::OptimArgs& args) {
  return prepare_adam(internal::options_of<AdamWOptions>(options, name()), 2, state, param, d, args);
}

}  // namespace neural_arch::optim
