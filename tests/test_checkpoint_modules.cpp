// checkpoint_sequential and enable_gradient_checkpointing: torch's segment split, gradients
// bit-identical to the plain graph (dropout included), nesting, errors, and a lower peak.
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <neural_arch/autograd.hpp>
#include <neural_arch/nn.hpp>
#include <neural_arch/ops.hpp>
#include <neural_arch/optimization/checkpoint.hpp>
#include <neural_arch/optimization/memory.hpp>
#include <vector>

namespace na = neural_arch;
namespace nn = neural_arch::nn;
namespace opt = neural_arch::optimization;

namespace {

// GELU that counts its forward calls, to see which modules backward recomputed.
class CountingGELU : public nn::Module {
 public:
  CountingGELU() : Module("CountingGELU") {}
  na::Tensor forward(const na::Tensor& x) override {
    ++calls;
    return na::gelu(x);
  }
  int calls = 0;
};

// Linear -> CountingGELU -> Dropout(0.3), `blocks` times (3 modules per block).
std::shared_ptr<nn::Sequential> mlp(int blocks, int width, uint64_t seed = 3) {
  na::manual_seed(seed);
  auto seq = std::make_shared<nn::Sequential>();
  for (int i = 0; i < blocks; ++i) {
    seq->push_back(std::make_shared<nn::Linear>(width, width));
    seq->push_back(std::make_shared<CountingGELU>());
    seq->push_back(std::make_shared<nn::Dropout>(0.3));
  }
  return seq;
}

struct StepResult {
  std::vector<float> out, input_grad;
  std::vector<std::vector<float>> grads;
};

// Seeds the generator, runs forward, draws unrelated random numbers (recompute must not see
// them), backpropagates sum(y^2), and returns the output and every gradient.
StepResult run_step(nn::Module& m, const na::Tensor& x,
                    const std::function<na::Tensor(const na::Tensor&)>& fwd) {
  m.zero_grad();
  auto in = x.detach().requires_grad_();
  na::manual_seed(42);
  auto y = fwd(in);
  na::rand({17});
  na::sum(y * y).backward();
  StepResult r{y.to_vector<float>(), in.grad().to_vector<float>(), {}};
  for (auto& p : m.parameters())
    r.grads.push_back(p.grad().defined() ? p.grad().to_vector<float>() : std::vector<float>{});
  return r;
}

void expect_identical(const StepResult& a, const StepResult& b) {
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(a.input_grad, b.input_grad);
  ASSERT_EQ(a.grads.size(), b.grads.size());
  for (size_t i = 0; i < a.grads.size(); ++i) {
    EXPECT_FALSE(a.grads[i].empty()) << "parameter " << i;
    EXPECT_EQ(a.grads[i], b.grads[i]) << "parameter " << i;
  }
}

std::vector<int> gelu_calls(const nn::Sequential& seq) {
  std::vector<int> calls;
  for (const auto& m : seq)
    if (auto g = std::dynamic_pointer_cast<CountingGELU>(m)) calls.push_back(g->calls);
  return calls;
}

void reset_calls(const nn::Sequential& seq) {
  for (const auto& m : seq)
    if (auto g = std::dynamic_pointer_cast<CountingGELU>(m)) g->calls = 0;
}

}  // namespace

TEST(CheckpointSequential, BitIdenticalGradientsForEverySegmentCount) {
  auto seq = mlp(4, 16);  // 12 modules
  auto x = na::randn({8, 16});
  const StepResult plain = run_step(*seq, x, [&](const na::Tensor& t) { return seq->forward(t); });
  for (int64_t segments : {1, 2, 3, 5, 7, 12}) {
    SCOPED_TRACE(segments);
    const StepResult ckpt =
        run_step(*seq, x, [&](const na::Tensor& t) { return opt::checkpoint_sequential(*seq, segments, t); });
    expect_identical(plain, ckpt);
  }
}

TEST(CheckpointSequential, SplitsLikeTorchAndLeavesTheLastSegmentPlain) {
  // 12 modules, 5 segments: torch runs chunks of 12 / 5 = 2 modules under checkpoint for the
  // first 4 segments (modules 0-7) and modules 8-11 plainly. GELUs sit at 1, 4, 7, 10.
  auto seq = mlp(4, 8);
  auto x = na::randn({4, 8}).requires_grad_();
  reset_calls(*seq);
  auto y = opt::checkpoint_sequential(*seq, 5, x);
  EXPECT_EQ(gelu_calls(*seq), (std::vector<int>{1, 1, 1, 1}));
  na::sum(y).backward();
  EXPECT_EQ(gelu_calls(*seq), (std::vector<int>{2, 2, 2, 1}));
  // One segment: nothing is checkpointed.
  reset_calls(*seq);
  na::sum(opt::checkpoint_sequential(*seq, 1, x)).backward();
  EXPECT_EQ(gelu_calls(*seq), (std::vector<int>{1, 1, 1, 1}));
}

TEST(CheckpointSequential, BadSegmentsAreErrors) {
  auto seq = mlp(2, 4);  // 6 modules
  auto x = na::randn({2, 4});
  for (int64_t bad : {0, -1, 7}) {
    try {
      opt::checkpoint_sequential(*seq, bad, x);
      ADD_FAILURE() << "segments " << bad << " accepted";
    } catch (const na::Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind("[checkpoint_sequential]", 0), 0u) << e.what();
      EXPECT_NE(std::string(e.what()).find("[1, 6]"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(opt::checkpoint_sequential(std::vector<nn::ModulePtr>{}, 1, x), na::Error);
  EXPECT_THROW(opt::checkpoint_sequential(std::vector<nn::ModulePtr>{nullptr}, 1, x), na::Error);
}

TEST(EnableGradientCheckpointing, SequentialIsBitIdenticalAndOnlyInTrainingWithGrad) {
  auto seq = mlp(4, 16);
  auto x = na::randn({8, 16});
  auto fwd = [&](const na::Tensor& t) { return seq->forward(t); };
  const StepResult plain = run_step(*seq, x, fwd);
  opt::enable_gradient_checkpointing(*seq);
  EXPECT_EQ(seq->gradient_checkpointing_segments, 3);  // round(sqrt(12))
  reset_calls(*seq);
  const StepResult ckpt = run_step(*seq, x, fwd);
  expect_identical(plain, ckpt);
  EXPECT_EQ(gelu_calls(*seq), (std::vector<int>{2, 2, 2, 1}));  // chunks of 4 modules, last plain

  reset_calls(*seq);
  {
    na::NoGradGuard no_grad;
    seq->forward(x);
  }
  seq->eval();
  seq->forward(x);
  EXPECT_EQ(gelu_calls(*seq), (std::vector<int>{2, 2, 2, 2}));  // once per forward, no node
  seq->train();

  opt::disable_gradient_checkpointing(*seq);
  EXPECT_EQ(seq->gradient_checkpointing_segments, 0);
  reset_calls(*seq);
  expect_identical(plain, run_step(*seq, x, fwd));
  EXPECT_EQ(gelu_calls(*seq), (std::vector<int>{1, 1, 1, 1}));
}

TEST(EnableGradientCheckpointing, NestedSequentialsAndCheckpointCalls) {
  // An outer Sequential of inner Sequentials, both checkpointed, inside a checkpoint() call.
  auto a = mlp(2, 12, 5), b = mlp(3, 12, 6);
  auto outer = std::make_shared<nn::Sequential>(a, std::make_shared<nn::Tanh>(), b);
  auto x = na::randn({6, 12});
  auto fwd = [&](const na::Tensor& t) {
    return opt::checkpoint([&](const na::Tensor& u) { return outer->forward(u) * 2.0; }, t);
  };
  const StepResult plain = run_step(*outer, x, [&](const na::Tensor& t) { return outer->forward(t) * 2.0; });
  opt::enable_gradient_checkpointing(*outer, 2);
  opt::enable_gradient_checkpointing(*a, 2);
  opt::enable_gradient_checkpointing(*b);
  expect_identical(plain, run_step(*outer, x, fwd));
}

TEST(EnableGradientCheckpointing, GPTIsBitIdenticalWithDropout) {
  na::manual_seed(11);
  nn::GPTConfig cfg{
      .vocab_size = 23, .block_size = 8, .n_layer = 3, .n_head = 2, .n_embd = 16, .dropout = 0.2};
  auto gpt = std::make_shared<nn::GPT>(cfg);
  auto idx = na::randint(0, 23, {2, 8}, na::kInt64);
  auto tgt = na::randint(0, 23, {2, 8}, na::kInt64);
  auto grads = [&] {
    gpt->zero_grad();
    na::manual_seed(9);
    auto loss = gpt->forward(idx, tgt);
    na::rand({5});
    loss.backward();
    std::vector<std::vector<float>> g{loss.to_vector<float>()};
    for (auto& p : gpt->parameters()) g.push_back(p.grad().to_vector<float>());
    return g;
  };
  const auto plain = grads();
  opt::enable_gradient_checkpointing(*gpt);
  EXPECT_TRUE(gpt->gradient_checkpointing);
  const auto ckpt = grads();
  ASSERT_EQ(plain.size(), ckpt.size());
  for (size_t i = 0; i < plain.size(); ++i) EXPECT_EQ(plain[i], ckpt[i]) << "entry " << i;
  // The blocks' activations are not kept: the step's peak above its start drops.
  auto peak_of_step = [&] {
    gpt->zero_grad(false);
    const auto before = opt::get_memory_stats().allocated_bytes;
    opt::reset_peak();
    gpt->forward(idx, tgt).backward();
    return opt::get_memory_stats().peak_allocated_bytes - before;
  };
  const auto ckpt_peak = peak_of_step();
  opt::disable_gradient_checkpointing(*gpt);
  const auto plain_peak = peak_of_step();
  EXPECT_LT(ckpt_peak, plain_peak);
  opt::enable_gradient_checkpointing(*gpt);
  // A model that holds a GPT: the GPT inside is the one flagged.
  auto holder = std::make_shared<nn::ModuleList>(std::vector<nn::ModulePtr>{gpt});
  opt::disable_gradient_checkpointing(*holder);
  EXPECT_FALSE(gpt->gradient_checkpointing);
  opt::enable_gradient_checkpointing(*holder);
  EXPECT_TRUE(gpt->gradient_checkpointing);
  EXPECT_THROW(opt::enable_gradient_checkpointing(*gpt, 2), na::Error);
}

TEST(EnableGradientCheckpointing, TransformerEncoderIsBitIdenticalWithDropout) {
  na::manual_seed(4);
  auto layer = std::make_shared<nn::TransformerEncoderLayer>(16, 4, 32, 0.25);
  auto enc = std::make_shared<nn::TransformerEncoder>(layer, 3, std::make_shared<nn::LayerNorm>(16));
  // torch deep-copies the layer: every layer starts from the same weights.
  auto sd = enc->state_dict();
  auto find = [&](const std::string& k) {
    for (auto& [n, t] : sd)
      if (n == k) return t;
    ADD_FAILURE() << "no key " << k;
    return na::Tensor();
  };
  EXPECT_EQ(find("layers.0.linear1.weight").to_vector<float>(),
            find("layers.2.linear1.weight").to_vector<float>());
  EXPECT_TRUE(find("norm.weight").defined());
  auto x = na::randn({5, 2, 16});
  auto fwd = [&](const na::Tensor& t) {
    return enc->forward(t, na::Tensor(), na::Tensor(), /*is_causal=*/true);
  };
  const StepResult plain = run_step(*enc, x, fwd);
  opt::enable_gradient_checkpointing(*enc);
  expect_identical(plain, run_step(*enc, x, fwd));
  EXPECT_THROW(nn::TransformerEncoder(layer, 0), na::Error);
}

TEST(EnableGradientCheckpointing, UnsupportedModulesAndBadSegmentsAreErrors) {
  auto lin = std::make_shared<nn::Linear>(3, 3);
  try {
    opt::enable_gradient_checkpointing(*lin);
    ADD_FAILURE() << "Linear accepted";
  } catch (const na::Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("[enable_gradient_checkpointing] a Linear", 0), 0u) << e.what();
  }
  auto seq = mlp(1, 3);
  EXPECT_THROW(opt::enable_gradient_checkpointing(*seq, 4), na::Error);
  EXPECT_THROW(opt::enable_gradient_checkpointing(*seq, -1), na::Error);
  nn::Sequential empty;
  EXPECT_THROW(opt::enable_gradient_checkpointing(empty), na::Error);
}

TEST(EnableGradientCheckpointing, LowersThePeakOfATrainingStep) {
  // 16 x (Linear(256) + GELU) at batch 128: each activation is 128 KiB and the plain graph
  // keeps two per block; with round(sqrt(32)) = 6 segments of 5 modules, 5 boundaries, the
  // plain last chunk (7 modules) and one recomputed chunk stay alive.
  na::manual_seed(1);
  auto seq = std::make_shared<nn::Sequential>();
  for (int i = 0; i < 16; ++i) {
    seq->push_back(std::make_shared<nn::Linear>(256, 256));
    seq->push_back(std::make_shared<nn::GELU>());
  }
  auto x = na::randn({128, 256});
  auto peak_of_step = [&] {
    seq->zero_grad(false);  // gradients stay allocated, so the peak above `before` is activations
    const auto before = opt::get_memory_stats().allocated_bytes;
    opt::reset_peak();
    na::sum(seq->forward(x)).backward();
    return opt::get_memory_stats().peak_allocated_bytes - before;
  };
  peak_of_step();  // allocate the gradients
  const auto plain = peak_of_step();
  opt::enable_gradient_checkpointing(*seq);
  const auto ckpt = peak_of_step();
  const size_t act = 128 * 256 * 4;
  EXPECT_GE(plain, 32 * act) << "plain peak " << plain;
  EXPECT_LT(ckpt * 2, plain) << "checkpointed peak " << ckpt << " vs plain " << plain;
}
