// Loss scaling for f16 training (torch.cuda.amp.GradScaler's semantics, on the CPU).
#pragma once
#include <cstdint>
#include <optional>
#include <unordered_map>

#include "neural_arch/nn/module.hpp"
#include "neural_arch/optim/optimizer.hpp"
#include "neural_arch/tensor.hpp"

namespace neural_arch::optimization {

struct GradScalerOptions {
  double init_scale = 65536.0;  // 2^16
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  int64_t growth_interval = 2000;
  bool enabled = true;
};

/// Multiplies the loss by a scale so small f16 gradients do not flush to zero, divides the
/// gradients by it before the optimizer step, skips the step when a gradient is inf or NaN and
/// adapts the scale: after an overflow it is multiplied by backoff_factor, after
/// growth_interval clean steps in a row by growth_factor (kept only when finite). The scale is
/// an f32 value updated with PyTorch's arithmetic, so the sequence of scales and skipped steps
/// is PyTorch's.
///
///   na::optimization::GradScaler scaler;
///   for (...) {
///     opt.zero_grad();
///     scaler.scale(loss).backward();
///     scaler.unscale_(opt);            // optional: to clip the true gradients
///     scaler.step(opt);                // skipped on inf/NaN
///     scaler.update();
///   }
class GradScaler {
 public:
  explicit GradScaler(const GradScalerOptions& options = {});

  /// loss * scale (a disabled scaler returns loss).
  Tensor scale(const Tensor& loss);
  /// Divides the optimizer's gradients by the scale in place and records whether any is inf or
  /// NaN. At most once per optimizer between update() calls.
  void unscale_(optim::Optimizer& optimizer);
  /// unscale_ (if not done yet), then optimizer.step() unless a gradient was inf/NaN. Returns
  /// whether the step ran.
  bool step(optim::Optimizer& optimizer);
  /// Adapts the scale from this iteration's inf checks (or sets it to new_scale) and forgets
  /// them. Call once per iteration, after step().
  void update(std::optional<double> new_scale = std::nullopt);

  double get_scale() const;
  int64_t growth_tracker() const { return growth_tracker_; }
  bool is_enabled() const { return options_.enabled; }

  /// "scale", "growth_factor", "backoff_factor", "growth_interval", "_growth_tracker" (0-d
  /// float64, PyTorch's keys); empty when disabled.
  nn::StateDict state_dict() const;
  void load_state_dict(const nn::StateDict& state);

 private:
  GradScalerOptions options_;
  float scale_;
  int64_t growth_tracker_ = 0;
  // Per optimizer this iteration: unscaled already, a step ran, found an inf/NaN.
  struct PerOptimizer {
    bool unscaled = false;
    bool stepped = false;
    bool found_inf = false;
  };
  std::unordered_map<const optim::Optimizer*, PerOptimizer> per_optimizer_;
};

}  // namespace neural_arch::optimization
