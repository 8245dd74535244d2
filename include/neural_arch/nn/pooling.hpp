// Pooling layers (torch.nn.MaxPool2d, AvgPool2d, AdaptiveAvgPool2d) over functional/pooling.hpp.
// Inputs are (N, C, H, W) or unbatched (C, H, W).
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "neural_arch/functional/pooling.hpp"
#include "neural_arch/nn/module.hpp"

namespace neural_arch::nn {

using functional::Int2;

/// Max over windows. stride 0 (the default) means stride = kernel_size, as PyTorch's None.
///
///   auto pool = std::make_shared<na::nn::MaxPool2d>(2);   // halves H and W
class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(Int2 kernel_size, Int2 stride = 0, Int2 padding = 0, Int2 dilation = 1,
                     bool ceil_mode = false);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  Int2 kernel_size, stride, padding, dilation;
  bool ceil_mode;
};

/// Mean over windows (count_include_pad: padded zeros count in the divisor, PyTorch's default).
class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(Int2 kernel_size, Int2 stride = 0, Int2 padding = 0, bool ceil_mode = false,
                     bool count_include_pad = true, std::optional<int64_t> divisor_override = std::nullopt);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  Int2 kernel_size, stride, padding;
  bool ceil_mode, count_include_pad;
  std::optional<int64_t> divisor_override;
};

/// Mean pooling to a fixed output size (1 gives global average pooling).
class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(Int2 output_size);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  Int2 output_size;
};

}  // namespace neural_arch::nn
