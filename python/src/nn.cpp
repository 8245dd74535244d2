#include "common.hpp"
namespace neural_arch::python {
void init_nn(nb::module_&) {}
}
