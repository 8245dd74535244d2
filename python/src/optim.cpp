#include "common.hpp"
namespace neural_arch::python {
void init_optim(nb::module_&) {}
}
