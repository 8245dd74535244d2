// max_pool2d, avg_pool2d and adaptive_avg_pool2d on (N, C, H, W) planes, threaded over planes.
//
// Average pools of both kinds are one "window average" op described by a plan: per output
// row/column, the input range it covers and its share of the divisor. Its backward spreads
// the gradient over the same windows, and the backward of that is the window average again.
// Max pooling records the argmax; its backward scatters into those positions, and the
// backward of the scatter is a gather at the same positions.
#include "neural_arch/functional/pooling.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "autograd/function.hpp"
#include "backends/cpu/parallel.hpp"
#include "core/checked_size.hpp"
#include "core/factory.hpp"
#include "neural_arch/autograd.hpp"
#include "neural_arch/ops.hpp"
#include "ops/elementwise.hpp"

namespace neural_arch::functional {

namespace {

std::string pair_str(int64_t h, int64_t w) {
  std::ostringstream os;
  os << '(' << h << ',' << w << ')';
  return os.str();
}

void check_input(const Tensor& x, const char* op) {
  detail::check_defined(x, op);
  NA_CHECK(x.dim() == 3 || x.dim() == 4, op,
           "expected input with 3 dims (C,H,W) or 4 dims (N,C,H,W), got shape ", shape_str(x.shape()));
  NA_CHECK(is_floating(x.dtype()), op, "expected a floating input, got ", dtype_name(x.dtype()));
  NA_CHECK(x.device().is_cpu(), op, "only CPU tensors are supported, got ", x.device().str());
  NA_CHECK(x.size(-1) > 0 && x.size(-2) > 0, op, "expected non-empty spatial dims, got input of shape ",
           shape_str(x.shape()));
}

// Output length of a sliding window (PyTorch's pooling_output_shape).
// Sizes are checked: padding, dilation and stride come from the user and may be huge.
int64_t pooled_size(const char* op, int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode) {
  using detail::add_size;
  const int64_t padded = add_size(in, detail::mul_size(2, p, op, "padding"), op, "padded input size");
  const int64_t span = padded - detail::window_span(k, d, op);
  if (span < 0) return 0;
  int64_t out = add_size(span, ceil_mode ? s - 1 : 0, op, "pooling window arithmetic") / s + 1;
  // With ceil_mode the last window must start inside the input or its left padding.
  if (ceil_mode && (out - 1) * s >= in + p) --out;
  return out;
}

struct Window {
  int64_t kh, kw, sh, sw, ph, pw, dh, dw;
  int64_t OH, OW;
};

Window resolve_window(const char* op, const Tensor& x, Int2 k, Int2 s, Int2 p, Int2 d, bool ceil_mode) {
  if (s.h == 0 && s.w == 0) s = k;
  NA_CHECK(k.h > 0 && k.w > 0, op, "kernel_size must be positive, got ", pair_str(k.h, k.w));
  NA_CHECK(s.h > 0 && s.w > 0, op, "stride must be positive, got ", pair_str(s.h, s.w));
  NA_CHECK(d.h > 0 && d.w > 0, op, "dilation must be positive, got ", pair_str(d.h, d.w));
  NA_CHECK(p.h >= 0 && p.w >= 0 && p.h <= k.h / 2 && p.w <= k.w / 2, op,
           "padding must be non-negative and at most half of the kernel size, got padding ",
           pair_str(p.h, p.w), " for kernel_size ", pair_str(k.h, k.w));
  const int64_t H = x.size(-2), W = x.size(-1);
  Window w{k.h, k.w, s.h, s.w, p.h, p.w, d.h, d.w, 0, 0};
  w.OH = pooled_size(op, H, k.h, s.h, p.h, d.h, ceil_mode);
  w.OW = pooled_size(op, W, k.w, s.w, p.w, d.w, ceil_mode);
  NA_CHECK(w.OH >= 1 && w.OW >= 1, op, "input of shape ", shape_str(x.shape()),
           " is too small for kernel_size ", pair_str(k.h, k.w), " with dilation ", pair_str(d.h, d.w),
           " and padding ", pair_str(p.h, p.w), ": the output size would be ", pair_str(w.OH, w.OW));
  return w;
}

Tensor unbatch(const Tensor& t, bool was_unbatched) { return was_unbatched ? t.squeeze(0) : t; }

// The compute type and a contiguous copy of t in it (f16/bf16 pool in f32).
Tensor prepare(const Tensor& t) { return ops::cast(t, ops::opmath_type(t.dtype())).contiguous(); }

// Planes per task so that each task touches at least ~16K elements.
int64_t plane_grain(int64_t plane_elems) {
  return std::max<int64_t>(1, 16384 / std::max<int64_t>(1, plane_elems));
}

// ------------------------------------------------------------------ max pooling

// Candidate updates of one output row from one input row: for ow in [lo, hi), the element at
// iw = ow*stride + off. Written without data-dependent branches (they mispredict half the time
// on random data) and, with a 32-bit index type and a compile-time stride, the compiler turns
// the selects into vector blends.
template <class T, class I, int64_t S>
void max_row_update(const T* xr, I row_base, int64_t lo, int64_t hi, int64_t stride, int64_t off, T* best,
                    I* arg) {
  const int64_t st = S > 0 ? S : stride;
#pragma omp simd
  for (int64_t ow = lo; ow < hi; ++ow) {
    const int64_t iw = ow * st + off;
    const T v = xr[iw];
    const T b = best[ow];
    const I a = arg[ow];
    // NaN wins over everything and a later NaN over an earlier one, as in PyTorch.
    const bool take = (v > b) | (v != v);
    best[ow] = take ? v : b;
    arg[ow] = take ? static_cast<I>(row_base + iw) : a;
  }
}

// I: the index type used while scanning (int32 when a plane's indices fit, for speed).
template <class T, class I>
void max_pool_kernel(const T* x, T* y, int64_t* idx, int64_t planes, int64_t H, int64_t W, const Window& w) {
  const int64_t in_plane = H * W, out_plane = w.OH * w.OW;
  // Per kernel column kw: the output columns whose input column is inside the image.
  std::vector<int64_t> lo(static_cast<size_t>(w.kw)), hi(static_cast<size_t>(w.kw)),
      first_w(static_cast<size_t>(w.OW));
  for (int64_t kw = 0; kw < w.kw; ++kw) {
    const int64_t off = kw * w.dw - w.pw;  // iw = ow * sw + off
    const int64_t l = off >= 0 ? 0 : (-off + w.sw - 1) / w.sw;
    const int64_t h = W - 1 - off < 0 ? 0 : (W - 1 - off) / w.sw + 1;
    lo[kw] = std::min(l, w.OW);
    hi[kw] = std::max(lo[kw], std::min(h, w.OW));
  }
  for (int64_t ow = 0; ow < w.OW; ++ow) {
    int64_t w0 = ow * w.sw - w.pw;
    while (w0 < 0) w0 += w.dw;
    first_w[ow] = w0;
  }
  cpu::parallel_for(0, planes, plane_grain(in_plane), [&](int64_t b, int64_t e) {
    std::vector<I> arg(static_cast<size_t>(w.OW));
    for (int64_t p = b; p < e; ++p) {
      const T* xp = x + p * in_plane;
      for (int64_t oh = 0; oh < w.OH; ++oh) {
        T* best = y + p * out_plane + oh * w.OW;
        const int64_t h0 = oh * w.sh - w.ph;
        int64_t hv = h0;
        while (hv < 0) hv += w.dh;
        // Until a larger element is seen, the index is the window's first element (PyTorch's
        // choice when every element is -inf).
        for (int64_t ow = 0; ow < w.OW; ++ow) {
          best[ow] = -std::numeric_limits<T>::infinity();
          arg[ow] = static_cast<I>(hv * W + first_w[ow]);
        }
        for (int64_t kh = 0; kh < w.kh; ++kh) {
          const int64_t ih = h0 + kh * w.dh;
          if (ih < 0 || ih >= H) continue;
          const T* xr = xp + ih * W;
          const I base = static_cast<I>(ih * W);
          for (int64_t kw = 0; kw < w.kw; ++kw) {
            const int64_t off = kw * w.dw - w.pw;
            if (w.sw == 1)
              max_row_update<T, I, 1>(xr, base, lo[kw], hi[kw], 1, off, best, arg.data());
            else if (w.sw == 2)
              max_row_update<T, I, 2>(xr, base, lo[kw], hi[kw], 2, off, best, arg.data());
            else
              max_row_update<T, I, 0>(xr, base, lo[kw], hi[kw], w.sw, off, best, arg.data());
          }
        }
        int64_t* out_idx = idx + p * out_plane + oh * w.OW;
        for (int64_t ow = 0; ow < w.OW; ++ow) out_idx[ow] = arg[ow];
      }
    }
  });
}

// The common 2x2 window with stride 2 (no padding or dilation): each output from its four
// inputs in registers, whole output rows at a time so the compiler vectorises across them.
template <class T>
void max_pool_2x2_kernel(const T* x, T* y, int64_t* idx, int64_t planes, int64_t H, int64_t W,
                         const Window& w) {
  const int64_t in_plane = H * W, out_plane = w.OH * w.OW, OW = w.OW;
  cpu::parallel_for(0, planes, plane_grain(in_plane), [&](int64_t b, int64_t e) {
    std::vector<int32_t> arg(static_cast<size_t>(OW));
    int32_t* ap = arg.data();
    for (int64_t p = b; p < e; ++p) {
      for (int64_t oh = 0; oh < w.OH; ++oh) {
        const T* r0 = x + p * in_plane + 2 * oh * W;
        const T* r1 = r0 + W;
        T* yo = y + p * out_plane + oh * OW;
        const int32_t i0 = static_cast<int32_t>(2 * oh * W), i1 = static_cast<int32_t>((2 * oh + 1) * W);
#pragma omp simd
        for (int64_t ow = 0; ow < OW; ++ow) {
          const int32_t c = static_cast<int32_t>(2 * ow);
          // Scan order and NaN rule as the general kernel: a larger value or any NaN takes over.
          T best = r0[2 * ow];
          int32_t at = i0 + c;
          T v = r0[2 * ow + 1];
          bool t = (v > best) | (v != v);
          best = t ? v : best;
          at = t ? i0 + c + 1 : at;
          v = r1[2 * ow];
          t = (v > best) | (v != v);
          best = t ? v : best;
          at = t ? i1 + c : at;
          v = r1[2 * ow + 1];
          t = (v > best) | (v != v);
          best = t ? v : best;
          at = t ? i1 + c + 1 : at;
          yo[ow] = best;
          ap[ow] = at;
        }
        int64_t* io = idx + p * out_plane + oh * OW;
        for (int64_t ow = 0; ow < OW; ++ow) io[ow] = ap[ow];
      }
    }
  });
}

template <class T>
void max_pool_kernel(const T* x, T* y, int64_t* idx, int64_t planes, int64_t H, int64_t W, const Window& w) {
  const bool fits32 = H * W <= std::numeric_limits<int32_t>::max();
  if (fits32 && w.kh == 2 && w.kw == 2 && w.sh == 2 && w.sw == 2 && w.ph == 0 && w.pw == 0 && w.dh == 1 &&
      w.dw == 1 && 2 * w.OH <= H && 2 * w.OW <= W)
    max_pool_2x2_kernel(x, y, idx, planes, H, W, w);
  else if (fits32)
    max_pool_kernel<T, int32_t>(x, y, idx, planes, H, W, w);
  else
    max_pool_kernel<T, int64_t>(x, y, idx, planes, H, W, w);
}

template <class T>
void max_unpool_kernel(const T* gy, const int64_t* idx, T* gx, int64_t planes, int64_t in_plane,
                       int64_t out_plane) {
  cpu::parallel_for(0, planes, plane_grain(in_plane), [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      T* gxp = gx + p * in_plane;
      std::fill(gxp, gxp + in_plane, T(0));
      const T* gyp = gy + p * out_plane;
      const int64_t* ip = idx + p * out_plane;
      for (int64_t i = 0; i < out_plane; ++i) gxp[ip[i]] += gyp[i];
    }
  });
}

// gx (N, C, H, W) with gy added at the argmax positions idx. Differentiable in gy.
Tensor max_pool_backward_op(const Tensor& gy, const Tensor& idx, const Shape& in_shape) {
  Tensor gx;
  {
    NoGradGuard no_grad;
    const DType ct = ops::opmath_type(gy.dtype());
    Tensor g = prepare(gy), ic = idx.contiguous();
    Tensor out = detail::make_tensor(in_shape, ct);
    const int64_t planes = in_shape[0] * in_shape[1], in_plane = in_shape[2] * in_shape[3];
    const int64_t out_plane = gy.size(2) * gy.size(3);
    if (ct == DType::f64)
      max_unpool_kernel(g.data_ptr<double>(), ic.data_ptr<int64_t>(), out.data_ptr<double>(), planes,
                        in_plane, out_plane);
    else
      max_unpool_kernel(g.data_ptr<float>(), ic.data_ptr<int64_t>(), out.data_ptr<float>(), planes, in_plane,
                        out_plane);
    gx = ops::cast(out, gy.dtype());
  }
  if (autograd::needs_grad({gy})) {
    autograd::record(
        "MaxPool2dBackwardBackward", {gy}, {gx}, [idx, gshape = gy.shape()](const std::vector<Tensor>& g) {
          if (!g[0].defined()) return std::vector<Tensor>(1);
          // The adjoint of scattering into the argmax positions is gathering from them.
          const Shape& s = g[0].shape();
          Tensor flat = g[0].reshape({s[0], s[1], s[2] * s[3]});
          Tensor picked = gather(flat, 2, idx.reshape({gshape[0], gshape[1], gshape[2] * gshape[3]}));
          return std::vector<Tensor>{picked.reshape(gshape)};
        });
  }
  return gx;
}

ValuesIndices max_pool4d(const Tensor& x, const Window& w) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  Tensor y, idx;
  {
    NoGradGuard no_grad;
    const DType ct = ops::opmath_type(x.dtype());
    Tensor xc = prepare(x);
    Tensor out = detail::make_tensor({N, C, w.OH, w.OW}, ct);
    idx = detail::make_tensor({N, C, w.OH, w.OW}, DType::i64);
    if (ct == DType::f64)
      max_pool_kernel(xc.data_ptr<double>(), out.data_ptr<double>(), idx.data_ptr<int64_t>(), N * C, H, W, w);
    else
      max_pool_kernel(xc.data_ptr<float>(), out.data_ptr<float>(), idx.data_ptr<int64_t>(), N * C, H, W, w);
    y = ops::cast(out, x.dtype());
  }
  if (autograd::needs_grad({x})) {
    autograd::record("MaxPool2dBackward", {x}, {y},
                     [idx, in_shape = x.shape()](const std::vector<Tensor>& g) {
                       if (!g[0].defined()) return std::vector<Tensor>(1);
                       return std::vector<Tensor>{max_pool_backward_op(g[0], idx, in_shape)};
                     });
  }
  return {y, idx};
}

// ------------------------------------------------------------------ window averages

struct Axis {
  std::vector<int64_t> start, end;  // input range [start, end) of each output position
  std::vector<int64_t> divisor;     // this axis' factor of the divisor
};

struct AvgPlan {
  Axis h, w;
  int64_t divisor_override = 0;  // 0: the product of the axes' factors
  const char* name = "";         // of the backward node
};

// torch's avg_pool2d window: the divisor counts padding (count_include_pad) or not; windows
// that fall entirely into the padding are empty.
Axis pool_axis(int64_t in, int64_t out, int64_t k, int64_t s, int64_t p, bool count_include_pad) {
  Axis a;
  for (int64_t o = 0; o < out; ++o) {
    int64_t b = o * s - p;
    int64_t e = std::min(b + k, in + p);
    const int64_t padded = e - b;
    b = std::max<int64_t>(b, 0);
    e = std::min(e, in);
    a.start.push_back(b);
    a.end.push_back(std::max(e, b));
    a.divisor.push_back(count_include_pad ? padded : std::max<int64_t>(e - b, 0));
  }
  return a;
}

Axis adaptive_axis(int64_t in, int64_t out) {
  Axis a;
  for (int64_t o = 0; o < out; ++o) {
    const int64_t b = (o * in) / out;
    const int64_t e = ((o + 1) * in + out - 1) / out;
    a.start.push_back(b);
    a.end.push_back(e);
    a.divisor.push_back(e - b);
  }
  return a;
}

template <class T> T divisor_of(const AvgPlan& p, int64_t oh, int64_t ow) {
  return p.divisor_override ? T(p.divisor_override) : T(p.h.divisor[oh] * p.w.divisor[ow]);
}

template <class T> void avg_kernel(const T* x, T* y, int64_t planes, int64_t H, int64_t W, const AvgPlan& p) {
  const int64_t OH = static_cast<int64_t>(p.h.start.size()), OW = static_cast<int64_t>(p.w.start.size());
  cpu::parallel_for(0, planes, plane_grain(H * W), [&](int64_t b, int64_t e) {
    for (int64_t q = b; q < e; ++q) {
      const T* xp = x + q * H * W;
      T* yp = y + q * OH * OW;
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          const int64_t h0 = p.h.start[oh], h1 = p.h.end[oh], w0 = p.w.start[ow], w1 = p.w.end[ow];
          if (h0 >= h1 || w0 >= w1) {
            yp[oh * OW + ow] = T(0);
            continue;
          }
          T acc = T(0);
          for (int64_t ih = h0; ih < h1; ++ih)
            for (int64_t iw = w0; iw < w1; ++iw) acc += xp[ih * W + iw];
          yp[oh * OW + ow] = acc / divisor_of<T>(p, oh, ow);
        }
    }
  });
}

template <class T>
void avg_backward_kernel(const T* gy, T* gx, int64_t planes, int64_t H, int64_t W, const AvgPlan& p) {
  const int64_t OH = static_cast<int64_t>(p.h.start.size()), OW = static_cast<int64_t>(p.w.start.size());
  cpu::parallel_for(0, planes, plane_grain(H * W), [&](int64_t b, int64_t e) {
    for (int64_t q = b; q < e; ++q) {
      T* gxp = gx + q * H * W;
      std::fill(gxp, gxp + H * W, T(0));
      const T* gyp = gy + q * OH * OW;
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          const int64_t h0 = p.h.start[oh], h1 = p.h.end[oh], w0 = p.w.start[ow], w1 = p.w.end[ow];
          if (h0 >= h1 || w0 >= w1) continue;
          const T v = gyp[oh * OW + ow] / divisor_of<T>(p, oh, ow);
          for (int64_t ih = h0; ih < h1; ++ih)
            for (int64_t iw = w0; iw < w1; ++iw) gxp[ih * W + iw] += v;
        }
    }
  });
}

using PlanPtr = std::shared_ptr<const AvgPlan>;

Tensor window_avg_backward_op(const Tensor& gy, const PlanPtr& plan, const Shape& in_shape);

Tensor window_avg_op(const Tensor& x, const PlanPtr& plan) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t OH = static_cast<int64_t>(plan->h.start.size()),
                OW = static_cast<int64_t>(plan->w.start.size());
  Tensor y;
  {
    NoGradGuard no_grad;
    const DType ct = ops::opmath_type(x.dtype());
    Tensor xc = prepare(x);
    Tensor out = detail::make_tensor({N, C, OH, OW}, ct);
    if (ct == DType::f64)
      avg_kernel(xc.data_ptr<double>(), out.data_ptr<double>(), N * C, H, W, *plan);
    else
      avg_kernel(xc.data_ptr<float>(), out.data_ptr<float>(), N * C, H, W, *plan);
    y = ops::cast(out, x.dtype());
  }
  if (autograd::needs_grad({x})) {
    autograd::record(plan->name, {x}, {y}, [plan, in_shape = x.shape()](const std::vector<Tensor>& g) {
      if (!g[0].defined()) return std::vector<Tensor>(1);
      return std::vector<Tensor>{window_avg_backward_op(g[0], plan, in_shape)};
    });
  }
  return y;
}

Tensor window_avg_backward_op(const Tensor& gy, const PlanPtr& plan, const Shape& in_shape) {
  Tensor gx;
  {
    NoGradGuard no_grad;
    const DType ct = ops::opmath_type(gy.dtype());
    Tensor g = prepare(gy);
    Tensor out = detail::make_tensor(in_shape, ct);
    const int64_t planes = in_shape[0] * in_shape[1];
    if (ct == DType::f64)
      avg_backward_kernel(g.data_ptr<double>(), out.data_ptr<double>(), planes, in_shape[2], in_shape[3],
                          *plan);
    else
      avg_backward_kernel(g.data_ptr<float>(), out.data_ptr<float>(), planes, in_shape[2], in_shape[3],
                          *plan);
    gx = ops::cast(out, gy.dtype());
  }
  if (autograd::needs_grad({gy})) {
    // Spreading over windows is linear; its adjoint is the window average itself.
    autograd::record("AvgPool2dBackwardBackward", {gy}, {gx}, [plan](const std::vector<Tensor>& g) {
      if (!g[0].defined()) return std::vector<Tensor>(1);
      return std::vector<Tensor>{window_avg_op(g[0], plan)};
    });
  }
  return gx;
}

}  // namespace

// ------------------------------------------------------------------ public ops

ValuesIndices max_pool2d_with_indices(const Tensor& input, Int2 kernel_size, Int2 stride, Int2 padding,
                                      Int2 dilation, bool ceil_mode) {
  const char* op = "max_pool2d";
  check_input(input, op);
  const Window w = resolve_window(op, input, kernel_size, stride, padding, dilation, ceil_mode);
  const bool unbatched = input.dim() == 3;
  ValuesIndices r = max_pool4d(unbatched ? input.unsqueeze(0) : input, w);
  return {unbatch(r.values, unbatched), unbatch(r.indices, unbatched)};
}

Tensor max_pool2d(const Tensor& input, Int2 kernel_size, Int2 stride, Int2 padding, Int2 dilation,
                  bool ceil_mode) {
  return max_pool2d_with_indices(input, kernel_size, stride, padding, dilation, ceil_mode).values;
}

Tensor avg_pool2d(const Tensor& input, Int2 kernel_size, Int2 stride, Int2 padding, bool ceil_mode,
                  bool count_include_pad, std::optional<int64_t> divisor_override) {
  const char* op = "avg_pool2d";
  check_input(input, op);
  NA_CHECK(!divisor_override || *divisor_override != 0, op, "divisor must be not zero");
  const Window w = resolve_window(op, input, kernel_size, stride, padding, 1, ceil_mode);
  auto plan = std::make_shared<AvgPlan>();
  plan->h = pool_axis(input.size(-2), w.OH, w.kh, w.sh, w.ph, count_include_pad);
  plan->w = pool_axis(input.size(-1), w.OW, w.kw, w.sw, w.pw, count_include_pad);
  plan->divisor_override = divisor_override.value_or(0);
  plan->name = "AvgPool2dBackward";
  const bool unbatched = input.dim() == 3;
  return unbatch(window_avg_op(unbatched ? input.unsqueeze(0) : input, plan), unbatched);
}

Tensor adaptive_avg_pool2d(const Tensor& input, Int2 output_size) {
  const char* op = "adaptive_avg_pool2d";
  check_input(input, op);
  NA_CHECK(output_size.h > 0 && output_size.w > 0, op, "output_size must be positive, got ",
           pair_str(output_size.h, output_size.w));
  auto plan = std::make_shared<AvgPlan>();
  plan->h = adaptive_axis(input.size(-2), output_size.h);
  plan->w = adaptive_axis(input.size(-1), output_size.w);
  plan->name = "AdaptiveAvgPool2dBackward";
  const bool unbatched = input.dim() == 3;
  return unbatch(window_avg_op(unbatched ? input.unsqueeze(0) : input, plan), unbatched);
}

}  // namespace neural_arch::functional
