// Vector norms (torch.linalg.vector_norm and torch.norm with p): ord 0 (count of non-zeros),
// 1, 2, any p > 0, +inf (max |x|) and -inf (min |x|), over all or some dims. The gradient is
// torch's: 0 where the norm is 0 (2-norm and p-norms), ties of the inf-norms share evenly.
#include <algorithm>
#include <cmath>

#include "autograd/function.hpp"
#include "core/factory.hpp"
#include "neural_arch/ops.hpp"
#include "ops/elementwise.hpp"

namespace neural_arch {

using autograd::SavedTensor;
using Grads = std::vector<Tensor>;

namespace {

// The reduced dims (all when dims is empty), validated and sorted.
std::vector<int64_t> norm_dims(const Tensor& x, const std::vector<int64_t>& dims) {
  std::vector<int64_t> r;
  if (dims.empty()) {
    for (int64_t i = 0; i < x.dim(); ++i) r.push_back(i);
    return r;
  }
  for (int64_t d : dims) {
    const int64_t w = detail::wrap_dim(d, x.dim(), "vector_norm");
    NA_CHECK(std::find(r.begin(), r.end(), w) == r.end(), "vector_norm", "dim ", d,
             " appears multiple times in the list of dims");
    r.push_back(w);
  }
  std::sort(r.begin(), r.end());
  return r;
}

// max (or min) of |x| over dims, keepdim: the reduced dims moved last and flattened.
Tensor abs_extreme(const Tensor& a, const std::vector<int64_t>& red, bool is_max) {
  std::vector<int64_t> perm;
  Shape keep = a.shape();
  for (int64_t i = 0; i < a.dim(); ++i)
    if (std::find(red.begin(), red.end(), i) == red.end()) perm.push_back(i);
  for (int64_t d : red) {
    perm.push_back(d);
    keep[d] = 1;
  }
  Shape flat;
  for (size_t i = 0; i + red.size() < perm.size(); ++i) flat.push_back(a.size(perm[i]));
  flat.push_back(-1);
  Tensor moved = a.permute(perm).reshape(flat);
  Tensor r = is_max ? max(moved, -1).values : min(moved, -1).values;
  return r.reshape(keep);
}

}  // namespace

Tensor vector_norm(const Tensor& x, double ord, const std::vector<int64_t>& dims, bool keepdim) {
  detail::check_defined(x, "vector_norm");
  NA_CHECK(is_floating(x.dtype()), "vector_norm", "Expected a floating point tensor as input. Got ",
           dtype_name(x.dtype()));
  NA_CHECK(!std::isnan(ord), "vector_norm", "ord must not be NaN");
  if (ops::opmath_type(x.dtype()) != x.dtype())
    return vector_norm(x.to(ops::opmath_type(x.dtype())), ord, dims, keepdim).to(x.dtype());
  const std::vector<int64_t> red = norm_dims(x, dims);
  Shape keep = x.shape();
  int64_t count = 1;
  for (int64_t d : red) {
    count *= x.size(d);
    keep[d] = 1;
  }
  Shape out_shape;
  for (int64_t i = 0; i < x.dim(); ++i)
    if (keepdim || std::find(red.begin(), red.end(), i) == red.end()) out_shape.push_back(keep[i]);

  Tensor n;  // keepdim shape
  {
    NoGradGuard ng;
    Tensor a = abs(x);
    if (std::isinf(ord)) {
      NA_CHECK(count > 0, "vector_norm", "cannot compute the ", ord > 0 ? "inf" : "-inf",
               " norm over a zero-size dimension (input shape ", shape_str(x.shape()),
               "): the operation does not have an identity");
      n = x.dim() == 0 ? a : abs_extreme(a, red, ord > 0);
    } else if (ord == 0) {
      n = sum(ne(x, zeros_like(x)).to(x.dtype()), red, true);
    } else if (ord == 1) {
      n = sum(a, red, true);
    } else if (ord == 2) {
      n = sqrt(sum(x * x, red, true));
    } else {
      n = pow(sum(pow(a, Scalar(ord)), red, true), Scalar(1.0 / ord));
    }
    if (x.dim() == 0) n = n.reshape({});
  }
  Tensor out = n.reshape(out_shape).clone();
  if (autograd::needs_grad({x}))
    autograd::record("LinalgVectorNormBackward", {x}, {out},
                     [x_ = SavedTensor(x), y_ = SavedTensor(out, true), ord, keep](const Grads& g) {
                       Tensor v = x_.unpack();
                       Tensor nk = y_.unpack().reshape(keep).expand(v.shape());
                       Tensor gk = g[0].reshape(keep).expand(v.shape());
                       if (ord == 0) return Grads{zeros_like(v)};
                       if (ord == 1) return Grads{sign(v) * gk};
                       if (std::isinf(ord)) {
                         // Every element at the extreme shares the gradient evenly.
                         Tensor hit = eq(abs(v), nk).to(v.dtype());
                         std::vector<int64_t> all;
                         for (int64_t i = 0; i < v.dim(); ++i)
                           if (keep[i] == 1 && v.size(i) != 1) all.push_back(i);
                         Tensor cnt = all.empty() ? hit : sum(hit, all, true).expand(v.shape());
                         cnt = where(eq(cnt, zeros_like(cnt)), ones_like(cnt), cnt);
                         return Grads{sign(v) * hit / cnt * gk};
                       }
                       Tensor zero = eq(nk, zeros_like(nk));
                       Tensor safe = where(zero, ones_like(nk), nk);
                       Tensor r = ord == 2
                                      ? v / safe
                                      : sign(v) * pow(abs(v), Scalar(ord - 1)) / pow(safe, Scalar(ord - 1));
                       return Grads{where(zero, zeros_like(v), r * gk)};
                     });
  return out;
}

Tensor norm(const Tensor& x, double p, const std::vector<int64_t>& dims, bool keepdim) {
  return vector_norm(x, p, dims, keepdim);
}

}  // namespace neural_arch
