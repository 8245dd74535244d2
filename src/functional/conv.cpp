// conv1d / conv2d and the two convolution gradient ops. The three ops form a closed set under
// differentiation: conv's backward is input_grad + weight_grad, input_grad's backward is conv +
// weight_grad, weight_grad's backward is input_grad + conv. So double backward needs nothing else.
// conv1d is conv2d on a height-1 view (H = 1, kH = 1).
#include "neural_arch/functional/conv.hpp"

#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "autograd/function.hpp"
#include "backends/cpu/conv_onednn.hpp"
#include "core/checked_size.hpp"
#include "core/factory.hpp"
#include "neural_arch/autograd.hpp"
#include "neural_arch/ops.hpp"
#include "ops/elementwise.hpp"
#include "optimization/autocast_hook.hpp"

namespace neural_arch::functional {

using autograd::SavedTensor;
using cpu::ConvShape;

namespace {

// ------------------------------------------------------------------ argument checks

// "(h,w)" for 2-D convolutions, "w" for 1-D ones.
std::string dims_str(int spatial, int64_t h, int64_t w) {
  std::ostringstream os;
  if (spatial == 2)
    os << '(' << h << ',' << w << ')';
  else
    os << w;
  return os.str();
}

// Resolves the geometry from shapes given in the op's own rank (spatial = 1: (N,C,L) and
// (O,C/g,k); spatial = 2: (N,C,H,W) and (O,C/g,kH,kW)), naming `op` in every error.
ConvShape resolve(const char* op, const Shape& xs, const Shape& ws, int spatial, Int2 stride,
                  const ConvPadding& padding, Int2 dilation, int64_t groups) {
  const size_t rank = static_cast<size_t>(spatial) + 2;
  const char* xdesc = spatial == 2 ? "(N,C,H,W)" : "(N,C,L)";
  const char* wdesc =
      spatial == 2 ? "(out_channels, in_channels/groups, kH, kW)" : "(out_channels, in_channels/groups, k)";
  NA_CHECK(xs.size() == rank, op, "expected input with ", rank, " dims ", xdesc, ", got shape ",
           shape_str(xs));
  NA_CHECK(ws.size() == rank, op, "expected weight with ", rank, " dims ", wdesc, ", got shape ",
           shape_str(ws));
  NA_CHECK(groups >= 1, op, "groups must be positive, got ", groups);
  for (int64_t v : xs) NA_CHECK(v >= 0, op, "input shape ", shape_str(xs), " has a negative size");
  for (int64_t v : ws) NA_CHECK(v >= 0, op, "weight shape ", shape_str(ws), " has a negative size");
  for (size_t d = 2; d < rank; ++d)
    NA_CHECK(ws[d] > 0, op, "kernel sizes must be positive, got weight of shape ", shape_str(ws));
  NA_CHECK(ws[0] % groups == 0, op, "weight of shape ", shape_str(ws), " has ", ws[0],
           " output channels, which is not divisible by groups=", groups);
  NA_CHECK(xs[1] == ws[1] * groups, op, "input of shape ", shape_str(xs), " has ", xs[1],
           " channels but weight of shape ", shape_str(ws), " with groups=", groups, " expects ",
           ws[1] * groups);

  ConvShape s;
  s.N = xs[0];
  s.C = xs[1];
  s.H = spatial == 2 ? xs[2] : 1;
  s.W = xs[rank - 1];
  s.O = ws[0];
  s.KH = spatial == 2 ? ws[2] : 1;
  s.KW = ws[rank - 1];
  s.groups = groups;
  s.stride_h = stride.h;
  s.stride_w = stride.w;
  s.dil_h = dilation.h;
  s.dil_w = dilation.w;
  if (spatial == 2) {
    NA_CHECK(stride.h > 0 && stride.w > 0, op, "stride must be positive, got (", stride.h, ",", stride.w,
             ")");
    NA_CHECK(dilation.h > 0 && dilation.w > 0, op, "dilation must be positive, got (", dilation.h, ",",
             dilation.w, ")");
  } else {
    NA_CHECK(stride.w > 0, op, "stride must be positive, got ", stride.w);
    NA_CHECK(dilation.w > 0, op, "dilation must be positive, got ", dilation.w);
  }

  const std::string& mode = padding.mode();
  if (mode.empty()) {
    NA_CHECK(spatial == 2 || !padding.is_pair(), op, "padding must be one number or 'same'/'valid', got (",
             padding.h(), ",", padding.w(), ")");
    NA_CHECK(padding.h() >= 0 && padding.w() >= 0, op, "padding must be non-negative, got ",
             dims_str(spatial, padding.h(), padding.w()));
    s.pad_top = s.pad_bottom = spatial == 2 ? padding.h() : 0;
    s.pad_left = s.pad_right = padding.w();
  } else if (mode == "valid") {
    // all zero already
  } else if (mode == "same") {
    NA_CHECK(s.stride_h == 1 && s.stride_w == 1, op,
             "padding='same' is not supported for strided convolutions (stride ",
             dims_str(spatial, stride.h, stride.w), ")");
    // PyTorch puts the odd element of the total padding at the end.
    const int64_t th = detail::window_span(s.KH, s.dil_h, op) - 1,
                  tw = detail::window_span(s.KW, s.dil_w, op) - 1;
    s.pad_top = th / 2;
    s.pad_bottom = th - s.pad_top;
    s.pad_left = tw / 2;
    s.pad_right = tw - s.pad_left;
  } else {
    detail::throw_error(op, "padding must be a number, a pair, 'same' or 'valid', got '", mode, "'");
  }

  const auto padded = [op](int64_t in, int64_t lo, int64_t hi) {
    return detail::add_size(detail::add_size(in, lo, op, "padded input size"), hi, op, "padded input size");
  };
  const int64_t ph = padded(s.H, s.pad_top, s.pad_bottom), pw = padded(s.W, s.pad_left, s.pad_right);
  const int64_t eh = detail::window_span(s.KH, s.dil_h, op), ew = detail::window_span(s.KW, s.dil_w, op);
  if (spatial == 2) {
    NA_CHECK(eh <= ph && ew <= pw, op, "kernel of size (", s.KH, ",", s.KW, ") with dilation (", s.dil_h, ",",
             s.dil_w, ") spans (", eh, ",", ew, "), which is larger than the padded input (", ph, ",", pw,
             ") of input shape ", shape_str(xs));
  } else {
    NA_CHECK(ew <= pw, op, "kernel of size ", s.KW, " with dilation ", s.dil_w, " spans ", ew,
             ", which is larger than the padded input length ", pw, " of input shape ", shape_str(xs));
  }
  s.OH = (ph - eh) / s.stride_h + 1;
  s.OW = (pw - ew) / s.stride_w + 1;
  return s;
}

void check_tensor(const Tensor& t, const char* op, const char* what) {
  detail::check_defined(t, op, what);
  NA_CHECK(is_floating(t.dtype()), op, "expected a floating ", what, ", got ", dtype_name(t.dtype()));
  NA_CHECK(t.device().is_cpu(), op, "only CPU tensors are supported, got ", what, " on ", t.device().str());
}

void check_same_dtype(const Tensor& a, const char* an, const Tensor& b, const char* bn, const char* op) {
  NA_CHECK(a.dtype() == b.dtype(), op, "expected ", an, " and ", bn, " to have the same dtype, got ",
           dtype_name(a.dtype()), " and ", dtype_name(b.dtype()));
}

void check_bias(const Tensor& bias, const Tensor& weight, const char* op) {
  if (!bias.defined()) return;
  check_tensor(bias, op, "bias");
  check_same_dtype(weight, "weight", bias, "bias", op);
  NA_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0), op, "expected bias of shape ",
           shape_str({weight.size(0)}), " for weight of shape ", shape_str(weight.shape()), ", got shape ",
           shape_str(bias.shape()));
}

Shape input_shape(const ConvShape& s) { return {s.N, s.C, s.H, s.W}; }
Shape weight_shape(const ConvShape& s) { return {s.O, s.C / s.groups, s.KH, s.KW}; }
Shape output_shape(const ConvShape& s) { return {s.N, s.O, s.OH, s.OW}; }

// ------------------------------------------------------------------ kernels (no autograd)
//
// bf16 runs natively (oneDNN, f32 accumulation, bf16 in and out) where cpu::conv2d_* says it
// can; otherwise, and always for f16 (oneDNN 2.6 has no f16 convolution for CPUs), the operands
// are widened to f32, convolved in f32 and the results rounded back: the documented converted path.

// t converted to its compute type (f16/bf16 compute in f32) and made contiguous.
Tensor prepare(const Tensor& t, DType ct) { return t.defined() ? ops::cast(t, ct).contiguous() : t; }

template <class T> T* ptr(const Tensor& t) { return t.defined() ? t.data_ptr<T>() : nullptr; }

using BF = BFloat16;

Tensor run_forward(const ConvShape& s, const Tensor& x, const Tensor& w, const Tensor& b) {
  NoGradGuard no_grad;
  if (x.dtype() == DType::bf16) {
    Tensor xc = prepare(x, DType::bf16), wc = prepare(w, DType::bf16), bc = prepare(b, DType::bf16);
    Tensor y = detail::make_tensor(output_shape(s), DType::bf16);
    if (cpu::conv2d_forward(s, ptr<BF>(xc), ptr<BF>(wc), ptr<BF>(bc), ptr<BF>(y))) return y;
  }
  const DType ct = ops::opmath_type(x.dtype());
  Tensor xc = prepare(x, ct), wc = prepare(w, ct), bc = prepare(b, ct);
  Tensor y = detail::make_tensor(output_shape(s), ct);
  if (ct == DType::f64)
    cpu::conv2d_forward(s, ptr<double>(xc), ptr<double>(wc), ptr<double>(bc), ptr<double>(y));
  else
    cpu::conv2d_forward(s, ptr<float>(xc), ptr<float>(wc), ptr<float>(bc), ptr<float>(y));
  return ops::cast(y, x.dtype());
}

Tensor run_backward_data(const ConvShape& s, const Tensor& gy, const Tensor& w) {
  NoGradGuard no_grad;
  if (w.dtype() == DType::bf16) {
    Tensor gyc = prepare(gy, DType::bf16), wc = prepare(w, DType::bf16);
    Tensor gx = detail::make_tensor(input_shape(s), DType::bf16);
    if (cpu::conv2d_backward_data(s, ptr<BF>(gyc), ptr<BF>(wc), ptr<BF>(gx))) return gx;
  }
  const DType ct = ops::opmath_type(w.dtype());
  Tensor gyc = prepare(gy, ct), wc = prepare(w, ct);
  Tensor gx = detail::make_tensor(input_shape(s), ct);
  if (ct == DType::f64)
    cpu::conv2d_backward_data(s, ptr<double>(gyc), ptr<double>(wc), ptr<double>(gx));
  else
    cpu::conv2d_backward_data(s, ptr<float>(gyc), ptr<float>(wc), ptr<float>(gx));
  return ops::cast(gx, w.dtype());
}

std::pair<Tensor, Tensor> run_backward_weights(const ConvShape& s, const Tensor& x, const Tensor& gy,
                                               bool with_bias) {
  NoGradGuard no_grad;
  if (x.dtype() == DType::bf16) {
    Tensor xc = prepare(x, DType::bf16), gyc = prepare(gy, DType::bf16);
    Tensor gw = detail::make_tensor(weight_shape(s), DType::bf16);
    Tensor gb = with_bias ? detail::make_tensor({s.O}, DType::bf16) : Tensor();
    if (cpu::conv2d_backward_weights(s, ptr<BF>(xc), ptr<BF>(gyc), ptr<BF>(gw), ptr<BF>(gb))) return {gw, gb};
  }
  const DType ct = ops::opmath_type(x.dtype());
  Tensor xc = prepare(x, ct), gyc = prepare(gy, ct);
  Tensor gw = detail::make_tensor(weight_shape(s), ct);
  Tensor gb = with_bias ? detail::make_tensor({s.O}, ct) : Tensor();
  if (ct == DType::f64)
    cpu::conv2d_backward_weights(s, ptr<double>(xc), ptr<double>(gyc), ptr<double>(gw), ptr<double>(gb));
  else
    cpu::conv2d_backward_weights(s, ptr<float>(xc), ptr<float>(gyc), ptr<float>(gw), ptr<float>(gb));
  return {ops::cast(gw, x.dtype()), with_bias ? ops::cast(gb, x.dtype()) : Tensor()};
}

// gx, gw and (when with_bias) gb in one pass over the output gradient; for backward without
// create_graph, where nothing needs recording.
std::vector<Tensor> run_backward_all(const ConvShape& s, const Tensor& x, const Tensor& gy, const Tensor& w,
                                     bool with_bias) {
  NoGradGuard no_grad;
  if (x.dtype() == DType::bf16) {
    Tensor xc = prepare(x, DType::bf16), gyc = prepare(gy, DType::bf16), wc = prepare(w, DType::bf16);
    Tensor gx = detail::make_tensor(input_shape(s), DType::bf16);
    Tensor gw = detail::make_tensor(weight_shape(s), DType::bf16);
    Tensor gb = with_bias ? detail::make_tensor({s.O}, DType::bf16) : Tensor();
    if (cpu::conv2d_backward(s, ptr<BF>(xc), ptr<BF>(gyc), ptr<BF>(wc), ptr<BF>(gx), ptr<BF>(gw),
                             ptr<BF>(gb)))
      return {gx, gw, gb};
  }
  const DType ct = ops::opmath_type(x.dtype());
  Tensor xc = prepare(x, ct), gyc = prepare(gy, ct), wc = prepare(w, ct);
  Tensor gx = detail::make_tensor(input_shape(s), ct);
  Tensor gw = detail::make_tensor(weight_shape(s), ct);
  Tensor gb = with_bias ? detail::make_tensor({s.O}, ct) : Tensor();
  if (ct == DType::f64)
    cpu::conv2d_backward(s, ptr<double>(xc), ptr<double>(gyc), ptr<double>(wc), ptr<double>(gx),
                         ptr<double>(gw), ptr<double>(gb));
  else
    cpu::conv2d_backward(s, ptr<float>(xc), ptr<float>(gyc), ptr<float>(wc), ptr<float>(gx), ptr<float>(gw),
                         ptr<float>(gb));
  return {ops::cast(gx, x.dtype()), ops::cast(gw, x.dtype()),
          with_bias ? ops::cast(gb, x.dtype()) : Tensor()};
}

// ------------------------------------------------------------------ differentiable ops (4-D, validated)

Tensor conv_op(const ConvShape& s, const Tensor& x, const Tensor& w, const Tensor& b);
Tensor input_grad_op(const ConvShape& s, const Tensor& gy, const Tensor& w);
std::pair<Tensor, Tensor> weight_grad_op(const ConvShape& s, const Tensor& x, const Tensor& gy, bool need_w,
                                         bool need_b);

Tensor conv_op(const ConvShape& s, const Tensor& x, const Tensor& w, const Tensor& b) {
  Tensor out = run_forward(s, x, w, b);
  if (autograd::needs_grad({x, w, b})) {
    const bool gx = x.requires_grad(), gw = w.requires_grad(), gb = b.defined() && b.requires_grad();
    autograd::record("ConvolutionBackward", {x, w, b}, {out},
                     [s, x_ = SavedTensor(gw ? x : Tensor()), w_ = SavedTensor(gx ? w : Tensor()), gx, gw,
                      gb](const std::vector<Tensor>& g) {
                       std::vector<Tensor> r(3);
                       if (!g[0].defined()) return r;
                       // Without create_graph nothing is recorded: one fused call serves all three.
                       if (gx && gw && !is_grad_enabled())
                         return run_backward_all(s, x_.unpack(), g[0], w_.unpack(), gb);
                       if (gx) r[0] = input_grad_op(s, g[0], w_.unpack());
                       if (gw || gb) std::tie(r[1], r[2]) = weight_grad_op(s, x_.unpack(), g[0], gw, gb);
                       return r;
                     });
  }
  return out;
}

Tensor input_grad_op(const ConvShape& s, const Tensor& gy, const Tensor& w) {
  Tensor gx = run_backward_data(s, gy, w);
  if (autograd::needs_grad({gy, w})) {
    const bool ggy = gy.requires_grad(), gw = w.requires_grad();
    autograd::record("Conv2dInputGradBackward", {gy, w}, {gx},
                     [s, gy_ = SavedTensor(gw ? gy : Tensor()), w_ = SavedTensor(ggy ? w : Tensor()), ggy,
                      gw](const std::vector<Tensor>& g) {
                       std::vector<Tensor> r(2);
                       if (!g[0].defined()) return r;
                       // gx is linear in gy (adjoint: the convolution) and in w (a weight gradient).
                       if (ggy) r[0] = conv_op(s, g[0], w_.unpack(), Tensor());
                       if (gw) r[1] = weight_grad_op(s, g[0], gy_.unpack(), true, false).first;
                       return r;
                     });
  }
  return gx;
}

std::pair<Tensor, Tensor> weight_grad_op(const ConvShape& s, const Tensor& x, const Tensor& gy, bool need_w,
                                         bool need_b) {
  if (!need_w) return {Tensor(), need_b ? sum(gy, {0, 2, 3}) : Tensor()};
  auto [gw, gb] = run_backward_weights(s, x, gy, need_b);
  if (autograd::needs_grad({x, gy})) {
    const bool gx = x.requires_grad(), ggy = gy.requires_grad();
    std::vector<Tensor> outs{gw};
    if (need_b) outs.push_back(gb);
    autograd::record("Conv2dWeightGradBackward", {x, gy}, outs,
                     [s, x_ = SavedTensor(ggy ? x : Tensor()), gy_ = SavedTensor(gx ? gy : Tensor()), gx, ggy,
                      need_b](const std::vector<Tensor>& g) {
                       std::vector<Tensor> r(2);
                       const Tensor& ggw = g[0];
                       const Tensor ggb = need_b && g.size() > 1 ? g[1] : Tensor();
                       // gw is bilinear in (x, gy); gb is linear in gy alone.
                       if (gx && ggw.defined()) r[0] = input_grad_op(s, gy_.unpack(), ggw);
                       if (ggy) {
                         if (ggw.defined())
                           r[1] = conv_op(s, x_.unpack(), ggw, ggb);
                         else if (ggb.defined())
                           r[1] = ggb.view({1, s.O, 1, 1}).expand(output_shape(s));
                       }
                       return r;
                     });
  }
  return {gw, gb};
}

void check_grad_output(const ConvShape& s, const Tensor& gy, const char* op) {
  const Shape want = output_shape(s);
  NA_CHECK(gy.shape() == want, op, "grad_output has shape ", shape_str(gy.shape()),
           " but the convolution of input ", shape_str(input_shape(s)), " with weight ",
           shape_str(weight_shape(s)), " gives ", shape_str(want));
}

}  // namespace

// ------------------------------------------------------------------ public ops

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, Int2 stride, ConvPadding padding,
              Int2 dilation, int64_t groups) {
  if (optimization::detail::AutocastCall ac{"conv2d", input, weight, bias})
    return conv2d(ac[0], ac[1], ac[2], stride, padding, dilation, groups);
  const char* op = "conv2d";
  check_tensor(input, op, "input");
  check_tensor(weight, op, "weight");
  check_same_dtype(input, "input", weight, "weight", op);
  const ConvShape s = resolve(op, input.shape(), weight.shape(), 2, stride, padding, dilation, groups);
  check_bias(bias, weight, op);
  return conv_op(s, input, weight, bias);
}

Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias, int64_t stride,
              ConvPadding padding, int64_t dilation, int64_t groups) {
  if (optimization::detail::AutocastCall ac{"conv1d", input, weight, bias})
    return conv1d(ac[0], ac[1], ac[2], stride, padding, dilation, groups);
  const char* op = "conv1d";
  check_tensor(input, op, "input");
  check_tensor(weight, op, "weight");
  check_same_dtype(input, "input", weight, "weight", op);
  const ConvShape s =
      resolve(op, input.shape(), weight.shape(), 1, Int2(1, stride), padding, Int2(1, dilation), groups);
  check_bias(bias, weight, op);
  return conv_op(s, input.unsqueeze(2), weight.unsqueeze(2), bias).squeeze(2);
}

Tensor conv2d_input_grad(const Shape& input_shape_, const Tensor& weight, const Tensor& grad_output,
                         Int2 stride, ConvPadding padding, Int2 dilation, int64_t groups) {
  const char* op = "conv2d_input_grad";
  check_tensor(weight, op, "weight");
  check_tensor(grad_output, op, "grad_output");
  check_same_dtype(weight, "weight", grad_output, "grad_output", op);
  const ConvShape s = resolve(op, input_shape_, weight.shape(), 2, stride, padding, dilation, groups);
  check_grad_output(s, grad_output, op);
  return input_grad_op(s, grad_output, weight);
}

Tensor conv2d_weight_grad(const Tensor& input, const Shape& weight_shape_, const Tensor& grad_output,
                          Int2 stride, ConvPadding padding, Int2 dilation, int64_t groups) {
  const char* op = "conv2d_weight_grad";
  check_tensor(input, op, "input");
  check_tensor(grad_output, op, "grad_output");
  check_same_dtype(input, "input", grad_output, "grad_output", op);
  const ConvShape s = resolve(op, input.shape(), weight_shape_, 2, stride, padding, dilation, groups);
  check_grad_output(s, grad_output, op);
  return weight_grad_op(s, input, grad_output, true, false).first;
}

}  // namespace neural_arch::functional
