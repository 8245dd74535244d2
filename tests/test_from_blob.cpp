// from_blob: tensors over memory owned elsewhere (what the Python binding uses for NumPy and
// DLPack), without copies, with the owner released exactly once when the last view is gone.
#include <gtest/gtest.h>

#include <vector>

#include "neural_arch/error.hpp"
#include "neural_arch/ops.hpp"

namespace na = neural_arch;

TEST(FromBlob, SharesMemoryAndReleasesOnceAfterTheLastView) {
  std::vector<float> buf = {0, 1, 2, 3, 4, 5};
  int released = 0;
  {
    na::Tensor t = na::from_blob(buf.data(), {2, 3}, {}, na::kFloat32, [&] { ++released; });
    EXPECT_EQ(t.data_ptr<float>(), buf.data());
    EXPECT_TRUE(t.is_contiguous());
    na::Tensor row = t.select(0, 1);
    t = na::Tensor();
    EXPECT_EQ(released, 0);  // the view still holds the storage
    row.fill_(7.0f);
    EXPECT_EQ(buf[3], 7.0f);
    EXPECT_EQ(buf[5], 7.0f);
  }
  EXPECT_EQ(released, 1);
}

TEST(FromBlob, StridedGeometryAndOpsRead) {
  std::vector<double> buf(12);
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<double>(i);
  // Every other column of a 3x4 row-major array.
  na::Tensor t = na::from_blob(buf.data(), {3, 2}, {4, 2}, na::kFloat64, [] {});
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(t.to_vector<double>(), (std::vector<double>{0, 2, 4, 6, 8, 10}));
  EXPECT_DOUBLE_EQ(t.sum().item(), 30.0);
}

TEST(FromBlob, RejectsBadGeometry) {
  float x = 0;
  EXPECT_THROW(na::from_blob(&x, {2, 2}, {2}, na::kFloat32, [] {}), na::Error);
  EXPECT_THROW(na::from_blob(&x, {2}, {-1}, na::kFloat32, [] {}), na::Error);
  EXPECT_THROW(na::from_blob(nullptr, {2}, {}, na::kFloat32, [] {}), na::Error);
  EXPECT_THROW(na::from_blob(&x, {1}, {}, na::kFloat32, nullptr), na::Error);
  EXPECT_NO_THROW(na::from_blob(nullptr, {0, 3}, {}, na::kFloat32, [] {}));
}
