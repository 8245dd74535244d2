// Process-wide limit on the size of one tensor allocation.
#pragma once
#include <cstddef>

namespace neural_arch {

/// Largest number of bytes one tensor allocation may request. A larger request throws
/// neural_arch::Error before it reaches the allocator. Default: the machine's physical memory.
size_t max_allocation_bytes();
/// Sets the limit (0 restores the default). Thread-safe.
void set_max_allocation_bytes(size_t nbytes);

}  // namespace neural_arch
