// The fused-kernel switch and bias_dropout_add (see fused.hpp).
#include "neural_arch/functional/fused.hpp"

#include <atomic>
#include <cmath>

#include "autograd/function.hpp"
#include "backends/cpu/nn_kernels.hpp"
#include "core/factory.hpp"
#include "neural_arch/autograd.hpp"
#include "neural_arch/ops.hpp"
#include "neural_arch/optimization/autocast.hpp"

namespace neural_arch::functional {

namespace {
std::atomic<bool> g_fused{true};
}  // namespace

bool fused_kernels_enabled() { return g_fused.load(std::memory_order_relaxed); }
void set_fused_kernels_enabled(bool enabled) { g_fused.store(enabled, std::memory_order_relaxed); }

namespace {

// The mask of element (r, c) of the (rows, n) view: keep when hash(seed, r, c) < threshold.
struct MaskKey {
  uint64_t seed = 0;
  uint64_t threshold = 0;
  double scale = 1.0;
};

template <class T>
Tensor run_forward(const Tensor& x, const Tensor& bias, const Tensor& res, int64_t rows, int64_t n,
                   const MaskKey& m) {
  Tensor y = detail::make_tensor(x.shape(), x.dtype());
  cpu::nn_kernels_for<T>().bias_dropout_add(
      y.data_ptr<T>(), x.data_ptr<T>(), bias.defined() ? bias.data_ptr<T>() : nullptr,
      res.defined() ? res.data_ptr<T>() : nullptr, rows, n, m.seed, m.threshold, m.scale);
  return y;
}

template <class T>
std::pair<Tensor, Tensor> run_backward(const Tensor& g, bool want_bias, int64_t rows, int64_t n,
                                       const MaskKey& m) {
  Tensor gx = detail::make_tensor(g.shape(), g.dtype());
  Tensor gb = want_bias ? detail::make_tensor({n}, g.dtype()) : Tensor();
  cpu::nn_kernels_for<T>().dropout_backward(gx.data_ptr<T>(), want_bias ? gb.data_ptr<T>() : nullptr,
                                            g.data_ptr<T>(), rows, n, m.seed, m.threshold, m.scale);
  return {gx, gb};
}

}  // namespace

Tensor bias_dropout_add(const Tensor& x, const Tensor& bias, const Tensor& residual, double p, bool training,
                        Generator* gen) {
  const char* op = "bias_dropout_add";
  detail::check_defined(x, op, "x");
  // Autocast's policy for ops with several inputs: compute in the widest input type (a GPT
  // block adds its bf16 attention output to the f32 residual stream).
  if (optimization::is_autocast_enabled()) {
    DType t = x.dtype();
    bool mixed = false;
    for (const Tensor* o : {&bias, &residual})
      if (o->defined() && o->dtype() != x.dtype() &&
          optimization::autocast_compatible(o->dtype(), x.dtype()) &&
          optimization::autocast_compatible(x.dtype(), o->dtype()))
        t = promote_types(t, o->dtype()), mixed = true;
    if (mixed) {
      auto cast = [t](const Tensor& u) { return u.defined() && u.dtype() != t ? u.to(t) : u; };
      return bias_dropout_add(cast(x), cast(bias), cast(residual), p, training, gen);
    }
  }
  NA_CHECK(is_floating(x.dtype()), op, "expected a floating x, got ", dtype_name(x.dtype()));
  NA_CHECK(p >= 0.0 && p <= 1.0, op, "dropout probability has to be between 0 and 1, but got ", p);
  NA_CHECK(x.dim() >= 1 || !bias.defined(), op, "a bias needs x with at least one dim, got a 0-d x");
  if (bias.defined())
    NA_CHECK(bias.dim() == 1 && bias.size(0) == x.size(-1) && bias.dtype() == x.dtype(), op,
             "bias must be 1-D of x's last dim ", x.size(-1), " and dtype ", dtype_name(x.dtype()), ", got ",
             dtype_name(bias.dtype()), " of shape ", shape_str(bias.shape()));
  if (residual.defined())
    NA_CHECK(residual.shape() == x.shape() && residual.dtype() == x.dtype(), op,
             "residual must have x's shape ", shape_str(x.shape()), " and dtype ", dtype_name(x.dtype()),
             ", got ", dtype_name(residual.dtype()), " of shape ", shape_str(residual.shape()));
  const bool drop = training && p > 0.0;
  const bool fused =
      fused_kernels_enabled() && (x.dtype() == DType::f32 || x.dtype() == DType::f64) && p < 1.0;
  if (!fused || !drop) {  // the composition (no dropout: two adds, nothing to fuse worth a kernel)
    Tensor h = bias.defined() ? x + bias : x;
    if (drop) h = dropout(h, p, true, gen);
    return residual.defined() ? residual + h : h;
  }
  MaskKey m;
  m.seed = (gen ? *gen : default_generator()).engine()();
  m.threshold = static_cast<uint64_t>(std::llround((1.0 - p) * 4294967296.0));
  m.scale = 1.0 / (1.0 - p);
  const int64_t n = x.dim() ? x.size(-1) : 1;
  const int64_t rows = n ? x.numel() / n : 0;
  Tensor xc, bc, rc;
  {
    NoGradGuard ng;
    xc = x.contiguous();
    bc = bias.defined() ? bias.contiguous() : Tensor();
    rc = residual.defined() ? residual.contiguous() : Tensor();
  }
  Tensor y = x.dtype() == DType::f32 ? run_forward<float>(xc, bc, rc, rows, n, m)
                                     : run_forward<double>(xc, bc, rc, rows, n, m);
  std::vector<Tensor> inputs{x};
  if (bias.defined()) inputs.push_back(bias);
  if (residual.defined()) inputs.push_back(residual);
  if (autograd::needs_grad(inputs)) {
    const bool has_bias = bias.defined(), has_res = residual.defined();
    autograd::record(
        "BiasDropoutAddBackward", inputs, {y}, [m, rows, n, has_bias, has_res](const std::vector<Tensor>& g) {
          Tensor gy = g[0].contiguous();
          const bool f32 = gy.dtype() == DType::f32;
          std::pair<Tensor, Tensor> r;
          if (is_grad_enabled()) {  // double backward: the regenerated mask as a tensor, then ops
            Tensor mask;
            {
              NoGradGuard ng;
              Tensor ones = ones_like(gy);
              mask = f32 ? run_backward<float>(ones, false, rows, n, m).first
                         : run_backward<double>(ones, false, rows, n, m).first;
            }
            r.first = gy * mask;
            if (has_bias) r.second = r.first.reshape({rows, n}).sum({0});
          } else {
            r = f32 ? run_backward<float>(gy, has_bias, rows, n, m)
                    : run_backward<double>(gy, has_bias, rows, n, m);
          }
          std::vector<Tensor> out{r.first};
          if (has_bias) out.push_back(r.second);
          if (has_res) out.push_back(g[0]);
          return out;
        });
  }
  return y;
}

}  // namespace neural_arch::functional
