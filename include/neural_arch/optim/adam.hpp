// Adam (optionally AMSGrad) and AdamW (decoupled weight decay), as torch.optim.Adam / AdamW.
#pragma once
#include "neural_arch/optim/optimizer.hpp"

namespace neural_arch::optim {

/// Adam hyper-parameters with PyTorch's defaults.
struct AdamOptions : OptionsBase<AdamOptions> {
  NA_OPTIM_ARG(double, lr, 1e-3);
  NA_OPTIM_ARG(Betas, betas, (Betas{0.9, 0.999}));
  NA_OPTIM_ARG(double, eps, 1e-8);
  NA_OPTIM_ARG(double, weight_decay, 0.0);
  NA_OPTIM_ARG(bool, amsgrad, false);
  NA_OPTIM_ARG(bool, maximize, false);

 public:
  void visit(OptionsVisitor& v) override;
};

/// AdamW hyper-parameters: Adam's, with weight_decay 1e-2 (decoupled), as torch.optim.AdamW.
struct AdamWOptions : OptionsBase<AdamWOptions> {
  NA_OPTIM_ARG(double, lr, 1e-3);
  NA_OPTIM_ARG(Betas, betas, (Betas{0.9, 0.999}));
  NA_OPTIM_ARG(double, eps, 1e-8);
  NA_OPTIM_ARG(double, weight_decay, 1e-2);
  NA_OPTIM_ARG(bool, amsgrad, false);
  NA_OPTIM_ARG(bool, maximize, false);

 public:
  void visit(OptionsVisitor& v) override;
};

/// torch.optim.Adam: g (+ weight_decay * p, L2); m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
/// p -= lr / (1 - b1^t) * m / (sqrt(v_or_max_v) / sqrt(1 - b2^t) + eps).
/// State: "step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq" (amsgrad).
///
///   na::optim::Adam opt(model->parameters(), na::optim::AdamOptions().lr(1e-3).betas({0.9, 0.999}));
class Adam : public Optimizer {
 public:
  explicit Adam(std::vector<Tensor> params, const AdamOptions& defaults = {});
  explicit Adam(std::vector<ParamGroup> groups, const AdamOptions& defaults = {});
  const std::vector<std::string>& buffer_names() const override;

 protected:
  void validate(const OptimizerOptions& options) const override;
  Kernel prepare(const OptimizerOptions& options, ParamState& state, const Tensor& param, int dtype_index,
                 cpu::OptimArgs& args) override;
};

/// torch.optim.AdamW: p *= 1 - lr * weight_decay, then the Adam update without L2 term.
/// Same state as Adam.
///
///   na::optim::AdamW opt(model->parameters(), na::optim::AdamWOptions().lr(3e-4).weight_decay(0.1));
class AdamW : public Optimizer {
 public:
  explicit AdamW(std::vector<Tensor> params, const AdamWOptions& defaults = {});
  explicit AdamW(std::vector<ParamGroup> groups, const AdamWOptions& defaults = {});
  const std::vector<std::string>& buffer_names() const override;

 protected:
  void validate(const OptimizerOptions& options) const override;
  Kernel prepare(const OptimizerOptions& options, ParamState& state, const Tensor& param, int dtype_index,
                 cpu::OptimArgs& args) override;
};

}  // namespace neural_arch::optim
