// softmax and log_softmax along a dim: one fused pass per row (max, exp-sum, normalise).
#include <cmath>

#include "autograd/function.hpp"
#include "backends/cpu/parallel.hpp"
#include "core/factory.hpp"
#include "neural_arch/ops.hpp"
#include "ops/elementwise.hpp"
#include "optimization/autocast_hook.hpp"

namespace neural_arch {

using autograd::SavedTensor;
using Grads = std::vector<Tensor>;

namespace {
template <class T>
void softmax_rows(T* out, const T* in, int64_t rows, int64_t n, bool log_form) {
  cpu::parallel_for(0, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(n, 1)), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const T* x = in + r * n;
      T* y = out + r * n;
      T m = -INFINITY;
      for (int64_t i = 0; i < n; ++i) m = x[i] > m || std::isnan(x[i]) ? x[i] : m;
      if (std::isinf(m) && m < 0) m = 0;  // all -inf row: exp(-inf) = 0 -> NaN, as torch
      double s = 0;
      if (log_form) {
        for (int64_t i = 0; i < n; ++i) s += std::exp(x[i] - m);
        const T lse = static_cast<T>(std::log(s)) + m;
        for (int64_t i = 0; i < n; ++i) y[i] = x[i] - lse;
      } else {
        for (int64_t i = 0; i < n; ++i) {
          y[i] = std::exp(x[i] - m);
          s += y[i];
        }
        const T inv = static_cast<T>(1.0 / s);
        for (int64_t i = 0; i < n; ++i) y[i] *= inv;
      }
    }
  });
}

Tensor softmax_impl(const Tensor& x, int64_t dim, bool log_form) {
  const char* name = log_form ? "log_softmax" : "softmax";
  detail::check_defined(x, name);
  const int64_t d = detail::wrap_dim(dim, x.dim(), name);
  const DType rt = is_floating(x.dtype()) ? x.dtype() : DType::f32;
  const DType ct = ops::opmath_type(rt);
  Tensor src;
  {
    NoGradGuard ng;
    src = x.dim() == 0 ? x.reshape({1}) : x;
    src = ops::cast(src.transpose(d, -1).contiguous(), ct);
  }
  Tensor out = detail::make_tensor(src.shape(), ct);
  const int64_t n = src.dim() ? src.size(-1) : 1;
  const int64_t rows = n ? src.numel() / n : 0;
  if (ct == DType::f32) softmax_rows(out.data_ptr<float>(), src.data_ptr<float>(), rows, n, log_form);
  else softmax_rows(out.data_ptr<double>(), src.data_ptr<double>(), rows, n, log_form);
  Tensor y = ops::cast(out, rt);
  y = (x.dim() == 0 ? y.reshape({}) : y.transpose(d, -1).contiguous()).detach();
  if (autograd::needs_grad({x})) {
    if (log_form)
      autograd::record("LogSoftmaxBackward", {x}, {y}, [y_ = SavedTensor(y, true), d](const Grads& g) {
        return Grads{g[0] - exp(y_.unpack()) * sum(g[0], {d}, true)};
      });
    else
      autograd::record("SoftmaxBackward", {x}, {y}, [y_ = SavedTensor(y, true), d](const Grads& g) {
        Tensor yy = y_.unpack();
        return Grads{yy * (g[0] - sum(g[0] * yy, {d}, true))};
      });
  }
  return y;
}
}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) {
  if (optimization::detail::AutocastCall ac{"softmax", x}) return softmax(ac[0], dim);
  return softmax_impl(x, dim, false);
}
Tensor log_softmax(const Tensor& x, int64_t dim) {
  if (optimization::detail::AutocastCall ac{"log_softmax", x}) return log_softmax(ac[0], dim);
  return softmax_impl(x, dim, true);
}

}  // namespace neural_arch
