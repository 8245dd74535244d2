// CNN: a small convolutional classifier for images such as MNIST / Fashion-MNIST (1x28x28).
#pragma once
#include <cstdint>
#include <memory>

#include "neural_arch/nn/conv.hpp"
#include "neural_arch/nn/dropout.hpp"
#include "neural_arch/nn/linear.hpp"
#include "neural_arch/nn/module.hpp"

namespace neural_arch::nn {

/// Sizes of the CNN (defaults: 1x28x28 images, 10 classes).
struct CNNOptions {
  int64_t in_channels_ = 1;
  int64_t image_size_ = 28;  // square images; must be at least 4
  int64_t channels1_ = 32;
  int64_t channels2_ = 64;
  int64_t hidden_ = 128;
  int64_t num_classes_ = 10;
  double dropout_ = 0.5;
  CNNOptions& in_channels(int64_t v) {
    in_channels_ = v;
    return *this;
  }
  CNNOptions& image_size(int64_t v) {
    image_size_ = v;
    return *this;
  }
  CNNOptions& channels1(int64_t v) {
    channels1_ = v;
    return *this;
  }
  CNNOptions& channels2(int64_t v) {
    channels2_ = v;
    return *this;
  }
  CNNOptions& hidden(int64_t v) {
    hidden_ = v;
    return *this;
  }
  CNNOptions& num_classes(int64_t v) {
    num_classes_ = v;
    return *this;
  }
  CNNOptions& dropout(double v) {
    dropout_ = v;
    return *this;
  }
};

/// conv1 (3x3, pad 1) - ReLU - max pool 2 - conv2 (3x3, pad 1) - ReLU - max pool 2 - flatten -
/// fc1 - ReLU - dropout - fc2, returning logits. With the defaults:
///   (N,1,28,28) -> (N,32,14,14) -> (N,64,7,7) -> (N,3136) -> (N,128) -> (N,10).
/// Parameter names match the same model written in PyTorch: conv1.weight, conv1.bias,
/// conv2.*, fc1.*, fc2.*. Layers use PyTorch's default initialisation.
///
///   auto model = std::make_shared<na::nn::CNN>();
///   auto loss = na::functional::cross_entropy(model->forward(images), labels);
class CNN : public Module {
 public:
  explicit CNN(CNNOptions options = {});
  Tensor forward(const Tensor& x) override;

  CNNOptions options;
  std::shared_ptr<Conv2d> conv1, conv2;
  std::shared_ptr<Linear> fc1, fc2;
  std::shared_ptr<Dropout> dropout;
};

}  // namespace neural_arch::nn
