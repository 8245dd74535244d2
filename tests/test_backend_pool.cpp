// Backends report availability honestly; tensors allocate through the memory pool (the pool
// itself is tested on its own in test_memory_pool.cpp).
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
  if (want)
    EXPECT_EQ(isa, want);
  else
    EXPECT_TRUE(isa == "avx512" || isa == "avx2" || isa == "base");
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
