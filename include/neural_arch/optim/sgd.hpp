// Stochastic gradient descent with momentum, dampening, Nesterov and weight decay (torch.optim.SGD).
#pragma once
#include "neural_arch/optim/optimizer.hpp"

namespace neural_arch::optim {

/// SGD hyper-parameters, PyTorch's defaults (lr 1e-3 as in PyTorch >= 2.2; 1.x had no default).
struct SGDOptions : OptionsBase<SGDOptions> {
  NA_OPTIM_ARG(double, lr, 1e-3);
  NA_OPTIM_ARG(double, momentum, 0.0);
  NA_OPTIM_ARG(double, dampening, 0.0);
  NA_OPTIM_ARG(double, weight_decay, 0.0);
  NA_OPTIM_ARG(bool, nesterov, false);
  NA_OPTIM_ARG(bool, maximize, false);

 public:
  void visit(OptionsVisitor& v) override;
};

/// torch.optim.SGD: d = g (+ weight_decay * p); with momentum, buf = momentum * buf +
/// (1 - dampening) * d (buf = d on the first step) and d = buf, or d + momentum * buf with
/// nesterov; p -= lr * d. State: "momentum_buffer" (when momentum != 0); no step count.
///
///   na::optim::SGD opt(model->parameters(), na::optim::SGDOptions().lr(0.1).momentum(0.9));
class SGD : public Optimizer {
 public:
  explicit SGD(std::vector<Tensor> params, const SGDOptions& defaults = {});
  explicit SGD(std::vector<ParamGroup> groups, const SGDOptions& defaults = {});
  const std::vector<std::string>& buffer_names() const override;

 protected:
  void validate(const OptimizerOptions& options) const override;
  bool counts_steps() const override { return false; }
  Kernel prepare(const OptimizerOptions& options, ParamState& state, const Tensor& param, int dtype_index,
                 cpu::OptimArgs& args) override;
};

}  // namespace neural_arch::optim
