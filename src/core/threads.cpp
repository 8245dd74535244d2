#include <omp.h>

#include "neural_arch/ops.hpp"

namespace neural_arch {

int get_num_threads() { return omp_get_max_threads(); }

void set_num_threads(int n) {
  NA_CHECK(n > 0, "set_num_threads", "number of threads must be positive, got ", n);
  omp_set_num_threads(n);
}

}  // namespace neural_arch
