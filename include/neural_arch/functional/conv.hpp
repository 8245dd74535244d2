// Convolutions (torch.nn.functional.conv1d / conv2d) and their input and weight gradients
// (torch.nn.grad.conv2d_input / conv2d_weight). float32 runs on oneDNN; float64 on direct
// loops; float16/bfloat16 compute in float32. Every function here is a differentiable op, and
// each one's backward is written with the others, so gradients of gradients work.
#pragma once
#include <cstdint>
#include <string>
#include <utility>

#include "neural_arch/tensor.hpp"

namespace neural_arch::functional {

/// A (height, width) pair; one number sets both, as in PyTorch's `stride=2` or `stride=(2, 1)`.
///
///   Int2 k = 3;        // 3x3
///   Int2 s = {2, 1};   // stride 2 along H, 1 along W
struct Int2 {
  int64_t h = 0, w = 0;
  Int2(int64_t v) : h(v), w(v) {}                 // NOLINT: allows `stride = 2`
  Int2(int64_t h_, int64_t w_) : h(h_), w(w_) {}  // NOLINT: allows `stride = {2, 1}`
};

/// Convolution padding: a number (both sides of every spatial dim), a (height, width) pair, or
/// "valid" (no padding) / "same" (output as large as the input; stride must be 1; an odd total
/// padding puts the extra element at the end, as PyTorch does).
///
///   conv2d(x, w, b, 1, 1);        // pad 1
///   conv2d(x, w, b, 1, {1, 2});   // pad 1 along H, 2 along W
///   conv2d(x, w, b, 1, "same");
class ConvPadding {
 public:
  ConvPadding(int p) : ConvPadding(static_cast<int64_t>(p)) {}  // NOLINT (int: `0` is not a char*)
  ConvPadding(int64_t p) : h_(p), w_(p) {}                      // NOLINT
  ConvPadding(int64_t h, int64_t w) : h_(h), w_(w), pair_(true) {}
  ConvPadding(const char* mode) : mode_(mode ? mode : "") {}  // NOLINT
  ConvPadding(std::string mode) : mode_(std::move(mode)) {}   // NOLINT

  /// "" for a numeric padding, otherwise the mode string as given (checked by the op).
  const std::string& mode() const { return mode_; }
  int64_t h() const { return h_; }
  int64_t w() const { return w_; }
  /// True when given as two numbers (conv1d accepts only one).
  bool is_pair() const { return pair_; }

 private:
  int64_t h_ = 0, w_ = 0;
  bool pair_ = false;
  std::string mode_;
};

/// 2-D convolution (cross-correlation, like PyTorch).
/// input (N, C, H, W); weight (O, C / groups, kH, kW); bias (O) or undefined.
/// Output (N, O, H_out, W_out), H_out = floor((H + pad_top + pad_bottom - dilation*(kH-1) - 1) / stride) + 1.
///
///   auto y = na::functional::conv2d(x, w, b, /*stride=*/1, /*padding=*/1);
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor(), Int2 stride = 1,
              ConvPadding padding = 0, Int2 dilation = 1, int64_t groups = 1);

/// 1-D convolution: input (N, C, L), weight (O, C / groups, k), bias (O) or undefined.
/// padding is one number or "same"/"valid".
Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor(), int64_t stride = 1,
              ConvPadding padding = 0, int64_t dilation = 1, int64_t groups = 1);

/// The gradient of conv2d(input, weight) with respect to an input of shape input_shape, given
/// the output gradient (torch.nn.grad.conv2d_input). Differentiable in weight and grad_output.
Tensor conv2d_input_grad(const Shape& input_shape, const Tensor& weight, const Tensor& grad_output,
                         Int2 stride = 1, ConvPadding padding = 0, Int2 dilation = 1, int64_t groups = 1);

/// The gradient of conv2d(input, weight) with respect to a weight of shape weight_shape, given
/// the output gradient (torch.nn.grad.conv2d_weight). Differentiable in input and grad_output.
Tensor conv2d_weight_grad(const Tensor& input, const Shape& weight_shape, const Tensor& grad_output,
                          Int2 stride = 1, ConvPadding padding = 0, Int2 dilation = 1, int64_t groups = 1);

}  // namespace neural_arch::functional
