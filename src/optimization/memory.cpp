#include "neural_arch/optimization/memory.hpp"

namespace neural_arch::optimization {

MemoryStatistics get_memory_stats() {
  const auto s = backends::get_memory_pool().stats();
  return {s.allocated_bytes, s.peak_allocated_bytes, s.reserved_bytes, s.cached_bytes,
          s.allocation_count, s.hits, s.misses, s.hit_rate()};
}

void reset_peak() { backends::get_memory_pool().reset_peak(); }

}  // namespace neural_arch::optimization
