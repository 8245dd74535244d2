// MLP: a multi-layer perceptron for flattened image data (e.g. MNIST 784 -> 10).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "neural_arch/nn/containers.hpp"
#include "neural_arch/nn/module.hpp"

namespace neural_arch::nn {

/// Flatten, then Linear layers of sizes[0] -> sizes[1] -> ... -> sizes.back(), with the
/// activation ("relu", "gelu", "tanh", "silu", "sigmoid", "leaky_relu", "mish") and optional
/// dropout after every layer but the last, which returns logits. The layers live in the
/// Sequential `net`, so parameter names are "net.1.weight", "net.1.bias", ...
/// Input: (N, sizes[0]) or (N, *) with prod(*) == sizes[0] (e.g. (N, 1, 28, 28)).
///
///   auto model = std::make_shared<na::nn::MLP>(std::vector<int64_t>{784, 256, 128, 10});
///   auto logits = model->forward(images);   // (N, 10)
class MLP : public Module {
 public:
  explicit MLP(std::vector<int64_t> sizes, const std::string& activation = "relu", double dropout = 0.0);
  Tensor forward(const Tensor& x) override;

  std::vector<int64_t> sizes;
  std::shared_ptr<Sequential> net;
};

}  // namespace neural_arch::nn
