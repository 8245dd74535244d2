// CNN model.
#include "neural_arch/nn/cnn.hpp"

#include "neural_arch/functional/pooling.hpp"
#include "neural_arch/ops.hpp"

namespace neural_arch::nn {

CNN::CNN(CNNOptions opt) : Module("CNN"), options(opt) {
  const CNNOptions& o = options;
  NA_CHECK(o.in_channels_ > 0 && o.channels1_ > 0 && o.channels2_ > 0 && o.hidden_ > 0 && o.num_classes_ > 0,
           "CNN", "channel, hidden and class counts must be positive, got in_channels=", o.in_channels_,
           ", channels1=", o.channels1_, ", channels2=", o.channels2_, ", hidden=", o.hidden_,
           ", num_classes=", o.num_classes_);
  NA_CHECK(o.image_size_ >= 4, "CNN", "image_size must be at least 4 (two 2x2 poolings), got ",
           o.image_size_);
  NA_CHECK(o.dropout_ >= 0.0 && o.dropout_ < 1.0, "CNN", "dropout must be in [0, 1), got ", o.dropout_);
  const int64_t side = o.image_size_ / 4;  // two floor-halving poolings
  conv1 = register_module(
      "conv1", std::make_shared<Conv2d>(o.in_channels_, o.channels1_, 3, Conv2dOptions().padding(1)));
  conv2 = register_module(
      "conv2", std::make_shared<Conv2d>(o.channels1_, o.channels2_, 3, Conv2dOptions().padding(1)));
  fc1 = register_module("fc1", std::make_shared<Linear>(o.channels2_ * side * side, o.hidden_));
  dropout = register_module("dropout", std::make_shared<Dropout>(o.dropout_));
  fc2 = register_module("fc2", std::make_shared<Linear>(o.hidden_, o.num_classes_));
}

Tensor CNN::forward(const Tensor& x) {
  const CNNOptions& o = options;
  NA_CHECK(x.defined(), "CNN", "input is an undefined tensor");
  NA_CHECK(
      x.dim() == 4 && x.size(1) == o.in_channels_ && x.size(2) == o.image_size_ && x.size(3) == o.image_size_,
      "CNN", "expected input of shape (N,", o.in_channels_, ",", o.image_size_, ",", o.image_size_,
      "), got shape ", shape_str(x.shape()));
  // max_pool(relu(c)) == relu(max_pool(c)), gradients included (relu is monotonic, and where a
  // window's max is <= 0 both give zero gradient), so the ReLU runs on the 4x smaller tensor.
  Tensor h = relu(functional::max_pool2d(conv1->forward(x), 2));
  h = relu(functional::max_pool2d(conv2->forward(h), 2));
  h = h.flatten(1);
  h = dropout->forward(relu(fc1->forward(h)));
  return fc2->forward(h);
}

}  // namespace neural_arch::nn
