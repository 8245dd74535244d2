// Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"), as lion-pytorch.
#pragma once
#include "neural_arch/optim/optimizer.hpp"

namespace neural_arch::optim {

/// Lion hyper-parameters with the paper's / lion-pytorch's defaults. Betas may be 1
/// (lion-pytorch accepts [0, 1]).
struct LionOptions : OptionsBase<LionOptions> {
  NA_OPTIM_ARG(double, lr, 1e-4);
  NA_OPTIM_ARG(Betas, betas, (Betas{0.9, 0.99}));
  NA_OPTIM_ARG(double, weight_decay, 0.0);

 public:
  void visit(OptionsVisitor& v) override;
};

/// Lion: p *= 1 - lr * weight_decay; p -= lr * sign(b1 m + (1 - b1) g); m = b2 m + (1 - b2) g.
/// sign(0) = 0 (and, as torch.sign here, sign(NaN) = 0). State: "exp_avg"; no step count.
///
///   na::optim::Lion opt(model->parameters(), na::optim::LionOptions().lr(1e-4).weight_decay(1.0));
class Lion : public Optimizer {
 public:
  explicit Lion(std::vector<Tensor> params, const LionOptions& defaults = {});
  explicit Lion(std::vector<ParamGroup> groups, const LionOptions& defaults = {});
  const std::vector<std::string>& buffer_names() const override;

 protected:
  void validate(const OptimizerOptions& options) const override;
  bool counts_steps() const override { return false; }
  Kernel prepare(const OptimizerOptions& options, ParamState& state, const Tensor& param, int dtype_index,
                 cpu::OptimArgs& args) override;
};

}  // namespace neural_arch::optim
