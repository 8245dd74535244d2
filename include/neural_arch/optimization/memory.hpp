// Memory statistics from the allocator's own accounting (never process RSS).
#pragma once
#include "neural_arch/backends/memory_pool.hpp"

namespace neural_arch::optimization {

/// Snapshot of the CPU pool: live tensor bytes (current and peak), bytes reserved from the
/// OS, cached bytes, allocation count, cache hits and misses and the hit rate.
struct MemoryStatistics {
  size_t allocated_bytes = 0;
  size_t peak_allocated_bytes = 0;
  size_t reserved_bytes = 0;
  size_t cached_bytes = 0;
  uint64_t allocation_count = 0;
  uint64_t hits = 0;
  uint64_t misses = 0;
  double pool_hit_rate = 0.0;
};

MemoryStatistics get_memory_stats();
/// Starts a new peak measurement from the current allocation.
void reset_peak();

}  // namespace neural_arch::optimization
