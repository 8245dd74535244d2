// Free-function ops (na.zeros, na.matmul, ...) and the functional API (neural_arch.functional:
// activations, losses, conv, pooling, normalization, attention), each a thin call into the core.
#include "autograd/function.hpp"
#include "common.hpp"
#include "neural_arch/autograd.hpp"
#include "neural_arch/functional/activation.hpp"
#include "neural_arch/functional/attention.hpp"
#include "neural_arch/functional/loss.hpp"
#include "neural_arch/functional/normalization.hpp"
#include "neural_arch/functional/pooling.hpp"

namespace neural_arch::python {

namespace {

namespace F = neural_arch::functional;
using OptT = std::optional<Tensor>;
Tensor opt(const OptT& t) { return t ? *t : Tensor(); }

TensorOptions options(nb::handle dtype, bool requires_grad, DType fallback = DType::f32) {
  TensorOptions o(dtype.is_none() ? fallback : dtype_from_python(dtype));
  o.requires_grad(requires_grad);
  return o;
}

using Creation = Tensor (*)(const Shape&, TensorOptions);

template <Creation C> void creation(nb::module_& m, const char* name, const char* doc) {
  m.def(
      name,
      [](nb::args size, nb::handle dtype, bool requires_grad) {
        return C(shape_from_args(size), options(dtype, requires_grad));
      },
      nb::arg("size"), nb::kw_only(), nb::arg("dtype") = nb::none(), nb::arg("requires_grad") = false, doc);
}
Tensor zeros_(const Shape& s, TensorOptions o) { return zeros(s, o); }
Tensor ones_(const Shape& s, TensorOptions o) { return ones(s, o); }
Tensor empty_(const Shape& s, TensorOptions o) { return empty(s, o); }
Tensor rand_(const Shape& s, TensorOptions o) { return rand(s, o); }
Tensor randn_(const Shape& s, TensorOptions o) { return randn(s, o); }

using UnaryOp = Tensor (*)(const Tensor&);
template <UnaryOp F> void unary(nb::module_& m, const char* name) {
  m.def(
      name, [](const Tensor& x) { return F(x); }, nb::arg("input"), nogil());
}

using BinaryOp = Tensor (*)(const Tensor&, const Tensor&);
/// Binary ops take a tensor and a tensor or a number on either side (torch.add(x, 2)).
template <BinaryOp F> void binary(nb::module_& m, const char* name) {
  m.def(
      name,
      [](nb::handle a, nb::handle b) {
        Tensor ta = nb::isinstance<Tensor>(a) ? nb::cast<Tensor>(a) : Tensor();
        Tensor tb = nb::isinstance<Tensor>(b) ? nb::cast<Tensor>(b) : Tensor();
        NA_CHECK(ta.defined() || tb.defined(), "binary op", "at least one argument must be a Tensor");
        if (!ta.defined()) ta = operand_arg(a, tb, "binary op");
        if (!tb.defined()) tb = operand_arg(b, ta, "binary op");
        nb::gil_scoped_release rel;
        return F(ta, tb);
      },
      nb::arg("input"), nb::arg("other"));
}
Tensor add2(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor sub2(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor pow2(const Tensor& a, const Tensor& b) { return pow(a, b); }
Tensor relu6_(const Tensor& x) { return F::relu6(x); }
Tensor hardswish_(const Tensor& x) { return F::hardswish(x); }
Tensor mish_(const Tensor& x) { return F::mish(x); }

}  // namespace

void init_ops(nb::module_& m) {
  // --- creation
  creation<zeros_>(m, "zeros", "Tensor of zeros: zeros(2, 3) or zeros((2, 3)).");
  creation<ones_>(m, "ones", "Tensor of ones.");
  creation<empty_>(m, "empty", "Uninitialised tensor.");
  creation<rand_>(m, "rand", "Uniform [0, 1) samples from the default generator.");
  creation<randn_>(m, "randn", "Standard normal samples from the default generator.");
  m.def(
      "full",
      [](const Shape& size, double value, nb::handle dtype, bool rg) {
        return full(size, value, options(dtype, rg));
      },
      nb::arg("size"), nb::arg("fill_value"), nb::kw_only(), nb::arg("dtype") = nb::none(),
      nb::arg("requires_grad") = false);
  m.def(
      "randint",
      [](int64_t low, int64_t high, const Shape& size, nb::handle dtype) {
        return randint(low, high, size, options(dtype, false, DType::i64));
      },
      nb::arg("low"), nb::arg("high"), nb::arg("size"), nb::kw_only(), nb::arg("dtype") = nb::none());
  m.def(
      "arange",
      [](nb::handle start, nb::handle end, nb::handle step, nb::handle dtype) {
        auto s0 = scalar_from_python(start), s1 = scalar_from_python(end), st = scalar_from_python(step);
        NA_CHECK(s0 && st && (s1 || end.is_none()), "arange", "start, end and step must be numbers");
        std::optional<TensorOptions> o;
        if (!dtype.is_none()) o = TensorOptions(dtype_from_python(dtype));
        return end.is_none() ? arange(*s0, o) : arange(*s0, *s1, *st, o);
      },
      nb::arg("start"), nb::arg("end") = nb::none(), nb::arg("step") = 1, nb::kw_only(),
      nb::arg("dtype") = nb::none());
  m.def(
      "linspace",
      [](double a, double b, int64_t n, nb::handle dtype) {
        return linspace(a, b, n, options(dtype, false));
      },
      nb::arg("start"), nb::arg("end"), nb::arg("steps"), nb::kw_only(), nb::arg("dtype") = nb::none());
  m.def(
      "eye",
      [](int64_t n, std::optional<int64_t> mm, nb::handle dtype) {
        return eye(n, mm, options(dtype, false));
      },
      nb::arg("n"), nb::arg("m") = nb::none(), nb::kw_only(), nb::arg("dtype") = nb::none());
  m.def("zeros_like", &zeros_like, nb::arg("input"));
  m.def("ones_like", &ones_like, nb::arg("input"));
  m.def("empty_like", &empty_like, nb::arg("input"));
  m.def(
      "full_like", [](const Tensor& t, double v) { return full_like(t, v); }, nb::arg("input"),
      nb::arg("fill_value"));
  m.def(
      "tensor",
      [](nb::handle data, nb::handle dtype, bool requires_grad) {
        Tensor t = tensor_from_python(
            data, dtype.is_none() ? std::nullopt : std::optional<DType>(dtype_from_python(dtype)));
        if (requires_grad) t.requires_grad_(true);
        return t;
      },
      nb::arg("data"), nb::kw_only(), nb::arg("dtype") = nb::none(), nb::arg("requires_grad") = false,
      "A copy of data with its dtype inferred as torch.tensor does (floats -> float32, ints -> int64).");
  m.def(
      "from_numpy",
      [](nb::handle a) {
        nb::module_ np = nb::module_::import_("numpy");
        NA_CHECK(nb::isinstance(a, np.attr("ndarray")), "from_numpy", "expected a numpy.ndarray, got ",
                 nb::cast<std::string>(nb::str(a.type().attr("__name__"))));
        NA_CHECK(
            nb::cast<bool>(a.attr("flags").attr("writeable")), "from_numpy",
            "the array is read-only; tensors are writable, so pass a writable array or a copy (np.array(a))");
        return tensor_from_dlpack(a, "from_numpy");
      },
      nb::arg("ndarray"), "A tensor sharing the array's memory (no copy); it keeps the array alive.");
  m.def(
      "from_dlpack", [](nb::handle obj) { return tensor_from_dlpack(obj, "from_dlpack"); },
      nb::arg("ext_tensor"),
      "A tensor sharing the memory of a CPU DLPack producer (PyTorch, NumPy, ...), no copy.");

  // --- elementwise
  binary<add2>(m, "add");
  binary<sub2>(m, "sub");
  binary<mul>(m, "mul");
  binary<div>(m, "div");
  binary<pow2>(m, "pow");
  binary<maximum>(m, "maximum");
  binary<minimum>(m, "minimum");
  binary<eq>(m, "eq");
  binary<ne>(m, "ne");
  binary<lt>(m, "lt");
  binary<le>(m, "le");
  binary<gt>(m, "gt");
  binary<ge>(m, "ge");
  binary<logical_and>(m, "logical_and");
  binary<logical_or>(m, "logical_or");
  binary<logical_xor>(m, "logical_xor");
  // Unary ops: na.exp(x) and x.exp() alike.
  const std::pair<const char*, UnaryOp> unary_ops[] = {
      {"logical_not", &logical_not},
      {"neg", &neg},
      {"exp", &exp},
      {"log", &log},
      {"log1p", &log1p},
      {"sqrt", &sqrt},
      {"rsqrt", &rsqrt},
      {"abs", &abs},
      {"sign", &sign},
      {"sin", &sin},
      {"cos", &cos},
      {"tanh", &tanh},
      {"sigmoid", &sigmoid},
      {"relu", &relu},
      {"silu", &silu},
      {"erf", &erf},
      {"relu6", &relu6_},
      {"hardswish", &hardswish_},
      {"mish", &mish_},
  };
  for (const auto& [name, fn] : unary_ops) {
    m.def(
        name, [fn = fn](const Tensor& x) { return fn(x); }, nb::arg("input"), nogil());
    m.attr("Tensor").attr(name) = nb::cpp_function([fn = fn](const Tensor& x) { return fn(x); },
                                                   nb::is_method(), nb::name(name), nogil());
  }
  m.def(
      "gelu", [](const Tensor& x, const std::string& a) { return gelu(x, a); }, nb::arg("input"),
      nb::arg("approximate") = "none", nogil());
  m.def(
      "leaky_relu", [](const Tensor& x, double s) { return leaky_relu(x, s); }, nb::arg("input"),
      nb::arg("negative_slope") = 0.01, nogil());
  m.def(
      "softplus", [](const Tensor& x, double b, double t) { return softplus(x, b, t); }, nb::arg("input"),
      nb::arg("beta") = 1.0, nb::arg("threshold") = 20.0, nogil());
  m.def(
      "elu", [](const Tensor& x, double a) { return F::elu(x, a); }, nb::arg("input"), nb::arg("alpha") = 1.0,
      nogil());
  m.def(
      "glu", [](const Tensor& x, int64_t d) { return F::glu(x, d); }, nb::arg("input"), nb::arg("dim") = -1,
      nogil());
  m.def("clamp", &clamp_optional, nb::arg("input"), nb::arg("min") = nb::none(), nb::arg("max") = nb::none(),
        nogil());
  m.def(
      "where",
      [](const Tensor& c, nb::handle a, nb::handle b) {
        Tensor ta = nb::isinstance<Tensor>(a) ? nb::cast<Tensor>(a) : Tensor();
        Tensor tb = nb::isinstance<Tensor>(b) ? nb::cast<Tensor>(b) : Tensor();
        const Tensor& like = ta.defined() ? ta : tb.defined() ? tb : c;
        if (!ta.defined())
          ta = operand_arg(a, like.dtype() == DType::boolean ? c.to(DType::f32) : like, "where");
        if (!tb.defined()) tb = operand_arg(b, ta, "where");
        return where(c, ta, tb);
      },
      nb::arg("condition"), nb::arg("input"), nb::arg("other"));
  m.def(
      "masked_fill", [](const Tensor& x, const Tensor& mask, double v) { return masked_fill(x, mask, v); },
      nb::arg("input"), nb::arg("mask"), nb::arg("value"), nogil());

  // --- reductions (dim: None, an int or a tuple)
  m.def(
      "sum",
      [](const Tensor& x, nb::handle dim, bool keepdim, nb::handle dtype) {
        return sum(x, dims_from(dim), keepdim,
                   dtype.is_none() ? std::nullopt : std::optional<DType>(dtype_from_python(dtype)));
      },
      nb::arg("input"), nb::arg("dim") = nb::none(), nb::arg("keepdim") = false, nb::kw_only(),
      nb::arg("dtype") = nb::none());
  m.def(
      "mean", [](const Tensor& x, nb::handle dim, bool keepdim) { return mean(x, dims_from(dim), keepdim); },
      nb::arg("input"), nb::arg("dim") = nb::none(), nb::arg("keepdim") = false);
  m.def(
      "var",
      [](const Tensor& x, nb::handle dim, int64_t correction, bool keepdim) {
        return var(x, dims_from(dim), correction, keepdim);
      },
      nb::arg("input"), nb::arg("dim") = nb::none(), nb::kw_only(), nb::arg("correction") = 1,
      nb::arg("keepdim") = false);
  m.def(
      "std",
      [](const Tensor& x, nb::handle dim, int64_t correction, bool keepdim) {
        return neural_arch::std(x, dims_from(dim), correction, keepdim);
      },
      nb::arg("input"), nb::arg("dim") = nb::none(), nb::kw_only(), nb::arg("correction") = 1,
      nb::arg("keepdim") = false);
  m.def(
      "logsumexp",
      [](const Tensor& x, nb::handle dim, bool keepdim) { return logsumexp(x, dims_from(dim), keepdim); },
      nb::arg("input"), nb::arg("dim"), nb::arg("keepdim") = false);
  m.def(
      "argmax", [](const Tensor& x, std::optional<int64_t> d, bool k) { return argmax(x, d, k); },
      nb::arg("input"), nb::arg("dim") = nb::none(), nb::arg("keepdim") = false);
  m.def(
      "argmin", [](const Tensor& x, std::optional<int64_t> d, bool k) { return argmin(x, d, k); },
      nb::arg("input"), nb::arg("dim") = nb::none(), nb::arg("keepdim") = false);
  m.def(
      "softmax", [](const Tensor& x, int64_t d) { return softmax(x, d); }, nb::arg("input"), nb::arg("dim"),
      nogil());
  m.def(
      "log_softmax", [](const Tensor& x, int64_t d) { return log_softmax(x, d); }, nb::arg("input"),
      nb::arg("dim"), nogil());

  // --- shape, indexing, linear algebra
  m.def("cat", &cat, nb::arg("tensors"), nb::arg("dim") = 0, nogil());
  m.def("stack", &stack, nb::arg("tensors"), nb::arg("dim") = 0, nogil());
  m.def("index_select", &index_select, nb::arg("input"), nb::arg("dim"), nb::arg("index"), nogil());
  m.def("gather", &gather, nb::arg("input"), nb::arg("dim"), nb::arg("index"), nogil());
  m.def("scatter", &scatter, nb::arg("input"), nb::arg("dim"), nb::arg("index"), nb::arg("src"), nogil());
  m.def("scatter_add", &scatter_add, nb::arg("input"), nb::arg("dim"), nb::arg("index"), nb::arg("src"),
        nogil());
  m.def(
      "embedding", [](const Tensor& idx, const Tensor& w) { return embedding(w, idx); }, nb::arg("input"),
      nb::arg("weight"), nogil());
  m.def("matmul", &matmul, nb::arg("input"), nb::arg("other"), nogil());
  m.def("mm", &mm, nb::arg("input"), nb::arg("mat2"), nogil());
  m.def("bmm", &bmm, nb::arg("input"), nb::arg("mat2"), nogil());
  m.def("outer", &outer, nb::arg("input"), nb::arg("vec2"), nogil());
  m.def(
      "linear", [](const Tensor& x, const Tensor& w, const OptT& b) { return linear(x, w, opt(b)); },
      nb::arg("input"), nb::arg("weight"), nb::arg("bias") = nb::none(), nogil());
  m.def(
      "dropout", [](const Tensor& x, double p, bool training) { return dropout(x, p, training); },
      nb::arg("input"), nb::arg("p") = 0.5, nb::arg("training") = true, nogil());
  m.def(
      "allclose",
      [](const Tensor& a, const Tensor& b, double rtol, double atol) { return allclose(a, b, rtol, atol); },
      nb::arg("input"), nb::arg("other"), nb::arg("rtol") = 1e-5, nb::arg("atol") = 1e-8);
  m.def("get_num_threads", &get_num_threads);
  m.def("set_num_threads", &set_num_threads, nb::arg("n"));
  m.def("manual_seed", &manual_seed, nb::arg("seed"), "Seeds the default generator (torch.manual_seed).");

  // --- losses
  m.def(
      "cross_entropy",
      [](const Tensor& x, const Tensor& t, const OptT& w, int64_t ignore_index, const std::string& reduction,
         double label_smoothing) {
        return F::cross_entropy(x, t, opt(w), ignore_index, reduction, label_smoothing);
      },
      nb::arg("input"), nb::arg("target"), nb::arg("weight") = nb::none(), nb::arg("ignore_index") = -100,
      nb::arg("reduction") = "mean", nb::arg("label_smoothing") = 0.0, nogil());
  m.def(
      "nll_loss",
      [](const Tensor& x, const Tensor& t, const OptT& w, int64_t ignore_index,
         const std::string& reduction) { return F::nll_loss(x, t, opt(w), ignore_index, reduction); },
      nb::arg("input"), nb::arg("target"), nb::arg("weight") = nb::none(), nb::arg("ignore_index") = -100,
      nb::arg("reduction") = "mean", nogil());
  m.def("mse_loss", &F::mse_loss, nb::arg("input"), nb::arg("target"), nb::arg("reduction") = "mean",
        nogil());
  m.def("l1_loss", &F::l1_loss, nb::arg("input"), nb::arg("target"), nb::arg("reduction") = "mean", nogil());
  m.def("smooth_l1_loss", &F::smooth_l1_loss, nb::arg("input"), nb::arg("target"),
        nb::arg("reduction") = "mean", nb::arg("beta") = 1.0, nogil());
  m.def("huber_loss", &F::huber_loss, nb::arg("input"), nb::arg("target"), nb::arg("reduction") = "mean",
        nb::arg("delta") = 1.0, nogil());
  m.def(
      "binary_cross_entropy",
      [](const Tensor& x, const Tensor& t, const OptT& w, const std::string& r) {
        return F::binary_cross_entropy(x, t, opt(w), r);
      },
      nb::arg("input"), nb::arg("target"), nb::arg("weight") = nb::none(), nb::arg("reduction") = "mean",
      nogil());
  m.def(
      "binary_cross_entropy_with_logits",
      [](const Tensor& x, const Tensor& t, const OptT& w, const std::string& r, const OptT& pw) {
        return F::binary_cross_entropy_with_logits(x, t, opt(w), r, opt(pw));
      },
      nb::arg("input"), nb::arg("target"), nb::arg("weight") = nb::none(), nb::arg("reduction") = "mean",
      nb::arg("pos_weight") = nb::none(), nogil());
  m.def("kl_div", &F::kl_div, nb::arg("input"), nb::arg("target"), nb::arg("reduction") = "mean",
        nb::arg("log_target") = false, nogil());

  // --- convolution, pooling, normalization, attention
  m.def(
      "conv2d",
      [](const Tensor& x, const Tensor& w, const OptT& b, nb::handle stride, nb::handle padding,
         nb::handle dilation, int64_t groups) {
        auto s = int2_from(stride, "conv2d"), d = int2_from(dilation, "conv2d");
        auto p = padding_from(padding, "conv2d");
        nb::gil_scoped_release rel;
        return F::conv2d(x, w, opt(b), s, p, d, groups);
      },
      nb::arg("input"), nb::arg("weight"), nb::arg("bias") = nb::none(), nb::arg("stride") = 1,
      nb::arg("padding") = 0, nb::arg("dilation") = 1, nb::arg("groups") = 1);
  m.def(
      "conv1d",
      [](const Tensor& x, const Tensor& w, const OptT& b, int64_t stride, nb::handle padding,
         int64_t dilation, int64_t groups) {
        auto p = padding_from(padding, "conv1d");
        nb::gil_scoped_release rel;
        return F::conv1d(x, w, opt(b), stride, p, dilation, groups);
      },
      nb::arg("input"), nb::arg("weight"), nb::arg("bias") = nb::none(), nb::arg("stride") = 1,
      nb::arg("padding") = 0, nb::arg("dilation") = 1, nb::arg("groups") = 1);
  m.def(
      "max_pool2d",
      [](const Tensor& x, nb::handle k, nb::handle s, nb::handle p, nb::handle d, bool ceil_mode) {
        auto kk = int2_from(k, "max_pool2d"), pp = int2_from(p, "max_pool2d"),
             dd = int2_from(d, "max_pool2d");
        auto ss = s.is_none() ? functional::Int2(0) : int2_from(s, "max_pool2d");
        nb::gil_scoped_release rel;
        return F::max_pool2d(x, kk, ss, pp, dd, ceil_mode);
      },
      nb::arg("input"), nb::arg("kernel_size"), nb::arg("stride") = nb::none(), nb::arg("padding") = 0,
      nb::arg("dilation") = 1, nb::arg("ceil_mode") = false);
  m.def(
      "avg_pool2d",
      [](const Tensor& x, nb::handle k, nb::handle s, nb::handle p, bool ceil_mode, bool count_include_pad) {
        auto kk = int2_from(k, "avg_pool2d"), pp = int2_from(p, "avg_pool2d");
        auto ss = s.is_none() ? functional::Int2(0) : int2_from(s, "avg_pool2d");
        nb::gil_scoped_release rel;
        return F::avg_pool2d(x, kk, ss, pp, ceil_mode, count_include_pad);
      },
      nb::arg("input"), nb::arg("kernel_size"), nb::arg("stride") = nb::none(), nb::arg("padding") = 0,
      nb::arg("ceil_mode") = false, nb::arg("count_include_pad") = true);
  m.def(
      "adaptive_avg_pool2d",
      [](const Tensor& x, nb::handle size) {
        return F::adaptive_avg_pool2d(x, int2_from(size, "adaptive_avg_pool2d"));
      },
      nb::arg("input"), nb::arg("output_size"));
  m.def(
      "layer_norm",
      [](const Tensor& x, nb::handle shape, const OptT& w, const OptT& b, double eps) {
        return F::layer_norm(x, dims_from(shape), opt(w), opt(b), eps);
      },
      nb::arg("input"), nb::arg("normalized_shape"), nb::arg("weight") = nb::none(),
      nb::arg("bias") = nb::none(), nb::arg("eps") = 1e-5);
  m.def(
      "rms_norm",
      [](const Tensor& x, nb::handle shape, const OptT& w, std::optional<double> eps) {
        return F::rms_norm(x, dims_from(shape), opt(w), eps);
      },
      nb::arg("input"), nb::arg("normalized_shape"), nb::arg("weight") = nb::none(),
      nb::arg("eps") = nb::none());
  m.def(
      "group_norm",
      [](const Tensor& x, int64_t g, const OptT& w, const OptT& b, double eps) {
        return F::group_norm(x, g, opt(w), opt(b), eps);
      },
      nb::arg("input"), nb::arg("num_groups"), nb::arg("weight") = nb::none(), nb::arg("bias") = nb::none(),
      nb::arg("eps") = 1e-5);
  m.def(
      "batch_norm",
      [](const Tensor& x, const OptT& rm, const OptT& rv, const OptT& w, const OptT& b, bool training,
         double momentum,
         double eps) { return F::batch_norm(x, opt(rm), opt(rv), opt(w), opt(b), training, momentum, eps); },
      nb::arg("input"), nb::arg("running_mean").none(), nb::arg("running_var").none(),
      nb::arg("weight") = nb::none(), nb::arg("bias") = nb::none(), nb::arg("training") = false,
      nb::arg("momentum") = 0.1, nb::arg("eps") = 1e-5);
  m.def(
      "scaled_dot_product_attention",
      [](const Tensor& q, const Tensor& k, const Tensor& v, const OptT& mask, double p, bool causal,
         std::optional<double> scale) {
        return F::scaled_dot_product_attention(q, k, v, opt(mask), p, causal, scale);
      },
      nb::arg("query"), nb::arg("key"), nb::arg("value"), nb::arg("attn_mask") = nb::none(),
      nb::arg("dropout_p") = 0.0, nb::arg("is_causal") = false, nb::kw_only(), nb::arg("scale") = nb::none(),
      nogil());

  // Tensor methods that are these ops (x.mul(y) is mul(x, y), numbers allowed on either side).
  for (const char* name : {"add", "sub", "mul", "div", "maximum", "minimum", "eq", "ne", "lt", "le", "gt",
                           "ge", "logical_and", "logical_or", "logical_xor"}) {
    nb::object fn = m.attr(name);
    m.attr("Tensor").attr(name) =
        nb::cpp_function([fn](nb::handle self, nb::handle other) { return fn(self, other); }, nb::is_method(),
                         nb::name(name), nb::arg("other"));
  }

  // --- autograd
  m.def(
      "_record_function",
      [](const std::string& name, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
         nb::callable backward) {
        // Outputs are detached first: a forward may return one of its inputs, or a view of one.
        std::vector<Tensor> outs;
        for (const auto& t : outputs) outs.push_back(t.detach());
        std::vector<Shape> out_shapes, in_shapes;
        std::vector<DType> out_dtypes;
        for (const auto& t : outs) out_shapes.push_back(t.shape()), out_dtypes.push_back(t.dtype());
        for (const auto& t : inputs) in_shapes.push_back(t.shape());
        auto fn = std::make_shared<PyRef>(backward);
        auto label = std::make_shared<std::string>(name + "Backward");
        autograd::record("PythonFunctionBackward", inputs, outs,
                         [fn, label, out_shapes, out_dtypes, in_shapes](const std::vector<Tensor>& grads) {
                           nb::gil_scoped_acquire acq;
                           nb::list args;  // an undefined gradient is passed as zeros, as torch does
                           for (size_t i = 0; i < grads.size(); ++i)
                             args.append(grads[i].defined() ? grads[i] : zeros(out_shapes[i], out_dtypes[i]));
                           nb::object r = fn->get()(*nb::tuple(args));
                           std::vector<std::optional<Tensor>> res;
                           if (!nb::try_cast(r, res))
                             detail::throw_error(label->c_str(), "backward must return Tensors or None, got ",
                                                 py_type_name(r));
                           NA_CHECK(res.size() == in_shapes.size(), label->c_str(), "backward returned ",
                                    res.size(), " gradients for ", in_shapes.size(), " tensor inputs");
                           std::vector<Tensor> out;
                           for (size_t i = 0; i < res.size(); ++i) {
                             NA_CHECK(!res[i] || res[i]->shape() == in_shapes[i], label->c_str(), "gradient ",
                                      i, " has shape ", shape_str(res[i] ? res[i]->shape() : Shape{}),
                                      " but the input has shape ", shape_str(in_shapes[i]));
                             out.push_back(res[i] ? *res[i] : Tensor());
                           }
                           return out;
                         });
        return outs;
      },
      nb::arg("name"), nb::arg("inputs"), nb::arg("outputs"), nb::arg("backward"),
      "Records a Python autograd.Function's node (neural_arch.autograd.Function.apply).");
  m.def("is_grad_enabled", &is_grad_enabled);
  m.def("set_grad_enabled", &set_grad_enabled, nb::arg("mode"));
  m.def(
      "autograd_grad",
      [](const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
         const std::vector<Tensor>& grad_outputs, bool retain_graph, bool create_graph, bool allow_unused) {
        auto g = autograd::grad(outputs, inputs, grad_outputs, retain_graph, create_graph, allow_unused);
        std::vector<OptT> r;
        for (auto& t : g) r.push_back(t.defined() ? OptT(t) : std::nullopt);
        return r;
      },
      nb::arg("outputs"), nb::arg("inputs"), nb::arg("grad_outputs") = std::vector<Tensor>{},
      nb::arg("retain_graph") = false, nb::arg("create_graph") = false, nb::arg("allow_unused") = false,
      nogil());
}

}  // namespace neural_arch::python
