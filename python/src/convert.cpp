// Conversions between Python values (numbers, lists, NumPy arrays, DLPack producers, dtype
// spellings) and tensors.
#include <cstring>

#include "common.hpp"

namespace neural_arch::python {

namespace {

const char* numpy_name(DType t) {
  switch (t) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    case DType::f16: return "float16";
    case DType::i32: return "int32";
    case DType::i64: return "int64";
    case DType::u8: return "uint8";
    case DType::boolean: return "bool";
    case DType::bf16: return nullptr;  // NumPy has no bfloat16
  }
  return nullptr;
}

/// The numpy module, imported once. Deliberately never released: a static nb::object would be
/// decref'd by the C++ exit handlers, after the interpreter is finalized.
nb::handle numpy() {
  static PyObject* np = nb::module_::import_("numpy").release().ptr();
  return np;
}

Shape ndarray_shape(size_t ndim, const int64_t* shape) { return Shape(shape, shape + ndim); }

}  // namespace

DType dtype_from_ndarray(const nb::dlpack::dtype& dt) {
  using C = nb::dlpack::dtype_code;
  const auto code = static_cast<C>(dt.code);
  NA_CHECK(dt.lanes == 1, "dtype", "vector dtypes (lanes=", int(dt.lanes), ") are not supported");
  if (code == C::Float && dt.bits == 32) return DType::f32;
  if (code == C::Float && dt.bits == 64) return DType::f64;
  if (code == C::Float && dt.bits == 16) return DType::f16;
  if (code == C::Bfloat && dt.bits == 16) return DType::bf16;
  if (code == C::Int && dt.bits == 32) return DType::i32;
  if (code == C::Int && dt.bits == 64) return DType::i64;
  if (code == C::UInt && dt.bits == 8) return DType::u8;
  if (code == C::Bool && dt.bits == 8) return DType::boolean;
  detail::throw_error(
      "dtype", "unsupported array dtype (code ", int(dt.code), ", ", int(dt.bits),
      " bits): neural_arch has float32, float64, float16, bfloat16, int32, int64, uint8 and bool");
}

nb::dlpack::dtype to_dlpack_dtype(DType t) {
  using C = nb::dlpack::dtype_code;
  auto make = [](C c, int bits) {
    return nb::dlpack::dtype{static_cast<uint8_t>(c), static_cast<uint8_t>(bits), 1};
  };
  switch (t) {
    case DType::f32: return make(C::Float, 32);
    case DType::f64: return make(C::Float, 64);
    case DType::f16: return make(C::Float, 16);
    case DType::bf16: return make(C::Bfloat, 16);
    case DType::i32: return make(C::Int, 32);
    case DType::i64: return make(C::Int, 64);
    case DType::u8: return make(C::UInt, 8);
    case DType::boolean: return make(C::Bool, 8);
  }
  return make(C::Float, 32);
}

DType dtype_from_python(nb::handle h) {
  if (nb::isinstance<DType>(h)) return nb::cast<DType>(h);
  std::string name;
  if (nb::isinstance<nb::str>(h)) {
    name = nb::cast<std::string>(h);
  } else if (h.is(reinterpret_cast<PyObject*>(&PyFloat_Type))) {
    name = "float32";  // torch.tensor's default float type
  } else if (h.is(reinterpret_cast<PyObject*>(&PyLong_Type))) {
    name = "int64";
  } else if (h.is(reinterpret_cast<PyObject*>(&PyBool_Type))) {
    name = "bool";
  } else {
    std::string s = nb::cast<std::string>(nb::str(h));
    if (s.rfind("torch.", 0) == 0) {
      name = s.substr(6);  // torch.float32 and friends
    } else {
      try {
        name = nb::cast<std::string>(numpy().attr("dtype")(h).attr("name"));
      } catch (const nb::python_error&) {
        detail::throw_error("dtype", "cannot interpret ", s, " as a dtype");
      }
    }
  }
  static const std::pair<const char*, DType> names[] = {
      {"float32", DType::f32}, {"float", DType::f32}, {"float64", DType::f64},   {"double", DType::f64},
      {"float16", DType::f16}, {"half", DType::f16},  {"bfloat16", DType::bf16}, {"int32", DType::i32},
      {"int", DType::i32},     {"int64", DType::i64}, {"long", DType::i64},      {"uint8", DType::u8},
      {"bool", DType::boolean}};
  for (const auto& [n, t] : names)
    if (name == n) return t;
  detail::throw_error("dtype", "unsupported dtype '", name, "'");
}

Tensor tensor_from_python(nb::handle data, std::optional<DType> dtype) {
  if (nb::isinstance<Tensor>(data)) {
    Tensor t = nb::cast<Tensor>(data).detach();
    return dtype && *dtype != t.dtype() ? t.to(*dtype) : t.clone();
  }
  nb::handle np = numpy();
  const bool is_array = nb::isinstance(data, np.attr("ndarray"));
  nb::object arr;
  if (dtype && *dtype != DType::bf16) {
    arr = np.attr("asarray")(data, numpy_name(*dtype));
  } else {
    arr = np.attr("asarray")(data);
    const std::string kind = nb::cast<std::string>(arr.attr("dtype").attr("kind"));
    NA_CHECK(kind == "f" || kind == "i" || kind == "u" || kind == "b", "tensor", "cannot make a tensor from ",
             py_type_name(data), " data of NumPy dtype ", nb::cast<std::string>(nb::str(arr.attr("dtype"))));
    // Python numbers follow torch.tensor: floats become float32, ints int64. Arrays keep theirs.
    if (!is_array && kind == "f") arr = arr.attr("astype")("float32");
    if (!is_array && kind == "i") arr = arr.attr("astype")("int64");
    if (dtype) arr = arr.attr("astype")("float32");  // bf16: rounded from float32 below
  }
  // (ascontiguousarray would turn a 0-d array into a 1-d one)
  if (!nb::cast<bool>(arr.attr("flags").attr("c_contiguous"))) arr = np.attr("ascontiguousarray")(arr);
  auto a = nb::cast<nb::ndarray<nb::ro, nb::c_contig, nb::device::cpu>>(arr);
  Tensor t = from_blob_copy(a.data(), ndarray_shape(a.ndim(), a.shape_ptr()), dtype_from_ndarray(a.dtype()));
  return dtype && *dtype == DType::bf16 ? t.to(DType::bf16) : t;
}

Tensor tensor_from_dlpack(nb::handle obj, const char* op) {
  nb::ndarray<nb::device::cpu> a;
  if (!nb::try_cast(obj, a, false))
    detail::throw_error(op, "expected a writable CPU array (NumPy array or an object with __dlpack__), got ",
                        py_type_name(obj));
  const DType dt = dtype_from_ndarray(a.dtype());
  Shape strides(a.stride_ptr(), a.stride_ptr() + a.ndim());
  // The array object keeps the producer's memory alive; the storage keeps the array alive.
  auto owner = std::make_shared<PyRef>(nb::cast(a));
  return from_blob(a.data(), ndarray_shape(a.ndim(), a.shape_ptr()), strides, dt,
                   [owner]() mutable { owner.reset(); });
}

namespace {
template <class Framework> nb::object export_as(const Tensor& t, const char* op) {
  NA_CHECK(t.defined(), op, "undefined tensor");
  NA_CHECK(t.device().is_cpu(), op, "tensor is on ", t.device().str(), ", not the CPU");
  // The capsule holds the storage, so the array outlives the tensor it came from.
  auto* keep = new std::shared_ptr<Storage>(t.storage());
  nb::capsule owner(keep, [](void* p) noexcept { delete static_cast<std::shared_ptr<Storage>*>(p); });
  std::vector<size_t> shape(t.shape().begin(), t.shape().end());
  return nb::ndarray<Framework>(t.raw_data(), shape.size(), shape.data(), owner, t.strides().data(),
                                to_dlpack_dtype(t.dtype()), nb::device::cpu::value)
      .cast();
}
}  // namespace

nb::object export_numpy(const Tensor& t, const char* op) { return export_as<nb::numpy>(t, op); }
nb::object export_dlpack(const Tensor& t, const char* op) { return export_as<nb::array_api>(t, op); }

std::optional<Scalar> scalar_from_python(nb::handle h) {
  if (PyBool_Check(h.ptr())) return Scalar(h.ptr() == Py_True);
  if (PyLong_Check(h.ptr())) {
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(h.ptr(), &overflow);
    NA_CHECK(!overflow, "scalar", "integer ", nb::cast<std::string>(nb::str(h)), " does not fit in int64");
    return Scalar(static_cast<int64_t>(v));
  }
  if (PyFloat_Check(h.ptr())) return Scalar(PyFloat_AsDouble(h.ptr()));
  // NumPy scalars (np.float32(1), np.int64(2), np.bool_) have no Python number type.
  if (!nb::isinstance<Tensor>(h) && nb::hasattr(h, "dtype") && nb::hasattr(h, "ndim") &&
      nb::hasattr(h, "item") && nb::cast<nb::object>(h.attr("ndim")).equal(nb::int_(0))) {
    nb::object v = h.attr("item")();
    if (PyBool_Check(v.ptr()) || PyLong_Check(v.ptr()) || PyFloat_Check(v.ptr()))
      return scalar_from_python(v);
  }
  return std::nullopt;
}

std::optional<Tensor> operand(nb::handle h, const Tensor& self) {
  if (nb::isinstance<Tensor>(h)) return nb::cast<Tensor>(h);
  if (auto s = scalar_from_python(h)) return scalar_like(*s, self);
  if (nb::isinstance(h, numpy().attr("ndarray"))) return tensor_from_python(h, std::nullopt);
  return std::nullopt;
}

nb::dict named_tensors_to_python(const std::vector<std::pair<std::string, Tensor>>& named) {
  nb::dict d;
  for (const auto& [k, v] : named) d[k.c_str()] = v;
  return d;
}

std::vector<std::pair<std::string, Tensor>> named_tensors_from_python(nb::handle mapping) {
  std::vector<std::pair<std::string, Tensor>> named;
  for (nb::handle key : nb::iter(mapping.attr("keys")())) {
    nb::object v = mapping[key];
    Tensor t;
    if (!nb::try_cast(v, t)) t = tensor_from_python(v, std::nullopt);
    named.emplace_back(nb::cast<std::string>(nb::str(key)), t);
  }
  return named;
}

Tensor clamp_optional(const Tensor& x, std::optional<double> lo, std::optional<double> hi) {
  return clamp(x, lo ? std::optional<Scalar>(*lo) : std::nullopt,
               hi ? std::optional<Scalar>(*hi) : std::nullopt);
}

Shape shape_from_args(const nb::args& args) {
  if (args.size() == 1 && !PyLong_Check(args[0].ptr())) return nb::cast<Shape>(args[0]);
  return nb::cast<Shape>(args);
}

std::vector<int64_t> dims_from(nb::handle dim) {
  if (dim.is_none()) return {};
  if (PyLong_Check(dim.ptr())) return {nb::cast<int64_t>(dim)};
  return nb::cast<std::vector<int64_t>>(dim);
}

Tensor as_tensor_arg(nb::handle h, const char* op) {
  if (nb::isinstance<Tensor>(h)) return nb::cast<Tensor>(h);
  if (h.is_none()) return Tensor();
  if (auto s = scalar_from_python(h))
    return scalar_tensor(*s, s->is_integral() ? TensorOptions(DType::i64) : TensorOptions());
  try {
    return tensor_from_python(h, std::nullopt);
  } catch (const nb::python_error&) {
    detail::throw_error(op, "expected a Tensor, got ", py_type_name(h));
  }
}

}  // namespace neural_arch::python

namespace neural_arch::python {

functional::Int2 int2_from(nb::handle h, const char* op) {
  if (PyLong_Check(h.ptr())) return functional::Int2(nb::cast<int64_t>(h));
  std::vector<int64_t> v;
  if (nb::try_cast(h, v) && v.size() == 2) return functional::Int2(v[0], v[1]);
  detail::throw_error(op, "expected an int or a pair of ints, got ", nb::cast<std::string>(nb::repr(h)));
}

functional::ConvPadding padding_from(nb::handle h, const char* op) {
  if (nb::isinstance<nb::str>(h)) return functional::ConvPadding(nb::cast<std::string>(h));
  if (PyLong_Check(h.ptr())) return functional::ConvPadding(nb::cast<int64_t>(h));
  auto p = int2_from(h, op);
  return functional::ConvPadding(p.h, p.w);
}

Tensor operand_arg(nb::handle h, const Tensor& self, const char* op) {
  auto o = operand(h, self);
  if (!o)
    detail::throw_error(op, "expected a Tensor or a number, got ", nb::cast<std::string>(nb::repr(h.type())));
  return *o;
}

}  // namespace neural_arch::python
