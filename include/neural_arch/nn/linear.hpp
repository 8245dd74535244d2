// Linear, Bilinear, Identity, Flatten.
#pragma once
#include <cstdint>
#include <string>

#include "neural_arch/nn/module.hpp"

namespace neural_arch::nn {

/// y = x W^T + b over the last dim of x (torch.nn.Linear). weight is (out, in), bias (out).
/// Default initialisation as torch: weight kaiming_uniform(a = sqrt(5)), i.e.
/// U(-1/sqrt(in), 1/sqrt(in)), and bias U(-1/sqrt(in), 1/sqrt(in)), from the default generator.
///
///   auto fc = std::make_shared<na::nn::Linear>(784, 256);
///   auto y = fc->forward(x);   // x: (N, 784) or (..., 784)
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  Tensor forward(const Tensor& x) override;
  /// Redraws weight and bias with the default initialisation.
  void reset_parameters();
  std::string extra_repr() const override;

  int64_t in_features, out_features;
  Tensor weight;
  Tensor bias;  // undefined when constructed with bias = false
};

/// y_k = x1^T W_k x2 + b_k (torch.nn.Bilinear). weight is (out, in1, in2), bias (out); both
/// U(-1/sqrt(in1), 1/sqrt(in1)). x1 (..., in1) and x2 (..., in2) share their leading dims.
class Bilinear : public Module {
 public:
  Bilinear(int64_t in1_features, int64_t in2_features, int64_t out_features, bool bias = true);
  Tensor forward(const Tensor& x1, const Tensor& x2);
  using Module::forward;  // the one-tensor form throws: Bilinear needs two inputs
  void reset_parameters();
  std::string extra_repr() const override;

  int64_t in1_features, in2_features, out_features;
  Tensor weight;
  Tensor bias;
};

/// Returns its input unchanged.
class Identity : public Module {
 public:
  Identity() : Module("Identity") {}
  Tensor forward(const Tensor& x) override;
};

/// Flattens dims start_dim..end_dim into one (torch.nn.Flatten; by default all but the batch dim).
class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  int64_t start_dim, end_dim;
};

}  // namespace neural_arch::nn
