// Adagrad (torch.optim.Adagrad), dense gradients.
#pragma once
#include "neural_arch/optim/optimizer.hpp"

namespace neural_arch::optim {

/// Adagrad hyper-parameters with PyTorch's defaults.
struct AdagradOptions : OptionsBase<AdagradOptions> {
  NA_OPTIM_ARG(double, lr, 1e-2);
  NA_OPTIM_ARG(double, lr_decay, 0.0);
  NA_OPTIM_ARG(double, weight_decay, 0.0);
  NA_OPTIM_ARG(double, initial_accumulator_value, 0.0);
  NA_OPTIM_ARG(double, eps, 1e-10);
  NA_OPTIM_ARG(bool, maximize, false);

 public:
  void visit(OptionsVisitor& v) override;
};

/// torch.optim.Adagrad: clr = lr / (1 + (t - 1) lr_decay); sum += g^2; p -= clr g / (sqrt(sum) + eps).
/// State: "step", "sum" (starts at initial_accumulator_value).
class Adagrad : public Optimizer {
 public:
  explicit Adagrad(std::vector<Tensor> params, const AdagradOptions& defaults = {});
  explicit Adagrad(std::vector<ParamGroup> groups, const AdagradOptions& defaults = {});
  const std::vector<std::string>& buffer_names() const override;

 protected:
  void validate(const OptimizerOptions& options) const override;
  Kernel prepare(const OptimizerOptions& options, ParamState& state, const Tensor& param, int dtype_index,
                 cpu::OptimArgs& args) override;
};

}  // namespace neural_arch::optim
