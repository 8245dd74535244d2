// Fused Linear + activation (see fusion.hpp).
//
// Forward. Without a graph (inference) and for "none"/"relu" always, it is one oneDNN matmul
// whose post-ops add the bias and apply the activation to each output tile while it is in
// cache: y is written once and nothing else is kept (relu's backward needs only y > 0, which
// is z > 0). For gelu/gelu_tanh/silu under autograd the derivative needs the pre-activation
// z, and the cheapest honest way to have it is to keep it: the matmul writes z with the bias
// fused, then one vectorized pass writes y = act(z) and z is saved. That pass costs 8 bytes
// per output element against the GEMM's 2*in flops (about 3% at in = 1024); the alternatives
// are worse: recomputing z in backward is a third GEMM, and inverting gelu from y is
// ill-conditioned near its minimum. The plain composition keeps the same z (as gelu's input).
//
// Backward (one node for the whole layer). One pass over the output gradient g, row by row:
// grad_z = g * act'(z) with the per-ISA fused backward kernel, and while that row is in L1
// its values are added into the bias gradient. Rows are taken in fixed chunks whose partial
// column sums are added in chunk order, so the result does not depend on the thread count.
// Then the two GEMMs, each writing a fresh tensor (no accumulate): grad_x = grad_z W and
// grad_W = grad_z^T x. Under create_graph the gradient is instead composed from
// differentiable ops (z recomputed as linear(x, W, b)), so double backward works.
#include "neural_arch/optimization/fusion.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "autograd/function.hpp"
#include "backends/cpu/gemm.hpp"
#include "backends/cpu/kernels.hpp"
#include "backends/cpu/parallel.hpp"
#include "core/factory.hpp"
#include "functional/activation_grad.hpp"
#include "neural_arch/autograd.hpp"
#include "neural_arch/ops.hpp"
#include "ops/elementwise.hpp"

namespace neural_arch::optimization {

namespace {

using autograd::SavedTensor;
using Grads = std::vector<Tensor>;

enum class Act { none, relu, gelu, gelu_tanh, silu };

Act parse_activation(const std::string& a) {
  if (a == "none") return Act::none;
  if (a == "relu") return Act::relu;
  if (a == "gelu") return Act::gelu;
  if (a == "gelu_tanh") return Act::gelu_tanh;
  if (a == "silu") return Act::silu;
  detail::throw_error("fuse_linear_activation", "unknown activation '", a,
                      "'; expected one of none, relu, gelu, gelu_tanh, silu");
}

Tensor apply_activation(const Tensor& z, Act act) {
  switch (act) {
    case Act::none: return z;
    case Act::relu: return relu(z);
    case Act::gelu: return gelu(z, "none");
    case Act::gelu_tanh: return gelu(z, "tanh");
    case Act::silu: return silu(z);
  }
  return z;
}

cpu::GemmActivation gemm_activation(Act act) {
  switch (act) {
    case Act::relu: return cpu::GemmActivation::relu;
    case Act::gelu: return cpu::GemmActivation::gelu_erf;
    case Act::gelu_tanh: return cpu::GemmActivation::gelu_tanh;
    case Act::silu: return cpu::GemmActivation::silu;
    case Act::none: break;
  }
  return cpu::GemmActivation::none;
}

cpu::UnaryOp unary_op(Act act) {
  switch (act) {
    case Act::gelu: return cpu::UnaryOp::gelu;
    case Act::gelu_tanh: return cpu::UnaryOp::gelu_tanh;
    case Act::silu: return cpu::UnaryOp::silu;
    default: break;
  }
  return cpu::UnaryOp::relu;
}

cpu::BinaryOp backward_op(Act act) {
  switch (act) {
    case Act::gelu: return cpu::BinaryOp::gelu_backward;
    case Act::gelu_tanh: return cpu::BinaryOp::gelu_tanh_backward;
    case Act::silu: return cpu::BinaryOp::silu_backward;
    default: break;
  }
  return cpu::BinaryOp::relu_backward;  // applied to y: y > 0 exactly where z > 0
}

// d act / dz composed from ops (differentiable), for create_graph.
Tensor activation_grad_composed(const Tensor& z, Act act) {
  switch (act) {
    case Act::none: return ones_like(z);
    case Act::relu: return gt(z, zeros_like(z)).to(z.dtype());
    case Act::gelu: return detail::gelu_grad_composed(z, false);
    case Act::gelu_tanh: return detail::gelu_grad_composed(z, true);
    case Act::silu: return detail::silu_grad_composed(z);
  }
  return z;
}

int64_t lead_rows(const Tensor& t) {
  int64_t r = 1;
  for (int64_t d = 0; d + 1 < t.dim(); ++d) r *= t.size(d);
  return r;
}

// grad_z (rows x n) = g * act'(s) and bias_grad (n) = column sums of grad_z, in one pass.
// s is z, or y for relu; act none passes g through (grad_z may then alias g). Either output
// may be null when not wanted.
template <class T>
void activation_backward_pass(Act act, const T* g, const T* s, T* gz, T* gbias, int64_t rows, int64_t n) {
  constexpr int64_t kChunkRows = 32;  // fixed, so sums do not depend on the thread count
  const int64_t chunks = (rows + kChunkRows - 1) / kChunkRows;
  std::vector<T> partial(gbias ? static_cast<size_t>(chunks * n) : 0);
  cpu::BinaryKernel k = nullptr;
  if (act != Act::none) {
    k = cpu::kernels().binary[static_cast<int>(backward_op(act))][cpu::dtype_index(dtype_of<T>::value)];
    NA_CHECK(k != nullptr, "fuse_linear_activation", "no backward kernel for ",
             dtype_name(dtype_of<T>::value));
  }
  cpu::parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      T* acc = gbias ? partial.data() + c * n : nullptr;
      if (acc) std::fill(acc, acc + n, T(0));
      const int64_t r1 = std::min(rows, (c + 1) * kChunkRows);
      for (int64_t r = c * kChunkRows; r < r1; ++r) {
        const T* grow = g + r * n;
        const T* row = grow;
        if (k) {
          T* out = gz + r * n;
          k(reinterpret_cast<char*>(out), reinterpret_cast<const char*>(grow),
            reinterpret_cast<const char*>(s + r * n), n, 1, 1, 1, nullptr);
          row = out;
        }
        if (acc)  // the row just written is in L1
          for (int64_t j = 0; j < n; ++j) acc[j] += row[j];
      }
    }
  });
  if (!gbias) return;
  cpu::parallel_for(0, n, 256, [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      double sum = 0;
      for (int64_t c = 0; c < chunks; ++c) sum += static_cast<double>(partial[c * n + j]);
      gbias[j] = static_cast<T>(sum);
    }
  });
}

template <class T>
Grads fused_backward(Act act, const Tensor& grad_out, const Tensor& saved, const Tensor& x, const Tensor& w,
                     bool gx, bool gw, bool gb, const Shape& x_shape) {
  NoGradGuard no_grad;
  const int64_t outf = w.size(0), in = w.size(1), rows = lead_rows(grad_out);
  const Tensor g = grad_out.contiguous();
  Tensor gz = g, gbias;
  if (act != Act::none) gz = detail::make_tensor({rows, outf}, dtype_of<T>::value);
  if (gb) gbias = detail::make_tensor({outf}, dtype_of<T>::value);
  if (act != Act::none || gb)
    activation_backward_pass<T>(
        act, g.data_ptr<T>(), act == Act::none ? nullptr : saved.contiguous().data_ptr<T>(),
        act == Act::none ? nullptr : gz.data_ptr<T>(), gb ? gbias.data_ptr<T>() : nullptr, rows, outf);
  Tensor rx, rw;
  if (gx) {
    const Tensor wc = w.contiguous();
    rx = detail::make_tensor(x_shape, dtype_of<T>::value);
    if (rx.numel() > 0)
      cpu::gemm(false, false, rows, in, outf, gz.data_ptr<T>(), std::max<int64_t>(outf, 1), wc.data_ptr<T>(),
                std::max<int64_t>(in, 1), rx.data_ptr<T>(), std::max<int64_t>(in, 1));
  }
  if (gw) {
    const Tensor xc = x.contiguous();
    rw = detail::make_tensor({outf, in}, dtype_of<T>::value);
    if (rw.numel() > 0) {
      if (rows == 0)
        rw.zero_();
      else
        cpu::gemm(true, false, outf, in, rows, gz.data_ptr<T>(), std::max<int64_t>(outf, 1), xc.data_ptr<T>(),
                  std::max<int64_t>(in, 1), rw.data_ptr<T>(), std::max<int64_t>(in, 1));
    }
  }
  return {rx, rw, gbias};
}

template <class T>
Tensor fused_forward(Act act, bool keep_z, const Tensor& x, const Tensor& w, const Tensor& b, Tensor* z_out) {
  NoGradGuard no_grad;
  const int64_t outf = w.size(0), in = w.size(1), rows = lead_rows(x);
  Shape out_shape(x.shape().begin(), x.shape().end() - 1);
  out_shape.push_back(outf);
  Tensor out = detail::make_tensor(out_shape, x.dtype());
  if (out.numel() == 0) {
    if (keep_z) *z_out = out;  // empty: backward reads nothing from it
    return out;
  }
  const Tensor xc = x.contiguous(), wc = w.contiguous(), bc = b.defined() ? b.contiguous() : Tensor();
  // W (out, in) row-major is W^T passed transposed: one GEMM, epilogue in the post-ops.
  auto run = [&](Tensor& dst, cpu::GemmActivation ga) {
    cpu::gemm(false, true, rows, outf, in, xc.data_ptr<T>(), std::max<int64_t>(in, 1), wc.data_ptr<T>(),
              std::max<int64_t>(in, 1), dst.data_ptr<T>(), outf, T(0),
              bc.defined() ? bc.data_ptr<T>() : nullptr, ga);
  };
  if (!keep_z) {
    run(out, gemm_activation(act));
    return out;
  }
  Tensor z = detail::make_tensor(out_shape, x.dtype());
  run(z, cpu::GemmActivation::none);
  ops::run_unary(unary_op(act), z, nullptr, "fuse_linear_activation", out);
  *z_out = z;
  return out;
}

void check_args(const Tensor& x, const Tensor& w, const Tensor& b) {
  const char* op = "fuse_linear_activation";
  NA_CHECK(x.defined() && w.defined(), op, "input and weight must be defined tensors");
  NA_CHECK(is_floating(x.dtype()), op, "expected a floating input, got ", dtype_name(x.dtype()));
  NA_CHECK(x.dtype() == w.dtype(), op, "input dtype ", dtype_name(x.dtype()), " does not match weight dtype ",
           dtype_name(w.dtype()));
  NA_CHECK(w.dim() == 2, op, "weight must be 2-D (out_features, in_features), got shape ",
           shape_str(w.shape()));
  NA_CHECK(x.dim() >= 1 && x.size(-1) == w.size(1), op, "input shape ", shape_str(x.shape()),
           " and weight shape ", shape_str(w.shape()), " cannot be multiplied: in_features is ", w.size(1));
  if (b.defined()) {
    NA_CHECK(b.dtype() == x.dtype(), op, "bias dtype ", dtype_name(b.dtype()), " does not match input dtype ",
             dtype_name(x.dtype()));
    NA_CHECK(b.dim() == 1 && b.size(0) == w.size(0), op, "bias must have shape (", w.size(0),
             ",) to match weight shape ", shape_str(w.shape()), ", got ", shape_str(b.shape()));
  }
  NA_CHECK(x.device().is_cpu() && w.device().is_cpu() && (!b.defined() || b.device().is_cpu()), op,
           "only CPU tensors are supported");
}

}  // namespace

bool is_fusable_activation(const std::string& a) {
  return a == "none" || a == "relu" || a == "gelu" || a == "gelu_tanh" || a == "silu";
}

Tensor linear_activation_unfused(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                 const std::string& activation) {
  const Act act = parse_activation(activation);
  return apply_activation(linear(x, weight, bias), act);
}

Tensor fuse_linear_activation(const Tensor& x, const Tensor& weight, const Tensor& bias,
                              const std::string& activation) {
  const Act act = parse_activation(activation);
  check_args(x, weight, bias);
  const DType dt = x.dtype();
  if (dt != DType::f32 && dt != DType::f64) return apply_activation(linear(x, weight, bias), act);
  const bool train = autograd::needs_grad({x, weight, bias});
  const bool keep_z = train && act != Act::none && act != Act::relu;
  Tensor z;
  Tensor out = dt == DType::f64 ? fused_forward<double>(act, keep_z, x, weight, bias, &z)
                                : fused_forward<float>(act, keep_z, x, weight, bias, &z);
  if (!train) return out;
  const bool gx = x.requires_grad(), gw = weight.requires_grad(), gb = bias.defined() && bias.requires_grad();
  // What backward reads: z, or y for relu (saved as this node's output), nothing for none.
  SavedTensor s = act == Act::relu ? SavedTensor(out, true) : SavedTensor(z);
  autograd::record("FusedLinearActivationBackward", {x, weight, bias}, {out},
                   [act, s, x_ = SavedTensor(x), w_ = SavedTensor(weight), b_ = SavedTensor(bias), gx, gw, gb,
                    x_shape = x.shape()](const Grads& g) -> Grads {
                     const Tensor xv = x_.unpack(), wv = w_.unpack();
                     if (is_grad_enabled()) {
                       // create_graph: differentiable composition (recomputes z from x, W, b).
                       const Tensor zr = linear(xv, wv, b_.unpack());
                       const Tensor gz = g[0] * activation_grad_composed(zr, act);
                       const int64_t rows = lead_rows(gz), outf = wv.size(0), in = wv.size(1);
                       const Tensor gz2 = gz.reshape({rows, outf});
                       Tensor rx, rw, rb;
                       if (gx) rx = matmul(gz, wv);
                       if (gw) rw = mm(gz2.t(), xv.reshape({rows, in}));
                       if (gb) rb = sum(gz2, {0});
                       return {rx, rw, rb};
                     }
                     const Tensor sv = s.defined() ? s.unpack() : Tensor();
                     return xv.dtype() == DType::f64
                                ? fused_backward<double>(act, g[0], sv, xv, wv, gx, gw, gb, x_shape)
                                : fused_backward<float>(act, g[0], sv, xv, wv, gx, gw, gb, x_shape);
                   });
  return out;
}

}  // namespace neural_arch::optimization
