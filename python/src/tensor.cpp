// The Tensor class: construction, NumPy/DLPack exchange, metadata, autograd, operators and
// indexing. Free-function ops are in ops.cpp (and mirrored here as methods, as torch does).
#include <nanobind/operators.h>

#include "common.hpp"
#include "neural_arch/autograd.hpp"

namespace neural_arch::python {

namespace {

// ------------------------------------------------------------------ indexing
struct AdvancedIndex {
  int64_t dim;  // position in the basic-indexed result
  Tensor index;
};

bool is_index_tensor_like(nb::handle h) {
  return nb::isinstance<Tensor>(h) || PyList_Check(h.ptr()) ||
         (nb::hasattr(h, "__array__") && nb::hasattr(h, "ndim"));
}

Tensor index_tensor_of(nb::handle h) {
  Tensor t = nb::isinstance<Tensor>(h) ? nb::cast<Tensor>(h) : tensor_from_python(h, std::nullopt);
  NA_CHECK(t.dtype() == DType::boolean || is_integral(t.dtype()), "index",
           "tensors used as indices must be int64, int32 or bool, got ", dtype_name(t.dtype()));
  return t;
}

std::vector<nb::handle> index_items(nb::handle key) {
  std::vector<nb::handle> items;
  if (PyTuple_Check(key.ptr())) {
    for (nb::handle h : nb::borrow<nb::tuple>(key)) items.push_back(h);
  } else {
    items.push_back(key);
  }
  return items;
}

/// Basic indexing (ints, slices, None, ...) as views; at most one tensor index is collected.
Tensor basic_index(const Tensor& self, nb::handle key, std::optional<AdvancedIndex>& adv) {
  NA_CHECK(self.defined(), "index", "undefined tensor");
  auto items = index_items(key);
  int64_t consumed = 0;
  bool ellipsis = false;
  for (nb::handle h : items) {
    if (h.is_none()) continue;
    if (h.is(Py_Ellipsis)) {
      NA_CHECK(!ellipsis, "index", "an index can only have a single ellipsis ('...')");
      ellipsis = true;
    } else if (nb::isinstance<Tensor>(h) && nb::cast<Tensor>(h).dtype() == DType::boolean) {
      consumed += nb::cast<Tensor>(h).dim();
    } else {
      consumed += 1;
    }
  }
  NA_CHECK(consumed <= self.dim(), "index", "too many indices for tensor of dimension ", self.dim(), " (got ",
           consumed, ")");
  Tensor r = self;
  int64_t d = 0;
  for (nb::handle h : items) {
    if (h.is_none()) {
      r = r.unsqueeze(d++);
    } else if (h.is(Py_Ellipsis)) {
      d += self.dim() - consumed;
    } else if (PyBool_Check(h.ptr())) {
      detail::throw_error("index", "a Python bool is not a valid index (use a bool tensor as a mask)");
    } else if (PySlice_Check(h.ptr())) {
      Py_ssize_t start, stop, step;
      if (PySlice_Unpack(h.ptr(), &start, &stop, &step) < 0) throw nb::python_error();
      NA_CHECK(step > 0, "index", "slice step must be positive, got ", int64_t(step));
      r = r.slice(d++, start, stop, step);
    } else if (PyIndex_Check(h.ptr()) && !nb::isinstance<Tensor>(h) && !nb::hasattr(h, "shape")) {
      Py_ssize_t i = PyNumber_AsSsize_t(h.ptr(), PyExc_IndexError);
      if (i == -1 && PyErr_Occurred()) throw nb::python_error();
      r = r.select(d, i);
    } else if (is_index_tensor_like(h)) {
      Tensor t = index_tensor_of(h);
      NA_CHECK(!adv, "index", "only one tensor (advanced) index per indexing expression is supported");
      adv = AdvancedIndex{d, t};
      d += t.dtype() == DType::boolean ? t.dim() : 1;
    } else {
      detail::throw_error("index", "unsupported index of type ", py_type_name(h),
                          " (use ints, slices, None, ..., int or bool tensors)");
    }
  }
  return r;
}

/// Flat positions selected by an index tensor over dims [dim, dim + k) of x (k = 1 for an
/// integer index, the mask's rank for a bool mask), with negative indices wrapped.
Tensor flat_positions(const Tensor& x, const AdvancedIndex& adv) {
  const Tensor& idx = adv.index;
  if (idx.dtype() == DType::boolean) {
    for (int64_t i = 0; i < idx.dim(); ++i)
      NA_CHECK(adv.dim + i < x.dim() && idx.size(i) == x.size(adv.dim + i), "index", "mask of shape ",
               shape_str(idx.shape()), " does not match the indexed dims of shape ", shape_str(x.shape()),
               " at dim ", adv.dim);
    Tensor m = idx.contiguous();
    const bool* p = m.data_ptr<bool>();
    std::vector<int64_t> pos;
    for (int64_t i = 0; i < m.numel(); ++i)
      if (p[i]) pos.push_back(i);
    return tensor(pos, Shape{static_cast<int64_t>(pos.size())});
  }
  const int64_t n = x.size(adv.dim);
  Tensor flat = idx.to(DType::i64).contiguous().reshape({-1}).clone();
  int64_t* p = flat.data_ptr<int64_t>();
  for (int64_t i = 0; i < flat.numel(); ++i) {
    NA_CHECK(p[i] >= -n && p[i] < n, "index", "index ", p[i], " is out of bounds for dim ", adv.dim,
             " with size ", n);
    if (p[i] < 0) p[i] += n;
  }
  return flat;
}

/// x with dims [dim, dim + k) merged into one, so that flat_positions index it.
Tensor merge_indexed_dims(const Tensor& x, const AdvancedIndex& adv) {
  const int64_t k = adv.index.dtype() == DType::boolean ? adv.index.dim() : 1;
  Shape s(x.shape().begin(), x.shape().begin() + adv.dim);
  int64_t merged = 1;
  for (int64_t i = 0; i < k; ++i) merged *= x.size(adv.dim + i);
  s.push_back(merged);
  s.insert(s.end(), x.shape().begin() + adv.dim + k, x.shape().end());
  return x.reshape(s);
}

Tensor getitem(const Tensor& self, nb::handle key) {
  std::optional<AdvancedIndex> adv;
  Tensor r = basic_index(self, key, adv);
  if (!adv) return r;
  Tensor pos = flat_positions(r, *adv);
  Tensor out = index_select(merge_indexed_dims(r, *adv), adv->dim, pos);
  if (adv->index.dtype() == DType::boolean || adv->index.dim() == 1) return out;
  Shape s(r.shape().begin(), r.shape().begin() + adv->dim);  // integer index: its shape replaces the dim
  s.insert(s.end(), adv->index.shape().begin(), adv->index.shape().end());
  s.insert(s.end(), r.shape().begin() + adv->dim + 1, r.shape().end());
  return out.reshape(s);
}

void assign(Tensor dst, nb::handle value) {
  if (auto s = scalar_from_python(value)) {
    dst.fill_(*s);
  } else {
    dst.copy_(nb::isinstance<Tensor>(value) ? nb::cast<Tensor>(value)
                                            : tensor_from_python(value, dst.dtype()));
  }
}

void setitem(Tensor& self, nb::handle key, nb::handle value) {
  std::optional<AdvancedIndex> adv;
  Tensor r = basic_index(self, key, adv);
  if (!adv) return assign(r, value);
  // x[mask] = number over the whole tensor: one masked_fill_.
  auto s = scalar_from_python(value);
  if (s && adv->dim == 0 && adv->index.dtype() == DType::boolean && adv->index.shape() == r.shape()) {
    r.masked_fill_(adv->index, *s);
    return;
  }
  NA_CHECK(r.storage() == self.storage(), "index", "internal: indexed view does not alias the tensor");
  Tensor merged = merge_indexed_dims(r, *adv);
  NA_CHECK(merged.storage() == self.storage() && merged.impl() != nullptr, "index",
           "cannot assign through a tensor index on a non-contiguous view of shape ", shape_str(r.shape()),
           " (call .contiguous() first)");
  Tensor pos = flat_positions(r, *adv);
  const int64_t* p = pos.data_ptr<int64_t>();
  Tensor v;
  if (!s) {
    Shape vs = merged.shape();
    vs[adv->dim] = pos.numel();
    Tensor src =
        nb::isinstance<Tensor>(value) ? nb::cast<Tensor>(value) : tensor_from_python(value, self.dtype());
    v = src.expand(vs);
  }
  for (int64_t i = 0; i < pos.numel(); ++i) {
    Tensor dst = merged.select(adv->dim, p[i]);
    if (s)
      dst.fill_(*s);
    else
      dst.copy_(v.select(adv->dim, i));
  }
}

// ------------------------------------------------------------------ printing
std::string repr(const Tensor& t) { return t.defined() ? t.str() : "tensor(<undefined>)"; }

nb::object tolist_rec(const Tensor& t) {
  if (t.dim() == 0) {
    if (t.dtype() == DType::boolean) return nb::bool_(t.item<bool>());
    if (is_integral(t.dtype())) return nb::int_(t.item<int64_t>());
    return nb::float_(t.item<double>());
  }
  nb::list l;
  for (int64_t i = 0; i < t.size(0); ++i) l.append(tolist_rec(t.select(0, i)));
  return std::move(l);
}

using BinaryFn = Tensor (*)(const Tensor&, const Tensor&);

template <BinaryFn F> nb::object binary(const Tensor& a, nb::handle b) {
  auto o = operand(b, a);
  if (!o) return nb::borrow(Py_NotImplemented);
  Tensor r;
  {
    nb::gil_scoped_release rel;
    r = F(a, *o);
  }
  return nb::cast(std::move(r));
}

template <BinaryFn F> nb::object reflected(const Tensor& a, nb::handle b) {
  auto o = operand(b, a);
  if (!o) return nb::borrow(Py_NotImplemented);
  Tensor r;
  {
    nb::gil_scoped_release rel;
    r = F(*o, a);
  }
  return nb::cast(std::move(r));
}

Tensor f_add(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor f_sub(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor f_pow(const Tensor& a, const Tensor& b) { return pow(a, b); }
using InplaceFn = void (*)(Tensor&, const Tensor&);

/// In-place form of a binary operator: self op= other (self keeps its shape and dtype).
template <InplaceFn F> nb::object inplace(nb::handle self_h, nb::handle b) {
  Tensor& self = nb::cast<Tensor&>(self_h);
  auto o = operand(b, self);
  if (!o) return nb::borrow(Py_NotImplemented);
  {
    nb::gil_scoped_release rel;
    F(self, *o);
  }
  return nb::borrow(self_h);
}
void add_into(Tensor& a, const Tensor& b) { a.add_(b); }
void sub_into(Tensor& a, const Tensor& b) { a.sub_(b); }
void mul_into(Tensor& a, const Tensor& b) { a.mul_(b); }
void div_into(Tensor& a, const Tensor& b) { a.div_(b); }

}  // namespace

void init_tensor(nb::module_& m) {
  nb::enum_<DType>(m, "dtype", "Element type of a tensor (neural_arch.float32, ...).")
      .value("float32", DType::f32)
      .value("float64", DType::f64)
      .value("float16", DType::f16)
      .value("bfloat16", DType::bf16)
      .value("int32", DType::i32)
      .value("int64", DType::i64)
      .value("uint8", DType::u8)
      .value("bool", DType::boolean)
      .def_prop_ro("is_floating_point", [](DType t) { return is_floating(t); })
      .def_prop_ro("itemsize", [](DType t) { return element_size(t); })
      .def("__repr__", [](DType t) { return std::string("neural_arch.") + dtype_name(t); })
      .def("__str__", [](DType t) { return std::string("neural_arch.") + dtype_name(t); });

  nb::class_<Device>(m, "device", "Where a tensor's storage lives: 'cpu', 'cuda:N' or 'mps'.")
      .def(nb::init<const std::string&>(), nb::arg("type"))
      .def_prop_ro("type", [](const Device& d) { return d.str().substr(0, d.str().find(':')); })
      .def_ro("index", &Device::index)
      .def("__str__", &Device::str)
      .def("__repr__", [](const Device& d) { return "device(type='" + d.str() + "')"; })
      .def("__eq__", [](const Device& a, const Device& b) { return a == b; })
      .def("__eq__", [](const Device& a, const std::string& b) { return a == Device(b); })
      .def("__hash__", [](const Device& d) { return std::hash<std::string>()(d.str()); });

  auto T = nb::class_<Tensor>(
      m, "Tensor", nb::is_weak_referenceable(),
      "A strided view of shared storage with autograd state (torch.Tensor's counterpart).");
  T.def(
       "__init__",
       [](Tensor* self, nb::handle data, bool requires_grad) {
         // A Tensor argument is aliased, as torch.Tensor(t) and nn.Parameter(t) do; other data is copied.
         Tensor t = data.is_none()                 ? empty({0})
                    : nb::isinstance<Tensor>(data) ? nb::cast<Tensor>(data).detach()
                                                   : tensor_from_python(data, DType::f32);
         if (requires_grad) t.requires_grad_(true);
         new (self) Tensor(std::move(t));
       },
       nb::arg("data") = nb::none(), nb::kw_only(), nb::arg("requires_grad") = false,
       "A float32 copy of data (an ndarray, nested lists or a number), as torch.Tensor(data); a Tensor is "
       "aliased.")
      // --- metadata
      .def_prop_ro("shape", [](const Tensor& t) { return nb::tuple(nb::cast(t.shape())); })
      .def_prop_ro("dtype", &Tensor::dtype)
      .def_prop_ro("device", &Tensor::device)
      .def_prop_ro("ndim", &Tensor::dim)
      .def("dim", &Tensor::dim)
      .def("numel", &Tensor::numel)
      .def("element_size", &Tensor::element_size)
      .def(
          "size",
          [](const Tensor& t, std::optional<int64_t> d) -> nb::object {
            if (d) return nb::int_(t.size(*d));
            return nb::tuple(nb::cast(t.shape()));
          },
          nb::arg("dim") = nb::none())
      .def("stride", [](const Tensor& t) { return nb::tuple(nb::cast(t.strides())); })
      .def("storage_offset", &Tensor::storage_offset)
      .def("is_contiguous", &Tensor::is_contiguous)
      .def("is_floating_point", [](const Tensor& t) { return is_floating(t.dtype()); })
      .def("data_ptr", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.raw_data()); })
      .def("__len__",
           [](const Tensor& t) {
             NA_CHECK(t.dim() > 0, "len", "len() of a 0-d tensor");
             return t.size(0);
           })
      .def("__repr__", &repr)
      .def("__hash__", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.impl()); })
      // --- conversion and exchange
      .def(
          "numpy",
          [](const Tensor& t) {
            NA_CHECK(!t.requires_grad(), "numpy",
                     "can't call numpy() on a tensor that requires grad; use tensor.detach().numpy()");
            NA_CHECK(t.dtype() != DType::bf16, "numpy", "NumPy has no bfloat16; use tensor.float().numpy()");
            return export_numpy(t, "numpy");
          },
          "A NumPy array sharing this tensor's memory (no copy); it keeps the memory alive.")
      .def(
          "__dlpack__",
          [](const Tensor& t, nb::kwargs) {
            NA_CHECK(!t.requires_grad(), "__dlpack__",
                     "can't export a tensor that requires grad; use detach()");
            return export_dlpack(t, "__dlpack__").attr("__dlpack__")();
          },
          "DLPack capsule sharing this tensor's memory.")
      .def("__dlpack_device__", [](const Tensor&) { return nb::make_tuple(int(nb::device::cpu::value), 0); })
      .def(
          "__array__",
          [](const Tensor& t, nb::handle dtype, nb::handle) {
            nb::object arr = export_numpy(t.detach(), "__array__");
            return dtype.is_none() ? arr : arr.attr("astype")(dtype);
          },
          nb::arg("dtype") = nb::none(), nb::arg("copy") = nb::none())
      .def("tolist", [](const Tensor& t) { return tolist_rec(t.detach()); })
      .def("item",
           [](const Tensor& t) -> nb::object {
             NA_CHECK(t.numel() == 1, "item", "a tensor with ", t.numel(),
                      " elements cannot be converted to a number");
             return tolist_rec(t.detach().reshape({}));
           })
      .def("__float__", [](const Tensor& t) { return t.item<double>(); })
      .def("__int__", [](const Tensor& t) { return t.item<int64_t>(); })
      .def("__bool__",
           [](const Tensor& t) {
             NA_CHECK(t.numel() == 1, "bool", "the truth value of a tensor with ", t.numel(),
                      " elements is ambiguous");
             return t.item<double>() != 0.0;
           })
      .def(
          "to",
          [](const Tensor& t, nb::handle what) {
            std::optional<Device> dev;
            if (nb::isinstance<Device>(what)) dev = nb::cast<Device>(what);
            if (nb::isinstance<nb::str>(what)) {
              std::string s = nb::cast<std::string>(what);
              if (s == "cpu" || s.rfind("cuda", 0) == 0 || s == "mps") dev = Device(s);
            }
            const DType dt = dev ? t.dtype() : dtype_from_python(what);
            nb::gil_scoped_release rel;  // the argument is read; the copy runs without the GIL
            return dev ? t.to(*dev) : t.to(dt);
          },
          nb::arg("dtype_or_device"))
      .def("type", [](const Tensor& t, nb::handle dtype) { return t.to(dtype_from_python(dtype)); })
      .def("float", [](const Tensor& t) { return t.to(DType::f32); })
      .def("double", [](const Tensor& t) { return t.to(DType::f64); })
      .def("half", [](const Tensor& t) { return t.to(DType::f16); })
      .def("bfloat16", [](const Tensor& t) { return t.to(DType::bf16); })
      .def("long", [](const Tensor& t) { return t.to(DType::i64); })
      .def("int", [](const Tensor& t) { return t.to(DType::i32); })
      .def("bool", [](const Tensor& t) { return t.to(DType::boolean); })
      .def("cpu", [](const Tensor& t) { return t; })
      .def("clone", &Tensor::clone, nogil())
      .def("contiguous", &Tensor::contiguous, nogil())
      .def("detach", &Tensor::detach)
      // --- autograd
      .def_prop_rw("requires_grad", &Tensor::requires_grad, [](Tensor& t, bool on) { t.requires_grad_(on); })
      .def(
          "requires_grad_",
          [](nb::handle self, bool on) {
            nb::cast<Tensor&>(self).requires_grad_(on);
            return self;
          },
          nb::arg("requires_grad") = true)
      .def_prop_rw(
          "grad",
          [](const Tensor& t) -> std::optional<Tensor> {
            Tensor g = t.grad();
            if (!g.defined()) return std::nullopt;
            return g;
          },
          [](const Tensor& t, std::optional<Tensor> g) {
            if (g) {
              NA_CHECK(g->shape() == t.shape(), "grad", "assigned grad has shape ", shape_str(g->shape()),
                       " but the tensor has shape ", shape_str(t.shape()));
              NA_CHECK(g->dtype() == t.dtype(), "grad", "assigned grad has dtype ", dtype_name(g->dtype()),
                       " but the tensor has dtype ", dtype_name(t.dtype()));
            }
            t.set_grad(g ? *g : Tensor());
          },
          nb::arg("grad").none())
      .def_prop_rw(
          "data", [](const Tensor& t) { return t.detach(); },
          [](const Tensor& t, const Tensor& o) { t.set_data(o); })
      .def_prop_ro("is_leaf", &Tensor::is_leaf)
      .def_prop_ro("grad_fn",
                   [](const Tensor& t) -> std::optional<std::string> {
                     if (!t.grad_fn()) return std::nullopt;
                     return t.grad_fn()->name();
                   })
      .def(
          "backward",
          [](const Tensor& t, std::optional<Tensor> gradient, bool retain_graph, bool create_graph) {
            t.backward(gradient ? *gradient : Tensor(), retain_graph, create_graph);
          },
          nb::arg("gradient") = nb::none(), nb::arg("retain_graph") = false, nb::arg("create_graph") = false,
          nogil())
      .def("retain_grad", &Tensor::retain_grad)
      .def_prop_ro("retains_grad", [](const Tensor& t) { return t.impl() && t.impl()->retains_grad; })
      .def(
          "register_hook",
          [](const Tensor& t, nb::callable fn) {
            auto ref = std::make_shared<PyRef>(fn);
            t.register_hook([ref](const Tensor& g) -> Tensor {
              nb::gil_scoped_acquire acq;
              nb::object r = ref->get()(g);
              if (r.is_none()) return Tensor();
              Tensor out;
              if (!nb::try_cast(r, out))
                detail::throw_error("register_hook", "a hook must return a Tensor or None, got ",
                                    py_type_name(r));
              return out;
            });
          },
          nb::arg("hook"), "Calls hook(grad) when the gradient is computed; a returned Tensor replaces it.")
      .def("__getitem__", &getitem)
      .def("__setitem__", &setitem)
      .def("__iter__",
           [](const Tensor& t) {
             NA_CHECK(t.dim() > 0, "iter", "iteration over a 0-d tensor");
             nb::list rows;
             for (int64_t i = 0; i < t.size(0); ++i) rows.append(nb::cast(t.select(0, i)));
             return nb::iter(rows);
           })
      // --- operators
      .def("__add__", &binary<f_add>)
      .def("__radd__", &reflected<f_add>)
      .def("__sub__", &binary<f_sub>)
      .def("__rsub__", &reflected<f_sub>)
      .def("__mul__", &binary<mul>)
      .def("__rmul__", &reflected<mul>)
      .def("__truediv__", &binary<div>)
      .def("__rtruediv__", &reflected<div>)
      .def("__pow__", &binary<f_pow>)
      .def("__rpow__", &reflected<f_pow>)
      .def("__matmul__", &binary<matmul>)
      .def("__rmatmul__", &reflected<matmul>)
      .def("__eq__", &binary<eq>)
      .def("__ne__", &binary<ne>)
      .def("__lt__", &binary<lt>)
      .def("__le__", &binary<le>)
      .def("__gt__", &binary<gt>)
      .def("__ge__", &binary<ge>)
      .def("__and__", &binary<logical_and>)
      .def("__or__", &binary<logical_or>)
      .def("__xor__", &binary<logical_xor>)
      .def("__invert__", [](const Tensor& a) { return logical_not(a); })
      .def(
          "__neg__", [](const Tensor& a) { return neg(a); }, nogil())
      .def("__pos__", [](const Tensor& a) { return a; })
      .def(
          "__abs__", [](const Tensor& a) { return abs(a); }, nogil())
      .def("__iadd__", &inplace<add_into>)
      .def("__isub__", &inplace<sub_into>)
      .def("__imul__", &inplace<mul_into>)
      .def("__itruediv__", &inplace<div_into>);
  T.attr("__array_priority__") = 1000;  // NumPy defers `array op tensor` to the tensor's operators
  bind_tensor_methods(T);
}

}  // namespace neural_arch::python
