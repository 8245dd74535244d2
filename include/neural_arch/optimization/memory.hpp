// Memory statistics from the allocator's own accounting (never process RSS).
#pragma once
#include "neural_arch/backends/memory_pool.hpp"

namespace neural_arch::optimization {

/// Snapshot of the CPU pool: live tensor bytes (current and peak), bytes reserved from the
/// OS, cached bytes, allocation count, cache hits and misses and pool_hit_rate(). The pool's
/// own statistics struct, under the name the original's optimization module used.
using MemoryStatistics = backends::MemoryStats;

MemoryStatistics get_memory_stats();
/// Starts a new peak measurement from the current allocation.
void reset_peak();

}  // namespace neural_arch::optimization
