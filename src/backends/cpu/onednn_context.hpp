// What the oneDNN-backed kernels (gemm.cpp, conv_onednn.cpp) share to run primitives: the CPU
// engine, one stream per thread, per-thread workspace buffers, and an LRU cache of created
// primitives keyed by problem geometry. Internal to the CPU backend: only .cpp files include it,
// so oneDNN's types never reach the public headers.
#pragma once
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <unordered_map>
#include <utility>

namespace neural_arch::cpu::onednn {

dnnl::engine& engine();
/// A CPU stream is a thin handle; one per thread keeps concurrent callers independent.
dnnl::stream& stream();

/// Slot 0 of thread_buffer holds a primitive's scratchpad; callers number their other slots from 1.
inline constexpr int kScratchpadSlot = 0;
inline constexpr int kThreadBufferSlots = 5;

/// This thread's growable, 64-byte aligned buffer number `slot` (< kThreadBufferSlots), at
/// least `bytes` long. Buffers are per thread so that two threads can run the same cached
/// primitive at once; the contents live until the next call for the same slot on this thread.
/// Throws neural_arch::Error naming `op` when memory runs out.
void* thread_buffer(int slot, size_t bytes, const char* op);

/// A primitive attribute with a user-provided scratchpad: the library-managed one may be shared
/// between threads that execute the same cached primitive.
dnnl::primitive_attr user_scratchpad_attr();

/// Adds the scratchpad argument (from this thread's buffer) when the primitive needs one.
void add_scratchpad(std::unordered_map<int, dnnl::memory>& args, const dnnl::memory::desc& md, size_t bytes,
                    const char* op);

/// A memory object over a caller's buffer. oneDNN's handles are non-const even for inputs it
/// only reads, hence the const_cast.
inline dnnl::memory wrap(const dnnl::memory::desc& md, const void* data) {
  return dnnl::memory(md, engine(), const_cast<void*>(data));
}

/// Whether oneDNN picked its reference implementation, which is orders of magnitude slower
/// than the callers' own fallback loops.
bool is_reference(const char* impl_info);

/// The thread count a primitive created now will be partitioned for. oneDNN fixes a primitive's
/// thread partition when it is created, so this belongs in every cache key: a primitive made for
/// another thread count would ignore set_num_threads.
int primitive_threads();

/// FNV-1a over 64-bit words, for cache-key hashes.
struct KeyHasher {
  uint64_t h = 1469598103934665603ull;
  void mix(uint64_t v) { h = (h ^ v) * 1099511628211ull; }
  size_t value() const { return static_cast<size_t>(h); }
};

/// LRU map from problem geometry to a ready primitive. Creating a primitive costs tens of
/// microseconds or more; a training step repeats the same few shapes, so lookups are almost
/// always hits. Thread-safe. Stats is an aggregate {entries, hits, misses}.
template <class Key, class Entry, class Hash, class Stats> class PrimitiveCache {
 public:
  explicit PrimitiveCache(size_t capacity) : capacity_(capacity) {}

  template <class Make> std::shared_ptr<const Entry> get(const Key& key, Make&& make) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = map_.find(key);
      if (it != map_.end()) {
        ++hits_;
        lru_.splice(lru_.begin(), lru_, it->second);
        return it->second->second;
      }
      ++misses_;
    }
    // Built outside the lock: creation is slow and other threads may be running primitives.
    auto e = std::make_shared<const Entry>(make());
    std::lock_guard<std::mutex> lock(mu_);
    if (map_.find(key) == map_.end()) {
      lru_.emplace_front(key, e);
      map_[key] = lru_.begin();
      if (lru_.size() > capacity_) {
        map_.erase(lru_.back().first);
        lru_.pop_back();
      }
    }
    return e;
  }
  Stats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return {static_cast<int64_t>(map_.size()), hits_, misses_};
  }
  void clear() {
    std::lock_guard<std::mutex> lock(mu_);
    map_.clear();
    lru_.clear();
  }

 private:
  using Item = std::pair<Key, std::shared_ptr<const Entry>>;
  const size_t capacity_;
  std::mutex mu_;
  std::list<Item> lru_;
  std::unordered_map<Key, typename std::list<Item>::iterator, Hash> map_;
  int64_t hits_ = 0, misses_ = 0;
};

}  // namespace neural_arch::cpu::onednn
