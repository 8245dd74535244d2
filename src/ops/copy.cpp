// Copies and in-place writes: to(dtype), clone, contiguous, copy_, fill_, and the in-place
// arithmetic methods. An in-place op on a tensor that is part of a graph re-bases its history.
#include <cstring>

#include "autograd/function.hpp"
#include "core/factory.hpp"
#include "neural_arch/ops.hpp"
#include "ops/elementwise.hpp"

namespace neural_arch {

using Grads = std::vector<Tensor>;

Tensor Tensor::to(DType t) const {
  detail::check_defined(*this, "to");
  if (dtype() == t) return *this;
  Tensor out = ops::cast(*this, t);
  if (is_floating(t) && autograd::needs_grad({*this}))
    autograd::record("ToCopyBackward", {*this}, {out},
                     [from = dtype()](const Grads& g) { return Grads{g[0].to(from)}; });
  return out;
}

Tensor Tensor::to(Device d) const {
  detail::check_defined(*this, "to");
  NA_CHECK(d == device(), "to", "cannot move a tensor from ", device().str(), " to ", d.str(),
           ": this build has only the cpu backend");
  return *this;
}

Tensor Tensor::clone() const {
  detail::check_defined(*this, "clone");
  Tensor out = detail::make_tensor(shape(), dtype());
  if (is_contiguous()) {
    if (numel()) std::memcpy(out.raw_data(), raw_data(), numel() * element_size());
  } else {
    const auto& k = cpu::kernels();
    const DType t = dtype();
    ops::for_each_row(
        shape(), {ops::operand(out, shape()), ops::operand(*this, shape())},
        [&](char* const* p, const int64_t* s, int64_t n) { k.cast(p[0], t, p[1], t, n, s[0], s[1]); });
  }
  if (autograd::needs_grad({*this}))
    autograd::record("CloneBackward", {*this}, {out}, [](const Grads& g) { return Grads{g[0]}; });
  return out;
}

Tensor Tensor::contiguous() const {
  detail::check_defined(*this, "contiguous");
  return is_contiguous() ? *this : clone();
}

namespace {
// Replaces self's history by `result`'s (same shape and dtype) after writing its values in.
void rebase(const Tensor& self, const Tensor& result, const char* op) {
  NA_CHECK(!result.requires_grad() || !self.impl()->is_view, op,
           "in-place modification of a view of another tensor is not supported while recording gradients; "
           "use the out-of-place op");
  {
    NoGradGuard ng;
    const auto& k = cpu::kernels();
    Tensor src = result.dtype() == self.dtype() ? result : ops::cast(result, self.dtype());
    const DType t = self.dtype();
    ops::for_each_row(
        self.shape(), {ops::operand(self, self.shape()), ops::operand(src, self.shape())},
        [&](char* const* p, const int64_t* s, int64_t n) { k.cast(p[0], t, p[1], t, n, s[0], s[1]); });
  }
  self.storage()->bump_version();  // after the write: saved copies of the old value must see it
  if (!result.requires_grad()) return;
  auto* impl = self.impl();
  impl->grad_fn = result.grad_fn();
  impl->output_nr = result.output_nr();
  impl->requires_grad = result.requires_grad();
}

void check_cast(DType from, DType to, const char* op) {
  const bool ok = from == to || promote_types(from, to) == to ||
                  (is_floating(to) && is_floating(from));  // narrowing between floats is allowed
  NA_CHECK(ok, op, "result type ", dtype_name(from), " can't be cast to the desired output type ",
           dtype_name(to));
}

// The shared body of every in-place binary op: value = fn(self, other), written into self.
template <class F> Tensor& inplace(Tensor& self, const Tensor& other, const char* op, F fn) {
  ops::check_inplace(self, op);
  detail::check_defined(other, op, "other");
  Shape bs = broadcast_shapes(self.shape(), other.shape(), op);
  NA_CHECK(bs == self.shape(), op, "output with shape ", shape_str(self.shape()),
           " doesn't match the broadcast shape ", shape_str(bs));
  if (autograd::needs_grad({self, other})) {
    Tensor before = detail::make_view(self, self.shape(), self.strides(), self.storage_offset());
    before.impl()->grad_fn = self.impl()->grad_fn;
    before.impl()->output_nr = self.output_nr();
    before.impl()->requires_grad = self.requires_grad();
    before.impl()->grad_accumulator = self.impl()->grad_accumulator;
    // The op may save its input for backward; give it a copy of the old value (torch's
    // original_self) since self is overwritten below.
    Tensor r = fn(before.clone(), other);
    check_cast(r.dtype(), self.dtype(), op);
    rebase(self, r, op);
    return self;
  }
  Tensor r = fn(self, other);
  check_cast(r.dtype(), self.dtype(), op);
  rebase(self, r, op);
  return self;
}
}  // namespace

Tensor& Tensor::copy_(const Tensor& src) {
  detail::check_defined(src, "copy_", "src");
  ops::check_inplace(*this, "copy_");
  Shape bs = broadcast_shapes(shape(), src.shape(), "copy_");
  NA_CHECK(bs == shape(), "copy_", "source of shape ", shape_str(src.shape()), " cannot be broadcast to ",
           shape_str(shape()));
  if (autograd::needs_grad({src}) || (is_grad_enabled() && requires_grad())) {
    Tensor r = src.to(dtype()).expand(shape());
    Tensor value = r.clone();  // detach aliasing with src
    rebase(*this, value, "copy_");
    return *this;
  }
  const auto& k = cpu::kernels();
  const DType to = dtype(), from = src.dtype();
  ops::for_each_row(
      shape(), {ops::operand(*this, shape()), ops::operand(src, shape())},
      [&](char* const* p, const int64_t* s, int64_t n) { k.cast(p[0], to, p[1], from, n, s[0], s[1]); });
  return *this;
}

Tensor& Tensor::fill_(Scalar v) {
  ops::check_inplace(*this, "fill_");
  NA_CHECK(!(is_grad_enabled() && requires_grad()), "fill_", "in-place fill of a tensor that requires grad");
  // Build one element of the right dtype, then broadcast-copy it.
  double d = v.to_double();
  int64_t i = v.to_int();
  const auto& k = cpu::kernels();
  alignas(8) unsigned char one[8];
  if (v.is_integral())
    k.cast(reinterpret_cast<char*>(one), dtype(), reinterpret_cast<const char*>(&i), DType::i64, 1, 1, 1);
  else
    k.cast(reinterpret_cast<char*>(one), dtype(), reinterpret_cast<const char*>(&d), DType::f64, 1, 1, 1);
  const size_t es = element_size();
  ops::for_each_row(shape(), {ops::operand(*this, shape())},
                    [&](char* const* p, const int64_t* s, int64_t n) {
                      if (s[0] == 1 && es == 4) {
                        uint32_t w;
                        std::memcpy(&w, one, 4);
                        auto* q = reinterpret_cast<uint32_t*>(p[0]);
                        for (int64_t j = 0; j < n; ++j) q[j] = w;
                      } else {
                        for (int64_t j = 0; j < n; ++j) std::memcpy(p[0] + j * s[0] * es, one, es);
                      }
                    });
  return *this;
}

namespace {
// Without autograd and with matching dtypes the kernel writes straight into self: one pass.
bool direct_inplace(Tensor& self, const Tensor& o, cpu::BinaryOp op, double alpha, const char* name) {
  if (is_grad_enabled() && (self.requires_grad() || o.requires_grad())) return false;
  const DType t = self.dtype();
  if (!is_floating(t) || ops::opmath_type(t) != t || ops::result_type(self, o) != t) return false;
  if (broadcast_shapes(self.shape(), o.shape(), name) != self.shape()) return false;
  ops::check_inplace(self, name);
  const double p[1] = {alpha};
  ops::run_binary(op, self, ops::cast(o, t), t, p, name, self);
  return true;
}
}  // namespace

Tensor& Tensor::add_(const Tensor& o, Scalar alpha) {
  if (o.defined() && direct_inplace(*this, o, cpu::BinaryOp::add, alpha.to_double(), "add_")) return *this;
  return inplace(*this, o, "add_", [&](const Tensor& a, const Tensor& b) { return add(a, b, alpha); });
}
Tensor& Tensor::sub_(const Tensor& o, Scalar alpha) {
  if (o.defined() && direct_inplace(*this, o, cpu::BinaryOp::sub, alpha.to_double(), "sub_")) return *this;
  return inplace(*this, o, "sub_", [&](const Tensor& a, const Tensor& b) { return sub(a, b, alpha); });
}
Tensor& Tensor::mul_(const Tensor& o) {
  if (o.defined() && direct_inplace(*this, o, cpu::BinaryOp::mul, 1.0, "mul_")) return *this;
  return inplace(*this, o, "mul_", [](const Tensor& a, const Tensor& b) { return mul(a, b); });
}
Tensor& Tensor::div_(const Tensor& o) {
  if (o.defined() && direct_inplace(*this, o, cpu::BinaryOp::div, 1.0, "div_")) return *this;
  return inplace(*this, o, "div_", [](const Tensor& a, const Tensor& b) { return div(a, b); });
}
Tensor& Tensor::add_(Scalar o) { return add_(scalar_like(o, *this)); }
Tensor& Tensor::sub_(Scalar o) { return sub_(scalar_like(o, *this)); }
Tensor& Tensor::mul_(Scalar o) { return mul_(scalar_like(o, *this)); }
Tensor& Tensor::div_(Scalar o) { return div_(scalar_like(o, *this)); }

Tensor& Tensor::clamp_(Scalar lo, Scalar hi) {
  Tensor dummy = scalar_tensor(0, dtype());
  return inplace(*this, dummy, "clamp_", [&](const Tensor& a, const Tensor&) { return clamp(a, lo, hi); });
}

Tensor& Tensor::masked_fill_(const Tensor& mask, Scalar value) {
  return inplace(*this, mask, "masked_fill_",
                 [&](const Tensor& a, const Tensor& m) { return masked_fill(a, m, value); });
}

}  // namespace neural_arch
