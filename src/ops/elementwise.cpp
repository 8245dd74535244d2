#include "ops/elementwise.hpp"

#include "backends/cpu/parallel.hpp"
#include "core/factory.hpp"
#include "neural_arch/autograd.hpp"
#include "neural_arch/ops.hpp"

namespace neural_arch::ops {

namespace {
constexpr int64_t kGrain = 32768;  // elements per thread below which work stays serial

int category(DType t) { return t == DType::boolean ? 0 : is_integral(t) ? 1 : 2; }
}  // namespace

Operand operand(const Tensor& t, const Shape& shape) {
  Operand o{static_cast<char*>(t.raw_data()), Shape(shape.size(), 0), static_cast<int64_t>(t.element_size())};
  const int64_t lead = static_cast<int64_t>(shape.size()) - t.dim();
  for (int64_t i = 0; i < t.dim(); ++i) o.strides[lead + i] = t.size(i) == 1 ? 0 : t.stride(i);
  return o;
}

void for_each_row(const Shape& shape, const std::vector<Operand>& ops, const RowFn& fn) {
  int64_t numel = 1;
  for (auto s : shape) numel *= s;
  if (numel == 0) return;
  const size_t nops = ops.size();
  // Coalesce: drop size-1 dims and merge dims that are contiguous with their inner neighbour
  // in every operand, so most cases become one long row.
  std::vector<int64_t> sh;
  std::vector<std::vector<int64_t>> st(nops);
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    if (shape[d] == 1) continue;
    bool merge = !sh.empty();
    for (size_t k = 0; merge && k < nops; ++k) merge = ops[k].strides[d] == st[k].back() * sh.back();
    if (merge) {
      sh.back() *= shape[d];
    } else {
      sh.push_back(shape[d]);
      for (size_t k = 0; k < nops; ++k) st[k].push_back(ops[k].strides[d]);
    }
  }
  if (sh.empty()) {
    sh.push_back(1);
    for (size_t k = 0; k < nops; ++k) st[k].push_back(0);
  }
  // sh/st are innermost-first now.
  const int64_t n = sh[0];
  std::vector<int64_t> inner(nops);
  for (size_t k = 0; k < nops; ++k) inner[k] = st[k][0];
  const int64_t rows = numel / n;
  if (rows == 1) {
    cpu::parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) {
      std::vector<char*> p(nops);
      for (size_t k = 0; k < nops; ++k) p[k] = ops[k].data + b * inner[k] * ops[k].elsize;
      fn(p.data(), inner.data(), e - b);
    });
    return;
  }
  cpu::parallel_for(0, rows, std::max<int64_t>(1, kGrain / n), [&](int64_t rb, int64_t re) {
    std::vector<char*> p(nops);
    for (int64_t r = rb; r < re; ++r) {
      for (size_t k = 0; k < nops; ++k) {
        int64_t off = 0, rem = r;
        for (size_t d = 1; d < sh.size(); ++d) {
          off += (rem % sh[d]) * st[k][d];
          rem /= sh[d];
        }
        p[k] = ops[k].data + off * ops[k].elsize;
      }
      fn(p.data(), inner.data(), n);
    }
  });
}

DType result_type(const Tensor& a, const Tensor& b) {
  const bool za = a.dim() == 0, zb = b.dim() == 0;
  if (za == zb) return promote_types(a.dtype(), b.dtype());
  const Tensor& dimmed = za ? b : a;
  const Tensor& zero = za ? a : b;
  if (category(zero.dtype()) > category(dimmed.dtype())) return zero.dtype();
  return dimmed.dtype();
}

Tensor cast(const Tensor& x, DType dtype) {
  if (x.dtype() == dtype) return x;
  Tensor out = detail::make_tensor(x.shape(), dtype);
  const auto& k = cpu::kernels();
  for_each_row(x.shape(), {operand(out, x.shape()), operand(x, x.shape())},
               [&](char* const* p, const int64_t* s, int64_t n) {
                 k.cast(p[0], dtype, p[1], x.dtype(), n, s[0], s[1]);
               });
  return out;
}

Tensor run_binary(cpu::BinaryOp op, const Tensor& a, const Tensor& b, DType out_dtype, const double* p,
                  const char* name, Tensor out) {
  cpu::BinaryKernel k = cpu::kernels().binary[static_cast<int>(op)][cpu::dtype_index(a.dtype())];
  NA_CHECK(k != nullptr, name, "not implemented for dtype ", dtype_name(a.dtype()));
  const bool same = a.shape() == b.shape();
  Shape shape = same ? a.shape() : broadcast_shapes(a.shape(), b.shape(), name);
  if (!out.defined()) {
    out = detail::make_tensor(shape, out_dtype);
  } else {
    NA_CHECK(out.shape() == shape, name, "output with shape ", shape_str(out.shape()),
             " doesn't match the broadcast shape ", shape_str(shape));
  }
  if (same && a.is_contiguous() && b.is_contiguous() && out.is_contiguous()) {
    // Fast path: no iterator set-up (this is what tiny-op overhead is made of).
    char* o = static_cast<char*>(out.raw_data());
    const char* x = static_cast<const char*>(a.raw_data());
    const char* y = static_cast<const char*>(b.raw_data());
    const int64_t eo = out.element_size(), ei = a.element_size();
    cpu::parallel_for(0, out.numel(), kGrain, [&](int64_t s, int64_t e) {
      k(o + s * eo, x + s * ei, y + s * ei, e - s, 1, 1, 1, p);
    });
    return out;
  }
  for_each_row(shape, {operand(out, shape), operand(a, shape), operand(b, shape)},
               [&](char* const* ptr, const int64_t* s, int64_t n) {
                 k(ptr[0], ptr[1], ptr[2], n, s[0], s[1], s[2], p);
               });
  return out;
}

Tensor run_unary(cpu::UnaryOp op, const Tensor& x, const double* p, const char* name, Tensor out) {
  cpu::UnaryKernel k = cpu::kernels().unary[static_cast<int>(op)][cpu::dtype_index(x.dtype())];
  NA_CHECK(k != nullptr, name, "not implemented for dtype ", dtype_name(x.dtype()));
  if (!out.defined()) out = detail::make_tensor(x.shape(), x.dtype());
  if (x.is_contiguous() && out.is_contiguous()) {
    char* o = static_cast<char*>(out.raw_data());
    const char* in = static_cast<const char*>(x.raw_data());
    const int64_t es = x.element_size();
    cpu::parallel_for(0, x.numel(), kGrain,
                      [&](int64_t s, int64_t e) { k(o + s * es, in + s * es, e - s, 1, 1, p); });
    return out;
  }
  for_each_row(x.shape(), {operand(out, x.shape()), operand(x, x.shape())},
               [&](char* const* ptr, const int64_t* s, int64_t n) { k(ptr[0], ptr[1], n, s[0], s[1], p); });
  return out;
}

DType opmath_type(DType t) { return t == DType::f16 || t == DType::bf16 ? DType::f32 : t; }

Tensor unary_float(cpu::UnaryOp op, const Tensor& x, const char* name, const double* p) {
  detail::check_defined(x, name);
  const DType rt = is_floating(x.dtype()) ? x.dtype() : DType::f32;
  // f16/bf16 kernels widen, compute in f32 and round in one pass (kernels_isa.cpp).
  if (rt == x.dtype() && has_unary_kernel(op, rt)) return run_unary(op, x, p, name);
  Tensor out = run_unary(op, cast(x, opmath_type(rt)), p, name);
  return cast(out, rt);
}

Tensor backward_kernel(cpu::BinaryOp op, const Tensor& grad, const Tensor& x, const char* name,
                       const double* p) {
  if (grad.dtype() == x.dtype() && has_binary_kernel(op, x.dtype()))
    return run_binary(op, grad, x, x.dtype(), p, name);
  const DType ct = opmath_type(x.dtype());
  Tensor out = run_binary(op, cast(grad, ct), cast(x, ct), ct, p, name);
  return cast(out, x.dtype());
}

bool has_unary_kernel(cpu::UnaryOp op, DType t) {
  return cpu::kernels().unary[static_cast<int>(op)][cpu::dtype_index(t)] != nullptr;
}
bool has_binary_kernel(cpu::BinaryOp op, DType t) {
  return cpu::kernels().binary[static_cast<int>(op)][cpu::dtype_index(t)] != nullptr;
}

void check_inplace(const Tensor& self, const char* op) {
  detail::check_defined(self, op, "self");
  NA_CHECK(!(is_grad_enabled() && self.requires_grad() && self.is_leaf()), op,
           "a leaf tensor that requires grad is being used in an in-place operation");
  self.storage()->bump_version();
}

Shape broadcast_shapes_impl(const Shape& a, const Shape& b, const char* op) {
  const size_t n = std::max(a.size(), b.size());
  Shape r(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    NA_CHECK(da == db || da == 1 || db == 1, op, "shapes ", shape_str(a), " and ", shape_str(b),
             " cannot be broadcast together (dimension ", i, ": ", da, " vs ", db, ")");
    r[i] = da == 1 ? db : da;
  }
  return r;
}

}  // namespace neural_arch::ops

namespace neural_arch {
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  return ops::broadcast_shapes_impl(a, b, op);
}
}  // namespace neural_arch
