// GradScaler: PyTorch's torch/cuda/amp/grad_scaler.py and its two kernels
// (_amp_foreach_non_finite_check_and_unscale_, _amp_update_scale_ in ATen's AmpKernels.cu).
#include "neural_arch/optimization/grad_scaler.hpp"

#include <cmath>
#include <string>
#include <type_traits>

#include "core/factory.hpp"
#include "neural_arch/autograd.hpp"
#include "neural_arch/error.hpp"
#include "neural_arch/ops.hpp"

namespace neural_arch::optimization {

namespace {
// Whether any element is inf or NaN (read in f32/f64; narrow grads are widened exactly).
bool has_non_finite(const Tensor& g) {
  const DType wt = g.dtype() == DType::f64 ? DType::f64 : DType::f32;
  const Tensor c = g.to(wt).contiguous();
  bool bad = false;
  visit_dtype(wt, [&](auto v) {
    using T = decltype(v);
    if constexpr (std::is_floating_point_v<T>) {
      const T* p = c.data_ptr<T>();
      for (int64_t i = 0, n = c.numel(); i < n && !bad; ++i) bad = !std::isfinite(p[i]);
    }
  });
  return bad;
}
}  // namespace

GradScaler::GradScaler(const GradScalerOptions& o) : options_(o), scale_(static_cast<float>(o.init_scale)) {
  if (!o.enabled) return;
  NA_CHECK(o.growth_factor > 1.0, "GradScaler", "growth_factor must be > 1, got ", o.growth_factor);
  NA_CHECK(o.backoff_factor < 1.0 && o.backoff_factor > 0.0, "GradScaler",
           "backoff_factor must be in (0, 1), got ", o.backoff_factor);
  NA_CHECK(o.growth_interval > 0, "GradScaler", "growth_interval must be positive, got ", o.growth_interval);
  NA_CHECK(std::isfinite(o.init_scale) && o.init_scale > 0, "GradScaler",
           "init_scale must be positive and finite, got ", o.init_scale);
}

Tensor GradScaler::scale(const Tensor& loss) {
  if (!options_.enabled) return loss;
  detail::check_defined(loss, "GradScaler.scale");
  // PyTorch multiplies by its f32 scale tensor of shape (1,), which promotes an f16/bf16 loss
  // to f32 (a narrow loss times 2^16 would overflow f16). The shape stays the loss's here.
  const DType t = loss.dtype() == DType::f64 ? DType::f64 : DType::f32;
  return mul(loss.to(t), scalar_tensor(scale_, DType::f32));
}

void GradScaler::unscale_(optim::Optimizer& opt) {
  if (!options_.enabled) return;
  PerOptimizer& st = per_optimizer_[&opt];
  NA_CHECK(!st.unscaled, "GradScaler",
           "unscale_() has already been called on this optimizer since the last update()");
  NA_CHECK(!st.stepped, "GradScaler", "unscale_() is being called after step()");
  NoGradGuard no_grad;
  // inv_scale = f32(1 / double(scale)), as grad_scaler.py computes it.
  const float inv = static_cast<float>(1.0 / static_cast<double>(scale_));
  const Tensor inv_t = scalar_tensor(inv, DType::f32);
  bool found = false;
  for (const auto& group : opt.param_groups()) {
    for (const Tensor& p : group.params) {
      Tensor g = p.grad();
      if (!g.defined()) continue;
      NA_CHECK(is_floating(g.dtype()), "GradScaler", "gradient of dtype ", dtype_name(g.dtype()));
      // As in PyTorch: unscaling in f16 would flush the small gradients scaling protected.
      // Keep f32 parameters and run the forward under autocast(float16).
      NA_CHECK(g.dtype() != DType::f16, "GradScaler",
               "attempting to unscale float16 gradients (parameter of shape ", shape_str(p.shape()),
               "); keep the parameters in float32 and use autocast(float16)");
      found = found || has_non_finite(g);
      g.mul_(inv_t);
    }
  }
  st.found_inf = found;
  st.unscaled = true;
}

bool GradScaler::step(optim::Optimizer& opt) {
  if (!options_.enabled) {
    opt.step();
    return true;
  }
  PerOptimizer& st = per_optimizer_[&opt];
  NA_CHECK(!st.stepped, "GradScaler", "step() has already been called since the last update()");
  if (!st.unscaled) unscale_(opt);
  PerOptimizer& s2 = per_optimizer_[&opt];
  s2.stepped = true;
  if (s2.found_inf) return false;
  opt.step();
  return true;
}

void GradScaler::update(std::optional<double> new_scale) {
  if (!options_.enabled) return;
  if (new_scale) {
    scale_ = static_cast<float>(*new_scale);
  } else {
    NA_CHECK(!per_optimizer_.empty(), "GradScaler", "no inf checks were recorded prior to update()");
    bool found = false;
    for (const auto& [opt, st] : per_optimizer_) found |= st.found_inf;
    // _amp_update_scale_: f32 scale times a double factor, rounded to f32.
    if (found) {
      scale_ = static_cast<float>(static_cast<double>(scale_) * options_.backoff_factor);
      growth_tracker_ = 0;
    } else if (growth_tracker_ + 1 == options_.growth_interval) {
      const float grown = static_cast<float>(static_cast<double>(scale_) * options_.growth_factor);
      if (std::isfinite(grown)) scale_ = grown;
      growth_tracker_ = 0;
    } else {
      ++growth_tracker_;
    }
  }
  per_optimizer_.clear();
}

double GradScaler::get_scale() const { return options_.enabled ? static_cast<double>(scale_) : 1.0; }

nn::StateDict GradScaler::state_dict() const {
  if (!options_.enabled) return {};
  return {{"scale", scalar_tensor(static_cast<double>(scale_), DType::f64)},
          {"growth_factor", scalar_tensor(options_.growth_factor, DType::f64)},
          {"backoff_factor", scalar_tensor(options_.backoff_factor, DType::f64)},
          {"growth_interval", scalar_tensor(static_cast<double>(options_.growth_interval), DType::f64)},
          {"_growth_tracker", scalar_tensor(static_cast<double>(growth_tracker_), DType::f64)}};
}

void GradScaler::load_state_dict(const nn::StateDict& state) {
  NA_CHECK(options_.enabled, "GradScaler", "load_state_dict on a disabled GradScaler");
  NA_CHECK(!state.empty(), "GradScaler", "the state dict is empty: it was saved from a disabled GradScaler");
  auto get = [&](const char* key) {
    for (const auto& [k, v] : state)
      if (k == key) {
        NA_CHECK(v.defined() && v.numel() == 1, "GradScaler", "'", key, "' must hold one value");
        return v.item();
      }
    detail::throw_error("GradScaler", "state dict has no '", key, "'");
  };
  const double s = get("scale"), gf = get("growth_factor"), bf = get("backoff_factor"),
               gi = get("growth_interval"), gt = get("_growth_tracker");
  NA_CHECK(gf > 1.0 && bf > 0.0 && bf < 1.0 && gi >= 1 && gt >= 0 && std::isfinite(s) && s > 0, "GradScaler",
           "invalid values: scale ", s, " growth_factor ", gf, " backoff_factor ", bf, " growth_interval ",
           gi, " _growth_tracker ", gt);
  scale_ = static_cast<float>(s);
  options_.growth_factor = gf;
  options_.backoff_factor = bf;
  options_.growth_interval = static_cast<int64_t>(gi);
  growth_tracker_ = static_cast<int64_t>(gt);
}

}  // namespace neural_arch::optimization
