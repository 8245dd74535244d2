// Loss modules (torch.nn.*Loss) over functional/loss.hpp. Each takes forward(input, target);
// class weights and pos_weight are registered as buffers (saved in state_dict, moved by to()).
#pragma once
#include <cstdint>
#include <string>
#include <utility>

#include "neural_arch/functional/loss.hpp"
#include "neural_arch/nn/module.hpp"

namespace neural_arch::nn {

/// Options of CrossEntropyLoss (PyTorch's defaults).
///
///   CrossEntropyLossOptions().label_smoothing(0.1).ignore_index(0)
struct CrossEntropyLossOptions {
  Tensor weight_;
  int64_t ignore_index_ = -100;
  std::string reduction_ = "mean";
  double label_smoothing_ = 0.0;
  CrossEntropyLossOptions& weight(Tensor v) {
    weight_ = std::move(v);
    return *this;
  }
  CrossEntropyLossOptions& ignore_index(int64_t v) {
    ignore_index_ = v;
    return *this;
  }
  CrossEntropyLossOptions& reduction(std::string v) {
    reduction_ = std::move(v);
    return *this;
  }
  CrossEntropyLossOptions& label_smoothing(double v) {
    label_smoothing_ = v;
    return *this;
  }
};

/// functional::cross_entropy as a module.
///
///   auto criterion = std::make_shared<na::nn::CrossEntropyLoss>();
///   auto loss = criterion->forward(logits, labels);
class CrossEntropyLoss : public Module {
 public:
  CrossEntropyLoss(Tensor weight = Tensor(), int64_t ignore_index = -100, std::string reduction = "mean",
                   double label_smoothing = 0.0);
  explicit CrossEntropyLoss(const CrossEntropyLossOptions& options);
  Tensor forward(const Tensor& input, const Tensor& target);
  using Module::forward;  // the one-tensor form throws: a loss needs a target
  std::string extra_repr() const override;

  Tensor weight;  // buffer; undefined when not given
  int64_t ignore_index;
  std::string reduction;
  double label_smoothing;
};

/// functional::nll_loss as a module (input: log-probabilities).
class NLLLoss : public Module {
 public:
  NLLLoss(Tensor weight = Tensor(), int64_t ignore_index = -100, std::string reduction = "mean");
  Tensor forward(const Tensor& input, const Tensor& target);
  using Module::forward;
  std::string extra_repr() const override;

  Tensor weight;
  int64_t ignore_index;
  std::string reduction;
};

/// functional::mse_loss as a module.
class MSELoss : public Module {
 public:
  explicit MSELoss(std::string reduction = "mean");
  Tensor forward(const Tensor& input, const Tensor& target);
  using Module::forward;
  std::string extra_repr() const override;
  std::string reduction;
};

/// functional::l1_loss as a module.
class L1Loss : public Module {
 public:
  explicit L1Loss(std::string reduction = "mean");
  Tensor forward(const Tensor& input, const Tensor& target);
  using Module::forward;
  std::string extra_repr() const override;
  std::string reduction;
};

/// functional::smooth_l1_loss as a module.
class SmoothL1Loss : public Module {
 public:
  explicit SmoothL1Loss(std::string reduction = "mean", double beta = 1.0);
  Tensor forward(const Tensor& input, const Tensor& target);
  using Module::forward;
  std::string extra_repr() const override;
  std::string reduction;
  double beta;
};

/// functional::huber_loss as a module.
class HuberLoss : public Module {
 public:
  explicit HuberLoss(std::string reduction = "mean", double delta = 1.0);
  Tensor forward(const Tensor& input, const Tensor& target);
  using Module::forward;
  std::string extra_repr() const override;
  std::string reduction;
  double delta;
};

/// functional::binary_cross_entropy as a module (input: probabilities).
class BCELoss : public Module {
 public:
  explicit BCELoss(Tensor weight = Tensor(), std::string reduction = "mean");
  Tensor forward(const Tensor& input, const Tensor& target);
  using Module::forward;
  std::string extra_repr() const override;
  Tensor weight;
  std::string reduction;
};

/// functional::binary_cross_entropy_with_logits as a module (input: logits).
class BCEWithLogitsLoss : public Module {
 public:
  explicit BCEWithLogitsLoss(Tensor weight = Tensor(), std::string reduction = "mean",
                             Tensor pos_weight = Tensor());
  Tensor forward(const Tensor& input, const Tensor& target);
  using Module::forward;
  std::string extra_repr() const override;
  Tensor weight;
  std::string reduction;
  Tensor pos_weight;
};

/// functional::kl_div as a module (input: log-probabilities; reduction may be "batchmean").
class KLDivLoss : public Module {
 public:
  explicit KLDivLoss(std::string reduction = "mean", bool log_target = false);
  Tensor forward(const Tensor& input, const Tensor& target);
  using Module::forward;
  std::string extra_repr() const override;
  std::string reduction;
  bool log_target;
};

}  // namespace neural_arch::nn
