// The caching pool on its own: exact statistics on a scripted sequence, size classes, the
// out-of-memory path, and consistency under concurrent use. Each test uses its own pool, so
// nothing else in the process moves its counters. This file needs only memory_pool.cpp:
// scripts/test.sh also builds it alone with -fsanitize=thread (no OpenMP involved).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <neural_arch/backends/memory_pool.hpp>
#include <neural_arch/error.hpp>
#include <random>
#include <thread>
#include <vector>

namespace na = neural_arch;
using na::backends::MemoryPool;
using na::backends::MemoryStats;

namespace {

void expect_stats(const MemoryStats& s, size_t allocated, size_t peak, size_t reserved, size_t cached,
                  uint64_t count, uint64_t hits, uint64_t misses) {
  EXPECT_EQ(s.allocated_bytes, allocated);
  EXPECT_EQ(s.peak_allocated_bytes, peak);
  EXPECT_EQ(s.reserved_bytes, reserved);
  EXPECT_EQ(s.cached_bytes, cached);
  EXPECT_EQ(s.allocation_count, count);
  EXPECT_EQ(s.hits, hits);
  EXPECT_EQ(s.misses, misses);
}

}  // namespace

TEST(MemoryPool, StatisticsAreExactOnAScriptedSequence) {
  MemoryPool pool;
  pool.set_caching(true);  // whatever NA_MEMORY_POOL says
  const size_t small = MemoryPool::size_class(1000), big = MemoryPool::size_class(3 << 20);
  ASSERT_EQ(MemoryPool::size_class(900), small);  // same class: reused below
  ASSERT_EQ(MemoryPool::size_class((3 << 20) - 100), big);
  expect_stats(pool.stats(), 0, 0, 0, 0, 0, 0, 0);
  EXPECT_EQ(pool.stats().pool_hit_rate(), 0.0);

  void* a = pool.allocate(1000);
  SCOPED_TRACE("a");
  expect_stats(pool.stats(), 1000, 1000, small, 0, 1, 0, 1);
  void* b = pool.allocate(3 << 20);
  expect_stats(pool.stats(), 1000 + (3 << 20), 1000 + (3 << 20), small + big, 0, 2, 0, 2);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % 64, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b) % (2u << 20), 0u);  // huge-page aligned
  std::memset(b, 1, 3 << 20);

  pool.deallocate(b, 3 << 20);  // cached, not returned
  expect_stats(pool.stats(), 1000, 1000 + (3 << 20), small + big, big, 2, 0, 2);
  void* c = pool.allocate((3 << 20) - 100);  // a hit on b's block
  EXPECT_EQ(c, b);
  expect_stats(pool.stats(), 1000 + (3 << 20) - 100, 1000 + (3 << 20), small + big, 0, 3, 1, 2);
  void* d = pool.allocate(1000);  // a is live: a miss
  expect_stats(pool.stats(), 2000 + (3 << 20) - 100, 2000 + (3 << 20) - 100, 2 * small + big, 0, 4, 1, 3);
  pool.deallocate(a, 1000);
  pool.deallocate(d, 1000);
  expect_stats(pool.stats(), (3 << 20) - 100, 2000 + (3 << 20) - 100, 2 * small + big, 2 * small, 4, 1, 3);
  void* e = pool.allocate(900);  // a hit
  expect_stats(pool.stats(), (3 << 20) + 800, 2000 + (3 << 20) - 100, 2 * small + big, small, 5, 2, 3);
  EXPECT_DOUBLE_EQ(pool.stats().pool_hit_rate(), 2.0 / 5.0);

  pool.reset_peak();
  EXPECT_EQ(pool.stats().peak_allocated_bytes, (3u << 20) + 800);
  pool.set_cache_limit(small);  // the cache is full: e goes back to the OS
  pool.deallocate(e, 900);
  expect_stats(pool.stats(), (3 << 20) - 100, (3 << 20) + 800, small + big, small, 5, 2, 3);
  pool.empty_cache();
  expect_stats(pool.stats(), (3 << 20) - 100, (3 << 20) + 800, big, 0, 5, 2, 3);
  pool.deallocate(c, (3 << 20) - 100);  // over the limit too
  expect_stats(pool.stats(), 0, (3 << 20) + 800, 0, 0, 5, 2, 3);

  pool.set_cache_limit(size_t(1) << 30);
  {
    auto off = pool.context(false);  // pooling off: every block goes straight back
    EXPECT_FALSE(pool.caching());
    pool.deallocate(pool.allocate(1000), 1000);
    pool.deallocate(pool.allocate(1000), 1000);
    expect_stats(pool.stats(), 0, (3 << 20) + 800, 0, 0, 7, 2, 5);
  }
  EXPECT_TRUE(pool.caching());
}

TEST(MemoryPool, OutOfMemoryFreesTheCacheRetriesAndThrows) {
  MemoryPool pool;
  pool.set_caching(true);
  pool.deallocate(pool.allocate(4 << 20), 4 << 20);
  const MemoryStats before = pool.stats();
  ASSERT_GT(before.cached_bytes, 0u);
  for (size_t n : {size_t(1) << 50, ~size_t(0)}) {
    try {
      pool.allocate(n);
      ADD_FAILURE() << "allocated " << n << " bytes";
    } catch (const na::Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind("[memory_pool] out of memory", 0), 0u) << e.what();
    }
  }
  // The failed requests changed no counter; the first one returned the cache to the OS.
  const MemoryStats after = pool.stats();
  expect_stats(after, before.allocated_bytes, before.peak_allocated_bytes, 0, 0, before.allocation_count,
               before.hits, before.misses);
}

TEST(MemoryPool, SizeClassesBoundWaste) {
  for (size_t n : {1ul, 65ul, 1000ul, 4097ul, 100000ul, 1ul << 20, (1ul << 20) + 1, 50000000ul}) {
    size_t c = MemoryPool::size_class(n);
    EXPECT_GE(c, n);
    EXPECT_EQ(c % 64, 0u);
    if (n > 4096 && n < (1ul << 20)) EXPECT_LE(c, n + n / 4 + 64);
    if (n >= (1ul << 20)) EXPECT_EQ(c % (2ul << 20), 0u);
  }
}

TEST(MemoryPool, ConcurrentAllocateAndFreeKeepStatisticsConsistent) {
  MemoryPool pool;
  pool.set_caching(true);
  constexpr int kThreads = 6, kIters = 1500, kLive = 6;
  std::atomic<bool> done{false};
  std::atomic<uint64_t> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(1234 + t);
      // Sizes from 64 B to 4 MiB, so both the malloc and the mmap paths are hit.
      std::uniform_int_distribution<int> log2(6, 22);
      std::vector<std::pair<unsigned char*, size_t>> live;
      auto release = [&](size_t i) {
        auto [p, n] = live[i];
        // Another thread writing into our block would show up here (and in TSan).
        if (p[0] != static_cast<unsigned char>(t) || p[n - 1] != static_cast<unsigned char>(t)) ++bad;
        pool.deallocate(p, n);
        live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
      };
      for (int i = 0; i < kIters; ++i) {
        const size_t n = (size_t(1) << log2(rng)) + rng() % 512;
        auto* p = static_cast<unsigned char*>(pool.allocate(n));
        p[0] = p[n - 1] = static_cast<unsigned char>(t);
        live.emplace_back(p, n);
        if (live.size() > kLive) release(rng() % live.size());
      }
      while (!live.empty()) release(live.size() - 1);
    });
  }
  // Readers and maintenance calls race with the allocating threads.
  std::thread other([&] {
    int k = 0;
    while (!done) {
      const MemoryStats s = pool.stats();
      if (s.hits + s.misses != s.allocation_count || s.cached_bytes > s.reserved_bytes) ++bad;
      if (++k % 50 == 0) pool.empty_cache();
      if (k % 7 == 0) pool.reset_peak();
      std::this_thread::yield();
    }
  });
  for (auto& th : threads) th.join();
  done = true;
  other.join();
  EXPECT_EQ(bad.load(), 0u);
  const MemoryStats s = pool.stats();
  EXPECT_EQ(s.allocated_bytes, 0u);
  EXPECT_EQ(s.allocation_count, uint64_t(kThreads) * kIters);
  EXPECT_EQ(s.hits + s.misses, s.allocation_count);
  EXPECT_EQ(s.reserved_bytes, s.cached_bytes);  // nothing live: all reserved bytes are cache
  EXPECT_GT(s.hits, 0u);
  pool.empty_cache();
  EXPECT_EQ(pool.stats().reserved_bytes, 0u);
}
