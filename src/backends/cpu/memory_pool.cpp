#include "neural_arch/backends/memory_pool.hpp"

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "neural_arch/error.hpp"

namespace neural_arch::backends {

namespace {
constexpr size_t kHugeThreshold = size_t(1) << 20;
constexpr size_t kHugePage = size_t(2) << 20;
constexpr size_t kMaxRequest = size_t(1) << 62;
}  // namespace

size_t MemoryPool::size_class(size_t n) {
  if (n <= 64) return 64;
  // Four classes per power of two keeps rounding waste under 25%.
  size_t p = size_t(1) << (63 - __builtin_clzll(n - 1));
  size_t step = p / 4 < 64 ? 64 : p / 4;
  size_t r = (n + step - 1) / step * step;
  if (r >= kHugeThreshold) r = (r + kHugePage - 1) / kHugePage * kHugePage;
  return r;
}

MemoryPool::MemoryPool() : cache_limit_(size_t(8) << 30) {
  const char* env = std::getenv("NA_MEMORY_POOL");
  caching_ = !(env && std::string(env) == "0");
}

MemoryPool::~MemoryPool() {
  // The process-wide pool is never destroyed (tensors in static storage may be freed after
  // other statics); a pool of its own (tests, benchmarks) hands its cache back.
  std::lock_guard lock(mu_);
  release_cached_locked();
}

void* MemoryPool::os_alloc(size_t bytes) {
  void* p = nullptr;
  if (bytes >= kHugeThreshold) {
    // Over-map by one huge page so the block can start on a 2 MiB boundary.
    size_t len = bytes + kHugePage;
    void* raw = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return nullptr;
    uintptr_t start = (reinterpret_cast<uintptr_t>(raw) + kHugePage - 1) & ~(kHugePage - 1);
    size_t head = start - reinterpret_cast<uintptr_t>(raw);
    if (head) munmap(raw, head);
    size_t tail = len - head - bytes;
    if (tail) munmap(reinterpret_cast<char*>(start) + bytes, tail);
    p = reinterpret_cast<void*>(start);
    madvise(p, bytes, MADV_HUGEPAGE);
  } else {
    p = std::aligned_alloc(64, bytes);
  }
  return p;
}

void MemoryPool::os_free(void* p, size_t bytes) {
  if (bytes >= kHugeThreshold)
    munmap(p, bytes);
  else
    std::free(p);
}

void MemoryPool::allocate_accounted_locked(size_t nbytes) {
  ++st_.allocation_count;
  st_.allocated_bytes += nbytes;
  if (st_.allocated_bytes > st_.peak_allocated_bytes) st_.peak_allocated_bytes = st_.allocated_bytes;
}

void* MemoryPool::allocate(size_t nbytes) {
  // Beyond this, size-class rounding would overflow; no machine has that much memory anyway.
  NA_CHECK(nbytes <= kMaxRequest, "memory_pool", "out of memory: cannot allocate ", nbytes, " bytes");
  size_t cls = size_class(nbytes);
  {
    std::lock_guard lock(mu_);
    if (caching_) {
      auto it = free_.find(cls);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        st_.cached_bytes -= cls;
        ++st_.hits;
        allocate_accounted_locked(nbytes);
        return p;
      }
    }
  }
  // The OS call runs unlocked so other threads' hits are not held up by page mapping.
  void* p = os_alloc(cls);
  if (!p) {  // free the cache and retry once
    {
      std::lock_guard lock(mu_);
      release_cached_locked();
    }
    p = os_alloc(cls);
  }
  // A failed request leaves every statistic as it was (allocation_count = hits + misses).
  NA_CHECK(p != nullptr, "memory_pool", "out of memory allocating ", nbytes, " bytes (", cls,
           " with rounding) after returning the cache to the OS");
  std::lock_guard lock(mu_);
  ++st_.misses;
  st_.reserved_bytes += cls;
  allocate_accounted_locked(nbytes);
  return p;
}

void MemoryPool::deallocate(void* p, size_t nbytes) {
  if (!p) return;
  size_t cls = size_class(nbytes);
  std::unique_lock lock(mu_);
  st_.allocated_bytes -= nbytes;
  if (caching_ && st_.cached_bytes + cls <= cache_limit_) {
    free_[cls].push_back(p);
    st_.cached_bytes += cls;
    return;
  }
  st_.reserved_bytes -= cls;
  lock.unlock();
  os_free(p, cls);
}

void MemoryPool::release_cached_locked() {
  for (auto& [cls, blocks] : free_) {
    for (void* p : blocks) os_free(p, cls);
    st_.reserved_bytes -= cls * blocks.size();
    st_.cached_bytes -= cls * blocks.size();
    blocks.clear();
  }
}

void MemoryPool::empty_cache() {
  std::lock_guard lock(mu_);
  release_cached_locked();
}

MemoryStats MemoryPool::stats() const {
  std::lock_guard lock(mu_);
  return st_;
}

void MemoryPool::reset_peak() {
  std::lock_guard lock(mu_);
  st_.peak_allocated_bytes = st_.allocated_bytes;
}

void MemoryPool::set_caching(bool on) {
  std::lock_guard lock(mu_);
  caching_ = on;
  if (!on) release_cached_locked();
}

void MemoryPool::set_cache_limit(size_t bytes) {
  std::lock_guard lock(mu_);
  cache_limit_ = bytes;
}

MemoryPool& get_memory_pool() {
  // Leaked on purpose: tensors with static lifetime may be freed after other statics.
  static MemoryPool* pool = new MemoryPool();
  return *pool;
}

}  // namespace neural_arch::backends
