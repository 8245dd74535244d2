// OptimizedLinear: Linear + activation through optimization::fuse_linear_activation.
#include "neural_arch/nn/optimized_linear.hpp"

#include <cmath>
#include <sstream>
#include <utility>

#include "neural_arch/nn/init.hpp"
#include "neural_arch/ops.hpp"
#include "neural_arch/optimization/autocast.hpp"
#include "neural_arch/optimization/fusion.hpp"

namespace neural_arch::nn {

OptimizedLinear::OptimizedLinear(int64_t in, int64_t out, std::string act, bool fusion, bool with_bias)
    : Module("OptimizedLinear"),
      in_features(in),
      out_features(out),
      activation(std::move(act)),
      enable_fusion(fusion) {
  NA_CHECK(in >= 0 && out >= 0, "OptimizedLinear", "in_features and out_features must be non-negative, got ",
           in, " and ", out);
  NA_CHECK(optimization::is_fusable_activation(activation), "OptimizedLinear", "unknown activation '",
           activation, "'; expected one of none, relu, gelu, gelu_tanh, silu");
  weight = register_parameter("weight", empty({out, in}));
  bias = register_parameter("bias", with_bias ? empty({out}) : Tensor());
  reset_parameters();
}

void OptimizedLinear::reset_parameters() {
  // As nn::Linear (torch's default).
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const double bound = in_features > 0 ? 1.0 / std::sqrt(static_cast<double>(in_features)) : 0.0;
    init::uniform_(bias, -bound, bound);
  }
}

Tensor OptimizedLinear::forward(const Tensor& x) {
  NA_CHECK(x.defined(), "OptimizedLinear", "input is an undefined tensor");
  NA_CHECK(optimization::autocast_compatible(x.dtype(), weight.dtype()), "OptimizedLinear", "input dtype ",
           dtype_name(x.dtype()), " does not match the layer's parameter dtype ", dtype_name(weight.dtype()),
           ", input shape ", shape_str(x.shape()));
  NA_CHECK(x.dim() >= 1 && x.size(-1) == in_features, "OptimizedLinear", "expected input with last dim ",
           in_features, " (in_features), got shape ", shape_str(x.shape()));
  return enable_fusion ? optimization::fuse_linear_activation(x, weight, bias, activation)
                       : optimization::linear_activation_unfused(x, weight, bias, activation);
}

std::string OptimizedLinear::extra_repr() const {
  std::ostringstream os;
  os << "in_features=" << in_features << ", out_features=" << out_features
     << ", bias=" << (bias.defined() ? "true" : "false") << ", activation=" << activation
     << ", enable_fusion=" << (enable_fusion ? "true" : "false");
  return os.str();
}

}  // namespace neural_arch::nn
