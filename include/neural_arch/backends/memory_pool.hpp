// The caching allocator behind every CPU tensor, with its statistics.
#pragma once
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace neural_arch::backends {

/// Allocator accounting. "allocated" counts live tensor bytes as requested (not rounded);
/// "reserved" counts bytes held from the OS, live or cached; allocation_count counts
/// successful allocations, each one either a hit (a cached block reused) or a miss.
struct MemoryStats {
  size_t allocated_bytes = 0;
  size_t peak_allocated_bytes = 0;
  size_t reserved_bytes = 0;
  size_t cached_bytes = 0;
  uint64_t allocation_count = 0;
  uint64_t hits = 0;
  uint64_t misses = 0;
  /// hits / (hits + misses); 0 before the first allocation.
  double pool_hit_rate() const { return hits + misses ? double(hits) / double(hits + misses) : 0.0; }
};

/// Caching pool: size classes (4 per power of two), freed blocks are kept for reuse, blocks of
/// 1 MiB and more come from mmap with MADV_HUGEPAGE. Thread-safe. NA_MEMORY_POOL=0 in the
/// environment turns caching off (every block goes back to the OS at once) for comparisons.
class MemoryPool {
 public:
  MemoryPool();
  ~MemoryPool();
  MemoryPool(const MemoryPool&) = delete;
  MemoryPool& operator=(const MemoryPool&) = delete;

  /// 64-byte aligned block of at least nbytes (never null). When the OS refuses, the cache is
  /// returned to it and the request retried once; then an out-of-memory Error is thrown.
  void* allocate(size_t nbytes);
  /// Returns a block from allocate(nbytes) with the same nbytes.
  void deallocate(void* p, size_t nbytes);
  MemoryStats stats() const;
  void reset_peak();
  /// Returns every cached block to the OS.
  void empty_cache();
  bool caching() const { return caching_; }
  void set_caching(bool on);
  /// Cached bytes above this limit are returned to the OS on free.
  void set_cache_limit(size_t bytes);
  size_t cache_limit() const { return cache_limit_; }
  /// RAII scope that turns caching on (or off) and restores the previous setting on exit,
  /// like the original's `with pool.context():`.
  class Scope {
   public:
    Scope(MemoryPool& pool, bool caching) : pool_(pool), prev_(pool.caching()) { pool.set_caching(caching); }
    ~Scope() { pool_.set_caching(prev_); }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    MemoryPool& pool_;
    bool prev_;
  };
  [[nodiscard]] Scope context(bool caching = true) { return Scope(*this, caching); }
  /// Rounded block size used for a request (exposed for tests).
  static size_t size_class(size_t nbytes);

 private:
  void* os_alloc(size_t bytes);
  void os_free(void* p, size_t bytes);
  void release_cached_locked();
  void allocate_accounted_locked(size_t nbytes);

  mutable std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  MemoryStats st_;
  bool caching_ = true;
  size_t cache_limit_;
};

/// The process-wide CPU pool (torch's caching allocator analogue).
MemoryPool& get_memory_pool();

}  // namespace neural_arch::backends
