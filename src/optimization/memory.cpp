#include "neural_arch/optimization/memory.hpp"

namespace neural_arch::optimization {

MemoryStatistics get_memory_stats() { return backends::get_memory_pool().stats(); }

void reset_peak() { backends::get_memory_pool().reset_peak(); }

}  // namespace neural_arch::optimization
