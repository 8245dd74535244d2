// Backends report availability honestly; the memory pool's statistics are exact.
#include <gtest/gtest.h>

#include <neural_arch/backends/backend.hpp>
#include <neural_arch/backends/memory_pool.hpp>
#include <neural_arch/ops.hpp>

namespace na = neural_arch;

TEST(Backend, AvailabilityAndReasons) {
  auto cpu = na::backends::get_backend("cpu");
  EXPECT_TRUE(cpu.is_available());
  EXPECT_TRUE(cpu.reason().empty());
  EXPECT_FALSE(cpu.isa().empty());
  auto cuda = na::backends::get_backend("cuda");
  EXPECT_FALSE(cuda.is_available());
  EXPECT_NE(cuda.reason().find("not built"), std::string::npos);
  auto mps = na::backends::get_backend("mps");
  EXPECT_FALSE(mps.is_available());
  EXPECT_NE(mps.reason().find("Apple"), std::string::npos);
  EXPECT_THROW(na::backends::get_backend("tpu"), na::Error);
  EXPECT_EQ(na::ones({1}).device().str(), "cpu");
}

TEST(Backend, ForcedIsaIsHonoured) {
  const char* want = std::getenv("NA_CPU_ISA");
  auto isa = na::backends::get_backend("cpu").isa();
  if (want) EXPECT_EQ(isa, want);
  else EXPECT_TRUE(isa == "avx512" || isa == "avx2" || isa == "base");
}

TEST(MemoryPool, StatisticsAreExactOnAScriptedSequence) {
  auto& pool = na::backends::get_memory_pool();
  pool.empty_cache();
  pool.reset_peak();
  const auto s0 = pool.stats();
  void* a = pool.allocate(1000);
  void* b = pool.allocate(3 << 20);
  auto s1 = pool.stats();
  EXPECT_EQ(s1.allocated_bytes - s0.allocated_bytes, 1000u + (3u << 20));
  EXPECT_EQ(s1.allocation_count - s0.allocation_count, 2u);
  EXPECT_EQ(s1.misses - s0.misses, 2u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % 64, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b) % (2u << 20), 0u);  // huge-page aligned
  pool.deallocate(b, 3 << 20);
  void* c = pool.allocate(3 << 20);  // same class: reused
  auto s2 = pool.stats();
  EXPECT_EQ(c, b);
  EXPECT_EQ(s2.hits - s1.hits, 1u);
  EXPECT_EQ(s2.peak_allocated_bytes - s0.allocated_bytes, 1000u + (3u << 20));
  pool.deallocate(a, 1000);
  pool.deallocate(c, 3 << 20);
  auto s3 = pool.stats();
  EXPECT_EQ(s3.allocated_bytes, s0.allocated_bytes);
  EXPECT_GE(s3.cached_bytes, na::backends::MemoryPool::size_class(3 << 20));
  pool.empty_cache();
  EXPECT_EQ(pool.stats().cached_bytes, 0u);
}

TEST(MemoryPool, TensorsAllocateThroughThePool) {
  auto& pool = na::backends::get_memory_pool();
  const auto before = pool.stats().allocated_bytes;
  {
    auto t = na::empty({1024}, na::kFloat64);
    EXPECT_EQ(pool.stats().allocated_bytes - before, 8192u);
  }
  EXPECT_EQ(pool.stats().allocated_bytes, before);
}

TEST(MemoryPool, SizeClassesBoundWaste) {
  for (size_t n : {1ul, 65ul, 1000ul, 4097ul, 100000ul, 1ul << 20, (1ul << 20) + 1, 50000000ul}) {
    size_t c = na::backends::MemoryPool::size_class(n);
    EXPECT_GE(c, n);
    if (n > 4096 && n < (1ul << 20)) EXPECT_LE(c, n + n / 4 + 64);
  }
}
