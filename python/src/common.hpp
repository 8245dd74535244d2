// Shared helpers of the binding sources: conversions between Python values and tensors, the
// GIL-safe holder of Python callables, and the init functions of each area.
#pragma once
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/function.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <optional>
#include <string>

#include "neural_arch/ops.hpp"

namespace neural_arch::python {

namespace nb = nanobind;

/// Release the GIL while the C++ call runs (every op that can take more than a few µs).
using nogil = nb::call_guard<nb::gil_scoped_release>;

/// A Python object kept alive from C++ (hooks, closures, borrowed NumPy/DLPack memory) that may
/// be dropped on a thread without the GIL, e.g. by the backward engine: the destructor takes the
/// GIL, and does nothing once the interpreter is gone.
class PyRef {
 public:
  explicit PyRef(nb::object o) : obj_(o.release().ptr()) {}
  PyRef(const PyRef&) = delete;
  PyRef& operator=(const PyRef&) = delete;
  ~PyRef() {
    if (obj_ == nullptr || !Py_IsInitialized()) return;
    PyGILState_STATE st = PyGILState_Ensure();
    Py_DECREF(obj_);
    PyGILState_Release(st);
  }
  nb::handle get() const { return obj_; }

 private:
  PyObject* obj_;
};

/// The name of h's Python type, for error messages.
inline std::string py_type_name(nb::handle h) {
  return nb::cast<std::string>(nb::str(h.type().attr("__name__")));
}

/// numpy.dtype / DLPack dtype <-> DType.
DType dtype_from_ndarray(const nb::dlpack::dtype& dt);
nb::dlpack::dtype to_dlpack_dtype(DType t);
/// The `dtype=` argument of Python functions: a neural_arch dtype, a NumPy dtype, a type
/// (float, int, bool) or a name ("float32").
DType dtype_from_python(nb::handle h);

/// A copy of any array-like (ndarray, nested lists, scalars, objects with __array__) as a
/// tensor. dtype: the result type; none infers it as torch.tensor does (Python floats ->
/// float32, ints -> int64, bools -> bool, an ndarray keeps its dtype).
Tensor tensor_from_python(nb::handle data, std::optional<DType> dtype);
/// A tensor sharing the memory of a CPU ndarray/DLPack capsule producer (no copy).
Tensor tensor_from_dlpack(nb::handle obj, const char* op);
/// A zero-copy NumPy array over t / an object with __dlpack__ over t; both keep t's storage alive.
nb::object export_numpy(const Tensor& t, const char* op);
nb::object export_dlpack(const Tensor& t, const char* op);

/// A Python number as a Scalar (bool, int, float; NumPy scalars too); nullopt otherwise.
std::optional<Scalar> scalar_from_python(nb::handle h);
/// The other operand of a binary operator: a Tensor, or a number made a 0-d tensor by
/// scalar_like(number, self). nullopt for types the operators do not take (-> NotImplemented).
std::optional<Tensor> operand(nb::handle h, const Tensor& self);
/// A tensor argument that may also be given as a number or array-like (like torch functions).
Tensor as_tensor_arg(nb::handle h, const char* op);

/// Named tensors (state_dict, safetensors) as a Python dict, and back from any mapping whose
/// values are Tensors or array-likes.
nb::dict named_tensors_to_python(const std::vector<std::pair<std::string, Tensor>>& named);
std::vector<std::pair<std::string, Tensor>> named_tensors_from_python(nb::handle mapping);
/// clamp with optional bounds given as Python numbers (None: unbounded).
Tensor clamp_optional(const Tensor& x, std::optional<double> lo, std::optional<double> hi);

/// A shape given as ints or as one sequence: view(2, 3) and view((2, 3)).
Shape shape_from_args(const nb::args& args);
/// A dim argument that may be None (all dims), an int or a sequence of ints.
std::vector<int64_t> dims_from(nb::handle dim);

void bind_tensor_methods(nb::class_<Tensor>& cls);
void init_tensor(nb::module_& m);
void init_ops(nb::module_& m);
void init_nn(nb::module_& m);
void init_optim(nb::module_& m);
void init_runtime(nb::module_& m);
void init_data(nb::module_& m);

}  // namespace neural_arch::python

#include "neural_arch/functional/conv.hpp"

namespace neural_arch::python {
/// An int or an (h, w) pair, for kernel sizes, strides, paddings.
functional::Int2 int2_from(nb::handle h, const char* op);
/// An int, an (h, w) pair, or "same" / "valid".
functional::ConvPadding padding_from(nb::handle h, const char* op);
/// The other operand of an in-place method (a Tensor or a number); an Error otherwise.
Tensor operand_arg(nb::handle h, const Tensor& self, const char* op);
}  // namespace neural_arch::python
