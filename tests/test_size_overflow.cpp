// Hostile sizes: every element count, stride, byte size and window length that would overflow
// int64 throws a neural_arch::Error naming the op, instead of wrapping (undefined behaviour)
// into a small size and writing out of bounds. Also the allocation limit.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

#include "neural_arch/data/idx.hpp"
#include "neural_arch/functional/conv.hpp"
#include "neural_arch/functional/pooling.hpp"
#include "neural_arch/io/npy.hpp"
#include "neural_arch/limits.hpp"
#include "neural_arch/nn/linear.hpp"
#include "neural_arch/ops.hpp"
#include "test_util.hpp"

namespace na = neural_arch;
namespace F = neural_arch::functional;
using na_test::expect_error;

namespace {
constexpr int64_t k2_30 = int64_t(1) << 30, k2_31 = int64_t(1) << 31, k2_32 = int64_t(1) << 32,
                  k2_40 = int64_t(1) << 40, k2_62 = int64_t(1) << 62;
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

// Sets the allocation limit for one test and restores the default afterwards.
struct AllocationLimit {
  explicit AllocationLimit(size_t n) { na::set_max_allocation_bytes(n); }
  ~AllocationLimit() { na::set_max_allocation_bytes(0); }
};
}  // namespace

TEST(SizeOverflow, ZerosWhoseElementCountOverflows) {
  expect_error([] { na::zeros({k2_40, k2_40}); }, {"[zeros]", "(1099511627776,1099511627776)", "int64"});
}

TEST(SizeOverflow, EmptyWhoseElementCountOverflows) {
  expect_error([] { na::empty({k2_32, k2_32}); }, {"[empty]", "(4294967296,4294967296)", "int64"});
}

TEST(SizeOverflow, ZerosWhoseByteCountOverflows) {
  // 2^62 float32 elements fit int64, their 2^64 bytes do not (this wrapped to 0 bytes before).
  expect_error([] { na::zeros({k2_62}); }, {"[zeros]", "(4611686018427387904,)", "float32", "bytes"});
}

TEST(SizeOverflow, ZeroSizedTensorWhoseStridesOverflow) {
  // No elements, but the contiguous strides 2^80 and 2^40 do not fit int64.
  expect_error([] { na::empty({0, k2_40, k2_40}); }, {"[empty]", "(0,1099511627776,1099511627776)"});
}

TEST(SizeOverflow, NegativeDimension) {
  expect_error([] { na::ones({2, -3}); }, {"[full]", "negative", "-3"});
}

TEST(SizeOverflow, ArangeOfTooManyElements) {
  expect_error([] { na::arange(0, k2_62); }, {"[arange]", "(4611686018427387904,)", "int64"});
  expect_error([] { na::arange(0.0, 1e300, 1e-300); }, {"[arange]", "more than int64"});
}

TEST(SizeOverflow, LinearWithTooLargeWeight) {
  expect_error([] { na::nn::Linear(k2_31, k2_31); }, {"[Linear]", "(2147483648,2147483648)"});
}

TEST(SizeOverflow, ReshapeToOverflowingShape) {
  const auto x = na::zeros({4});
  expect_error([&] { x.reshape({k2_62 + 1, 4}); }, {"[reshape]", "int64"});
  expect_error([&] { x.reshape({k2_62, k2_62, -1}); }, {"[reshape]", "int64"});
}

TEST(SizeOverflow, ExpandToOverflowingShape) {
  const auto x = na::zeros({1, 1});
  expect_error([&] { x.expand({k2_40, k2_40}); }, {"[expand]", "(1099511627776,1099511627776)"});
}

TEST(SizeOverflow, SliceWithHugeStep) {
  // The step times the stride would overflow, but a one-element slice never uses it.
  const auto x = na::arange(0, 6);
  const auto s = x.slice(0, 1, 6, kMax);
  ASSERT_EQ(s.shape(), na::Shape{1});
  EXPECT_EQ(s.item<int64_t>(), 1);
}

TEST(SizeOverflow, Conv2dWithHugePadding) {
  const auto x = na::zeros({1, 1, 4, 4}), w = na::zeros({1, 1, 3, 3});
  expect_error([&] { F::conv2d(x, w, {}, 1, {k2_62, k2_62}); }, {"[conv2d]", "padded input size", "int64"});
  expect_error([&] { F::conv2d(x, w, {}, 1, kMax); }, {"[conv2d]", "padded input size"});
}

TEST(SizeOverflow, Conv2dWithHugeDilation) {
  const auto x = na::zeros({1, 1, 4, 4}), w = na::zeros({1, 1, 3, 3});
  expect_error([&] { F::conv2d(x, w, {}, 1, 0, kMax); }, {"[conv2d]", "dilated kernel span", "int64"});
  expect_error([&] { F::conv2d(x, w, {}, 1, "same", k2_62); }, {"[conv2d]", "dilated kernel span"});
}

TEST(SizeOverflow, MaxPool2dWithHugeWindow) {
  const auto x = na::zeros({1, 1, 4, 4});
  // padding <= kernel/2 is allowed, but the padded input size overflows.
  expect_error([&] { F::max_pool2d(x, kMax, 1, kMax / 2); }, {"[max_pool2d]", "padded input size", "int64"});
  expect_error([&] { F::max_pool2d(x, 3, 1, 0, k2_62); }, {"[max_pool2d]", "dilated kernel span", "int64"});
  expect_error([&] { F::avg_pool2d(x, kMax, 1, kMax / 2); }, {"[avg_pool2d]", "padded input size"});
}

namespace {
std::string be32(uint32_t v) { return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; }
std::string idx_file(const std::vector<uint32_t>& dims) {
  std::string s = {'\0', '\0', char(0x08), char(dims.size())};
  for (uint32_t d : dims) s += be32(d);
  return s;
}
std::string npy_file(const std::string& shape) {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
  dict.append(117 - dict.size(), ' ');
  dict += '\n';
  return std::string("\x93NUMPY\x01\x00", 8) + char(118) + char(0) + dict;
}
}  // namespace

TEST(SizeOverflow, IdxFileWithHugeDimensions) {
  na_test::TempDir dir;
  const auto path = dir.file("big.idx");
  na_test::write_bytes(path, idx_file({0xffffffffu, 0xffffffffu, 0xffffffffu}));
  expect_error([&] { na::data::read_idx(path); }, {"big.idx", "too large"});
  // No elements, but its strides overflow.
  na_test::write_bytes(path, idx_file({0, 0xffffffffu, 0xffffffffu, 0xffffffffu}));
  expect_error([&] { na::data::read_idx(path); }, {"big.idx", "too large"});
}

TEST(SizeOverflow, NpyFileWithHugeDimensions) {
  na_test::TempDir dir;
  const auto path = dir.file("big.npy");
  na_test::write_bytes(path, npy_file("(4611686018427387904, 4)"));
  expect_error([&] { na::io::load_npy(path); }, {"big.npy", "overflows"});
  na_test::write_bytes(path, npy_file("(0, 4294967296, 4294967296)"));
  expect_error([&] { na::io::load_npy(path); }, {"big.npy", "overflows"});
}

TEST(AllocationLimit, DefaultIsPhysicalMemory) {
  EXPECT_GE(na::max_allocation_bytes(), size_t(1) << 26);
  // 2^40 float32 (4 TiB) fits int64 but not this machine.
  if (na::max_allocation_bytes() < (size_t(1) << 42))
    expect_error([] { na::zeros({k2_40}); }, {"[zeros]", "allocation limit", "set_max_allocation_bytes"});
}

TEST(AllocationLimit, ConfigurableAndRestored) {
  const size_t before = na::max_allocation_bytes();
  {
    AllocationLimit limit(4096);
    EXPECT_EQ(na::max_allocation_bytes(), 4096u);
    EXPECT_EQ(na::ones({1024}).numel(), 1024);  // exactly 4096 bytes
    expect_error([] { na::ones({1025}); }, {"[full]", "(1025,)", "4100 bytes", "limit of 4096"});
    expect_error([] { na::randn({k2_30}); }, {"[normal]", "limit of 4096"});
  }
  EXPECT_EQ(na::max_allocation_bytes(), before);
}
