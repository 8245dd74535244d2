// Reductions over any set of dims with keepdim: sum mean var std prod max min argmax argmin
// logsumexp. Results are independent of the thread count: rows are split across threads,
// never the elements of one output.
#include <algorithm>
#include <cmath>

#include "autograd/function.hpp"
#include "backends/cpu/parallel.hpp"
#include "core/factory.hpp"
#include "neural_arch/ops.hpp"
#include "ops/elementwise.hpp"
#include "optimization/autocast_hook.hpp"

namespace neural_arch {

using autograd::SavedTensor;
using cpu::ReduceOp;
using Grads = std::vector<Tensor>;

namespace {

std::vector<bool> reduced_mask(const Tensor& x, const std::vector<int64_t>& dims, const char* op) {
  std::vector<bool> mask(x.dim(), dims.empty());
  for (auto d : dims) {
    int64_t w = detail::wrap_dim(d, x.dim(), op);
    if (x.dim() == 0) continue;  // a 0-d tensor accepts dim 0 / -1 and reduces nothing
    NA_CHECK(!mask[w] || dims.empty(), op, "dim ", d, " appears multiple times in the list of dims");
    mask[w] = true;
  }
  return mask;
}

Shape reduced_shape(const Tensor& x, const std::vector<bool>& mask, bool keepdim) {
  Shape s;
  for (int64_t i = 0; i < x.dim(); ++i) {
    if (!mask[i])
      s.push_back(x.size(i));
    else if (keepdim)
      s.push_back(1);
  }
  return s;
}

// Kernel-level reduction; x must have a dtype the kernel table supports for `op`.
Tensor reduce_raw(ReduceOp op, const Tensor& x, const std::vector<bool>& mask, bool keepdim,
                  const char* name) {
  Shape keep_shape = reduced_shape(x, mask, true);
  Shape out_shape = reduced_shape(x, mask, keepdim);
  int64_t rcount = 1;
  for (int64_t i = 0; i < x.dim(); ++i)
    if (mask[i]) rcount *= x.size(i);
  Tensor out = detail::make_tensor(keep_shape, x.dtype());
  if (rcount == 0 || x.numel() == 0) {
    NA_CHECK(op == ReduceOp::sum || op == ReduceOp::prod || out.numel() == 0, name,
             "cannot reduce over a zero-size dimension (input shape ", shape_str(x.shape()), ")");
    out.fill_(op == ReduceOp::prod ? 1 : 0);
    return out.reshape(out_shape);
  }
  const auto& k = cpu::kernels();
  const int di = cpu::dtype_index(x.dtype());
  auto rows = k.reduce_rows[static_cast<int>(op)][di];
  auto cols = k.reduce_cols[static_cast<int>(op)][di];
  NA_CHECK(rows && cols, name, "not implemented for dtype ", dtype_name(x.dtype()));
  // Layout: reduced dims trailing -> row kernel; leading -> column kernel; else permute + copy.
  int64_t first_r = x.dim(), last_r = -1;
  for (int64_t i = 0; i < x.dim(); ++i)
    if (mask[i] && x.size(i) != 1) first_r = std::min(first_r, i), last_r = std::max(last_r, i);
  bool block = true;
  for (int64_t i = first_r; i <= last_r; ++i)
    if (!mask[i] && x.size(i) != 1) block = false;
  bool trailing = block, leading = block;
  for (int64_t i = last_r + 1; i < x.dim(); ++i)
    if (x.size(i) != 1) trailing = false;
  for (int64_t i = 0; i < first_r; ++i)
    if (x.size(i) != 1) leading = false;
  if (last_r < 0) trailing = true;  // only size-1 dims reduced
  Tensor src = x;
  if (!(x.is_contiguous() && (trailing || leading))) {
    std::vector<int64_t> perm;
    for (int64_t i = 0; i < x.dim(); ++i)
      if (!mask[i]) perm.push_back(i);
    for (int64_t i = 0; i < x.dim(); ++i)
      if (mask[i]) perm.push_back(i);
    NoGradGuard ng;
    src = x.permute(perm).contiguous();
    trailing = true;
  }
  const int64_t outer = out.numel();
  if (trailing) {
    rows(static_cast<char*>(out.raw_data()), static_cast<const char*>(src.raw_data()), outer, rcount);
  } else {
    char* o = static_cast<char*>(out.raw_data());
    const char* in = static_cast<const char*>(src.raw_data());
    cpu::parallel_for(0, outer, std::max<int64_t>(64, 32768 / rcount),
                      [&](int64_t b, int64_t e) { cols(o, in, rcount, outer, b, e); });
  }
  return out.reshape(out_shape);
}

// Gradient of a reduction, broadcast back to the input shape.
Tensor expand_back(const Tensor& g, const Shape& in, const std::vector<bool>& mask, bool keepdim) {
  Tensor r = g;
  if (!keepdim)
    for (size_t i = 0; i < mask.size(); ++i)
      if (mask[i]) r = r.unsqueeze(static_cast<int64_t>(i));
  return r.expand(in);
}

int64_t count_of(const Tensor& x, const std::vector<bool>& mask) {
  int64_t n = 1;
  for (int64_t i = 0; i < x.dim(); ++i)
    if (mask[i]) n *= x.size(i);
  return n;
}

DType sum_type(DType t) { return is_integral(t, true) ? DType::i64 : t; }

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim, std::optional<DType> dtype) {
  if (!dtype)  // an explicit dtype opts out of autocast
    if (optimization::detail::AutocastCall ac{"sum", x}) return sum(ac[0], dims, keepdim);
  detail::check_defined(x, "sum");
  auto mask = reduced_mask(x, dims, "sum");
  const DType rt = dtype ? *dtype : sum_type(x.dtype());
  Tensor out =
      ops::cast(reduce_raw(ReduceOp::sum, ops::cast(x, ops::opmath_type(rt)), mask, keepdim, "sum"), rt);
  if (autograd::needs_grad({x}))
    autograd::record("SumBackward", {x}, {out},
                     [in = x.shape(), mask, keepdim, t = x.dtype()](const Grads& g) {
                       return Grads{expand_back(g[0], in, mask, keepdim).to(t)};
                     });
  return out;
}

namespace {
// Composite reductions of f16/bf16 run on the f32-widened input (a recorded cast) and round once
// at the end, like the single-kernel ops (the "opmath" rule).
template <class F> Tensor in_opmath(const Tensor& x, F&& f) {
  const DType t = x.dtype(), ct = ops::opmath_type(t);
  return ct == t ? f(x) : f(x.to(ct)).to(t);
}
}  // namespace

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  if (optimization::detail::AutocastCall ac{"mean", x}) return mean(ac[0], dims, keepdim);
  detail::check_defined(x, "mean");
  NA_CHECK(is_floating(x.dtype()), "mean",
           "could not infer output dtype: input dtype must be floating point, got ", dtype_name(x.dtype()));
  auto mask = reduced_mask(x, dims, "mean");
  return in_opmath(
      x, [&](const Tensor& xc) { return sum(xc, dims, keepdim) / static_cast<double>(count_of(x, mask)); });
}

Tensor var(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction, bool keepdim) {
  if (optimization::detail::AutocastCall ac{"var", x}) return var(ac[0], dims, correction, keepdim);
  detail::check_defined(x, "var");
  NA_CHECK(is_floating(x.dtype()), "var", "expected a floating tensor, got ", dtype_name(x.dtype()));
  auto mask = reduced_mask(x, dims, "var");
  return in_opmath(x, [&](const Tensor& xc) {
    Tensor d = xc - mean(xc, dims, true);
    return sum(d * d, dims, keepdim) /
           static_cast<double>(std::max<int64_t>(0, count_of(x, mask) - correction));
  });
}

Tensor std(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction, bool keepdim) {
  if (optimization::detail::AutocastCall ac{"std", x}) return std(ac[0], dims, correction, keepdim);
  return in_opmath(x, [&](const Tensor& xc) { return sqrt(var(xc, dims, correction, keepdim)); });
}

Tensor prod(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  if (optimization::detail::AutocastCall ac{"prod", x}) return prod(ac[0], dim, keepdim);
  detail::check_defined(x, "prod");
  std::vector<int64_t> dims;
  if (dim) dims.push_back(*dim);
  auto mask = reduced_mask(x, dims, "prod");
  const DType rt = sum_type(x.dtype());
  Tensor out = ops::cast(
      reduce_raw(ReduceOp::prod, ops::cast(x, ops::opmath_type(rt)), mask, dim && keepdim, "prod"), rt);
  if (autograd::needs_grad({x}))
    autograd::record(
        "ProdBackward", {x}, {out},
        [x_ = SavedTensor(x), mask, keepdim = dim && keepdim, dims](const Grads& g) {
          // d/dx_i prod = prod of the others: out/x_i without zeros; with one zero only that
          // element gets the product of the rest; with two or more zeros everything is 0.
          Tensor v = x_.unpack();
          Tensor is_zero = eq(v, zeros_like(v));
          Tensor safe = where(is_zero, ones_like(v), v);
          Tensor p_nz = dims.empty() ? prod(safe).reshape(Shape(v.dim(), 1)) : prod(safe, dims[0], true);
          Tensor zc = sum(is_zero.to(v.dtype()), dims, true);
          Tensor no_zero = eq(zc, zeros_like(zc));
          Tensor one_zero = eq(zc, ones_like(zc));
          Tensor others = where(no_zero, p_nz / safe,
                                where(logical_and(is_zero, one_zero), p_nz.expand(v.shape()), zeros_like(v)));
          return Grads{expand_back(g[0], v.shape(), mask, keepdim) * others};
        });
  return out;
}

namespace {
Tensor minmax_all(const Tensor& x, bool is_max) {
  const char* name = is_max ? "max" : "min";
  detail::check_defined(x, name);
  NA_CHECK(x.numel() > 0, name, "operation does not have an identity; the input tensor is empty (shape ",
           shape_str(x.shape()), ")");
  NA_CHECK(x.dtype() != DType::boolean, name, "not implemented for bool tensors");
  std::vector<bool> mask(x.dim(), true);
  Tensor out = ops::cast(reduce_raw(is_max ? ReduceOp::max : ReduceOp::min,
                                    ops::cast(x, ops::opmath_type(x.dtype())), mask, false, name),
                         x.dtype());
  if (autograd::needs_grad({x}))
    autograd::record(is_max ? "MaxBackward" : "MinBackward", {x}, {out},
                     [x_ = SavedTensor(x), y_ = SavedTensor(out, true)](const Grads& g) {
                       // Ties share the gradient evenly; a NaN result shares it among the NaNs.
                       Tensor v = x_.unpack(), y = y_.unpack().expand(v.shape());
                       Tensor hit = logical_or(eq(v, y), logical_and(ne(v, v), ne(y, y))).to(v.dtype());
                       return Grads{hit * (g[0] / sum(hit))};
                     });
  return out;
}

ValuesIndices minmax_dim(const Tensor& x, int64_t dim, bool keepdim, bool is_max) {
  const char* name = is_max ? "max" : "min";
  detail::check_defined(x, name);
  NA_CHECK(x.dtype() != DType::boolean, name, "not implemented for bool tensors");
  int64_t d = detail::wrap_dim(dim, x.dim(), name);
  Tensor v = x.dim() == 0 ? x.reshape({1}) : x;
  if (x.dim() == 0) d = 0;
  NA_CHECK(v.size(d) > 0, name, "cannot reduce over a zero-size dimension ", d, " (shape ",
           shape_str(x.shape()), ")");
  const DType ct = ops::opmath_type(x.dtype());
  Tensor moved;
  {
    NoGradGuard ng;
    moved = ops::cast(v.transpose(d, -1).contiguous(), ct);
  }
  const int64_t inner = moved.size(-1), outer = moved.numel() / inner;
  Shape kshape = v.shape();
  kshape[d] = 1;
  Tensor idx = detail::make_tensor({outer}, DType::i64);
  Tensor val = detail::make_tensor({outer}, ct);
  auto kern =
      is_max ? cpu::kernels().argmax[cpu::dtype_index(ct)] : cpu::kernels().argmin[cpu::dtype_index(ct)];
  NA_CHECK(kern != nullptr, name, "not implemented for dtype ", dtype_name(x.dtype()));
  kern(idx.data_ptr<int64_t>(), static_cast<char*>(val.raw_data()),
       static_cast<const char*>(moved.raw_data()), outer, inner);
  // moved has dim d swapped to the end; swap back in the kept shape.
  Shape mshape = moved.shape();
  mshape.back() = 1;
  Tensor values = ops::cast(val, x.dtype()).reshape(mshape).transpose(d, -1).contiguous().reshape(kshape);
  Tensor indices = idx.reshape(mshape).transpose(d, -1).contiguous().reshape(kshape);
  if (!keepdim && x.dim() > 0) {
    values = values.squeeze(d);
    indices = indices.squeeze(d);
  }
  if (x.dim() == 0) {
    values = values.reshape({});
    indices = indices.reshape({});
  }
  values = values.detach();
  if (autograd::needs_grad({x}))
    autograd::record(
        is_max ? "MaxDimBackward" : "MinDimBackward", {x}, {values},
        [in = x.shape(), idx_ = SavedTensor(indices), d, keepdim, scalar = x.dim() == 0](const Grads& g) {
          if (scalar) return Grads{g[0]};
          Tensor ind = idx_.unpack(), gg = g[0];
          if (!keepdim) {
            ind = ind.unsqueeze(d);
            gg = gg.unsqueeze(d);
          }
          // One-hot of the chosen index along d: only that element gets the gradient.
          Shape ashape(in.size(), 1);
          ashape[d] = in[d];
          Tensor positions = arange(in[d]).reshape(ashape);
          Tensor hit = eq(positions, ind).to(gg.dtype());
          return Grads{hit * gg};
        });
  return {values, indices};
}
}  // namespace

Tensor max(const Tensor& x) { return minmax_all(x, true); }
Tensor min(const Tensor& x) { return minmax_all(x, false); }
ValuesIndices max(const Tensor& x, int64_t dim, bool keepdim) { return minmax_dim(x, dim, keepdim, true); }
ValuesIndices min(const Tensor& x, int64_t dim, bool keepdim) { return minmax_dim(x, dim, keepdim, false); }

Tensor argmax(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  if (!dim) {
    Tensor r = minmax_dim(x.detach().reshape({-1}), 0, false, true).indices;
    return keepdim ? r.reshape(Shape(x.dim(), 1)) : r;
  }
  return minmax_dim(x.detach(), *dim, keepdim, true).indices;
}

Tensor argmin(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  if (!dim) {
    Tensor r = minmax_dim(x.detach().reshape({-1}), 0, false, false).indices;
    return keepdim ? r.reshape(Shape(x.dim(), 1)) : r;
  }
  return minmax_dim(x.detach(), *dim, keepdim, false).indices;
}

Tensor logsumexp(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  if (optimization::detail::AutocastCall ac{"logsumexp", x}) return logsumexp(ac[0], dims, keepdim);
  detail::check_defined(x, "logsumexp");
  if (ops::opmath_type(x.dtype()) != x.dtype())
    return logsumexp(x.to(ops::opmath_type(x.dtype())), dims, keepdim).to(x.dtype());
  Tensor xf = is_floating(x.dtype()) ? x : x.to(DType::f32);
  auto mask = reduced_mask(xf, dims, "logsumexp");
  Tensor m;
  if (count_of(xf, mask) == 0) {
    // An empty slice: log(sum of nothing) = log(0) = -inf, as torch gives; no shift needed.
    m = zeros(reduced_shape(xf, mask, true), xf.dtype());
  } else {
    NoGradGuard ng;
    m = reduce_raw(ReduceOp::max, ops::cast(xf, ops::opmath_type(xf.dtype())), mask, true, "logsumexp");
    m = ops::cast(m, xf.dtype());
    // An all -inf (or +inf) slice would give inf - inf: shift by 0 there instead.
    Tensor finite = lt(abs(m), full_like(m, INFINITY));
    m = where(finite, m, zeros_like(m));
  }
  Tensor r = log(sum(exp(xf - m), dims, true)) + m;
  if (!keepdim) {
    Shape s = reduced_shape(xf, mask, false);
    r = r.reshape(s);
  }
  return r;
}

}  // namespace neural_arch
