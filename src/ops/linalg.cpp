// Linear algebra ops: matmul (torch.matmul semantics), mm, bmm, linear, outer, and their
// backward rules (written with these same ops, so double backward works).
//
// Operands reach the GEMM without copies whenever their strides allow: a transposed matrix is
// passed as a transpose flag, batch dims become GEMM batch strides (0 for broadcast dims), and
// a batched operand times a plain matrix is folded into one tall GEMM.
#include <algorithm>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include "autograd/function.hpp"
#include "backends/cpu/gemm.hpp"
#include "core/factory.hpp"
#include "neural_arch/autograd.hpp"
#include "neural_arch/ops.hpp"
#include "ops/elementwise.hpp"
#include "optimization/autocast_hook.hpp"

namespace neural_arch {

using autograd::SavedTensor;
using autograd::sum_to;

namespace {

// ------------------------------------------------------------------ argument checks

void check_operands(const Tensor& a, const Tensor& b, const char* op) {
  detail::check_defined(a, op, "first input");
  detail::check_defined(b, op, "second input");
  const DType ta = a.dtype(), tb = b.dtype();
  if (!is_floating(ta) || !is_floating(tb)) {
    if (ta == tb || is_floating(ta) || is_floating(tb))
      detail::throw_error(op, "expected floating tensors, got ", dtype_name(is_floating(ta) ? tb : ta));
    detail::throw_error(op, "expected floating tensors, got ", dtype_name(ta), " and ", dtype_name(tb));
  }
  NA_CHECK(ta == tb, op, "expected both tensors to have the same dtype, got ", dtype_name(ta), " and ",
           dtype_name(tb));
  NA_CHECK(a.device().is_cpu() && b.device().is_cpu(), op, "only CPU tensors are supported, got ",
           a.device().str(), " and ", b.device().str());
}

[[noreturn]] void throw_cannot_multiply(const Tensor& a, const Tensor& b, const char* op) {
  detail::throw_error(op, "shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()),
                      " cannot be multiplied");
}

// Broadcast of the batch dims (all but the last two) of a and b.
Shape batch_shape(const Tensor& a, const Tensor& b, const char* op) {
  const Shape ba(a.shape().begin(), a.shape().end() - std::min<int64_t>(a.dim(), 2));
  const Shape bb(b.shape().begin(), b.shape().end() - std::min<int64_t>(b.dim(), 2));
  const size_t n = std::max(ba.size(), bb.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t x = i + ba.size() >= n ? ba[i + ba.size() - n] : 1;
    const int64_t y = i + bb.size() >= n ? bb[i + bb.size() - n] : 1;
    NA_CHECK(x == y || x == 1 || y == 1, op, "batch dimensions of shapes ", shape_str(a.shape()), " and ",
             shape_str(b.shape()), " cannot be broadcast (", x, " vs ", y, " at batch dim ", i, ")");
    out[i] = x == 1 ? y : x;
  }
  return out;
}

// ------------------------------------------------------------------ strided operands

struct MatLayout {
  bool trans;
  int64_t ld;
};

// How a rows×cols matrix with element strides (rs, cs) can be given to GEMM as is: row-major
// (unit column stride, non-overlapping rows) or column-major (passed as a transpose). Strides of
// size-1 dims do not matter. nullopt: it needs a contiguous copy (e.g. an expanded operand).
std::optional<MatLayout> gemm_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
  const int64_t r1 = std::max<int64_t>(rows, 1), c1 = std::max<int64_t>(cols, 1);
  if ((cs == 1 || cols <= 1) && (rows <= 1 || rs >= c1)) return MatLayout{false, rows <= 1 ? c1 : rs};
  if ((rs == 1 || rows <= 1) && (cols <= 1 || cs >= r1)) return MatLayout{true, cols <= 1 ? r1 : cs};
  return std::nullopt;
}

// gemm_layout of the rows×cols matrix in t's last two dims (of its transpose when `transposed`),
// replacing t by a contiguous copy first when the strides do not fit GEMM.
MatLayout layout_or_contiguous(Tensor& t, int64_t rows, int64_t cols, bool transposed = false) {
  auto strides = [&] {
    return transposed ? std::pair{t.stride(-1), t.stride(-2)} : std::pair{t.stride(-2), t.stride(-1)};
  };
  auto [rs, cs] = strides();
  if (auto l = gemm_layout(rows, cols, rs, cs)) return *l;
  t = t.contiguous();
  std::tie(rs, cs) = strides();
  return *gemm_layout(rows, cols, rs, cs);
}

// The single stride with which dims [0, end) of t can be walked as one dim, ignoring size-1
// dims; nullopt when they do not collapse. `unit` is returned when all of them have size 1.
std::optional<int64_t> collapsed_stride(const Tensor& t, int64_t end, int64_t unit) {
  std::optional<int64_t> inner;  // stride of the innermost non-trivial dim seen so far
  int64_t span = 1;              // elements covered by the dims already walked, in that stride
  for (int64_t d = end - 1; d >= 0; --d) {
    if (t.size(d) == 1) continue;
    if (!inner) {
      inner = t.stride(d);
    } else if (t.stride(d) != *inner * span) {
      return std::nullopt;
    }
    span *= t.size(d);
  }
  return inner ? *inner : unit;
}

struct BatchDim {
  int64_t n, sa, sb, sc;
};

// Drops size-1 dims and merges neighbours that are contiguous in all three operands, so that a
// regular batch becomes one GEMM batch dim.
std::vector<BatchDim> collapse(const std::vector<BatchDim>& dims) {
  std::vector<BatchDim> out;
  for (const auto& d : dims) {
    if (d.n == 1) continue;
    if (!out.empty()) {
      BatchDim& p = out.back();
      if (p.sa == d.sa * d.n && p.sb == d.sb * d.n && p.sc == d.sc * d.n) {
        p = {p.n * d.n, d.sa, d.sb, d.sc};
        continue;
      }
    }
    out.push_back(d);
  }
  return out;
}

// out (batch..., M, N) = a (..., M, K) @ b (..., K, N): both at least 2-D, same dtype (f32, f64
// or bf16), shapes already validated. Not recorded in autograd.
template <class T> Tensor matmul_nd(Tensor a, Tensor b, const Shape& batch) {
  const int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  Tensor out = detail::make_tensor(out_shape, a.dtype());
  if (out.numel() == 0) return out;
  T* pc = out.data_ptr<T>();
  const int64_t nb = static_cast<int64_t>(batch.size());

  // A batch of matrices times one matrix is one tall GEMM when a's batch and row dims collapse.
  bool b_batched = false;
  for (int64_t d = 0; d + 2 < b.dim(); ++d) b_batched |= b.size(d) != 1;
  if (!b_batched && nb > 0) {
    auto rs = collapsed_stride(a, a.dim() - 1, K);
    const MatLayout lb = layout_or_contiguous(b, K, N);
    const int64_t rows = out.numel() / N;
    auto la = rs ? gemm_layout(rows, K, *rs, a.stride(-1)) : std::nullopt;
    if (la && !la->trans) {
      cpu::gemm(false, lb.trans, rows, N, K, a.data_ptr<T>(), la->ld, b.data_ptr<T>(), lb.ld, pc, N);
      return out;
    }
  }

  const MatLayout la = layout_or_contiguous(a, M, K), lb = layout_or_contiguous(b, K, N);
  std::vector<BatchDim> dims(nb);
  const int64_t oa = nb - (a.dim() - 2), ob = nb - (b.dim() - 2);
  for (int64_t i = 0; i < nb; ++i) {
    const int64_t ia = i - oa, ib = i - ob;
    dims[i] = {batch[i], ia >= 0 && a.size(ia) != 1 ? a.stride(ia) : 0,
               ib >= 0 && b.size(ib) != 1 ? b.stride(ib) : 0, out.stride(i)};
  }
  dims = collapse(dims);
  const BatchDim inner = dims.empty() ? BatchDim{1, 0, 0, 0} : dims.back();
  if (!dims.empty()) dims.pop_back();
  const cpu::GemmBatch gb{inner.n, inner.sa, inner.sb, inner.sc};

  // Batch dims that do not collapse into one stride are walked here, one batched GEMM each.
  const T* pa = a.data_ptr<T>();
  const T* pb = b.data_ptr<T>();
  std::vector<int64_t> idx(dims.size(), 0);
  int64_t off_a = 0, off_b = 0, off_c = 0;
  while (true) {
    cpu::gemm(la.trans, lb.trans, M, N, K, pa + off_a, la.ld, pb + off_b, lb.ld, pc + off_c, N, T(0), nullptr,
              cpu::GemmActivation::none, gb);
    int64_t d = static_cast<int64_t>(dims.size()) - 1;
    for (; d >= 0; --d) {
      off_a += dims[d].sa, off_b += dims[d].sb, off_c += dims[d].sc;
      if (++idx[d] < dims[d].n) break;
      off_a -= dims[d].sa * dims[d].n, off_b -= dims[d].sb * dims[d].n, off_c -= dims[d].sc * dims[d].n;
      idx[d] = 0;
    }
    if (d < 0) break;
  }
  return out;
}

// The type a GEMM on t runs in: bf16 runs natively (oneDNN, f32 accumulation); f16 is widened
// to f32 and the result rounded back, because oneDNN has f16 matmul kernels only for CPUs with
// AVX512-FP16, which this project's machines (AMD Zen 4) lack.
DType gemm_type(DType t) { return t == DType::bf16 ? t : ops::opmath_type(t); }

// Runs f<T> on a and b converted to their GEMM type and converts the result back.
template <class F> Tensor with_opmath(const Tensor& a, const Tensor& b, F&& f) {
  const DType t = a.dtype(), ct = gemm_type(t);
  Tensor ac = ops::cast(a, ct), bc = ops::cast(b, ct);
  Tensor r = ct == DType::f64    ? f.template operator()<double>(ac, bc)
             : ct == DType::bf16 ? f.template operator()<BFloat16>(ac, bc)
                                 : f.template operator()<float>(ac, bc);
  return ops::cast(r, t);
}

// Forward of matmul for validated inputs (1-D operands allowed), without autograd.
Tensor matmul_forward(const Tensor& a, const Tensor& b, const char* op) {
  NoGradGuard no_grad;
  Tensor a2 = a.dim() == 1 ? a.unsqueeze(0) : a;
  Tensor b2 = b.dim() == 1 ? b.unsqueeze(1) : b;
  const Shape batch = batch_shape(a2, b2, op);
  Shape final_shape = batch;
  if (a.dim() > 1) final_shape.push_back(a.size(-2));
  if (b.dim() > 1) final_shape.push_back(b.size(-1));
  Tensor r = with_opmath(
      a2, b2, [&]<class T>(const Tensor& x, const Tensor& y) { return matmul_nd<T>(x, y, batch); });
  return r.shape() == final_shape ? r : r.view(final_shape);
}

Tensor transpose_last(const Tensor& t) { return t.transpose(-1, -2); }

}  // namespace

// ------------------------------------------------------------------ matmul

Tensor matmul(const Tensor& a, const Tensor& b) {
  if (optimization::detail::AutocastCall ac{"matmul", a, b}) return matmul(ac[0], ac[1]);
  check_operands(a, b, "matmul");
  NA_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul", "both arguments need to be at least 1-D, got shapes ",
           shape_str(a.shape()), " and ", shape_str(b.shape()));
  const int64_t kb = b.dim() == 1 ? b.size(0) : b.size(-2);
  if (a.size(-1) != kb) throw_cannot_multiply(a, b, "matmul");
  Tensor out = matmul_forward(a, b, "matmul");
  if (autograd::needs_grad({a, b})) {
    const bool ga = a.requires_grad(), gb = b.requires_grad();
    autograd::record("MatmulBackward", {a, b}, {out},
                     [a_ = SavedTensor(gb ? a : Tensor()), b_ = SavedTensor(ga ? b : Tensor()), ga, gb,
                      sa = a.shape(), sb = b.shape()](const std::vector<Tensor>& g) {
                       Tensor ra, rb;
                       if (sa.size() == 1 && sb.size() == 1) {  // dot: g is 0-d
                         if (ga) ra = g[0] * b_.unpack();
                         if (gb) rb = g[0] * a_.unpack();
                         return std::vector<Tensor>{ra, rb};
                       }
                       // Work on the 2-D-promoted operands: a (K) is (1, K), b (K) is (K, 1).
                       Tensor gg = g[0];
                       if (sa.size() == 1) gg = gg.unsqueeze(-2);
                       if (sb.size() == 1) gg = gg.unsqueeze(-1);
                       const int64_t K = sa.back();
                       if (ga) {
                         Tensor bb = b_.unpack();
                         ra = matmul(gg, sb.size() == 1 ? bb.unsqueeze(0) : transpose_last(bb));
                         ra = sa.size() == 1 ? sum_to(ra, {1, K}).reshape(sa) : sum_to(ra, sa);
                       }
                       if (gb) {
                         Tensor aa = a_.unpack();
                         const int64_t N = gg.size(-1);
                         if (sb.size() <= 2 && sa.size() > 2) {
                           // b was shared by every batch: one GEMM over the flattened batch instead of a
                           // batched product followed by a reduction.
                           int64_t rows = 1;  // explicit: reshape cannot infer -1 when a dim is 0
                           for (size_t d = 0; d + 1 < sa.size(); ++d) rows *= sa[d];
                           rb = mm(aa.reshape({rows, K}).t(), gg.reshape({rows, N}));
                         } else {
                           rb = matmul(sa.size() == 1 ? aa.unsqueeze(-1) : transpose_last(aa), gg);
                           rb = sum_to(rb, sb.size() == 1 ? Shape{K, 1} : sb);
                         }
                         if (sb.size() == 1) rb = rb.reshape(sb);
                       }
                       return std::vector<Tensor>{ra, rb};
                     });
  }
  return out;
}

// ------------------------------------------------------------------ mm, bmm

Tensor mm(const Tensor& a, const Tensor& b) {
  if (optimization::detail::AutocastCall ac{"mm", a, b}) return mm(ac[0], ac[1]);
  check_operands(a, b, "mm");
  NA_CHECK(a.dim() == 2 && b.dim() == 2, "mm", "expected 2-D tensors, got shapes ", shape_str(a.shape()),
           " and ", shape_str(b.shape()));
  if (a.size(1) != b.size(0)) throw_cannot_multiply(a, b, "mm");
  Tensor out = matmul_forward(a, b, "mm");
  if (autograd::needs_grad({a, b})) {
    const bool ga = a.requires_grad(), gb = b.requires_grad();
    autograd::record("MmBackward", {a, b}, {out},
                     [a_ = SavedTensor(gb ? a : Tensor()), b_ = SavedTensor(ga ? b : Tensor()), ga,
                      gb](const std::vector<Tensor>& g) {
                       Tensor ra, rb;
                       if (ga) ra = mm(g[0], b_.unpack().t());
                       if (gb) rb = mm(a_.unpack().t(), g[0]);
                       return std::vector<Tensor>{ra, rb};
                     });
  }
  return out;
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  if (optimization::detail::AutocastCall ac{"bmm", a, b}) return bmm(ac[0], ac[1]);
  check_operands(a, b, "bmm");
  NA_CHECK(a.dim() == 3 && b.dim() == 3, "bmm", "expected 3-D tensors, got shapes ", shape_str(a.shape()),
           " and ", shape_str(b.shape()));
  NA_CHECK(a.size(0) == b.size(0), "bmm", "batch sizes differ: shapes ", shape_str(a.shape()), " and ",
           shape_str(b.shape()));
  if (a.size(2) != b.size(1)) throw_cannot_multiply(a, b, "bmm");
  Tensor out = matmul_forward(a, b, "bmm");
  if (autograd::needs_grad({a, b})) {
    const bool ga = a.requires_grad(), gb = b.requires_grad();
    autograd::record("BmmBackward", {a, b}, {out},
                     [a_ = SavedTensor(gb ? a : Tensor()), b_ = SavedTensor(ga ? b : Tensor()), ga,
                      gb](const std::vector<Tensor>& g) {
                       Tensor ra, rb;
                       if (ga) ra = bmm(g[0], b_.unpack().transpose(1, 2));
                       if (gb) rb = bmm(a_.unpack().transpose(1, 2), g[0]);
                       return std::vector<Tensor>{ra, rb};
                     });
  }
  return out;
}

// ------------------------------------------------------------------ linear

namespace {

// out (..., out_features) = x (..., in) @ W^T + bias, with the bias added inside the GEMM.
template <class T> Tensor linear_forward(Tensor x, Tensor w, Tensor bias) {
  const int64_t in = w.size(1), outf = w.size(0);
  Shape out_shape(x.shape().begin(), x.shape().end() - 1);
  out_shape.push_back(outf);
  Tensor out = detail::make_tensor(out_shape, x.dtype());
  if (out.numel() == 0) return out;
  const int64_t rows = out.numel() / outf;
  auto rs = collapsed_stride(x, x.dim() - 1, in);
  auto lx = rs ? gemm_layout(rows, in, *rs, x.stride(-1)) : std::nullopt;
  if (!lx) {
    x = x.contiguous();
    lx = gemm_layout(rows, in, in, 1);
  }
  // op(B) = W^T (in × out): W row-major (out, in) is exactly W^T passed transposed.
  const MatLayout lw = layout_or_contiguous(w, in, outf, /*transposed=*/true);
  const T* pbias = nullptr;
  if (bias.defined()) {
    if (bias.stride(0) != 1 && outf > 1) bias = bias.contiguous();
    pbias = bias.data_ptr<T>();
  }
  cpu::gemm(lx->trans, lw.trans, rows, outf, in, x.data_ptr<T>(), lx->ld, w.data_ptr<T>(), lw.ld,
            out.data_ptr<T>(), outf, T(0), pbias);
  return out;
}

}  // namespace

namespace {

// mixed: the dtypes may differ (autocast computes them all in one dtype); they must be floating.
void check_linear(const Tensor& x, const Tensor& weight, const Tensor& bias, bool mixed = false) {
  if (mixed) {
    for (const Tensor* t : {&x, &weight, &bias})
      NA_CHECK(!t->defined() || is_floating(t->dtype()), "linear", "expected floating tensors, got ",
               dtype_name(t->dtype()));
    NA_CHECK(x.device().is_cpu() && weight.device().is_cpu(), "linear", "only CPU tensors are supported");
  } else {
    check_operands(x, weight, "linear");
    if (bias.defined()) check_operands(x, bias, "linear");
  }
  NA_CHECK(weight.dim() == 2, "linear", "weight must be 2-D (out_features, in_features), got shape ",
           shape_str(weight.shape()));
  NA_CHECK(x.dim() >= 1, "linear", "input must be at least 1-D, got shape ", shape_str(x.shape()));
  NA_CHECK(x.size(-1) == weight.size(1), "linear", "input shape ", shape_str(x.shape()), " and weight shape ",
           shape_str(weight.shape()), " cannot be multiplied: in_features is ", weight.size(1),
           " but the input's last dim is ", x.size(-1));
  if (bias.defined()) {
    NA_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0), "linear", "bias must have shape (",
             weight.size(0), ",) to match weight shape ", shape_str(weight.shape()), ", got ",
             shape_str(bias.shape()));
  }
}

// a (M, K) @ b (K, N), both bf16 and 2-D, into a new f32 tensor: oneDNN writes its f32
// accumulators without rounding them to bf16. Not recorded in autograd.
Tensor mm_bf16_to_f32(Tensor a, Tensor b) {
  const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  Tensor out = detail::make_tensor({M, N}, DType::f32);
  if (out.numel() == 0) return out;
  const MatLayout la = layout_or_contiguous(a, M, K), lb = layout_or_contiguous(b, K, N);
  cpu::gemm(la.trans, lb.trans, M, N, K, a.data_ptr<BFloat16>(), la.ld, b.data_ptr<BFloat16>(), lb.ld,
            out.data_ptr<float>(), N);
  return out;
}

// linear computed in dtype ct whatever the inputs' (floating) dtypes: the inputs are cast for the
// GEMM only, backward keeps the originals and casts again, and each gradient comes back in its
// input's dtype. Under autocast this is cast-then-linear without the bf16 copy of W living
// from forward to backward (the cast copy of a 1024x1024 weight is as big as 8 rows of
// activations per layer).
Tensor linear_in(const Tensor& x, const Tensor& weight, const Tensor& bias, DType ct) {
  Tensor out;
  {
    NoGradGuard no_grad;
    const DType gt = gemm_type(ct);
    Tensor xc = ops::cast(x, gt), wc = ops::cast(weight, gt),
           bc = bias.defined() ? ops::cast(bias, gt) : Tensor();
    out = gt == DType::f64    ? linear_forward<double>(xc, wc, bc)
          : gt == DType::bf16 ? linear_forward<BFloat16>(xc, wc, bc)
                              : linear_forward<float>(xc, wc, bc);
    out = ops::cast(out, ct);
  }
  if (autograd::needs_grad({x, weight, bias})) {
    const bool gx = x.requires_grad(), gw = weight.requires_grad(),
               gbias = bias.defined() && bias.requires_grad();
    autograd::record(
        "LinearBackward", {x, weight, bias}, {out},
        [x_ = SavedTensor(gw ? x : Tensor()), w_ = SavedTensor(gx ? weight : Tensor()), gx, gw, gbias,
         in = weight.size(1), outf = weight.size(0), ct, tx = x.dtype(), tw = weight.dtype(),
         tb = bias.defined() ? bias.dtype() : ct](const std::vector<Tensor>& g) {
          const Tensor& gy = g[0];
          Tensor rx, rw, rb;
          if (gx) rx = matmul(gy, w_.unpack().to(ct)).to(tx);
          // Leading dims flattened: grad_W is one GEMM over all rows.
          // Explicit row counts: reshape cannot infer -1 when a dim is 0.
          int64_t rows = 1;
          for (int64_t d = 0; d + 1 < gy.dim(); ++d) rows *= gy.size(d);
          Tensor g2 = gy.reshape({rows, outf});
          if (gw) {
            Tensor xx = x_.unpack().to(ct).reshape({rows, in});
            // bf16 operands for an f32 weight (autocast): the GEMM writes f32 directly,
            // so the gradient is not rounded to bf16 on its way to the f32 parameter.
            rw = ct == DType::bf16 && tw == DType::f32 && g2.dtype() == DType::bf16
                     ? mm_bf16_to_f32(g2.t(), xx)
                     : mm(g2.t(), xx).to(tw);
          }
          if (gbias) rb = sum(g2, {0}).to(tb);
          return std::vector<Tensor>{rx, rw, rb};
        });
  }
  return out;
}

bool autocast_eligible(const Tensor& t) {
  return !t.defined() || t.dtype() == DType::f32 || t.dtype() == DType::f16 || t.dtype() == DType::bf16;
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  if (optimization::detail::AutocastCall ac{"linear"}) {
    if (!(autocast_eligible(x) && autocast_eligible(weight) && autocast_eligible(bias)))
      return linear(x, weight, bias);  // f64: autocast leaves it alone
    check_linear(x, weight, bias, /*mixed=*/true);
    return linear_in(x, weight, bias, ac.dtype());
  }
  check_linear(x, weight, bias);
  return linear_in(x, weight, bias, x.dtype());
}

// ------------------------------------------------------------------ outer

Tensor outer(const Tensor& a, const Tensor& b) {
  detail::check_defined(a, "outer", "first input");
  detail::check_defined(b, "outer", "second input");
  NA_CHECK(a.dim() == 1 && b.dim() == 1, "outer", "expected 1-D tensors, got shapes ", shape_str(a.shape()),
           " and ", shape_str(b.shape()));
  // A K=1 product is pure broadcasting: mul gives it exactly, with its dtype promotion and
  // backward.
  return mul(a.unsqueeze(1), b.unsqueeze(0));
}

}  // namespace neural_arch
