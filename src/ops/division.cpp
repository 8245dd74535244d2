// Rounding divisions and remainders, as torch defines them: div(a, b, rounding_mode) with
// "trunc" / "floor", floor_divide, remainder (sign of the divisor, Python's %) and fmod (sign
// of the dividend, C's fmod). Integers stay integers; an integer division by zero is an error
// (torch: ZeroDivisionError); f16/bf16 compute in f32.
#include <cmath>

#include "autograd/function.hpp"
#include "core/factory.hpp"
#include "neural_arch/ops.hpp"
#include "ops/elementwise.hpp"

namespace neural_arch {

using autograd::SavedTensor;
using Grads = std::vector<Tensor>;

namespace {

enum class Rounding { trunc, floor, remainder, fmod };

template <class T> T floor_div(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    // torch's div_floor_floating: exact for representable quotients, a/b's IEEE result for b = 0.
    if (b == 0) return a / b;
    T mod = std::fmod(a, b);
    T div = (a - mod) / b;
    if (mod != 0 && (b < 0) != (mod < 0)) div -= T(1);
    if (div == 0) return std::copysign(T(0), a / b);
    T fl = std::floor(div);
    if (div - fl > T(0.5)) fl += T(1);
    return fl;
  } else {
    if constexpr (std::is_signed_v<T>)
      if ((a < 0) != (b < 0)) {
        T q = a / b;
        return a % b != 0 ? T(q - 1) : q;
      }
    return a / b;
  }
}

template <class T> T apply(Rounding r, T a, T b) {
  switch (r) {
    case Rounding::trunc:
      if constexpr (std::is_floating_point_v<T>)
        return std::trunc(a / b);
      else
        return a / b;
    case Rounding::floor: return floor_div(a, b);
    case Rounding::fmod:
      if constexpr (std::is_floating_point_v<T>)
        return std::fmod(a, b);
      else
        return a % b;
    case Rounding::remainder:
      if constexpr (std::is_floating_point_v<T>) {
        T m = std::fmod(a, b);
        if (m != 0 && (b < 0) != (m < 0)) m += b;
        return m;
      } else {
        T m = a % b;
        if constexpr (std::is_signed_v<T>)
          if (m != 0 && (m < 0) != (b < 0)) m += b;
        return m;
      }
  }
  return a;
}

template <class T>
void run_rows(Rounding r, const Tensor& out, const Tensor& a, const Tensor& b, const char* name) {
  const Shape& shape = out.shape();
  // Integer division by zero has no value; it is checked before anything is written.
  if constexpr (!std::is_floating_point_v<T>) {
    bool zero = false;
    ops::for_each_row(shape, {ops::operand(b, shape)}, [&](char* const* p, const int64_t* s, int64_t n) {
      const T* y = reinterpret_cast<const T*>(p[0]);
      for (int64_t i = 0; i < n; ++i)
        if (y[i * s[0]] == 0) zero = true;  // benign race: every writer stores true
    });
    NA_CHECK(!zero, name, "ZeroDivisionError: integer division by zero");
  }
  ops::for_each_row(shape, {ops::operand(out, shape), ops::operand(a, shape), ops::operand(b, shape)},
                    [&](char* const* p, const int64_t* s, int64_t n) {
                      T* o = reinterpret_cast<T*>(p[0]);
                      const T* x = reinterpret_cast<const T*>(p[1]);
                      const T* y = reinterpret_cast<const T*>(p[2]);
                      for (int64_t i = 0; i < n; ++i) o[i * s[0]] = apply(r, x[i * s[1]], y[i * s[2]]);
                    });
}

// The forward of every op here: promoted dtype (opmath for f16/bf16), broadcast, no autograd.
Tensor rounding_op(Rounding r, const Tensor& a, const Tensor& b, const char* name) {
  detail::check_defined(a, name, "first input");
  detail::check_defined(b, name, "second input");
  const DType rt = ops::result_type(a, b);
  NA_CHECK(rt != DType::boolean, name, "not implemented for bool tensors");
  const DType ct = ops::opmath_type(rt);
  Tensor x = ops::cast(a, ct), y = ops::cast(b, ct);
  Tensor out = detail::make_tensor(broadcast_shapes(a.shape(), b.shape(), name), ct);
  switch (ct) {
    case DType::f32: run_rows<float>(r, out, x, y, name); break;
    case DType::f64: run_rows<double>(r, out, x, y, name); break;
    case DType::i32: run_rows<int32_t>(r, out, x, y, name); break;
    case DType::i64: run_rows<int64_t>(r, out, x, y, name); break;
    case DType::u8: run_rows<uint8_t>(r, out, x, y, name); break;
    default: detail::throw_error(name, "not implemented for dtype ", dtype_name(ct));
  }
  return ops::cast(out, rt);
}

// An input's gradient from the output's: undo broadcasting, match the input's dtype.
Tensor grad_to(const Tensor& g, const Shape& shape, DType dtype) {
  Tensor r = autograd::sum_to(g, shape);
  return r.dtype() == dtype ? r : r.to(dtype);
}

// remainder / fmod: d/da = 1, d/db = -(a / b rounded the op's way), as torch's derivatives.
Tensor remainder_like(Rounding r, const Tensor& a, const Tensor& b, const char* name) {
  Tensor out = rounding_op(r, a, b, name);
  if (autograd::needs_grad({a, b}) && is_floating(out.dtype())) {
    const Rounding q = r == Rounding::remainder ? Rounding::floor : Rounding::trunc;
    const bool ga = a.requires_grad(), gb = b.requires_grad();
    autograd::record(r == Rounding::remainder ? "RemainderBackward" : "FmodBackward", {a, b}, {out},
                     [a_ = SavedTensor(gb ? a : Tensor()), b_ = SavedTensor(gb ? b : Tensor()), ga, gb, q,
                      name, sa = a.shape(), sb = b.shape(), ta = a.dtype(), tb = b.dtype()](const Grads& g) {
                       Tensor ra, rb;
                       if (ga) ra = grad_to(g[0], sa, ta);
                       if (gb) {
                         Tensor quot;
                         {
                           NoGradGuard ng;  // the rounded quotient is piecewise constant
                           quot = rounding_op(q, a_.unpack(), b_.unpack(), name);
                         }
                         rb = grad_to(-g[0] * quot, sb, tb);
                       }
                       return Grads{ra, rb};
                     });
  }
  return out;
}

}  // namespace

Tensor div(const Tensor& a, const Tensor& b, const std::optional<std::string>& rounding_mode) {
  if (!rounding_mode) return div(a, b);
  NA_CHECK(*rounding_mode == "trunc" || *rounding_mode == "floor", "div",
           "expected rounding_mode to be one of None, 'trunc', or 'floor' but found '", *rounding_mode, "'");
  Tensor out = rounding_op(*rounding_mode == "trunc" ? Rounding::trunc : Rounding::floor, a, b, "div");
  if (autograd::needs_grad({a, b}) && is_floating(out.dtype())) {
    // Piecewise constant: zero gradients, as torch's DivBackward with a rounding mode.
    autograd::record("DivRoundingBackward", {a, b}, {out},
                     [sa = a.shape(), sb = b.shape(), ta = a.dtype(), tb = b.dtype()](const Grads&) {
                       return Grads{zeros(sa, ta), zeros(sb, tb)};
                     });
  }
  return out;
}

Tensor floor_divide(const Tensor& a, const Tensor& b) { return div(a, b, std::string("floor")); }

Tensor remainder(const Tensor& a, const Tensor& b) {
  return remainder_like(Rounding::remainder, a, b, "remainder");
}
Tensor remainder(const Tensor& a, Scalar b) { return remainder(a, scalar_like(b, a)); }
Tensor fmod(const Tensor& a, const Tensor& b) { return remainder_like(Rounding::fmod, a, b, "fmod"); }
Tensor fmod(const Tensor& a, Scalar b) { return fmod(a, scalar_like(b, a)); }

}  // namespace neural_arch
