// RMSprop (torch.optim.RMSprop): optional momentum and centering.
#pragma once
#include "neural_arch/optim/optimizer.hpp"

namespace neural_arch::optim {

/// RMSprop hyper-parameters with PyTorch's defaults.
struct RMSpropOptions : OptionsBase<RMSpropOptions> {
  NA_OPTIM_ARG(double, lr, 1e-2);
  NA_OPTIM_ARG(double, alpha, 0.99);
  NA_OPTIM_ARG(double, eps, 1e-8);
  NA_OPTIM_ARG(double, weight_decay, 0.0);
  NA_OPTIM_ARG(double, momentum, 0.0);
  NA_OPTIM_ARG(bool, centered, false);
  NA_OPTIM_ARG(bool, maximize, false);

 public:
  void visit(OptionsVisitor& v) override;
};

/// torch.optim.RMSprop: v = alpha v + (1 - alpha) g^2; avg = sqrt(v - g_avg^2 if centered
/// else v) + eps; with momentum buf = momentum buf + g / avg, p -= lr buf; else p -= lr g / avg.
/// State: "step", "square_avg", "momentum_buffer" (momentum > 0), "grad_avg" (centered).
class RMSprop : public Optimizer {
 public:
  explicit RMSprop(std::vector<Tensor> params, const RMSpropOptions& defaults = {});
  explicit RMSprop(std::vector<ParamGroup> groups, const RMSpropOptions& defaults = {});
  const std::vector<std::string>& buffer_names() const override;

 protected:
  void validate(const OptimizerOptions& options) const override;
  Kernel prepare(const OptimizerOptions& options, ParamState& state, const Tensor& param, int dtype_index,
                 cpu::OptimArgs& args) override;
};

}  // namespace neural_arch::optim
