// Reductions and softmax: values against plain loops, keepdim, dims, determinism across threads.
#include <gtest/gtest.h>

#include <cmath>
#include <neural_arch/ops.hpp>

namespace na = neural_arch;

TEST(Reductions, SumOverEachLayoutMatchesLoops) {
  auto x = na::randn({5, 6, 7}, na::kFloat64);
  auto v = x.to_vector<double>();
  auto at = [&](int i, int j, int k) { return v[(i * 6 + j) * 7 + k]; };
  auto s0 = na::sum(x, {0}).to_vector<double>();  // leading dim: column kernel
  auto s2 = na::sum(x, {2}).to_vector<double>();  // trailing dim: row kernel
  auto s1 = na::sum(x, {1}, true);                // middle dim: permuted
  EXPECT_EQ(s1.shape(), (na::Shape{5, 1, 7}));
  auto s1v = s1.to_vector<double>();
  for (int j = 0; j < 6; ++j)
    for (int k = 0; k < 7; ++k) {
      double r = 0;
      for (int i = 0; i < 5; ++i) r += at(i, j, k);
      EXPECT_NEAR(s0[j * 7 + k], r, 1e-12);
    }
  for (int i = 0; i < 5; ++i)
    for (int k = 0; k < 7; ++k) {
      double r = 0;
      for (int j = 0; j < 6; ++j) r += at(i, j, k);
      EXPECT_NEAR(s1v[i * 7 + k], r, 1e-12);
    }
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 6; ++j) {
      double r = 0;
      for (int k = 0; k < 7; ++k) r += at(i, j, k);
      EXPECT_NEAR(s2[i * 6 + j], r, 1e-12);
    }
  double all = 0;
  for (double e : v) all += e;
  EXPECT_NEAR(na::sum(x).item(), all, 1e-11);
  EXPECT_NEAR(na::sum(x.transpose(0, 2)).item(), all, 1e-11);
}

TEST(Reductions, ResultsDoNotDependOnThreadCount) {
  auto x = na::randn({64, 70001});
  const int saved = na::get_num_threads();
  na::set_num_threads(1);
  auto a = na::sum(x, {1}).to_vector<float>();
  auto a0 = na::sum(x, {0}).to_vector<float>();
  auto af = na::sum(x).item<float>();
  na::set_num_threads(2);
  auto b = na::sum(x, {1}).to_vector<float>();
  auto b0 = na::sum(x, {0}).to_vector<float>();
  auto bf = na::sum(x).item<float>();
  na::set_num_threads(saved);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a0, b0);
  EXPECT_EQ(af, bf);
}

TEST(Reductions, MaxMinArgWithIndicesAndNaN) {
  auto x = na::tensor<float>({3, 7, 7, 1, -2, 5}, na::Shape{2, 3});
  auto mx = na::max(x, 1);
  EXPECT_EQ(mx.values.to_vector<float>(), (std::vector<float>{7, 5}));
  EXPECT_EQ(mx.indices.to_vector<int64_t>(), (std::vector<int64_t>{1, 2}));  // first occurrence
  auto mn = na::min(x, 0, true);
  EXPECT_EQ(mn.values.shape(), (na::Shape{1, 3}));
  EXPECT_EQ(mn.indices.to_vector<int64_t>(), (std::vector<int64_t>{1, 1, 1}));
  EXPECT_EQ(na::argmax(x).item<int64_t>(), 1);
  EXPECT_EQ(na::argmin(x, 1).to_vector<int64_t>(), (std::vector<int64_t>{0, 1}));
  auto withnan = na::tensor<float>({1, NAN, 3});
  EXPECT_TRUE(std::isnan(na::max(withnan).item()));
  EXPECT_EQ(na::argmax(withnan).item<int64_t>(), 1);
  EXPECT_NE(
      [] {
        try {
          na::max(na::zeros({0}));
        } catch (const na::Error& e) {
          return std::string(e.what());
        }
        return std::string();
      }()
          .find("[max]"),
      std::string::npos);
}

TEST(Reductions, VarStdProdLogsumexp) {
  auto x = na::tensor<double>({1, 2, 3, 4});
  EXPECT_NEAR(na::var(x).item(), 5.0 / 3.0, 1e-14);
  EXPECT_NEAR(na::var(x, {}, 0).item(), 1.25, 1e-14);
  EXPECT_NEAR(na::std(x).item(), std::sqrt(5.0 / 3.0), 1e-14);
  EXPECT_EQ(na::prod(x).item(), 24.0);
  EXPECT_NEAR(na::logsumexp(x, {0}).item(),
              std::log(std::exp(1.) + std::exp(2.) + std::exp(3.) + std::exp(4.)), 1e-14);
  auto big = na::tensor<float>({1000, 1000});
  EXPECT_NEAR(na::logsumexp(big, {0}).item(), 1000 + std::log(2.0), 1e-3);
  auto ninf = na::tensor<float>({-INFINITY, -INFINITY});
  EXPECT_EQ(na::logsumexp(ninf, {0}).item(), -INFINITY);
}

TEST(Reductions, SoftmaxRowsSumToOneAndAreStable) {
  auto x = na::randn({4, 9}, na::kFloat64) * 50.0;
  for (int64_t dim : {0, 1}) {
    auto s = na::softmax(x, dim);
    auto tot = na::sum(s, {dim}).to_vector<double>();
    for (double t : tot) EXPECT_NEAR(t, 1.0, 1e-12);
    auto ls = na::log_softmax(x, dim);
    auto diff = na::max(na::abs(na::exp(ls) - s)).item();
    EXPECT_LT(diff, 1e-12);
  }
  auto huge = na::tensor<float>({1e30f, 0.f});
  EXPECT_EQ(na::softmax(huge, 0).to_vector<float>(), (std::vector<float>{1.f, 0.f}));
}

TEST(Reductions, IntegerSumAndMeanErrors) {
  auto i = na::tensor<int32_t>({1, 2, 3});
  EXPECT_EQ(na::sum(i).dtype(), na::kInt64);
  EXPECT_EQ(na::sum(i).item<int64_t>(), 6);
  EXPECT_THROW(na::mean(i), na::Error);
  EXPECT_THROW(na::sum(i, {0, 0}), na::Error);
}
