// Tensor methods that mirror the free-function ops (x.sum(), x.view(2, 3), x.relu(), ...), with
// torch's argument spellings (dim= int or tuple, *shape varargs).
#include "common.hpp"

namespace neural_arch::python {

namespace {

using Unary = Tensor (*)(const Tensor&);

template <Unary F> void method(nb::class_<Tensor>& T, const char* name) {
  T.def(
      name, [](const Tensor& x) { return F(x); }, nogil());
}

std::optional<int64_t> single_dim(nb::handle dim) {
  if (dim.is_none()) return std::nullopt;
  return nb::cast<int64_t>(dim);
}

nb::object values_indices(ValuesIndices vi) { return nb::make_tuple(vi.values, vi.indices); }

}  // namespace

void bind_tensor_methods(nb::class_<Tensor>& T) {
  // (the one-argument math methods, x.exp() ..., are bound with their functions in ops.cpp)
  T.def(
       "gelu", [](const Tensor& x, const std::string& a) { return gelu(x, a); },
       nb::arg("approximate") = "none", nogil())
      .def("pow", [](const Tensor& x, nb::handle e) { return pow(x, as_tensor_arg(e, "pow")); })
      .def(
          "matmul", [](const Tensor& a, const Tensor& b) { return matmul(a, b); }, nogil())
      .def(
          "mm", [](const Tensor& a, const Tensor& b) { return mm(a, b); }, nogil())
      .def(
          "bmm", [](const Tensor& a, const Tensor& b) { return bmm(a, b); }, nogil())
      .def(
          "softmax", [](const Tensor& x, int64_t d) { return softmax(x, d); }, nb::arg("dim"), nogil())
      .def(
          "log_softmax", [](const Tensor& x, int64_t d) { return log_softmax(x, d); }, nb::arg("dim"),
          nogil())
      .def("clamp", &clamp_optional, nb::arg("min") = nb::none(), nb::arg("max") = nb::none(), nogil())
      .def(
          "masked_fill",
          [](const Tensor& x, const Tensor& mask, double v) { return masked_fill(x, mask, v); },
          nb::arg("mask"), nb::arg("value"), nogil())
      // --- reductions
      .def(
          "sum",
          [](const Tensor& x, nb::handle dim, bool keepdim, nb::handle dtype) {
            return sum(x, dims_from(dim), keepdim,
                       dtype.is_none() ? std::nullopt : std::optional<DType>(dtype_from_python(dtype)));
          },
          nb::arg("dim") = nb::none(), nb::arg("keepdim") = false, nb::arg("dtype") = nb::none())
      .def(
          "mean",
          [](const Tensor& x, nb::handle dim, bool keepdim) { return mean(x, dims_from(dim), keepdim); },
          nb::arg("dim") = nb::none(), nb::arg("keepdim") = false)
      .def(
          "var",
          [](const Tensor& x, nb::handle dim, int64_t correction, bool keepdim) {
            return var(x, dims_from(dim), correction, keepdim);
          },
          nb::arg("dim") = nb::none(), nb::kw_only(), nb::arg("correction") = 1, nb::arg("keepdim") = false)
      .def(
          "std",
          [](const Tensor& x, nb::handle dim, int64_t correction, bool keepdim) {
            return neural_arch::std(x, dims_from(dim), correction, keepdim);
          },
          nb::arg("dim") = nb::none(), nb::kw_only(), nb::arg("correction") = 1, nb::arg("keepdim") = false)
      .def(
          "prod",
          [](const Tensor& x, std::optional<int64_t> dim, bool keepdim) { return prod(x, dim, keepdim); },
          nb::arg("dim") = nb::none(), nb::arg("keepdim") = false)
      .def(
          "logsumexp",
          [](const Tensor& x, nb::handle dim, bool keepdim) { return logsumexp(x, dims_from(dim), keepdim); },
          nb::arg("dim"), nb::arg("keepdim") = false)
      .def(
          "max",
          [](const Tensor& x, nb::handle dim, bool keepdim) -> nb::object {
            if (dim.is_none()) return nb::cast(max(x));
            return values_indices(max(x, nb::cast<int64_t>(dim), keepdim));
          },
          nb::arg("dim") = nb::none(), nb::arg("keepdim") = false)
      .def(
          "min",
          [](const Tensor& x, nb::handle dim, bool keepdim) -> nb::object {
            if (dim.is_none()) return nb::cast(min(x));
            return values_indices(min(x, nb::cast<int64_t>(dim), keepdim));
          },
          nb::arg("dim") = nb::none(), nb::arg("keepdim") = false)
      .def(
          "argmax",
          [](const Tensor& x, nb::handle dim, bool keepdim) { return argmax(x, single_dim(dim), keepdim); },
          nb::arg("dim") = nb::none(), nb::arg("keepdim") = false)
      .def(
          "argmin",
          [](const Tensor& x, nb::handle dim, bool keepdim) { return argmin(x, single_dim(dim), keepdim); },
          nb::arg("dim") = nb::none(), nb::arg("keepdim") = false)
      // --- views and shape
      .def("view", [](const Tensor& x, nb::args shape) { return x.view(shape_from_args(shape)); })
      .def("reshape", [](const Tensor& x, nb::args shape) { return x.reshape(shape_from_args(shape)); })
      .def("expand", [](const Tensor& x, nb::args shape) { return x.expand(shape_from_args(shape)); })
      .def("permute", [](const Tensor& x, nb::args dims) { return x.permute(shape_from_args(dims)); })
      .def("flatten", &Tensor::flatten, nb::arg("start_dim") = 0, nb::arg("end_dim") = -1)
      .def(
          "squeeze",
          [](const Tensor& x, std::optional<int64_t> d) { return d ? x.squeeze(*d) : x.squeeze(); },
          nb::arg("dim") = nb::none())
      .def("unsqueeze", &Tensor::unsqueeze, nb::arg("dim"))
      .def("transpose", &Tensor::transpose, nb::arg("dim0"), nb::arg("dim1"))
      .def("t", &Tensor::t)
      .def_prop_ro("T",
                   [](const Tensor& x) {
                     std::vector<int64_t> d(x.dim());
                     for (int64_t i = 0; i < x.dim(); ++i) d[i] = x.dim() - 1 - i;
                     return x.permute(d);
                   })
      .def("narrow", &Tensor::narrow, nb::arg("dim"), nb::arg("start"), nb::arg("length"))
      .def("select", &Tensor::select, nb::arg("dim"), nb::arg("index"))
      .def("chunk", &Tensor::chunk, nb::arg("chunks"), nb::arg("dim") = 0)
      .def("split", &Tensor::split, nb::arg("split_size"), nb::arg("dim") = 0)
      .def("expand_as", [](const Tensor& x, const Tensor& o) { return x.expand(o.shape()); })
      .def("view_as", [](const Tensor& x, const Tensor& o) { return x.view(o.shape()); })
      .def("type_as", [](const Tensor& x, const Tensor& o) { return x.to(o.dtype()); })
      // --- in-place
      .def(
          "fill_",
          [](nb::handle self, double v) {
            nb::cast<Tensor&>(self).fill_(v);
            return self;
          },
          nb::arg("value"))
      .def("zero_",
           [](nb::handle self) {
             nb::cast<Tensor&>(self).zero_();
             return self;
           })
      .def(
          "copy_",
          [](nb::handle self, nb::handle src) {
            nb::cast<Tensor&>(self).copy_(as_tensor_arg(src, "copy_"));
            return self;
          },
          nb::arg("src"))
      .def(
          "add_",
          [](nb::handle self, nb::handle other, double alpha) {
            Tensor& t = nb::cast<Tensor&>(self);
            t.add_(operand_arg(other, t, "add_"), alpha);
            return self;
          },
          nb::arg("other"), nb::kw_only(), nb::arg("alpha") = 1.0)
      .def(
          "sub_",
          [](nb::handle self, nb::handle other, double alpha) {
            Tensor& t = nb::cast<Tensor&>(self);
            t.sub_(operand_arg(other, t, "sub_"), alpha);
            return self;
          },
          nb::arg("other"), nb::kw_only(), nb::arg("alpha") = 1.0)
      .def("mul_",
           [](nb::handle self, nb::handle other) {
             Tensor& t = nb::cast<Tensor&>(self);
             t.mul_(as_tensor_arg(other, "mul_"));
             return self;
           })
      .def("div_",
           [](nb::handle self, nb::handle other) {
             Tensor& t = nb::cast<Tensor&>(self);
             t.div_(as_tensor_arg(other, "div_"));
             return self;
           })
      .def(
          "clamp_",
          [](nb::handle self, double lo, double hi) {
            nb::cast<Tensor&>(self).clamp_(lo, hi);
            return self;
          },
          nb::arg("min"), nb::arg("max"))
      .def(
          "masked_fill_",
          [](nb::handle self, const Tensor& mask, double v) {
            nb::cast<Tensor&>(self).masked_fill_(mask, v);
            return self;
          },
          nb::arg("mask"), nb::arg("value"));
}

}  // namespace neural_arch::python
