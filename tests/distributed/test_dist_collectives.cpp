// Every collective on every floating dtype against the same result computed sequentially from
// all ranks' inputs (each rank can regenerate any rank's input from its seed).
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "neural_arch/distributed/process_group.hpp"
#include "neural_arch/ops.hpp"
#include "test_util.hpp"

namespace {
namespace na = neural_arch;
namespace dist = neural_arch::distributed;
using na_test::expect_error;

const na::DType kFloating[] = {na::DType::f32, na::DType::f64, na::DType::f16, na::DType::bf16};

// Rank r's input: n values, either arbitrary floats or multiples of 1/8 in [-8, 8] (exact in
// every dtype, so their sums are exact whatever order the library adds them in).
std::vector<double> input_of(int rank, int64_t n, bool exact, uint64_t salt = 0) {
  std::mt19937_64 e(1000 * static_cast<uint64_t>(rank) + salt);
  std::uniform_real_distribution<double> u(-4, 4);
  std::vector<double> v(static_cast<size_t>(n));
  for (auto& x : v) x = exact ? static_cast<double>(static_cast<int64_t>(e() % 129) - 64) / 8 : u(e);
  return v;
}

na::Tensor tensor_of(const std::vector<double>& v, na::DType dt, na::Shape shape = {}) {
  if (shape.empty()) shape = {static_cast<int64_t>(v.size())};
  return na::tensor(v, shape).to(dt);
}

// The reduction of every rank's input, in rank order, in f32 for the narrow dtypes (their
// values widened exactly) and in the tensor's own dtype otherwise, rounded once at the end.
na::Tensor sequential_reduce(int world, int64_t n, bool exact, na::DType dt, dist::ReduceOp op) {
  const na::DType acc = (dt == na::DType::f64) ? na::DType::f64 : na::DType::f32;
  na::Tensor r = tensor_of(input_of(0, n, exact), dt).to(acc);
  for (int k = 1; k < world; ++k) {
    na::Tensor x = tensor_of(input_of(k, n, exact), dt).to(acc);
    switch (op) {
      case dist::ReduceOp::sum:
      case dist::ReduceOp::avg: r = r + x; break;
      case dist::ReduceOp::max: r = na::maximum(r, x); break;
      case dist::ReduceOp::min: r = na::minimum(r, x); break;
    }
  }
  if (op == dist::ReduceOp::avg) r = r / world;
  return r.to(dt);
}

::testing::AssertionResult bit_equal(const na::Tensor& a, const na::Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape())
    return ::testing::AssertionFailure() << "dtype/shape differ";
  na::Tensor ac = a.contiguous(), bc = b.contiguous();
  if (std::memcmp(ac.raw_data(), bc.raw_data(), ac.numel() * ac.element_size()) != 0)
    return ::testing::AssertionFailure() << "bits differ: " << a << " vs " << b;
  return ::testing::AssertionSuccess();
}

TEST(DistCollectives, RankAndSize) {
  EXPECT_EQ(dist::get_world_size(), dist::default_group().size());
  EXPECT_GE(dist::get_rank(), 0);
  EXPECT_LT(dist::get_rank(), dist::get_world_size());
  EXPECT_EQ(dist::default_group().backend_name(), "mpi");
  dist::barrier();
}

TEST(DistCollectives, AllReduceEveryOpAndDtypeBitExact) {
  const int r = dist::get_rank(), w = dist::get_world_size();
  const int64_t n = 1000;
  for (na::DType dt : kFloating)
    for (auto op : {dist::ReduceOp::sum, dist::ReduceOp::avg, dist::ReduceOp::max, dist::ReduceOp::min}) {
      // Exact inputs: the sum is exact in any order, so the result is bit-exact at any world size.
      na::Tensor x = tensor_of(input_of(r, n, true), dt);
      dist::all_reduce(x, op);
      EXPECT_TRUE(bit_equal(x, sequential_reduce(w, n, true, dt, op)))
          << dt << " " << dist::reduce_op_name(op);
    }
}

TEST(DistCollectives, AllReduceArbitraryFloats) {
  const int r = dist::get_rank(), w = dist::get_world_size();
  const int64_t n = 4097;
  for (na::DType dt : kFloating)
    for (auto op : {dist::ReduceOp::sum, dist::ReduceOp::max, dist::ReduceOp::min}) {
      na::Tensor x = tensor_of(input_of(r, n, false), dt);
      dist::all_reduce(x, op);
      na::Tensor expect = sequential_reduce(w, n, false, dt, op);
      if (op != dist::ReduceOp::sum || w == 2) {
        // max/min are exact; a sum of two values is the same in either order.
        EXPECT_TRUE(bit_equal(x, expect)) << dt << " " << dist::reduce_op_name(op);
      } else {
        // More than two ranks: the library may associate the additions differently.
        const double tol = (dt == na::DType::f64) ? 1e-14 : (dt == na::DType::f32 ? 1e-6 : 1e-2);
        EXPECT_TRUE(na_test::close(x, expect, tol, tol, "sum")) << dt;
      }
    }
}

TEST(DistCollectives, NonContiguousAndIntegerTensors) {
  const int r = dist::get_rank(), w = dist::get_world_size();
  na::Tensor base = tensor_of(input_of(r, 24, true), na::DType::f32, {4, 6});
  na::Tensor t = base.transpose(0, 1);  // a strided view, reduced in place through a staging copy
  dist::all_reduce(t, dist::ReduceOp::sum);
  EXPECT_TRUE(
      bit_equal(base, sequential_reduce(w, 24, true, na::DType::f32, dist::ReduceOp::sum).reshape({4, 6})));
  na::Tensor i = na::full({3}, r + 1, na::DType::i64);
  dist::all_reduce(i, dist::ReduceOp::sum);
  EXPECT_EQ(i.to_vector<int64_t>(), std::vector<int64_t>(3, w * (w + 1) / 2));
}

TEST(DistCollectives, BroadcastFromEveryRoot) {
  const int r = dist::get_rank(), w = dist::get_world_size();
  for (na::DType dt : kFloating)
    for (int root = 0; root < w; ++root) {
      na::Tensor x = tensor_of(input_of(r, 77, false), dt, {7, 11});
      dist::broadcast(x, root);
      EXPECT_TRUE(bit_equal(x, tensor_of(input_of(root, 77, false), dt, {7, 11}))) << dt << " root " << root;
    }
}

TEST(DistCollectives, AllGather) {
  const int r = dist::get_rank(), w = dist::get_world_size();
  for (na::DType dt : kFloating) {
    na::Tensor x = tensor_of(input_of(r, 10, false), dt, {2, 5});
    na::Tensor out = na::empty({2 * w, 5}, dt);
    dist::all_gather(out, x);
    auto parts = dist::all_gather(x);
    ASSERT_EQ(parts.size(), static_cast<size_t>(w));
    for (int k = 0; k < w; ++k) {
      na::Tensor expect = tensor_of(input_of(k, 10, false), dt, {2, 5});
      EXPECT_TRUE(bit_equal(out.narrow(0, 2 * k, 2), expect)) << dt << " block " << k;
      EXPECT_TRUE(bit_equal(parts[static_cast<size_t>(k)], expect)) << dt << " part " << k;
    }
  }
}

TEST(DistCollectives, ReduceScatter) {
  const int r = dist::get_rank(), w = dist::get_world_size();
  const int64_t block = 6;
  for (na::DType dt : kFloating)
    for (auto op : {dist::ReduceOp::sum, dist::ReduceOp::avg, dist::ReduceOp::max, dist::ReduceOp::min}) {
      na::Tensor in = tensor_of(input_of(r, block * w, true), dt, {w * 2, block / 2});
      na::Tensor out = na::empty({2, block / 2}, dt);
      dist::reduce_scatter(out, in, op);
      na::Tensor full = sequential_reduce(w, block * w, true, dt, op).reshape({w * 2, block / 2});
      EXPECT_TRUE(bit_equal(out, full.narrow(0, 2 * r, 2))) << dt << " " << dist::reduce_op_name(op);
    }
}

TEST(DistCollectives, AsyncOpsInFlightTogether) {
  const int r = dist::get_rank(), w = dist::get_world_size();
  std::vector<na::Tensor> xs;
  std::vector<dist::WorkPtr> works;
  for (int k = 0; k < 5; ++k) {
    xs.push_back(tensor_of(input_of(r, 300, true, k), na::DType::f32));
    works.push_back(dist::all_reduce(xs.back(), dist::ReduceOp::sum, /*async_op=*/true));
  }
  auto bw = dist::barrier(/*async_op=*/true);
  for (auto& wk : works) wk->wait();
  bw->wait();
  EXPECT_TRUE(bw->is_completed());
  for (int k = 0; k < 5; ++k) {
    na::Tensor expect = tensor_of(input_of(0, 300, true, k), na::DType::f32);
    for (int q = 1; q < w; ++q) expect = expect + tensor_of(input_of(q, 300, true, k), na::DType::f32);
    EXPECT_TRUE(bit_equal(xs[static_cast<size_t>(k)], expect)) << "op " << k;
  }
}

TEST(DistErrors, ShapeDtypeAndOpMismatchThrowOnEveryRank) {
  const int r = dist::get_rank();
  // Rank 0 passes one more element than the others.
  expect_error([&] { dist::all_reduce(na::zeros({r == 0 ? 5 : 4})); },
               {"[all_reduce]", "different dtype/shape", "rank 0: all_reduce float32 (5)",
                "rank 1: all_reduce float32 (4)"});
  expect_error([&] { dist::all_reduce(na::zeros({4}, r == 0 ? na::DType::f64 : na::DType::f32)); },
               {"[all_reduce]", "rank 0: all_reduce float64 (4)"});
  expect_error([&] { dist::all_reduce(na::zeros({4}), r == 0 ? dist::ReduceOp::max : dist::ReduceOp::sum); },
               {"op max", "op sum"});
  expect_error([&] { dist::broadcast(na::zeros({2}), r == 0 ? 0 : 1); }, {"[broadcast]", "root 0", "root 1"});
  // A mismatch exchanges no data: the group stays usable.
  na::Tensor x = na::ones({3});
  dist::all_reduce(x);
  EXPECT_EQ(x.to_vector<float>(), std::vector<float>(3, static_cast<float>(dist::get_world_size())));
}

TEST(DistErrors, LocalArgumentErrors) {
  const int w = dist::get_world_size();
  expect_error([&] { dist::broadcast(na::zeros({2}), w); }, {"[broadcast]", "root"});
  expect_error(
      [&] {
        dist::all_gather(na::zeros({w + 1, 2}), na::zeros({1, 2}));
      },
      {"[all_gather]", "cannot hold"});
  expect_error([&] { dist::reduce_scatter(na::zeros({1}), na::zeros({w + 1})); }, {"[reduce_scatter]"});
  expect_error([&] { dist::all_reduce(na::zeros({2}, na::DType::i32), dist::ReduceOp::avg); }, {"avg"});
  expect_error([&] { dist::init_process_group("mpi"); }, {"already initialized"});
  expect_error([&] { dist::default_group().set_timeout(std::chrono::milliseconds(0)); }, {"positive"});
}

}  // namespace
