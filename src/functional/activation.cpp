// mish and the gated units glu/geglu/swiglu (fused kernels forward and backward, composed
// under create_graph); relu6, hardswish, elu: compositions of differentiable ops.
#include "neural_arch/functional/activation.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "autograd/function.hpp"
#include "backends/cpu/kernels.hpp"
#include "backends/cpu/parallel.hpp"
#include "core/factory.hpp"
#include "functional/activation_grad.hpp"
#include "neural_arch/autograd.hpp"
#include "ops/elementwise.hpp"

namespace neural_arch::functional {

namespace {
void check_float(const Tensor& x, const char* op) {
  NA_CHECK(x.defined(), op, "input is an undefined tensor");
  NA_CHECK(is_floating(x.dtype()), op, "expected a floating tensor, got ", dtype_name(x.dtype()));
}
}  // namespace

Tensor mish(const Tensor& x) {
  check_float(x, "mish");
  Tensor out = ops::unary_float(cpu::UnaryOp::mish, x, "mish");
  if (autograd::needs_grad({x}))
    autograd::record("MishBackward", {x}, {out},
                     [x_ = autograd::SavedTensor(x)](const std::vector<Tensor>& g) {
                       Tensor v = x_.unpack();
                       if (is_grad_enabled())
                         return std::vector<Tensor>{g[0] * detail::mish_grad_composed(v)};
                       return std::vector<Tensor>{
                           ops::backward_kernel(cpu::BinaryOp::mish_backward, g[0], v, "mish_backward")};
                     });
  return out;
}

namespace {

Tensor gate_composed(const Tensor& b, cpu::GateOp gate) {
  switch (gate) {
    case cpu::GateOp::sigmoid: return sigmoid(b);
    case cpu::GateOp::gelu: return gelu(b, "none");
    case cpu::GateOp::gelu_tanh: return gelu(b, "tanh");
    default: return silu(b);
  }
}

Tensor gate_grad_composed(const Tensor& b, cpu::GateOp gate) {
  switch (gate) {
    case cpu::GateOp::sigmoid: return detail::sigmoid_grad_composed(b);
    case cpu::GateOp::gelu: return detail::gelu_grad_composed(b, false);
    case cpu::GateOp::gelu_tanh: return detail::gelu_grad_composed(b, true);
    default: return detail::silu_grad_composed(b);
  }
}

// x viewed as (outer, 2, span) contiguous: the halves of row o are a = [o, 0, :] and
// b = [o, 1, :]. fn(o, j0, j1) handles a piece of row o; the flat work is split across
// threads so that one long row (dim 0) is threaded too.
template <class F> void for_gated_spans(int64_t outer, int64_t span, F&& fn) {
  cpu::parallel_for(0, outer * span, 32768, [&](int64_t s, int64_t e) {
    while (s < e) {
      const int64_t o = s / span, j0 = s % span, j1 = std::min(span, j0 + (e - s));
      fn(o, j0, j1);
      s += j1 - j0;
    }
  });
}

// out = a * gate(b) for the halves a, b of x along dim, one fused kernel forward and backward.
Tensor gated_unit(const Tensor& x, int64_t dim, cpu::GateOp gate, const char* op) {
  check_float(x, op);
  NA_CHECK(x.dim() >= 1, op, op, " does not support scalars (got a 0-d tensor)");
  NA_CHECK(dim >= -x.dim() && dim < x.dim(), op, "dim ", dim, " is out of range for shape ",
           shape_str(x.shape()));
  const int64_t d = dim < 0 ? dim + x.dim() : dim;
  NA_CHECK(x.size(d) % 2 == 0, op, "halving dimension must be even, but dimension ", d, " is size ",
           x.size(d), " (shape ", shape_str(x.shape()), ")");
  const int64_t half = x.size(d) / 2;
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < d; ++i) outer *= x.size(i);
  for (int64_t i = d + 1; i < x.dim(); ++i) inner *= x.size(i);
  const int64_t span = half * inner;
  Shape out_shape = x.shape();
  out_shape[d] = half;
  const DType ct = ops::opmath_type(x.dtype());
  NA_CHECK(ct == DType::f32 || ct == DType::f64, op, "unsupported dtype ", dtype_name(x.dtype()));
  const int di = cpu::dtype_index(ct), gi = static_cast<int>(gate);
  const int64_t es = ct == DType::f64 ? 8 : 4;
  Tensor out;
  {
    NoGradGuard ng;
    const Tensor xc = ops::cast(x, ct).contiguous();
    out = detail::make_tensor(out_shape, ct);
    const cpu::GatedKernel k = cpu::kernels().gated[gi][di];
    const char* px = static_cast<const char*>(xc.raw_data());
    char* po = static_cast<char*>(out.raw_data());
    for_gated_spans(outer, span, [&](int64_t o, int64_t j0, int64_t j1) {
      const char* a = px + ((o * 2) * span + j0) * es;
      k(po + (o * span + j0) * es, a, a + span * es, j1 - j0);
    });
    out = ops::cast(out, x.dtype());
  }
  if (autograd::needs_grad({x}))
    autograd::record(
        "GatedUnitBackward", {x}, {out},
        [x_ = autograd::SavedTensor(x), d, half, gate, outer, span, ct, es](const std::vector<Tensor>& g) {
          const Tensor v = x_.unpack();
          if (is_grad_enabled()) {
            const Tensor a = v.narrow(d, 0, half), b = v.narrow(d, half, half);
            return std::vector<Tensor>{
                cat({g[0] * gate_composed(b, gate), g[0] * a * gate_grad_composed(b, gate)}, d)};
          }
          const Tensor xc = ops::cast(v, ct).contiguous(), gc = ops::cast(g[0], ct).contiguous();
          Tensor gx = detail::make_tensor(v.shape(), ct);
          const cpu::GatedBackwardKernel k =
              cpu::kernels().gated_backward[static_cast<int>(gate)][cpu::dtype_index(ct)];
          const char* px = static_cast<const char*>(xc.raw_data());
          const char* pg = static_cast<const char*>(gc.raw_data());
          char* pgx = static_cast<char*>(gx.raw_data());
          for_gated_spans(outer, span, [&](int64_t o, int64_t j0, int64_t j1) {
            const int64_t ia = ((o * 2) * span + j0) * es, ib = ia + span * es;
            k(pgx + ia, pgx + ib, pg + (o * span + j0) * es, px + ia, px + ib, j1 - j0);
          });
          return std::vector<Tensor>{ops::cast(gx, v.dtype())};
        });
  return out;
}

}  // namespace

Tensor glu(const Tensor& x, int64_t dim) { return gated_unit(x, dim, cpu::GateOp::sigmoid, "glu"); }

Tensor geglu(const Tensor& x, int64_t dim, const std::string& approximate) {
  NA_CHECK(approximate == "none" || approximate == "tanh", "geglu",
           "approximate must be 'none' or 'tanh', got '", approximate, "'");
  return gated_unit(x, dim, approximate == "tanh" ? cpu::GateOp::gelu_tanh : cpu::GateOp::gelu, "geglu");
}

Tensor swiglu(const Tensor& x, int64_t dim) { return gated_unit(x, dim, cpu::GateOp::silu, "swiglu"); }

Tensor hardtanh(const Tensor& x, double min_val, double max_val) {
  NA_CHECK(x.defined(), "hardtanh", "input is an undefined tensor");
  NA_CHECK(x.dtype() != DType::boolean, "hardtanh", "not implemented for bool tensors");
  NA_CHECK(min_val <= max_val, "hardtanh", "min_val (", min_val, ") cannot be greater than max_val (",
           max_val, ")");
  Tensor out;
  {
    NoGradGuard ng;
    // Integer inputs keep their dtype (torch's hardtanh on int64 gives int64).
    if (is_floating(x.dtype()))
      out = clamp(x, Scalar(min_val), Scalar(max_val));
    else
      out = clamp(x, Scalar(static_cast<int64_t>(std::ceil(min_val))),
                  Scalar(static_cast<int64_t>(std::floor(max_val))));
  }
  if (autograd::needs_grad({x}))
    autograd::record("HardtanhBackward", {x}, {out},
                     [x_ = autograd::SavedTensor(x), min_val, max_val](const std::vector<Tensor>& g) {
                       // 0 at and beyond the bounds (so relu6'(0) = relu6'(6) = 0), the gradient
                       // elsewhere, NaN included: torch's hardtanh_backward.
                       Tensor v = x_.unpack();
                       Tensor out_of = logical_or(le(v, full_like(v, min_val)), ge(v, full_like(v, max_val)));
                       return std::vector<Tensor>{where(out_of, zeros_like(g[0]), g[0])};
                     });
  return out;
}

Tensor relu6(const Tensor& x) { return hardtanh(x, 0.0, 6.0); }

Tensor hardswish(const Tensor& x) {
  check_float(x, "hardswish");
  return x * clamp(x + 3.0, Scalar(0.0), Scalar(6.0)) * (1.0 / 6.0);
}

Tensor elu(const Tensor& x, double alpha) {
  check_float(x, "elu");
  // exp of the clamped value keeps large positive inputs (unused branch) from overflowing.
  Tensor neg_part = (exp(clamp(x, std::nullopt, Scalar(0.0))) - 1.0) * alpha;
  return where(gt(x, zeros_like(x)), x, neg_part);
}

}  // namespace neural_arch::functional
