// NB_MODULE(_C): the compiled half of the neural_arch Python package. Each area's bindings live
// in their own file (tensor.cpp, ops.cpp, nn.cpp, optim.cpp, runtime.cpp).
#include "common.hpp"

namespace nb = nanobind;

NB_MODULE(_C, m) {
  // Objects still referenced at interpreter exit (module-level tensors, C++-held Python
  // callables) are reclaimed by the OS; nanobind's leak report would only be noise.
  nb::set_leak_warnings(false);
  m.doc() = "neural_arch C++ core (import the neural_arch package instead)";
  // neural_arch::Error -> neural_arch.Error, a subclass of both RuntimeError and ValueError:
  // the C++ core has one exception type for every user mistake, where PyTorch raises
  // RuntimeError for most and ValueError for some (bad arguments), so `except RuntimeError`
  // and `except ValueError` written for PyTorch both catch it.
  PyObject* bases = PyTuple_Pack(2, PyExc_RuntimeError, PyExc_ValueError);
  PyObject* error = PyErr_NewExceptionWithDoc(
      "neural_arch.Error", "A user error reported by the neural_arch C++ core (the message names the op).",
      bases, nullptr);
  Py_DECREF(bases);
  if (error == nullptr) throw nb::python_error();
  m.attr("Error") = nb::steal(error);
  nb::register_exception_translator(
      [](const std::exception_ptr& p, void* payload) {
        try {
          std::rethrow_exception(p);
        } catch (const neural_arch::Error& e) {
          PyErr_SetString(static_cast<PyObject*>(payload), e.what());
        }
      },
      error);

  neural_arch::python::init_tensor(m);
  neural_arch::python::init_ops(m);
  neural_arch::python::init_nn(m);
  neural_arch::python::init_optim(m);
  neural_arch::python::init_runtime(m);
  neural_arch::python::init_data(m);
}
