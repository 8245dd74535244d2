// Gradient checkpointing gives the same gradients as the plain graph, dropout included,
// and keeps less memory alive between forward and backward.
#include <gtest/gtest.h>

#include <neural_arch/autograd.hpp>
#include <neural_arch/ops.hpp>
#include <neural_arch/optimization/checkpoint.hpp>
#include <neural_arch/optimization/memory.hpp>

namespace na = neural_arch;
namespace opt = neural_arch::optimization;

namespace {
struct Net {
  std::vector<na::Tensor> w;
  explicit Net(int layers, int width) {
    na::Generator g(7);
    for (int i = 0; i < layers; ++i) w.push_back((na::randn({width, width}, {}, &g) * 0.1).requires_grad_());
  }
  na::Tensor block(int i, const na::Tensor& x) const {
    return na::dropout(na::gelu(na::matmul(x, w[i])), 0.2);
  }
  void zero() {
    for (auto& p : w) p.set_grad(na::Tensor());
  }
};
}  // namespace

TEST(Checkpoint, GradientsAreBitIdenticalWithDropout) {
  Net net(4, 32);
  auto x0 = na::randn({8, 32}).requires_grad_();
  na::manual_seed(123);
  na::Tensor h = x0;
  for (int i = 0; i < 4; ++i) h = net.block(i, h);
  na::sum(h * h).backward();
  std::vector<std::vector<float>> plain;
  for (auto& p : net.w) plain.push_back(p.grad().to_vector<float>());
  auto plain_x = x0.grad().to_vector<float>();
  auto plain_out = h.to_vector<float>();

  net.zero();
  x0.set_grad(na::Tensor());
  na::manual_seed(123);
  h = x0;
  for (int i = 0; i < 4; ++i)
    h = opt::checkpoint([&net, i](const na::Tensor& t) { return net.block(i, t); }, h);
  EXPECT_EQ(h.to_vector<float>(), plain_out);
  // Draw more random numbers between forward and backward: recompute must not see them.
  na::rand({100});
  na::sum(h * h).backward();
  for (size_t i = 0; i < net.w.size(); ++i)
    EXPECT_EQ(net.w[i].grad().to_vector<float>(), plain[i]) << "layer " << i;
  EXPECT_EQ(x0.grad().to_vector<float>(), plain_x);
}

TEST(Checkpoint, ParametersGetGradientsWhenInputsDoNot) {
  auto w = na::randn({4, 4}).requires_grad_();
  auto x = na::randn({2, 4});
  auto y = opt::checkpoint([&w](const na::Tensor& t) { return na::tanh(na::matmul(t, w)); }, x);
  EXPECT_TRUE(y.requires_grad());
  na::sum(y).backward();
  ASSERT_TRUE(w.grad().defined());
  auto w2 = w.detach().requires_grad_();
  na::sum(na::tanh(na::matmul(x, w2))).backward();
  EXPECT_EQ(w.grad().to_vector<float>(), w2.grad().to_vector<float>());
}

TEST(Checkpoint, SeveralInputsAndOutputs) {
  auto a = na::randn({3}, na::kFloat64).requires_grad_(), b = na::randn({3}, na::kFloat64).requires_grad_();
  auto outs = opt::checkpoint(
      [](const std::vector<na::Tensor>& in) {
        return std::vector<na::Tensor>{in[0] * in[1], na::exp(in[0])};
      },
      {a, b});
  ASSERT_EQ(outs.size(), 2u);
  na::sum(outs[0] + outs[1] * 2.0).backward();
  auto ea = (b.detach() + na::exp(a.detach()) * 2.0).to_vector<double>();
  auto ga = a.grad().to_vector<double>();
  for (size_t i = 0; i < ga.size(); ++i) EXPECT_NEAR(ga[i], ea[i], 1e-12);
  EXPECT_EQ(b.grad().to_vector<double>(), a.detach().to_vector<double>());
}

TEST(Checkpoint, KeepsLessMemoryAliveUntilBackward) {
  Net net(8, 256);
  auto x = na::randn({256, 256});
  auto live_after_forward = [&](bool ckpt) {
    const auto before = opt::get_memory_stats().allocated_bytes;
    na::Tensor h = x;
    for (int i = 0; i < 8; ++i)
      h = ckpt ? opt::checkpoint([&net, i](const na::Tensor& t) { return net.block(i, t); }, h)
               : net.block(i, h);
    const auto held = opt::get_memory_stats().allocated_bytes - before;
    na::sum(h).backward();
    net.zero();
    return held;
  };
  const auto plain = live_after_forward(false), ckpt = live_after_forward(true);
  // One tensor per block stays alive instead of three.
  EXPECT_LT(ckpt * 5, plain * 2) << "checkpointed " << ckpt << " bytes vs plain " << plain;
}

TEST(MemoryStats, ScopeAndHitRate) {
  auto& pool = na::backends::get_memory_pool();
  {
    auto scope = pool.context(false);
    EXPECT_FALSE(pool.caching());
  }
  EXPECT_TRUE(pool.caching() || std::getenv("NA_MEMORY_POOL"));
  { auto t = na::empty({1 << 16}); }
  auto s0 = opt::get_memory_stats();
  { auto t = na::empty({1 << 16}); }
  auto s1 = opt::get_memory_stats();
  if (pool.caching()) EXPECT_EQ(s1.hits - s0.hits, 1u);
  EXPECT_GE(s1.pool_hit_rate(), 0.0);
  EXPECT_LE(s1.pool_hit_rate(), 1.0);
  opt::reset_peak();
  EXPECT_EQ(opt::get_memory_stats().peak_allocated_bytes, opt::get_memory_stats().allocated_bytes);
}
