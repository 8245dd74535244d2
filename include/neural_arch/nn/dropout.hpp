// Dropout module.
#pragma once
#include <string>

#include "neural_arch/nn/module.hpp"

namespace neural_arch::nn {

/// In training mode zeroes each element with probability p and scales the survivors by
/// 1/(1-p); in eval mode returns the input unchanged (torch.nn.Dropout). Masks are drawn from
/// the default generator, so manual_seed makes them reproducible.
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  double p;
};

}  // namespace neural_arch::nn
