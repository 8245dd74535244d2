// MLP model.
#include "neural_arch/nn/mlp.hpp"

#include "neural_arch/nn/activation.hpp"
#include "neural_arch/nn/dropout.hpp"
#include "neural_arch/nn/linear.hpp"

namespace neural_arch::nn {

namespace {

ModulePtr make_activation(const std::string& name) {
  if (name == "relu") return std::make_shared<ReLU>();
  if (name == "gelu") return std::make_shared<GELU>();
  if (name == "tanh") return std::make_shared<Tanh>();
  if (name == "silu") return std::make_shared<SiLU>();
  if (name == "sigmoid") return std::make_shared<Sigmoid>();
  if (name == "leaky_relu") return std::make_shared<LeakyReLU>();
  if (name == "mish") return std::make_shared<Mish>();
  detail::throw_error("MLP", "unknown activation '", name,
                      "' (expected relu, gelu, tanh, silu, sigmoid, leaky_relu or mish)");
}

}  // namespace

MLP::MLP(std::vector<int64_t> sizes_, const std::string& activation, double dropout)
    : Module("MLP"), sizes(std::move(sizes_)) {
  NA_CHECK(sizes.size() >= 2, "MLP", "needs at least an input and an output size, got ", sizes.size(),
           " size(s)");
  for (int64_t s : sizes) NA_CHECK(s > 0, "MLP", "layer sizes must be positive, got ", shape_str(sizes));
  NA_CHECK(dropout >= 0.0 && dropout < 1.0, "MLP", "dropout must be in [0, 1), got ", dropout);
  make_activation(activation);  // reject an unknown name before building anything
  net = register_module("net", std::make_shared<Sequential>());
  net->push_back(std::make_shared<Flatten>());
  for (size_t i = 0; i + 1 < sizes.size(); ++i) {
    net->push_back(std::make_shared<Linear>(sizes[i], sizes[i + 1]));
    if (i + 2 < sizes.size()) {
      net->push_back(make_activation(activation));
      if (dropout > 0.0) net->push_back(std::make_shared<Dropout>(dropout));
    }
  }
}

Tensor MLP::forward(const Tensor& x) {
  NA_CHECK(x.defined(), "MLP", "input is an undefined tensor");
  int64_t features = 1;
  for (int64_t d = 1; d < x.dim(); ++d) features *= x.size(d);
  NA_CHECK(x.dim() >= 2 && features == sizes[0], "MLP", "expected input (N, ", sizes[0], ") or (N, *) with ",
           sizes[0], " features per sample, got shape ", shape_str(x.shape()));
  return net->forward(x);
}

}  // namespace neural_arch::nn
