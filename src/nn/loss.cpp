// Loss modules: thin wrappers that hold the options and the weight buffers.
#include "neural_arch/nn/loss.hpp"

#include <sstream>

namespace neural_arch::nn {

namespace {

std::string reduction_repr(const std::string& r) {
  std::ostringstream os;
  os << "reduction=" << r;
  return os.str();
}

}  // namespace

CrossEntropyLoss::CrossEntropyLoss(Tensor w, int64_t ignore, std::string red, double smoothing)
    : Module("CrossEntropyLoss"),
      ignore_index(ignore),
      reduction(std::move(red)),
      label_smoothing(smoothing) {
  weight = register_buffer("weight", std::move(w));
}

CrossEntropyLoss::CrossEntropyLoss(const CrossEntropyLossOptions& o)
    : CrossEntropyLoss(o.weight_, o.ignore_index_, o.reduction_, o.label_smoothing_) {}

Tensor CrossEntropyLoss::forward(const Tensor& input, const Tensor& target) {
  return functional::cross_entropy(input, target, weight, ignore_index, reduction, label_smoothing);
}

std::string CrossEntropyLoss::extra_repr() const {
  std::ostringstream os;
  os << reduction_repr(reduction);
  if (ignore_index != -100) os << ", ignore_index=" << ignore_index;
  if (label_smoothing != 0.0) os << ", label_smoothing=" << label_smoothing;
  return os.str();
}

NLLLoss::NLLLoss(Tensor w, int64_t ignore, std::string red)
    : Module("NLLLoss"), ignore_index(ignore), reduction(std::move(red)) {
  weight = register_buffer("weight", std::move(w));
}

Tensor NLLLoss::forward(const Tensor& input, const Tensor& target) {
  return functional::nll_loss(input, target, weight, ignore_index, reduction);
}

std::string NLLLoss::extra_repr() const {
  std::ostringstream os;
  os << reduction_repr(reduction);
  if (ignore_index != -100) os << ", ignore_index=" << ignore_index;
  return os.str();
}

MSELoss::MSELoss(std::string red) : Module("MSELoss"), reduction(std::move(red)) {}
Tensor MSELoss::forward(const Tensor& input, const Tensor& target) {
  return functional::mse_loss(input, target, reduction);
}
std::string MSELoss::extra_repr() const { return reduction_repr(reduction); }

L1Loss::L1Loss(std::string red) : Module("L1Loss"), reduction(std::move(red)) {}
Tensor L1Loss::forward(const Tensor& input, const Tensor& target) {
  return functional::l1_loss(input, target, reduction);
}
std::string L1Loss::extra_repr() const { return reduction_repr(reduction); }

SmoothL1Loss::SmoothL1Loss(std::string red, double b)
    : Module("SmoothL1Loss"), reduction(std::move(red)), beta(b) {}
Tensor SmoothL1Loss::forward(const Tensor& input, const Tensor& target) {
  return functional::smooth_l1_loss(input, target, reduction, beta);
}
std::string SmoothL1Loss::extra_repr() const {
  std::ostringstream os;
  os << reduction_repr(reduction) << ", beta=" << beta;
  return os.str();
}

HuberLoss::HuberLoss(std::string red, double d) : Module("HuberLoss"), reduction(std::move(red)), delta(d) {}
Tensor HuberLoss::forward(const Tensor& input, const Tensor& target) {
  return functional::huber_loss(input, target, reduction, delta);
}
std::string HuberLoss::extra_repr() const {
  std::ostringstream os;
  os << reduction_repr(reduction) << ", delta=" << delta;
  return os.str();
}

BCELoss::BCELoss(Tensor w, std::string red) : Module("BCELoss"), reduction(std::move(red)) {
  weight = register_buffer("weight", std::move(w));
}
Tensor BCELoss::forward(const Tensor& input, const Tensor& target) {
  return functional::binary_cross_entropy(input, target, weight, reduction);
}
std::string BCELoss::extra_repr() const { return reduction_repr(reduction); }

BCEWithLogitsLoss::BCEWithLogitsLoss(Tensor w, std::string red, Tensor pw)
    : Module("BCEWithLogitsLoss"), reduction(std::move(red)) {
  weight = register_buffer("weight", std::move(w));
  pos_weight = register_buffer("pos_weight", std::move(pw));
}
Tensor BCEWithLogitsLoss::forward(const Tensor& input, const Tensor& target) {
  return functional::binary_cross_entropy_with_logits(input, target, weight, reduction, pos_weight);
}
std::string BCEWithLogitsLoss::extra_repr() const { return reduction_repr(reduction); }

KLDivLoss::KLDivLoss(std::string red, bool log_t)
    : Module("KLDivLoss"), reduction(std::move(red)), log_target(log_t) {}
Tensor KLDivLoss::forward(const Tensor& input, const Tensor& target) {
  return functional::kl_div(input, target, reduction, log_target);
}
std::string KLDivLoss::extra_repr() const {
  std::ostringstream os;
  os << reduction_repr(reduction);
  if (log_target) os << ", log_target=true";
  return os.str();
}

}  // namespace neural_arch::nn
