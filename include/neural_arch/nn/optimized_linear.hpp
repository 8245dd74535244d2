// OptimizedLinear: Linear followed by an activation, run as one fused GEMM + epilogue.
#pragma once
#include <cstdint>
#include <string>

#include "neural_arch/nn/module.hpp"

namespace neural_arch::nn {

/// y = act(x W^T + b) (the seed's OptimizedLinear). Parameters, their names and their
/// initialisation are those of nn::Linear, so state_dicts interchange. activation is one of
/// "none", "relu", "gelu" (erf form), "gelu_tanh", "silu". With enable_fusion the forward is
/// optimization::fuse_linear_activation (one GEMM whose epilogue adds the bias and applies the
/// activation, and a fused backward); without, it is the plain composition act(linear(x)).
///
///   auto fc = std::make_shared<na::nn::OptimizedLinear>(768, 3072, "gelu_tanh");
class OptimizedLinear : public Module {
 public:
  OptimizedLinear(int64_t in_features, int64_t out_features, std::string activation = "none",
                  bool enable_fusion = true, bool bias = true);
  Tensor forward(const Tensor& x) override;
  void reset_parameters();
  std::string extra_repr() const override;

  int64_t in_features, out_features;
  std::string activation;
  bool enable_fusion;
  Tensor weight;
  Tensor bias;  // undefined when constructed with bias = false
};

}  // namespace neural_arch::nn
