// Linear, Bilinear, Identity, Flatten.
#include "neural_arch/nn/linear.hpp"

#include <cmath>
#include <sstream>

#include "core/checked_size.hpp"
#include "neural_arch/nn/init.hpp"
#include "neural_arch/ops.hpp"
#include "neural_arch/optimization/autocast.hpp"

namespace neural_arch::nn {

namespace {

void check_input_dtype(const Tensor& x, const Tensor& weight, const char* layer) {
  NA_CHECK(x.defined(), layer, "input is an undefined tensor");
  NA_CHECK(optimization::autocast_compatible(x.dtype(), weight.dtype()), layer, "input dtype ",
           dtype_name(x.dtype()), " does not match the layer's parameter dtype ", dtype_name(weight.dtype()),
           " (convert the input, or the module with to(dtype)), input shape ", shape_str(x.shape()));
}

}  // namespace

// ---------------------------------------------------------------- Linear

Linear::Linear(int64_t in, int64_t out, bool with_bias)
    : Module("Linear"), in_features(in), out_features(out) {
  NA_CHECK(in >= 0 && out >= 0, "Linear", "in_features and out_features must be non-negative, got ", in,
           " and ", out);
  detail::checked_nbytes({out, in}, kFloat32, "Linear");  // names the layer if the weight cannot exist
  weight = register_parameter("weight", empty({out, in}));
  bias = register_parameter("bias", with_bias ? empty({out}) : Tensor());
  reset_parameters();
}

void Linear::reset_parameters() {
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const double bound = in_features > 0 ? 1.0 / std::sqrt(static_cast<double>(in_features)) : 0.0;
    init::uniform_(bias, -bound, bound);
  }
}

Tensor Linear::forward(const Tensor& x) {
  check_input_dtype(x, weight, "Linear");
  NA_CHECK(x.dim() >= 1 && x.size(-1) == in_features, "Linear", "expected input with last dim ", in_features,
           " (in_features), got shape ", shape_str(x.shape()));
  return linear(x, weight, bias);
}

std::string Linear::extra_repr() const {
  std::ostringstream os;
  os << "in_features=" << in_features << ", out_features=" << out_features
     << ", bias=" << (bias.defined() ? "true" : "false");
  return os.str();
}

// ---------------------------------------------------------------- Bilinear

Bilinear::Bilinear(int64_t in1, int64_t in2, int64_t out, bool with_bias)
    : Module("Bilinear"), in1_features(in1), in2_features(in2), out_features(out) {
  NA_CHECK(in1 >= 0 && in2 >= 0 && out >= 0, "Bilinear", "feature sizes must be non-negative, got ", in1,
           ", ", in2, ", ", out);
  weight = register_parameter("weight", empty({out, in1, in2}));
  bias = register_parameter("bias", with_bias ? empty({out}) : Tensor());
  reset_parameters();
}

void Bilinear::reset_parameters() {
  const double bound = in1_features > 0 ? 1.0 / std::sqrt(static_cast<double>(in1_features)) : 0.0;
  init::uniform_(weight, -bound, bound);
  if (bias.defined()) init::uniform_(bias, -bound, bound);
}

Tensor Bilinear::forward(const Tensor& x1, const Tensor& x2) {
  check_input_dtype(x1, weight, "Bilinear");
  check_input_dtype(x2, weight, "Bilinear");
  NA_CHECK(x1.dim() >= 1 && x1.size(-1) == in1_features, "Bilinear", "expected input1 with last dim ",
           in1_features, " (in1_features), got shape ", shape_str(x1.shape()));
  NA_CHECK(x2.dim() >= 1 && x2.size(-1) == in2_features, "Bilinear", "expected input2 with last dim ",
           in2_features, " (in2_features), got shape ", shape_str(x2.shape()));
  const Shape lead1(x1.shape().begin(), x1.shape().end() - 1),
      lead2(x2.shape().begin(), x2.shape().end() - 1);
  NA_CHECK(lead1 == lead2, "Bilinear", "input1 and input2 must have the same leading dims, got shapes ",
           shape_str(x1.shape()), " and ", shape_str(x2.shape()));
  int64_t n = 1;
  for (int64_t s : lead1) n *= s;
  // x1 (n, in1) @ W as (in1, out*in2) gives every x1^T W_k at once; the contraction with
  // x2 is then an elementwise product summed over in2.
  Tensor w = weight.permute({1, 0, 2}).reshape({in1_features, out_features * in2_features});
  Tensor t = matmul(x1.reshape({n, in1_features}), w).reshape({n, out_features, in2_features});
  Tensor y = sum(t * x2.reshape({n, 1, in2_features}), {2});
  if (bias.defined()) y = y + bias;
  Shape out_shape = lead1;
  out_shape.push_back(out_features);
  return y.reshape(out_shape);
}

std::string Bilinear::extra_repr() const {
  std::ostringstream os;
  os << "in1_features=" << in1_features << ", in2_features=" << in2_features
     << ", out_features=" << out_features << ", bias=" << (bias.defined() ? "true" : "false");
  return os.str();
}

// ---------------------------------------------------------------- Identity, Flatten

Tensor Identity::forward(const Tensor& x) { return x; }

Flatten::Flatten(int64_t start, int64_t end) : Module("Flatten"), start_dim(start), end_dim(end) {}

Tensor Flatten::forward(const Tensor& x) {
  NA_CHECK(x.defined(), "Flatten", "input is an undefined tensor");
  const int64_t nd = std::max<int64_t>(x.dim(), 1);
  const bool ok = start_dim >= -nd && start_dim < nd && end_dim >= -nd && end_dim < nd;
  NA_CHECK(ok, "Flatten", "start_dim=", start_dim, ", end_dim=", end_dim,
           " are out of range for input of shape ", shape_str(x.shape()));
  const int64_t s = start_dim < 0 ? start_dim + nd : start_dim, e = end_dim < 0 ? end_dim + nd : end_dim;
  NA_CHECK(s <= e, "Flatten", "start_dim=", start_dim, " comes after end_dim=", end_dim,
           " for input of shape ", shape_str(x.shape()));
  return x.flatten(start_dim, end_dim);
}

std::string Flatten::extra_repr() const {
  std::ostringstream os;
  os << "start_dim=" << start_dim << ", end_dim=" << end_dim;
  return os.str();
}

}  // namespace neural_arch::nn
