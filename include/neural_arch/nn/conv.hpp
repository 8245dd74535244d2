// Conv1d and Conv2d layers (torch.nn.Conv1d / Conv2d) over functional::conv1d / conv2d.
#pragma once
#include <cstdint>
#include <string>
#include <utility>

#include "neural_arch/functional/conv.hpp"
#include "neural_arch/nn/module.hpp"

namespace neural_arch::nn {

using functional::ConvPadding;
using functional::Int2;

/// Options of a convolution besides the channel counts and kernel size (PyTorch's defaults).
/// Size is the type of stride and dilation: Int2 for Conv2d, int64_t for Conv1d.
///
///   Conv2dOptions().stride(2).padding(1).bias(false)
template <class Size> struct ConvOptions {
  Size stride_ = 1;
  ConvPadding padding_ = 0;
  Size dilation_ = 1;
  int64_t groups_ = 1;
  bool bias_ = true;
  ConvOptions& stride(Size v) {
    stride_ = v;
    return *this;
  }
  ConvOptions& padding(ConvPadding v) {
    padding_ = std::move(v);
    return *this;
  }
  ConvOptions& dilation(Size v) {
    dilation_ = v;
    return *this;
  }
  ConvOptions& groups(int64_t v) {
    groups_ = v;
    return *this;
  }
  ConvOptions& bias(bool v) {
    bias_ = v;
    return *this;
  }
};
using Conv2dOptions = ConvOptions<Int2>;
/// Conv1d's padding is one number or "same"/"valid" (a pair is rejected by the layer).
using Conv1dOptions = ConvOptions<int64_t>;

/// 2-D convolution over (N, C_in, H, W) inputs. weight is (C_out, C_in / groups, kH, kW), bias
/// (C_out). Default initialisation as torch: weight kaiming_uniform(a = sqrt(5)), i.e.
/// U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = C_in / groups * kH * kW, and bias from the
/// same range, drawn from the default generator.
///
///   auto conv = std::make_shared<na::nn::Conv2d>(1, 32, 3, na::nn::Conv2dOptions().padding(1));
///   auto down = std::make_shared<na::nn::Conv2d>(32, 64, 3, /*stride=*/2, /*padding=*/1);
///   auto y = conv->forward(x);   // (N, 32, H, W)
class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, Int2 kernel_size, Conv2dOptions options = {});
  /// PyTorch's positional order: stride, padding, dilation, groups, bias.
  Conv2d(int64_t in_channels, int64_t out_channels, Int2 kernel_size, Int2 stride, ConvPadding padding = 0,
         Int2 dilation = 1, int64_t groups = 1, bool bias = true);
  Tensor forward(const Tensor& x) override;
  /// Redraws weight and bias with the default initialisation.
  void reset_parameters();
  std::string extra_repr() const override;

  int64_t in_channels, out_channels;
  Int2 kernel_size;
  Conv2dOptions options;
  Tensor weight;
  Tensor bias;  // undefined without bias
};

/// 1-D convolution over (N, C_in, L) inputs. weight is (C_out, C_in / groups, k), bias (C_out);
/// initialised like Conv2d.
class Conv1d : public Module {
 public:
  Conv1d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, Conv1dOptions options = {});
  Conv1d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride,
         ConvPadding padding = 0, int64_t dilation = 1, int64_t groups = 1, bool bias = true);
  Tensor forward(const Tensor& x) override;
  void reset_parameters();
  std::string extra_repr() const override;

  int64_t in_channels, out_channels, kernel_size;
  Conv1dOptions options;
  Tensor weight;
  Tensor bias;
};

}  // namespace neural_arch::nn
