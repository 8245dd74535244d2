// Losses composed from differentiable ops (PyTorch's formulas, including its choices for the
// normalisation of weighted means, label smoothing with ignored targets and log clamping).
// cross_entropy on f32/f64 logits runs a fused kernel instead (log-softmax and NLL in one pass
// per row; backward softmax − target from the saved logits and per-row log-sum-exp, with no stored
// probability tensor); its composition below stays as reference and double-backward path.
#include "neural_arch/functional/loss.hpp"

#include <cmath>
#include <memory>
#include <vector>

#include "autograd/function.hpp"
#include "backends/cpu/nn_kernels.hpp"
#include "core/factory.hpp"
#include "functional/composed_grad.hpp"
#include "neural_arch/autograd.hpp"
#include "neural_arch/functional/fused.hpp"
#include "neural_arch/ops.hpp"
#include "optimization/autocast_hook.hpp"

namespace neural_arch::functional {

namespace {

enum class Reduction { none, mean, sum, batchmean };

Reduction parse_reduction(const std::string& r, const char* op, bool allow_batchmean = false) {
  if (r == "none") return Reduction::none;
  if (r == "mean") return Reduction::mean;
  if (r == "sum") return Reduction::sum;
  if (r == "batchmean" && allow_batchmean) return Reduction::batchmean;
  detail::throw_error(op, "reduction must be ",
                      allow_batchmean ? "'none', 'mean', 'sum' or 'batchmean'" : "'none', 'mean' or 'sum'",
                      ", got '", r, "'");
}

Tensor reduce(const Tensor& loss, Reduction r) {
  switch (r) {
    case Reduction::none: return loss;
    case Reduction::sum: return loss.sum();
    case Reduction::mean: return loss.mean();
    case Reduction::batchmean:
      return loss.dim() == 0 ? loss.sum() : loss.sum() / static_cast<double>(loss.size(0));
  }
  return loss;
}

void check_float(const Tensor& t, const char* op, const char* what) {
  detail::check_defined(t, op, what);
  NA_CHECK(is_floating(t.dtype()), op, "expected a floating ", what, ", got ", dtype_name(t.dtype()));
}

// Checks that a and b broadcast (PyTorch's elementwise losses allow it) before any op runs, so
// the error names the loss.
void check_broadcast(const Tensor& a, const char* an, const Tensor& b, const char* bn, const char* op) {
  const size_t n = std::max(a.shape().size(), b.shape().size());
  for (size_t i = 0; i < n; ++i) {
    const int64_t x = i < a.shape().size() ? a.shape()[a.shape().size() - 1 - i] : 1;
    const int64_t y = i < b.shape().size() ? b.shape()[b.shape().size() - 1 - i] : 1;
    NA_CHECK(x == y || x == 1 || y == 1, op, an, " of shape ", shape_str(a.shape()), " and ", bn,
             " of shape ", shape_str(b.shape()), " cannot be broadcast together");
  }
}

// Checks of the elementwise losses: a floating input and a target that broadcasts with it.
void check_elementwise(const Tensor& input, const Tensor& target, const char* op) {
  check_float(input, op, "input");
  detail::check_defined(target, op, "target");
  check_broadcast(input, "input", target, "target", op);
}

// Checks of the binary cross-entropies: floating input and target of one shape.
void check_binary_target(const Tensor& input, const Tensor& target, const char* op) {
  check_float(input, op, "input");
  check_float(target, op, "target");
  NA_CHECK(target.shape() == input.shape(), op, "expected target of the input's shape ",
           shape_str(input.shape()), ", got shape ", shape_str(target.shape()));
}

// An optional floating weight (`name`) that broadcasts with the input.
void check_optional_weight(const Tensor& input, const Tensor& weight, const char* name, const char* op) {
  if (!weight.defined()) return;
  check_float(weight, op, name);
  check_broadcast(input, "input", weight, name, op);
}

// ------------------------------------------------------------------ class-index targets

struct ClassTargets {
  Tensor index;  // int64, the target with ignored entries replaced by class 0 (a valid gather index)
  Tensor mask;   // input dtype, 1 for counted entries and 0 for ignored ones
  bool any_ignored = false;
};

int64_t class_dim_of(const Tensor& input) { return input.dim() == 1 ? 0 : 1; }

void check_class_input(const Tensor& input, const char* op) {
  check_float(input, op, "input");
  NA_CHECK(input.dim() >= 1, op, "expected input of shape (C), (N, C) or (N, C, d1, ...), got shape ",
           shape_str(input.shape()));
}

void check_class_weight(const Tensor& weight, const Tensor& input, const char* op) {
  if (!weight.defined()) return;
  const int64_t C = input.size(class_dim_of(input));
  NA_CHECK(is_floating(weight.dtype()) && weight.dim() == 1 && weight.size(0) == C, op,
           "expected a floating class weight of shape ", shape_str({C}), " for input of shape ",
           shape_str(input.shape()), ", got ", dtype_name(weight.dtype()), " of shape ",
           shape_str(weight.shape()));
}

// Validates class-index targets (every value in [0, C) or ignore_index) and builds the safe
// index and the mask.
ClassTargets class_targets(const Tensor& input, const Tensor& target, int64_t ignore_index, const char* op) {
  NA_CHECK(is_integral(target.dtype()), op, "expected class-index targets of an integer dtype, got ",
           dtype_name(target.dtype()));
  const int64_t cd = class_dim_of(input);
  const int64_t C = input.size(cd);
  Shape want = input.shape();
  want.erase(want.begin() + cd);
  NA_CHECK(target.shape() == want, op, "expected target of shape ", shape_str(want), " for input of shape ",
           shape_str(input.shape()), ", got target of shape ", shape_str(target.shape()));
  NoGradGuard no_grad;
  const std::vector<int64_t> t = target.to_vector<int64_t>();
  ClassTargets ct;
  ct.index = detail::make_tensor(want, DType::i64);
  Tensor mask = detail::make_tensor(want, DType::f64);
  int64_t* ip = ct.index.data_ptr<int64_t>();
  double* mp = mask.data_ptr<double>();
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] == ignore_index) {
      ip[i] = 0;
      mp[i] = 0.0;
      ct.any_ignored = true;
      continue;
    }
    NA_CHECK(t[i] >= 0 && t[i] < C, op, "target ", t[i], " is out of bounds for ", C,
             " classes (at position ", i, " of target shape ", shape_str(target.shape()), ")");
    ip[i] = t[i];
    mp[i] = 1.0;
  }
  ct.mask = mask.to(input.dtype());
  return ct;
}

// The per-entry weight w[t] (0 for ignored entries).
Tensor target_weights(const ClassTargets& ct, const Tensor& weight, const Tensor& input) {
  if (!weight.defined()) return ct.mask;
  Tensor w = index_select(weight.to(input.dtype()), 0, ct.index.reshape({ct.index.numel()}))
                 .reshape(ct.index.shape());
  return ct.any_ignored ? w * ct.mask : w;
}

// -w[t] * logp[t] reduced as PyTorch's nll_loss (weighted mean for "mean").
Tensor nll_from_log_probs(const Tensor& logp, const ClassTargets& ct, const Tensor& weight, Reduction r) {
  const int64_t cd = class_dim_of(logp);
  Tensor picked = gather(logp, cd, ct.index.unsqueeze(cd)).squeeze(cd);
  Tensor wt = target_weights(ct, weight, logp);
  Tensor loss = -(picked * wt);
  if (r == Reduction::mean) return loss.sum() / wt.sum();
  return reduce(loss, r);
}

// Broadcast shape of a (C) class weight against an input with classes along dim cd.
Tensor class_weight_view(const Tensor& weight, const Tensor& input) {
  const int64_t cd = class_dim_of(input);
  Shape s(static_cast<size_t>(input.dim()), 1);
  s[static_cast<size_t>(cd)] = input.size(cd);
  return weight.to(input.dtype()).reshape(s);
}

}  // namespace

// ------------------------------------------------------------------ public losses

Tensor nll_loss(const Tensor& input, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                const std::string& reduction) {
  if (optimization::detail::AutocastCall ac{"nll_loss", input, weight})
    return nll_loss(ac[0], target, ac[1], ignore_index, reduction);
  const char* op = "nll_loss";
  check_class_input(input, op);
  detail::check_defined(target, op, "target");
  check_class_weight(weight, input, op);
  const Reduction r = parse_reduction(reduction, op);
  const ClassTargets ct = class_targets(input, target, ignore_index, op);
  return nll_from_log_probs(input, ct, weight, r);
}

namespace {

// cross_entropy's composition (PyTorch's formulas through log_softmax); arguments checked.
Tensor cross_entropy_composed(const Tensor& input, const Tensor& target, const Tensor& weight,
                              int64_t ignore_index, Reduction r, double label_smoothing) {
  const char* op = "cross_entropy";
  const int64_t cd = class_dim_of(input);
  const int64_t C = input.size(cd);
  Tensor logp = log_softmax(input, cd);

  if (is_floating(target.dtype())) {  // class probabilities
    Tensor t = target.to(input.dtype());
    if (label_smoothing > 0.0) t = t * (1.0 - label_smoothing) + label_smoothing / static_cast<double>(C);
    Tensor prod = logp * t;
    if (weight.defined()) prod = prod * class_weight_view(weight, input);
    Tensor loss = -prod.sum({cd});
    if (r == Reduction::mean) return loss.sum() / static_cast<double>(C > 0 ? input.numel() / C : 0);
    return reduce(loss, r);
  }

  const ClassTargets ct = class_targets(input, target, ignore_index, op);
  Tensor nll = nll_from_log_probs(logp, ct, weight, r);
  if (label_smoothing == 0.0) return nll;

  // PyTorch: (1 - eps) * nll + eps / C * smooth, where smooth is the (weighted) sum of -logp over
  // classes, zero at ignored entries, and its mean is normalised like nll's.
  Tensor smooth = -(weight.defined() ? logp * class_weight_view(weight, input) : logp).sum({cd});
  if (ct.any_ignored) smooth = smooth * ct.mask;
  Tensor ret;
  if (r == Reduction::mean)
    ret = smooth.sum() / target_weights(ct, weight, input).sum();
  else
    ret = reduce(smooth, r);
  return nll * (1.0 - label_smoothing) + ret * (label_smoothing / static_cast<double>(C));
}

// What the fused backward needs besides the logits and lse: per-row target index (-1 ignored or
// none) and target weight, and the constants of the loss.
struct CeState {
  int64_t rows = 0, C = 0;
  std::vector<int64_t> tgt;  // class-index targets
  std::vector<double> wt;    // w[t] (class index) or sum_c w_c t_c (probabilities), per row
  double W = 0;              // sum of class weights (C without weights)
  double eps = 0;            // label smoothing
  double denom = 1;          // the mean's divisor
  Reduction r = Reduction::mean;
  bool probs = false;
  Shape loss_shape;  // per-row loss shape (reduction "none")
};

template <class T>
void ce_forward_rows(const Tensor& x, const Tensor& w, const Tensor& t, const Tensor& lse, CeState& st,
                     std::vector<double>& wx, std::vector<double>& wtx) {
  cpu::nn_kernels_for<T>().ce_forward(x.data_ptr<T>(), st.rows, st.C, w.defined() ? w.data_ptr<T>() : nullptr,
                                      t.defined() ? t.data_ptr<T>() : nullptr, lse.data_ptr<T>(),
                                      wx.empty() ? nullptr : wx.data(), wtx.empty() ? nullptr : wtx.data(),
                                      st.probs ? st.wt.data() : nullptr);
}

template <class T>
Tensor ce_backward_rows(const Tensor& x, const Tensor& w, const Tensor& t, const Tensor& lse,
                        const CeState& st, const std::vector<double>& a, const std::vector<double>& s,
                        const std::vector<double>& p, const std::vector<double>& d) {
  Tensor gx = detail::make_tensor(x.shape(), x.dtype());
  cpu::nn_kernels_for<T>().ce_backward(
      gx.data_ptr<T>(), x.data_ptr<T>(), lse.data_ptr<T>(), st.rows, st.C,
      w.defined() ? w.data_ptr<T>() : nullptr, t.defined() ? t.data_ptr<T>() : nullptr,
      st.probs ? nullptr : st.tgt.data(), a.data(), st.eps > 0 ? s.data() : nullptr,
      st.probs ? p.data() : nullptr, st.probs ? nullptr : d.data());
  return gx;
}

// (N, C, d1, ...) -> (N, d1, ..., C) and back.
Tensor classes_last(const Tensor& t) {
  std::vector<int64_t> perm{0};
  for (int64_t d = 2; d < t.dim(); ++d) perm.push_back(d);
  perm.push_back(1);
  return t.permute(perm);
}
Tensor classes_second(const Tensor& t) {
  std::vector<int64_t> perm{0, t.dim() - 1};
  for (int64_t d = 1; d < t.dim() - 1; ++d) perm.push_back(d);
  return t.permute(perm);
}

// The logits as contiguous (rows, C) with classes last.
Tensor class_rows(const Tensor& input) {
  const int64_t cd = class_dim_of(input);
  Tensor x = input.dim() > 2 ? classes_last(input) : input;
  return x.contiguous().reshape({x.numel() / std::max<int64_t>(1, input.size(cd)), input.size(cd)});
}

Tensor cross_entropy_fused(const Tensor& input, const Tensor& target, const Tensor& weight,
                           int64_t ignore_index, Reduction r, double ls) {
  const char* op = "cross_entropy";
  const int64_t cd = class_dim_of(input);
  auto st = std::make_shared<CeState>();
  st->C = input.size(cd);
  st->eps = ls;
  st->r = r;
  st->probs = is_floating(target.dtype());
  Tensor x, w, t;
  {
    NoGradGuard ng;
    x = class_rows(input);
    w = weight.defined() ? weight.to(input.dtype()).contiguous() : Tensor();
    if (st->probs) {
      NA_CHECK(target.shape() == input.shape(), op, "expected probability targets of the input's shape ",
               shape_str(input.shape()), ", got shape ", shape_str(target.shape()));
      t = class_rows(target.to(input.dtype()));
    }
  }
  st->rows = x.size(0);
  st->loss_shape = input.shape();
  st->loss_shape.erase(st->loss_shape.begin() + cd);
  const int64_t rows = st->rows, C = st->C;
  st->W = static_cast<double>(C);
  if (w.defined()) {
    NoGradGuard ng;
    st->W = w.to(DType::f64).sum().item();
  }
  if (!st->probs) {  // validate the class indices (as class_targets does) and keep them per row
    Shape want = st->loss_shape;
    NA_CHECK(is_integral(target.dtype()), op, "expected class-index targets of an integer dtype, got ",
             dtype_name(target.dtype()));
    NA_CHECK(target.shape() == want, op, "expected target of shape ", shape_str(want), " for input of shape ",
             shape_str(input.shape()), ", got target of shape ", shape_str(target.shape()));
    st->tgt = target.to_vector<int64_t>();
    st->wt.assign(static_cast<size_t>(rows), 0.0);
    std::vector<double> wv = w.defined() ? w.to(DType::f64).to_vector<double>() : std::vector<double>();
    for (size_t i = 0; i < st->tgt.size(); ++i) {
      const int64_t c = st->tgt[i];
      if (c == ignore_index) {
        st->tgt[i] = -1;
        continue;
      }
      NA_CHECK(c >= 0 && c < C, op, "target ", c, " is out of bounds for ", C, " classes (at position ", i,
               " of target shape ", shape_str(target.shape()), ")");
      st->wt[i] = wv.empty() ? 1.0 : wv[static_cast<size_t>(c)];
    }
  } else {
    st->wt.assign(static_cast<size_t>(rows), 0.0);
  }
  Tensor lse = detail::make_tensor({rows}, x.dtype());
  std::vector<double> wx(ls > 0 ? static_cast<size_t>(rows) : 0),
      wtx(st->probs ? static_cast<size_t>(rows) : 0);
  if (x.dtype() == DType::f32)
    ce_forward_rows<float>(x, w, t, lse, *st, wx, wtx);
  else
    ce_forward_rows<double>(x, w, t, lse, *st, wx, wtx);

  // Per-row losses in double (C-length work is done; this is O(rows)).
  std::vector<double> loss(static_cast<size_t>(rows));
  double total = 0, wsum = 0;
  const double keep = 1.0 - ls, spread = ls / static_cast<double>(C);
  {
    const bool f32 = x.dtype() == DType::f32;
    for (int64_t i = 0; i < rows; ++i) {
      const double l = f32 ? lse.data_ptr<float>()[i] : lse.data_ptr<double>()[i];
      double v;
      if (st->probs) {
        v = keep * (st->wt[i] * l - wtx[i]);
        if (ls > 0) v += spread * (st->W * l - wx[i]);
      } else if (st->tgt[i] < 0) {
        v = 0;
      } else {
        const double xt =
            f32 ? x.data_ptr<float>()[i * C + st->tgt[i]] : x.data_ptr<double>()[i * C + st->tgt[i]];
        v = st->wt[i] * (l - xt);
        if (ls > 0) v = keep * v + spread * (st->W * l - wx[i]);
        wsum += st->wt[i];
      }
      loss[i] = v;
      total += v;
    }
  }
  st->denom = st->probs ? static_cast<double>(rows) : wsum;
  Tensor out;
  {
    NoGradGuard ng;
    if (r == Reduction::none)
      out = tensor(loss, st->loss_shape, TensorOptions(DType::f64)).to(input.dtype());
    else
      out = full({}, r == Reduction::sum ? total : total / st->denom, TensorOptions(input.dtype()));
    out = out.detach();
  }
  if (autograd::needs_grad({input})) {
    using autograd::SavedTensor;
    autograd::record("CrossEntropyBackward", {input}, {out},
                     [in_ = SavedTensor(input), tg_ = SavedTensor(target), wt_ = SavedTensor(weight), w, t,
                      lse, st, ignore_index](const std::vector<Tensor>& g) {
                       Tensor in = in_.unpack();
                       if (is_grad_enabled()) {
                         Tensor tgt = tg_.unpack(), wgt = wt_.defined() ? wt_.unpack() : Tensor();
                         const Reduction red = st->r;
                         const double eps = st->eps;
                         return composed_grad(
                             [&](const std::vector<Tensor>& v) {
                               return cross_entropy_composed(v[0], tgt, wgt, ignore_index, red, eps);
                             },
                             {in}, g[0]);
                       }
                       Tensor x = class_rows(in);
                       const int64_t rows = st->rows;
                       std::vector<double> gr(static_cast<size_t>(rows));
                       if (st->r == Reduction::none) {
                         Tensor gd = g[0].to(DType::f64).contiguous();
                         const double* gp = gd.data_ptr<double>();
                         for (int64_t i = 0; i < rows; ++i) gr[i] = gp[i];
                       } else {
                         const double g0 = g[0].to(DType::f64).item();
                         std::fill(gr.begin(), gr.end(), st->r == Reduction::sum ? g0 : g0 / st->denom);
                       }
                       const double keep = 1.0 - st->eps, spread = st->eps / static_cast<double>(st->C);
                       std::vector<double> a(gr.size()), s(gr.size()), p(st->probs ? gr.size() : 0),
                           d(st->probs ? 0 : gr.size());
                       for (int64_t i = 0; i < rows; ++i) {
                         const bool ignored = !st->probs && st->tgt[i] < 0;
                         a[i] = ignored ? 0.0 : gr[i] * (keep * st->wt[i] + spread * st->W);
                         s[i] = ignored ? 0.0 : gr[i] * spread;
                         if (st->probs)
                           p[i] = gr[i] * keep;
                         else
                           d[i] = ignored ? 0.0 : gr[i] * keep * st->wt[i];
                       }
                       Tensor gx = x.dtype() == DType::f32
                                       ? ce_backward_rows<float>(x, w, t, lse, *st, a, s, p, d)
                                       : ce_backward_rows<double>(x, w, t, lse, *st, a, s, p, d);
                       // back to the input's layout: (rows, C) -> (N, d1.., C) -> classes at dim cd
                       Shape moved = st->loss_shape;
                       moved.push_back(st->C);
                       gx = gx.reshape(moved);
                       if (in.dim() > 2) gx = classes_second(gx).contiguous();
                       return std::vector<Tensor>{gx};
                     });
  }
  return out;
}

}  // namespace

Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                     const std::string& reduction, double label_smoothing) {
  if (optimization::detail::AutocastCall ac{"cross_entropy", input, target, weight})
    return cross_entropy(ac[0], ac[1], ac[2], ignore_index, reduction, label_smoothing);
  const char* op = "cross_entropy";
  check_class_input(input, op);
  detail::check_defined(target, op, "target");
  check_class_weight(weight, input, op);
  const Reduction r = parse_reduction(reduction, op);
  NA_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0, op,
           "label_smoothing must be between 0.0 and 1.0, got ", label_smoothing);
  if (is_floating(target.dtype()))
    NA_CHECK(target.shape() == input.shape(), op, "expected probability targets of the input's shape ",
             shape_str(input.shape()), ", got shape ", shape_str(target.shape()));
  // The fused kernel gives the input gradient only: weights or probability targets that need
  // gradients take the composition.
  const bool fused = fused_kernels_enabled() &&
                     (input.dtype() == DType::f32 || input.dtype() == DType::f64) && input.numel() > 0 &&
                     !(weight.defined() && weight.requires_grad() && is_grad_enabled()) &&
                     !(is_floating(target.dtype()) && target.requires_grad() && is_grad_enabled());
  if (fused) return cross_entropy_fused(input, target, weight, ignore_index, r, label_smoothing);
  return cross_entropy_composed(input, target, weight, ignore_index, r, label_smoothing);
}

Tensor mse_loss(const Tensor& input, const Tensor& target, const std::string& reduction) {
  if (optimization::detail::AutocastCall ac{"mse_loss", input, target})
    return mse_loss(ac[0], ac[1], reduction);
  const char* op = "mse_loss";
  check_elementwise(input, target, op);
  const Reduction r = parse_reduction(reduction, op);
  Tensor d = input - target;
  return reduce(d * d, r);
}

Tensor l1_loss(const Tensor& input, const Tensor& target, const std::string& reduction) {
  if (optimization::detail::AutocastCall ac{"l1_loss", input, target})
    return l1_loss(ac[0], ac[1], reduction);
  const char* op = "l1_loss";
  check_elementwise(input, target, op);
  const Reduction r = parse_reduction(reduction, op);
  return reduce(abs(input - target), r);
}

Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, const std::string& reduction, double beta) {
  if (optimization::detail::AutocastCall ac{"smooth_l1_loss", input, target})
    return smooth_l1_loss(ac[0], ac[1], reduction, beta);
  const char* op = "smooth_l1_loss";
  check_elementwise(input, target, op);
  NA_CHECK(beta >= 0.0, op, "beta must be non-negative, got ", beta);
  const Reduction r = parse_reduction(reduction, op);
  Tensor d = abs(input - target);
  if (beta == 0.0) return reduce(d, r);
  return reduce(where(d < beta, d * d * (0.5 / beta), d - 0.5 * beta), r);
}

Tensor huber_loss(const Tensor& input, const Tensor& target, const std::string& reduction, double delta) {
  if (optimization::detail::AutocastCall ac{"huber_loss", input, target})
    return huber_loss(ac[0], ac[1], reduction, delta);
  const char* op = "huber_loss";
  check_elementwise(input, target, op);
  NA_CHECK(delta > 0.0, op, "delta must be positive, got ", delta);
  const Reduction r = parse_reduction(reduction, op);
  Tensor d = abs(input - target);
  return reduce(where(d < delta, d * d * 0.5, (d - 0.5 * delta) * delta), r);
}

Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight,
                            const std::string& reduction) {
  if (optimization::detail::AutocastCall ac{"binary_cross_entropy", input, target, weight})
    return binary_cross_entropy(ac[0], ac[1], ac[2], reduction);
  const char* op = "binary_cross_entropy";
  check_binary_target(input, target, op);
  check_optional_weight(input, weight, "weight", op);
  const Reduction r = parse_reduction(reduction, op);
  if (input.numel() > 0) {
    NoGradGuard no_grad;
    const double lo = input.min().item(), hi = input.max().item();
    NA_CHECK(lo >= 0.0 && hi <= 1.0, op, "all elements of input should be between 0 and 1, got values in [",
             lo, ", ", hi, "]");
  }
  // log is clamped at -100 so that a probability of exactly 0 or 1 gives a finite loss.
  Tensor log_x = clamp(log(input), -100.0, std::nullopt);
  Tensor log_1mx = clamp(log(1.0 - input), -100.0, std::nullopt);
  Tensor loss = -(target * log_x + (1.0 - target) * log_1mx);
  if (weight.defined()) loss = loss * weight;
  return reduce(loss, r);
}

Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, const Tensor& weight,
                                        const std::string& reduction, const Tensor& pos_weight) {
  if (optimization::detail::AutocastCall ac{"binary_cross_entropy_with_logits", input, target, weight,
                                            pos_weight})
    return binary_cross_entropy_with_logits(ac[0], ac[1], ac[2], reduction, ac[3]);
  const char* op = "binary_cross_entropy_with_logits";
  check_binary_target(input, target, op);
  check_optional_weight(input, weight, "weight", op);
  check_optional_weight(input, pos_weight, "pos_weight", op);
  const Reduction r = parse_reduction(reduction, op);
  // softplus(-x) = log(1 + exp(-x)) = -log(sigmoid(x)), evaluated without overflow for any x.
  Tensor sp = softplus(-input);
  Tensor loss = pos_weight.defined() ? (1.0 - target) * input + (1.0 + (pos_weight - 1.0) * target) * sp
                                     : (1.0 - target) * input + sp;
  if (weight.defined()) loss = loss * weight;
  return reduce(loss, r);
}

Tensor kl_div(const Tensor& input, const Tensor& target, const std::string& reduction, bool log_target) {
  if (optimization::detail::AutocastCall ac{"kl_div", input, target})
    return kl_div(ac[0], ac[1], reduction, log_target);
  const char* op = "kl_div";
  check_float(input, op, "input");
  check_float(target, op, "target");
  check_broadcast(input, "input", target, "target", op);
  const Reduction r = parse_reduction(reduction, op, /*allow_batchmean=*/true);
  Tensor loss;
  if (log_target) {
    loss = exp(target) * (target - input);
  } else {
    // target * log(target) is 0 at target == 0; log of 1 there keeps value and gradient finite.
    Tensor positive = target > 0.0;
    Tensor safe = where(positive, target, ones_like(target));
    loss = target * log(safe) - target * input;
  }
  if (r == Reduction::batchmean && input.dim() > 0) return loss.sum() / static_cast<double>(input.size(0));
  return reduce(loss, r);
}

}  // namespace neural_arch::functional
