#include "common.hpp"
namespace neural_arch::python {
void init_runtime(nb::module_&) {}
}
