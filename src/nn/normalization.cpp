// LayerNorm, RMSNorm, GroupNorm, BatchNorm1d/2d: shape checks that name the layer, then the
// functional forms.
#include "neural_arch/nn/normalization.hpp"

#include <sstream>

#include "neural_arch/autograd.hpp"
#include "neural_arch/functional/normalization.hpp"
#include "neural_arch/nn/init.hpp"
#include "neural_arch/ops.hpp"
#include "neural_arch/optimization/autocast.hpp"

namespace neural_arch::nn {

namespace {

void check_defined_float(const Tensor& x, const std::string& layer) {
  NA_CHECK(x.defined(), layer.c_str(), "input is an undefined tensor");
  NA_CHECK(is_floating(x.dtype()), layer.c_str(), "expected a floating input, got ", dtype_name(x.dtype()),
           " of shape ", shape_str(x.shape()));
}

void check_param_dtype(const Tensor& x, const Tensor& p, const std::string& layer) {
  if (!p.defined()) return;
  NA_CHECK(optimization::autocast_compatible(x.dtype(), p.dtype()), layer.c_str(), "input dtype ",
           dtype_name(x.dtype()), " does not match the layer's parameter dtype ", dtype_name(p.dtype()),
           " (convert the input, or the module with to(dtype)), input shape ", shape_str(x.shape()));
}

void check_trailing(const Tensor& x, const std::vector<int64_t>& normalized_shape, const std::string& layer) {
  const size_t k = normalized_shape.size();
  bool ok = x.dim() >= static_cast<int64_t>(k);
  for (size_t i = 0; ok && i < k; ++i)
    ok = x.size(x.dim() - static_cast<int64_t>(k) + static_cast<int64_t>(i)) == normalized_shape[i];
  NA_CHECK(ok, layer.c_str(), "expected input with trailing shape ", shape_str(normalized_shape),
           " (normalized_shape), got shape ", shape_str(x.shape()));
}

void check_normalized_shape(const std::vector<int64_t>& s, const char* layer) {
  NA_CHECK(!s.empty(), layer, "normalized_shape must have at least one dim");
  for (int64_t d : s) NA_CHECK(d > 0, layer, "normalized_shape must be positive, got ", shape_str(s));
}

}  // namespace

// ---------------------------------------------------------------- LayerNorm

LayerNorm::LayerNorm(std::vector<int64_t> shape, double eps_, bool affine)
    : Module("LayerNorm"), normalized_shape(std::move(shape)), eps(eps_), elementwise_affine(affine) {
  check_normalized_shape(normalized_shape, "LayerNorm");
  weight = register_parameter("weight", affine ? empty(normalized_shape) : Tensor());
  bias = register_parameter("bias", affine ? empty(normalized_shape) : Tensor());
  reset_parameters();
}

void LayerNorm::reset_parameters() {
  if (weight.defined()) init::ones_(weight);
  if (bias.defined()) init::zeros_(bias);
}

Tensor LayerNorm::forward(const Tensor& x) {
  check_defined_float(x, type_name());
  check_trailing(x, normalized_shape, type_name());
  check_param_dtype(x, weight, type_name());
  return functional::layer_norm(x, normalized_shape, weight, bias, eps);
}

std::string LayerNorm::extra_repr() const {
  std::ostringstream os;
  os << shape_str(normalized_shape) << ", eps=" << eps
     << ", elementwise_affine=" << (elementwise_affine ? "true" : "false");
  return os.str();
}

// ---------------------------------------------------------------- RMSNorm

RMSNorm::RMSNorm(std::vector<int64_t> shape, std::optional<double> eps_, bool affine)
    : Module("RMSNorm"), normalized_shape(std::move(shape)), eps(eps_), elementwise_affine(affine) {
  check_normalized_shape(normalized_shape, "RMSNorm");
  NA_CHECK(!eps || *eps >= 0.0, "RMSNorm", "eps must be non-negative, got ", *eps);
  weight = register_parameter("weight", affine ? empty(normalized_shape) : Tensor());
  reset_parameters();
}

void RMSNorm::reset_parameters() {
  if (weight.defined()) init::ones_(weight);
}

Tensor RMSNorm::forward(const Tensor& x) {
  check_defined_float(x, type_name());
  check_trailing(x, normalized_shape, type_name());
  check_param_dtype(x, weight, type_name());
  return functional::rms_norm(x, normalized_shape, weight, eps);
}

std::string RMSNorm::extra_repr() const {
  std::ostringstream os;
  os << shape_str(normalized_shape) << ", eps=";
  if (eps)
    os << *eps;
  else
    os << "None";
  os << ", elementwise_affine=" << (elementwise_affine ? "true" : "false");
  return os.str();
}

// ---------------------------------------------------------------- GroupNorm

GroupNorm::GroupNorm(int64_t groups, int64_t channels, double eps_, bool affine_)
    : Module("GroupNorm"), num_groups(groups), num_channels(channels), eps(eps_), affine(affine_) {
  NA_CHECK(groups > 0 && channels > 0 && channels % groups == 0, "GroupNorm", "num_channels (", channels,
           ") must be divisible by num_groups (", groups, "), both positive");
  weight = register_parameter("weight", affine ? empty({channels}) : Tensor());
  bias = register_parameter("bias", affine ? empty({channels}) : Tensor());
  reset_parameters();
}

void GroupNorm::reset_parameters() {
  if (weight.defined()) init::ones_(weight);
  if (bias.defined()) init::zeros_(bias);
}

Tensor GroupNorm::forward(const Tensor& x) {
  check_defined_float(x, type_name());
  NA_CHECK(x.dim() >= 2 && x.size(1) == num_channels, "GroupNorm", "expected input of shape (N, C, *) with ",
           num_channels, " channels, got shape ", shape_str(x.shape()));
  check_param_dtype(x, weight, type_name());
  return functional::group_norm(x, num_groups, weight, bias, eps);
}

std::string GroupNorm::extra_repr() const {
  std::ostringstream os;
  os << num_groups << ", " << num_channels << ", eps=" << eps << ", affine=" << (affine ? "true" : "false");
  return os.str();
}

// ---------------------------------------------------------------- BatchNorm

BatchNormBase::BatchNormBase(std::string type, int64_t features, double eps_, std::optional<double> momentum_,
                             bool affine_, bool track)
    : Module(std::move(type)),
      num_features(features),
      eps(eps_),
      momentum(momentum_),
      affine(affine_),
      track_running_stats(track) {
  NA_CHECK(features > 0, type_name().c_str(), "num_features must be positive, got ", features);
  NA_CHECK(!momentum || (*momentum >= 0.0 && *momentum <= 1.0), type_name().c_str(),
           "momentum must be in [0, 1], got ", *momentum);
  weight = register_parameter("weight", affine ? empty({features}) : Tensor());
  bias = register_parameter("bias", affine ? empty({features}) : Tensor());
  running_mean = register_buffer("running_mean", track ? zeros({features}) : Tensor());
  running_var = register_buffer("running_var", track ? ones({features}) : Tensor());
  num_batches_tracked = register_buffer("num_batches_tracked", track ? zeros({}, kInt64) : Tensor());
  reset_parameters();
}

void BatchNormBase::reset_running_stats() {
  if (!track_running_stats) return;
  NoGradGuard no_grad;
  running_mean.zero_();
  running_var.fill_(1.0);
  num_batches_tracked.zero_();
}

void BatchNormBase::reset_parameters() {
  reset_running_stats();
  if (weight.defined()) init::ones_(weight);
  if (bias.defined()) init::zeros_(bias);
}

Tensor BatchNormBase::forward(const Tensor& x) {
  check_defined_float(x, type_name());
  check_input(x);
  check_param_dtype(x, weight, type_name());
  check_param_dtype(x, running_mean, type_name());
  double factor = 0.0;
  if (is_training() && track_running_stats) {
    NoGradGuard no_grad;
    num_batches_tracked.add_(1);
    factor = momentum ? *momentum : 1.0 / static_cast<double>(num_batches_tracked.item<int64_t>());
  }
  // Without running statistics, eval mode normalises with the batch's own statistics too.
  const bool use_batch_stats = is_training() || !track_running_stats;
  return functional::batch_norm(x, running_mean, running_var, weight, bias, use_batch_stats, factor, eps);
}

std::string BatchNormBase::extra_repr() const {
  std::ostringstream os;
  os << num_features << ", eps=" << eps << ", momentum=";
  if (momentum)
    os << *momentum;
  else
    os << "None";
  os << ", affine=" << (affine ? "true" : "false")
     << ", track_running_stats=" << (track_running_stats ? "true" : "false");
  return os.str();
}

void BatchNorm1d::check_input(const Tensor& x) const {
  NA_CHECK((x.dim() == 2 || x.dim() == 3) && x.size(1) == num_features, "BatchNorm1d",
           "expected 2D (N, C) or 3D (N, C, L) input with C = ", num_features, ", got shape ",
           shape_str(x.shape()));
}

void BatchNorm2d::check_input(const Tensor& x) const {
  NA_CHECK(x.dim() == 4 && x.size(1) == num_features, "BatchNorm2d",
           "expected 4D (N, C, H, W) input with C = ", num_features, ", got shape ", shape_str(x.shape()));
}

}  // namespace neural_arch::nn
