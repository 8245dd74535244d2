// Cumulative scans along a dim: cumsum and cumprod, as torch's. Integer and bool inputs give
// int64 (torch's promotion for scans); f16/bf16 accumulate in f32. Gradients are composed of
// scans, so they are differentiable again.
#include <cmath>
#include <cstring>

#include "autograd/function.hpp"
#include "backends/cpu/parallel.hpp"
#include "core/factory.hpp"
#include "neural_arch/ops.hpp"
#include "ops/elementwise.hpp"

namespace neural_arch {

using autograd::SavedTensor;
using Grads = std::vector<Tensor>;

namespace {

enum class ScanOp { sum, prod };

template <class T>
void scan_rows(ScanOp op, bool reverse, T* out, const T* in, int64_t outer, int64_t n, int64_t inner) {
  cpu::parallel_for(0, outer * inner, std::max<int64_t>(1, 32768 / std::max<int64_t>(n, 1)),
                    [&](int64_t b, int64_t e) {
                      for (int64_t r = b; r < e; ++r) {
                        const int64_t o = r / inner, i = r % inner;
                        const T* src = in + o * n * inner + i;
                        T* dst = out + o * n * inner + i;
                        T acc = op == ScanOp::sum ? T(0) : T(1);
                        for (int64_t k = 0; k < n; ++k) {
                          const int64_t kk = reverse ? n - 1 - k : k;
                          acc = op == ScanOp::sum ? T(acc + src[kk * inner]) : T(acc * src[kk * inner]);
                          dst[kk * inner] = acc;
                        }
                      }
                    });
}

DType scan_type(DType t) { return is_integral(t, true) ? DType::i64 : t; }

// The forward of both scans without autograd; `reverse` scans from the end (the gradient of a scan).
Tensor scan_raw(ScanOp op, const Tensor& x, int64_t dim, bool reverse, std::optional<DType> dtype,
                const char* name) {
  detail::check_defined(x, name);
  const DType rt = dtype ? *dtype : scan_type(x.dtype());
  const DType ct = ops::opmath_type(rt);
  Tensor v = x.dim() == 0 ? x.reshape({1}) : x;
  const int64_t d = detail::wrap_dim(dim, v.dim(), name);
  Tensor src = ops::cast(v, ct).contiguous();
  Tensor out = detail::make_tensor(src.shape(), ct);
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < d; ++i) outer *= src.size(i);
  for (int64_t i = d + 1; i < src.dim(); ++i) inner *= src.size(i);
  const int64_t n = src.size(d);
  auto run = [&](auto zero) {
    using T = decltype(zero);
    scan_rows(op, reverse, out.data_ptr<T>(), src.data_ptr<T>(), outer, n, inner);
  };
  if (out.numel() > 0) {
    switch (ct) {
      case DType::f32: run(float{}); break;
      case DType::f64: run(double{}); break;
      case DType::i32: run(int32_t{}); break;
      case DType::i64: run(int64_t{}); break;
      case DType::u8: run(uint8_t{}); break;
      default: detail::throw_error(name, "not implemented for dtype ", dtype_name(ct));
    }
  }
  return ops::cast(out, rt).reshape(x.shape());
}

// Differentiable sum-scan in either direction: each one's gradient is the other.
Tensor cumsum_dir(const Tensor& x, int64_t dim, bool reverse, std::optional<DType> dtype) {
  Tensor out = scan_raw(ScanOp::sum, x, dim, reverse, dtype, "cumsum");
  if (autograd::needs_grad({x}) && is_floating(out.dtype()))
    autograd::record("CumsumBackward", {x}, {out}, [dim, reverse, t = x.dtype()](const Grads& g) {
      Tensor r = cumsum_dir(g[0], dim, !reverse, std::nullopt);
      return Grads{r.dtype() == t ? r : r.to(t)};
    });
  return out;
}

}  // namespace

Tensor cumsum(const Tensor& x, int64_t dim, std::optional<DType> dtype) {
  return cumsum_dir(x, dim, false, dtype);
}

Tensor cumprod(const Tensor& x, int64_t dim, std::optional<DType> dtype) {
  Tensor out = scan_raw(ScanOp::prod, x, dim, false, dtype, "cumprod");
  if (autograd::needs_grad({x}) && is_floating(out.dtype()))
    autograd::record("CumprodBackward", {x}, {out},
                     [x_ = SavedTensor(x), y_ = SavedTensor(out, true), dim, t = x.dtype()](const Grads& g) {
                       Tensor v = x_.unpack(), y = y_.unpack().to(g[0].dtype());
                       const int64_t d = detail::wrap_dim(dim, std::max<int64_t>(v.dim(), 1), "cumprod");
                       Tensor r;
                       bool any_zero;
                       {
                         NoGradGuard ng;
                         any_zero = sum(eq(v, zeros_like(v))).item<int64_t>() > 0;
                       }
                       if (!any_zero) {
                         // d out_j / d x_i = out_j / x_i for j >= i.
                         r = cumsum_dir(g[0] * y, dim, true, std::nullopt) / v.to(g[0].dtype());
                       } else {
                         // Exact with zeros: grad_i = sum_{j >= i} g_j * prod_{k <= j, k != i} x_k, one scan
                         // per i.
                         Tensor vv = v.dim() == 0 ? v.reshape({1}) : v,
                                gg = g[0].dim() == 0 ? g[0].reshape({1}) : g[0];
                         const int64_t n = vv.size(d);
                         Shape pos_shape(vv.dim(), 1);
                         pos_shape[d] = n;
                         Tensor pos = arange(n).reshape(pos_shape);
                         std::vector<Tensor> parts;
                         for (int64_t i = 0; i < n; ++i) {
                           Tensor without_i = where(eq(pos, full_like(pos, i)), ones_like(vv), vv);
                           Tensor p = cumprod(without_i, d).to(gg.dtype());
                           parts.push_back(sum(p.narrow(d, i, n - i) * gg.narrow(d, i, n - i), {d}, true));
                         }
                         r = cat(parts, d).reshape(v.shape());
                       }
                       return Grads{r.dtype() == t ? r : r.to(t)};
                     });
  return out;
}

}  // namespace neural_arch
