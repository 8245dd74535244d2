#include "neural_arch/autograd.hpp"

namespace neural_arch {

namespace {
thread_local bool grad_enabled = true;
thread_local bool inference_mode = false;
}  // namespace

bool is_grad_enabled() { return grad_enabled; }
void set_grad_enabled(bool enabled) { grad_enabled = enabled; }

bool is_inference_mode_enabled() { return inference_mode; }

InferenceModeGuard::InferenceModeGuard(bool enabled)
    : prev_grad_(grad_enabled), prev_inference_(inference_mode) {
  inference_mode = enabled;
  grad_enabled = !enabled;
}
InferenceModeGuard::~InferenceModeGuard() {
  grad_enabled = prev_grad_;
  inference_mode = prev_inference_;
}

}  // namespace neural_arch
