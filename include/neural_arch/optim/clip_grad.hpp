// Gradient clipping utilities (torch.nn.utils.clip_grad_norm_ / clip_grad_value_).
#pragma once
#include <limits>
#include <vector>

#include "neural_arch/tensor.hpp"

namespace neural_arch::optim {

/// Scales the grads of `params` in place so that their joint norm is at most max_norm, and
/// returns the joint norm before clipping. The norm is over all grads as one vector:
/// (sum |g|^p)^(1/p), or max |g| for norm_type = infinity. Parameters without a grad are
/// skipped. As in PyTorch the scale is max_norm / (norm + 1e-6), applied only when below 1.
/// A non-finite norm is returned as is (and the grads become NaN/inf-scaled as in PyTorch)
/// unless error_if_nonfinite, which throws neural_arch::Error instead and leaves grads intact.
/// Grads must be float32 or float64; the norm is accumulated in double with a fixed
/// chunking, so it does not depend on the thread count.
///
///   loss.backward();
///   double norm = na::optim::clip_grad_norm_(model->parameters(), 1.0);
///   opt.step();
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);

/// Clamps every grad of `params` into [-clip_value, clip_value] in place (NaN stays NaN).
void clip_grad_value_(const std::vector<Tensor>& params, double clip_value);

}  // namespace neural_arch::optim
