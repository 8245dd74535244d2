// softmax and log_softmax along a dim. f32/f64 run the vectorized row kernels of
// nn_kernels_isa.cpp (max, sum of exp and the write in one sweep per row; backward
// gy·y − y·Σ(gy·y) per row in one kernel). The scalar loop and the composed backward below are the
// reference (fused switch off, see functional/fused.hpp) and the double-backward path.
#include <cmath>

#include "autograd/function.hpp"
#include "backends/cpu/nn_kernels.hpp"
#include "backends/cpu/parallel.hpp"
#include "core/factory.hpp"
#include "neural_arch/functional/fused.hpp"
#include "neural_arch/ops.hpp"
#include "ops/elementwise.hpp"
#include "optimization/autocast_hook.hpp"

namespace neural_arch {

using autograd::SavedTensor;
using Grads = std::vector<Tensor>;

namespace {
template <class T> void softmax_rows(T* out, const T* in, int64_t rows, int64_t n, bool log_form) {
  cpu::parallel_for(0, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(n, 1)),
                    [&](int64_t b, int64_t e) {
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

// The fused backward on rows along dim d (moved last and made contiguous when it is not).
Tensor fused_softmax_backward(const Tensor& g, const Tensor& y, int64_t d, bool log_form) {
  Tensor gt = g.transpose(d, -1).contiguous(), yt = y.transpose(d, -1).contiguous();
  Tensor gx = detail::make_tensor(gt.shape(), gt.dtype());
  const int64_t n = gt.size(-1);
  const int64_t rows = n ? gt.numel() / n : 0;
  if (gt.dtype() == DType::f32)
    cpu::nn_kernels().f32.softmax_backward(gx.data_ptr<float>(), gt.data_ptr<float>(), yt.data_ptr<float>(),
                                           rows, n, log_form);
  else
    cpu::nn_kernels().f64.softmax_backward(gx.data_ptr<double>(), gt.data_ptr<double>(),
                                           yt.data_ptr<double>(), rows, n, log_form);
  return d == gx.dim() - 1 ? gx : gx.transpose(d, -1).contiguous();
}

Tensor softmax_impl(const Tensor& x, int64_t dim, bool log_form) {
  const char* name = log_form ? "log_softmax" : "softmax";
  detail::check_defined(x, name);
  // torch: "softmax_lastdim_kernel_impl" not implemented for 'Long'.
  NA_CHECK(is_floating(x.dtype()), name, "not implemented for ", dtype_name(x.dtype()), " tensors");
  const int64_t d = detail::wrap_dim(dim, x.dim(), name);
  const DType rt = x.dtype();
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
  const bool fused = functional::fused_kernels_enabled();
  if (fused && ct == DType::f32)
    cpu::nn_kernels().f32.softmax_forward(out.data_ptr<float>(), src.data_ptr<float>(), rows, n, log_form);
  else if (fused)
    cpu::nn_kernels().f64.softmax_forward(out.data_ptr<double>(), src.data_ptr<double>(), rows, n, log_form);
  else if (ct == DType::f32)
    softmax_rows(out.data_ptr<float>(), src.data_ptr<float>(), rows, n, log_form);
  else
    softmax_rows(out.data_ptr<double>(), src.data_ptr<double>(), rows, n, log_form);
  Tensor y = ops::cast(out, rt);
  y = (x.dim() == 0 ? y.reshape({}) : y.transpose(d, -1).contiguous()).detach();
  if (autograd::needs_grad({x})) {
    if (fused && (rt == DType::f32 || rt == DType::f64) && x.dim() > 0) {
      autograd::record(log_form ? "LogSoftmaxBackward" : "SoftmaxBackward", {x}, {y},
                       [y_ = SavedTensor(y, true), d, log_form](const Grads& g) {
                         Tensor yy = y_.unpack();
                         if (is_grad_enabled())
                           return Grads{log_form ? g[0] - exp(yy) * sum(g[0], {d}, true)
                                                 : yy * (g[0] - sum(g[0] * yy, {d}, true))};
                         return Grads{fused_softmax_backward(g[0], yy, d, log_form)};
                       });
    } else if (log_form)
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
