// Internal helpers shared by the optimizer sources.
#pragma once
#include <cmath>
#include <string>

#include "neural_arch/error.hpp"
#include "neural_arch/ops.hpp"
#include "neural_arch/optim/optimizer.hpp"

namespace neural_arch::optim::internal {

/// Throws "[<opt>] invalid <what>: <value> (<rule>)" unless ok. NaN fails every rule.
inline void check_option(const std::string& opt, bool ok, const char* what, double value, const char* rule) {
  NA_CHECK(ok, opt.c_str(), "invalid ", what, ": ", value, " (", rule, ")");
}

/// The options of a group as the optimizer's own type (add_param_group guarantees it unless a
/// caller swapped a group's options for another type afterwards).
template <class O> const O& options_of(const OptimizerOptions& options, const std::string& opt) {
  const auto* o = dynamic_cast<const O*>(&options);
  NA_CHECK(o != nullptr, opt.c_str(), "a parameter group holds options of another optimizer type");
  return *o;
}

/// A zero-filled state buffer like the parameter (contiguous, same dtype).
inline Tensor zeros_like_param(const Tensor& p) { return zeros(p.shape(), p.dtype()); }

}  // namespace neural_arch::optim::internal
