// clamp, where, masked_fill: selection ops and their backward rules.
#include <cmath>
#include <cstring>
#include <limits>

#include "autograd/function.hpp"
#include "core/factory.hpp"
#include "neural_arch/autograd.hpp"
#include "neural_arch/ops.hpp"
#include "ops/elementwise.hpp"

namespace neural_arch {

using autograd::SavedTensor;
using Grads = std::vector<Tensor>;

Tensor clamp(const Tensor& x, std::optional<Scalar> lo, std::optional<Scalar> hi) {
  detail::check_defined(x, "clamp");
  NA_CHECK(lo || hi, "clamp", "at least one of min and max must be given");
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double p[2] = {lo ? lo->to_double() : nan, hi ? hi->to_double() : nan};
  // A floating bound promotes an integer input to float32, as torch's clamp (result_type).
  const bool float_bound = (lo && !lo->is_integral()) || (hi && !hi->is_integral());
  const DType rt = !is_floating(x.dtype()) && float_bound ? DType::f32 : x.dtype();
  const DType ct = ops::opmath_type(rt);
  Tensor out = ops::cast(ops::run_unary(cpu::UnaryOp::clamp, ops::cast(x, ct), p, "clamp"), rt);
  if (autograd::needs_grad({x}))
    autograd::record("ClampBackward", {x}, {out},
                     [x_ = SavedTensor(x), lo = p[0], hi = p[1]](const Grads& g) {
                       // Gradient passes where lo <= x <= hi (boundaries included, as torch does).
                       Tensor v = x_.unpack();
                       Tensor keep = ones_like(v).to(DType::boolean);
                       if (!std::isnan(lo)) keep = logical_and(keep, ge(v, full_like(v, lo)));
                       if (!std::isnan(hi)) keep = logical_and(keep, le(v, full_like(v, hi)));
                       return Grads{where(keep, g[0], zeros_like(g[0]))};
                     });
  return out;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  detail::check_defined(cond, "where", "condition");
  detail::check_defined(a, "where", "input");
  detail::check_defined(b, "where", "other");
  NA_CHECK(cond.dtype() == DType::boolean || cond.dtype() == DType::u8, "where",
           "condition must be a bool tensor, got ", dtype_name(cond.dtype()));
  const DType rt = ops::result_type(a, b);
  Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor c = ops::cast(cond, DType::boolean), x = ops::cast(a, rt), y = ops::cast(b, rt);
  Tensor out = detail::make_tensor(shape, rt);
  const int64_t es = static_cast<int64_t>(element_size(rt));
  ops::for_each_row(
      shape,
      {ops::operand(out, shape), ops::operand(c, shape), ops::operand(x, shape), ops::operand(y, shape)},
      [es](char* const* p, const int64_t* s, int64_t n) {
        const bool* cp = reinterpret_cast<const bool*>(p[1]);
        for (int64_t i = 0; i < n; ++i)
          std::memcpy(p[0] + i * s[0] * es, cp[i * s[1]] ? p[2] + i * s[2] * es : p[3] + i * s[3] * es, es);
      });
  if (autograd::needs_grad({a, b}))
    autograd::record("WhereBackward", {a, b}, {out},
                     [c_ = SavedTensor(c), sa = a.shape(), sb = b.shape(), ta = a.dtype(),
                      tb = b.dtype()](const Grads& g) {
                       Tensor cc = c_.unpack(), z = zeros_like(g[0]);
                       return Grads{autograd::sum_to(where(cc, g[0], z), sa).to(ta),
                                    autograd::sum_to(where(cc, z, g[0]), sb).to(tb)};
                     });
  return out;
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, Scalar value) {
  detail::check_defined(x, "masked_fill");
  detail::check_defined(mask, "masked_fill", "mask");
  NA_CHECK(mask.dtype() == DType::boolean, "masked_fill", "mask must be a bool tensor, got ",
           dtype_name(mask.dtype()));
  Shape bs = broadcast_shapes(x.shape(), mask.shape(), "masked_fill");
  NA_CHECK(bs == x.shape(), "masked_fill", "mask of shape ", shape_str(mask.shape()),
           " cannot be broadcast to the input shape ", shape_str(x.shape()));
  return where(mask, full_like(x, value).detach(), x);
}

}  // namespace neural_arch

namespace neural_arch {
bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol) {
  detail::check_defined(a, "allclose");
  detail::check_defined(b, "allclose");
  if (a.shape() != b.shape()) return false;
  NoGradGuard ng;
  auto x = a.to_vector<double>(), y = b.to_vector<double>();
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i]) || std::isnan(y[i])) return false;
    if (x[i] == y[i]) continue;  // equal infinities
    if (!(std::fabs(x[i] - y[i]) <= atol + rtol * std::fabs(y[i]))) return false;
  }
  return true;
}
}  // namespace neural_arch
