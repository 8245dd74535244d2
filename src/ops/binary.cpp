// Arithmetic binary ops (add sub mul div pow maximum minimum) with broadcasting, type
// promotion and their backward rules; comparisons and logical ops (not differentiable).
#include <cmath>

#include "autograd/function.hpp"
#include "core/factory.hpp"
#include "neural_arch/ops.hpp"
#include "ops/elementwise.hpp"
#include "optimization/autocast_hook.hpp"

namespace neural_arch {

using autograd::SavedTensor;
using autograd::sum_to;
using cpu::BinaryOp;

namespace {

// Narrow floats compute in f32 and store narrow (the "opmath" rule).
DType compute_type(DType t) { return t == DType::f16 || t == DType::bf16 ? DType::f32 : t; }

Tensor arith(BinaryOp op, const Tensor& a, const Tensor& b, const char* name, double alpha = 1.0,
             std::optional<DType> force = std::nullopt) {
  detail::check_defined(a, name, "first input");
  detail::check_defined(b, name, "second input");
  const DType rt = force ? *force : ops::result_type(a, b);
  const DType ct = compute_type(rt);
  NA_CHECK(rt != DType::boolean || op == BinaryOp::maximum || op == BinaryOp::minimum || op == BinaryOp::mul,
           name, "not supported for bool tensors; convert with to()");
  const double p[2] = {alpha, 0};
  // Both operands already narrow: the one-pass f16/bf16 kernel. (A mixed pair, like a bf16
  // tensor with an f32 0-d scalar, widens instead so the scalar is not rounded to bf16.)
  if (ct != rt && a.dtype() == rt && b.dtype() == rt && ops::has_binary_kernel(op, rt))
    return ops::run_binary(op, a, b, rt, p, name);
  Tensor out = ops::run_binary(op, ops::cast(a, ct == DType::boolean ? DType::u8 : ct),
                               ops::cast(b, ct == DType::boolean ? DType::u8 : ct),
                               ct == DType::boolean ? DType::u8 : ct, p, name);
  return out.dtype() == rt ? out : ops::cast(out, rt);
}

// Gradient of an input from the output gradient: undo broadcasting, match the input's dtype.
Tensor grad_to(const Tensor& g, const Shape& shape, DType dtype) {
  Tensor r = sum_to(g, shape);
  return r.dtype() == dtype ? r : r.to(dtype);
}
Tensor grad_for(const Tensor& g, const Tensor& input) { return grad_to(g, input.shape(), input.dtype()); }

// The share of maximum's (is_max) or minimum's gradient that goes to x against y: 1 where x
// wins, 0 where it loses, 1/2 on ties, and 1 where either is NaN (no comparison holds), as
// torch's where(x == y, g / 2, g).masked_fill_(x < y, 0).
Tensor extreme_weight(const Tensor& x, const Tensor& y, bool is_max) {
  Tensor loses = is_max ? lt(x, y) : gt(x, y);
  Tensor w = where(eq(x, y), full_like(x, 0.5), ones_like(x));
  return where(loses, zeros_like(x), w);
}

Tensor compare(BinaryOp op, const Tensor& a, const Tensor& b, const char* name) {
  detail::check_defined(a, name, "first input");
  detail::check_defined(b, name, "second input");
  const DType ct = compute_type(ops::result_type(a, b));
  return ops::run_binary(op, ops::cast(a, ct), ops::cast(b, ct), DType::boolean, nullptr, name);
}

Tensor logical(BinaryOp op, const Tensor& a, const Tensor& b, const char* name) {
  detail::check_defined(a, name, "first input");
  detail::check_defined(b, name, "second input");
  return ops::run_binary(op, ops::cast(a, DType::boolean), ops::cast(b, DType::boolean), DType::boolean,
                         nullptr, name);
}

}  // namespace

Tensor scalar_like(Scalar s, const Tensor& like) {
  DType t;
  if (is_floating(like.dtype()))
    t = like.dtype();
  else if (s.is_integral())
    t = like.dtype() == DType::boolean ? DType::i64 : like.dtype();
  else
    t = DType::f32;
  return scalar_tensor(s, t);
}

Tensor add(const Tensor& a, const Tensor& b, Scalar alpha) {
  Tensor out = arith(BinaryOp::add, a, b, "add", alpha.to_double());
  if (autograd::needs_grad({a, b})) {
    const double al = alpha.to_double();
    autograd::record(
        "AddBackward", {a, b}, {out},
        [sa = a.shape(), sb = b.shape(), ta = a.dtype(), tb = b.dtype(), al](const std::vector<Tensor>& g) {
          return std::vector<Tensor>{grad_to(g[0], sa, ta), grad_to(al == 1.0 ? g[0] : g[0] * al, sb, tb)};
        });
  }
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b, Scalar alpha) {
  Tensor out = arith(BinaryOp::sub, a, b, "sub", alpha.to_double());
  if (autograd::needs_grad({a, b})) {
    const double al = alpha.to_double();
    autograd::record(
        "SubBackward", {a, b}, {out},
        [sa = a.shape(), sb = b.shape(), ta = a.dtype(), tb = b.dtype(), al](const std::vector<Tensor>& g) {
          return std::vector<Tensor>{grad_to(g[0], sa, ta), grad_to(g[0] * (-al), sb, tb)};
        });
  }
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = arith(BinaryOp::mul, a, b, "mul");
  if (autograd::needs_grad({a, b})) {
    const bool ga = a.requires_grad(), gb = b.requires_grad();
    autograd::record(
        "MulBackward", {a, b}, {out},
        [a_ = SavedTensor(gb ? a : Tensor()), b_ = SavedTensor(ga ? b : Tensor()), ga, gb, sa = a.shape(),
         sb = b.shape(), ta = a.dtype(), tb = b.dtype()](const std::vector<Tensor>& g) {
          Tensor ra, rb;
          if (ga) ra = grad_to(g[0] * b_.unpack(), sa, ta);
          if (gb) rb = grad_to(g[0] * a_.unpack(), sb, tb);
          return std::vector<Tensor>{ra, rb};
        });
  }
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  // True division: integer inputs give float32 like torch.div.
  DType rt = ops::result_type(a, b);
  Tensor out = arith(BinaryOp::div, a, b, "div", 1.0, is_floating(rt) ? rt : DType::f32);
  if (autograd::needs_grad({a, b})) {
    const bool ga = a.requires_grad(), gb = b.requires_grad();
    autograd::record("DivBackward", {a, b}, {out},
                     [a_ = SavedTensor(gb ? a : Tensor()), b_ = SavedTensor(b), ga, gb, sa = a.shape(),
                      sb = b.shape(), ta = a.dtype(), tb = b.dtype()](const std::vector<Tensor>& g) {
                       Tensor bb = b_.unpack(), ra, rb;
                       if (ga) ra = grad_to(g[0] / bb, sa, ta);
                       if (gb) rb = grad_to(-g[0] * a_.unpack() / (bb * bb), sb, tb);
                       return std::vector<Tensor>{ra, rb};
                     });
  }
  return out;
}

Tensor pow(const Tensor& a, const Tensor& b) {
  if (optimization::detail::AutocastCall ac{"pow", a, b}) return pow(ac[0], ac[1]);
  Tensor out = arith(BinaryOp::pow, a, b, "pow");
  if (autograd::needs_grad({a, b})) {
    const bool ga = a.requires_grad(), gb = b.requires_grad();
    autograd::record(
        "PowBackward", {a, b}, {out},
        [a_ = SavedTensor(a), b_ = SavedTensor(b), o_ = SavedTensor(out, true), ga, gb, sa = a.shape(),
         sb = b.shape(), ta = a.dtype(), tb = b.dtype()](const std::vector<Tensor>& g) {
          Tensor x = a_.unpack(), y = b_.unpack(), ra, rb;
          if (ga) ra = grad_to(g[0] * y * pow(x, y - 1), sa, ta);
          if (gb) {
            // d/dy x^y = x^y log x, defined as 0 where x == 0 and y >= 0 (as torch does).
            Tensor lg = where(eq(x, zeros_like(x)) & ge(y, zeros_like(y)), zeros_like(x), log(x));
            rb = grad_to(g[0] * o_.unpack() * lg, sb, tb);
          }
          return std::vector<Tensor>{ra, rb};
        });
  }
  return out;
}

Tensor maximum(const Tensor& a, const Tensor& b) {
  Tensor out = arith(BinaryOp::maximum, a, b, "maximum");
  if (autograd::needs_grad({a, b})) {
    autograd::record("MaximumBackward", {a, b}, {out},
                     [a_ = SavedTensor(a), b_ = SavedTensor(b)](const std::vector<Tensor>& g) {
                       Tensor x = a_.unpack(), y = b_.unpack();
                       return std::vector<Tensor>{grad_for(g[0] * extreme_weight(x, y, true), x),
                                                  grad_for(g[0] * extreme_weight(y, x, true), y)};
                     });
  }
  return out;
}

Tensor minimum(const Tensor& a, const Tensor& b) {
  Tensor out = arith(BinaryOp::minimum, a, b, "minimum");
  if (autograd::needs_grad({a, b})) {
    autograd::record("MinimumBackward", {a, b}, {out},
                     [a_ = SavedTensor(a), b_ = SavedTensor(b)](const std::vector<Tensor>& g) {
                       Tensor x = a_.unpack(), y = b_.unpack();
                       return std::vector<Tensor>{grad_for(g[0] * extreme_weight(x, y, false), x),
                                                  grad_for(g[0] * extreme_weight(y, x, false), y)};
                     });
  }
  return out;
}

Tensor eq(const Tensor& a, const Tensor& b) { return compare(BinaryOp::eq, a, b, "eq"); }
Tensor ne(const Tensor& a, const Tensor& b) { return compare(BinaryOp::ne, a, b, "ne"); }
Tensor lt(const Tensor& a, const Tensor& b) { return compare(BinaryOp::lt, a, b, "lt"); }
Tensor le(const Tensor& a, const Tensor& b) { return compare(BinaryOp::le, a, b, "le"); }
Tensor gt(const Tensor& a, const Tensor& b) { return compare(BinaryOp::gt, a, b, "gt"); }
Tensor ge(const Tensor& a, const Tensor& b) { return compare(BinaryOp::ge, a, b, "ge"); }
Tensor logical_and(const Tensor& a, const Tensor& b) {
  return logical(BinaryOp::logical_and, a, b, "logical_and");
}
Tensor logical_or(const Tensor& a, const Tensor& b) {
  return logical(BinaryOp::logical_or, a, b, "logical_or");
}
Tensor logical_xor(const Tensor& a, const Tensor& b) {
  return logical(BinaryOp::logical_xor, a, b, "logical_xor");
}
Tensor logical_not(const Tensor& a) {
  detail::check_defined(a, "logical_not");
  return ops::run_unary(cpu::UnaryOp::logical_not, ops::cast(a, DType::boolean), nullptr, "logical_not");
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator+(const Tensor& a, Scalar b) { return add(a, scalar_like(b, a)); }
Tensor operator-(const Tensor& a, Scalar b) { return sub(a, scalar_like(b, a)); }
Tensor operator*(const Tensor& a, Scalar b) { return mul(a, scalar_like(b, a)); }
Tensor operator/(const Tensor& a, Scalar b) { return div(a, scalar_like(b, a)); }
Tensor operator+(Scalar a, const Tensor& b) { return add(scalar_like(a, b), b); }
Tensor operator-(Scalar a, const Tensor& b) { return sub(scalar_like(a, b), b); }
Tensor operator*(Scalar a, const Tensor& b) { return mul(scalar_like(a, b), b); }
Tensor operator/(Scalar a, const Tensor& b) { return div(scalar_like(a, b), b); }
Tensor operator==(const Tensor& a, const Tensor& b) { return eq(a, b); }
Tensor operator!=(const Tensor& a, const Tensor& b) { return ne(a, b); }
Tensor operator<(const Tensor& a, const Tensor& b) { return lt(a, b); }
Tensor operator<=(const Tensor& a, const Tensor& b) { return le(a, b); }
Tensor operator>(const Tensor& a, const Tensor& b) { return gt(a, b); }
Tensor operator>=(const Tensor& a, const Tensor& b) { return ge(a, b); }
Tensor eq(const Tensor& a, Scalar b) { return eq(a, scalar_like(b, a)); }
Tensor ne(const Tensor& a, Scalar b) { return ne(a, scalar_like(b, a)); }
Tensor lt(const Tensor& a, Scalar b) { return lt(a, scalar_like(b, a)); }
Tensor le(const Tensor& a, Scalar b) { return le(a, scalar_like(b, a)); }
Tensor gt(const Tensor& a, Scalar b) { return gt(a, scalar_like(b, a)); }
Tensor ge(const Tensor& a, Scalar b) { return ge(a, scalar_like(b, a)); }
Tensor operator<(const Tensor& a, Scalar b) { return lt(a, b); }
Tensor operator>(const Tensor& a, Scalar b) { return gt(a, b); }
Tensor operator<=(const Tensor& a, Scalar b) { return le(a, b); }
Tensor operator>=(const Tensor& a, Scalar b) { return ge(a, b); }
Tensor operator==(const Tensor& a, Scalar b) { return eq(a, b); }
Tensor operator!=(const Tensor& a, Scalar b) { return ne(a, b); }
Tensor operator%(const Tensor& a, const Tensor& b) { return remainder(a, b); }
Tensor operator%(const Tensor& a, Scalar b) { return remainder(a, b); }
Tensor operator&(const Tensor& a, const Tensor& b) { return logical_and(a, b); }
Tensor operator|(const Tensor& a, const Tensor& b) { return logical_or(a, b); }

Tensor pow(const Tensor& a, Scalar exponent) {
  if (optimization::detail::AutocastCall ac{"pow", a}) return pow(ac[0], exponent);
  detail::check_defined(a, "pow");
  const double e = exponent.to_double();
  DType rt = is_floating(a.dtype()) ? a.dtype() : (exponent.is_integral() ? a.dtype() : DType::f32);
  if (is_integral(rt, true)) {
    NA_CHECK(!(exponent.is_integral() && e < 0), "pow",
             "Integers to negative integer powers are not allowed (", dtype_name(a.dtype()),
             " tensor to the power ", e, ")");
    return pow(a, scalar_like(exponent, a));
  }
  const double p[1] = {e};
  Tensor x = ops::cast(a, compute_type(rt));
  Tensor out = ops::run_unary(cpu::UnaryOp::pow_scalar, x, p, "pow");
  if (out.dtype() != rt) out = ops::cast(out, rt);
  if (autograd::needs_grad({a})) {
    autograd::record("PowScalarBackward", {a}, {out}, [a_ = SavedTensor(a), e](const std::vector<Tensor>& g) {
      Tensor x = a_.unpack();
      if (e == 0.0) return std::vector<Tensor>{zeros_like(x)};
      return std::vector<Tensor>{g[0] * e * pow(x, Scalar(e - 1.0))};
    });
  }
  return out;
}

}  // namespace neural_arch
