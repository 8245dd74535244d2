// Blocked attention on f16/bf16 tensors (nn_kernels_isa.cpp: stored narrow, computed in f32,
// lse kept in f32). Reference: the f32 blocked kernel on the same narrow-rounded inputs and
// upstream gradient, so the only differences are the narrow path's roundings, whose bounds the
// tests compute (see expect_within). Also: that bf16 really takes the kernel (peak memory far
// below the score matrix), dtype errors, and GPT / TransformerEncoder under autocast(bf16).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "neural_arch/autograd.hpp"
#include "neural_arch/functional/attention.hpp"
#include "neural_arch/functional/fused.hpp"
#include "neural_arch/nn/gpt.hpp"
#include "neural_arch/nn/transformer.hpp"
#include "neural_arch/ops.hpp"
#include "neural_arch/optimization/autocast.hpp"
#include "neural_arch/optimization/memory.hpp"
#include "test_util.hpp"

namespace {

namespace na = neural_arch;
namespace F = neural_arch::functional;
using na::DType;
using na::Tensor;

Tensor randn_t(const na::Shape& s, DType t, uint64_t seed) {
  na::Generator g(seed);
  return na::randn(s, na::TensorOptions(DType::f32), &g).to(t);
}

// Unit roundoff of round-to-nearest: |round(x) - x| <= u |x| (normal range).
double unit_roundoff(DType t) { return t == DType::bf16 ? std::ldexp(1.0, -8) : std::ldexp(1.0, -11); }

// How a test lays out its leaves for attention: identity, or a view (e.g. MHA's permute).
using ViewFn = std::function<Tensor(const Tensor&)>;
const ViewFn kSame = [](const Tensor& t) { return t; };

struct Case {
  std::string name;
  std::vector<Tensor> in;  // q, k, v leaves (f32 values, rounded to the dtype under test)
  bool causal = false;
  std::optional<double> scale;
  ViewFn view = kSame;
};

struct Run {
  Tensor o;
  std::vector<Tensor> grads;  // dq, dk, dv in attention layout (view applied)
};

Run run(const Case& c, const std::vector<Tensor>& in, const Tensor& up) {
  std::vector<Tensor> leaves;
  for (const Tensor& t : in) leaves.push_back(t.detach().clone().requires_grad_());
  Tensor o = F::scaled_dot_product_attention(c.view(leaves[0]), c.view(leaves[1]), c.view(leaves[2]),
                                             Tensor(), 0.0, c.causal, c.scale);
  na::autograd::backward({o}, {up});
  return {o.detach(), {c.view(leaves[0].grad()), c.view(leaves[1].grad()), c.view(leaves[2].grad())}};
}

// |actual - expected| <= bound elementwise, plus 1e-5 of max|expected| for the f32 arithmetic
// the two runs do in different orders once their values differ.
void expect_within(const Tensor& actual, const Tensor& expected, const Tensor& bound,
                   const std::string& what) {
  const Tensor a = actual.to(DType::f32), e = expected.to(DType::f32);
  const double slack = 1e-5 * na::abs(e).max().item<double>();
  const Tensor excess = na::abs(a - e) - bound - slack;
  EXPECT_LE(excess.max().item<double>(), 0.0) << what << ": the error exceeds its rounding bound";
}

// Narrow blocked attention against the f32 kernel on the same (narrow-rounded) q, k, v and
// upstream gradient. Error bounds, u the unit roundoff:
//  o, dv: computed as in f32, then rounded once: u |x| (bf16's dot products for Q·Kᵀ and
//  dO·Vᵀ on AVX512-BF16 sum in another order: within expect_within's f32 slack).
//  dq, dk: also depend on delta_i = sum_c dO_ic O_ic, which backward forms from the stored
//  (rounded) o, so it differs from f32's by at most u a_i, a_i = sum_c |dO_ic| |O_ic|. dS_ij =
//  P_ij (dP_ij - delta_i) scale carries that into dQ_i (sum_j P_ij K_j, |.| <= max|K|) and
//  dK_j (sum_i P_ij Q_i): bounds scale u a_i max|K| and scale u (Pᵀ (a |Q|))_j, plus u |x|.
void expect_narrow_matches_f32(const Case& c, DType t) {
  std::vector<Tensor> narrow, ref;
  for (const Tensor& x : c.in) narrow.push_back(x.to(t)), ref.push_back(narrow.back().to(DType::f32));
  Tensor up;
  {
    na::NoGradGuard ng;
    up = randn_t(F::scaled_dot_product_attention(c.view(ref[0]), c.view(ref[1]), c.view(ref[2]), Tensor(),
                                                 0.0, c.causal, c.scale)
                     .shape(),
                 t, 99);
  }
  const Run n = run(c, narrow, up);
  const Run f = run(c, ref, up.to(DType::f32));
  const std::string what = c.name + " " + na::dtype_name(t);
  ASSERT_EQ(n.o.dtype(), t) << what;
  for (const Tensor& g : n.grads) ASSERT_EQ(g.dtype(), t) << what << ": gradients in the forward's dtype";
  const double u = unit_roundoff(t);
  expect_within(n.o, f.o, na::abs(f.o) * u, what + " o");
  expect_within(n.grads[2], f.grads[2], na::abs(f.grads[2]) * u, what + " dv");

  na::NoGradGuard ng;
  const Tensor Q = c.view(ref[0]), K = c.view(ref[1]);
  const double sc = c.scale ? *c.scale : 1.0 / std::sqrt(static_cast<double>(Q.size(-1)));
  const Tensor P =
      F::scaled_dot_product_attention_with_weights(Q, K, c.view(ref[2]), Tensor(), 0.0, c.causal, c.scale)
          .weights;
  const Tensor a = na::sum(na::abs(up.to(DType::f32)) * na::abs(f.o), {-1}, true);  // (..., L, 1)
  const double kmax = na::abs(K).max().item<double>();
  expect_within(n.grads[0], f.grads[0], na::abs(f.grads[0]) * u + a * (sc * u * kmax), what + " dq");
  expect_within(n.grads[1], f.grads[1],
                na::abs(f.grads[1]) * u + na::matmul(P.transpose(-2, -1), a * na::abs(Q)) * (sc * u),
                what + " dk");
}

std::vector<Case> cases() {
  std::vector<Case> cs;
  for (bool causal : {false, true}) {
    const std::string tag = causal ? " causal" : "";
    // batch dims (2, 3); L = S = 70, not a multiple of the 64-row blocks
    cs.push_back({"4-D 70" + tag,
                  {randn_t({2, 3, 70, 16}, DType::f32, 200), randn_t({2, 3, 70, 16}, DType::f32, 201),
                   randn_t({2, 3, 70, 16}, DType::f32, 202)},
                  causal});
    // L != S, Dv != D, 3-D
    cs.push_back({"L130 S70 D24 Dv40" + tag,
                  {randn_t({2, 130, 24}, DType::f32, 203), randn_t({2, 70, 24}, DType::f32, 204),
                   randn_t({2, 70, 40}, DType::f32, 205)},
                  causal});
    // odd head dims: bf16 takes the widened f32 products instead of bf16 dot products (pairs)
    cs.push_back({"L5 S140 D7 Dv3" + tag,
                  {randn_t({1, 5, 7}, DType::f32, 206), randn_t({1, 140, 7}, DType::f32, 207),
                   randn_t({1, 140, 3}, DType::f32, 208)},
                  causal});
  }
  // (L, N, H, D) permuted to (N, H, L, D) as multi_head_attention_forward passes it; a scale.
  Case perm{"permuted scale 0.3",
            {randn_t({67, 2, 3, 16}, DType::f32, 209), randn_t({67, 2, 3, 16}, DType::f32, 210),
             randn_t({67, 2, 3, 16}, DType::f32, 211)},
            true,
            0.3};
  perm.view = [](const Tensor& t) { return t.permute({1, 2, 0, 3}); };
  cs.push_back(perm);
  return cs;
}

TEST(AttentionNarrow, MatchesTheF32KernelWithinRounding) {
  for (DType t : {DType::bf16, DType::f16})
    for (const Case& c : cases()) expect_narrow_matches_f32(c, t);
}

TEST(AttentionNarrow, MatchesTheNarrowComposition) {
  // The fused switch off runs the composition in the narrow dtype (matmul, softmax, matmul each
  // rounding): agreement to a few narrow ulps of the output scale shows the kernel computes the
  // same function in the same dtype.
  for (DType t : {DType::bf16, DType::f16})
    for (bool causal : {false, true}) {
      std::vector<Tensor> in = {randn_t({2, 3, 70, 16}, t, 220), randn_t({2, 3, 70, 16}, t, 221),
                                randn_t({2, 3, 70, 16}, t, 222)};
      Tensor o[2];
      for (int fused = 0; fused < 2; ++fused) {
        F::FusedKernelsGuard g(fused == 1);
        o[fused] = F::scaled_dot_product_attention(in[0], in[1], in[2], Tensor(), 0.0, causal);
      }
      EXPECT_EQ(o[1].dtype(), t);
      EXPECT_TRUE(
          na_test::close(o[1].to(DType::f32), o[0].to(DType::f32), 0, 16 * unit_roundoff(t), "composition"));
    }
}

TEST(AttentionNarrow, PeakMemoryFarBelowTheScoreMatrix) {
  // bf16 scores for B·H = 2 heads of T = 1024 would take B·H·T·T·2 = 4 MiB: the blocked forward
  // and backward stay below a quarter of that; the composition (fused kernels off) goes above,
  // so the measurement does see a materialised score matrix.
  const int64_t B = 1, H = 2, T = 1024, D = 32;
  const size_t scores = static_cast<size_t>(B * H * T * T * 2);
  size_t peak[2];
  for (int fused = 0; fused < 2; ++fused) {
    F::FusedKernelsGuard g(fused == 1);
    Tensor q = randn_t({B, H, T, D}, DType::bf16, 230).requires_grad_();
    Tensor k = randn_t({B, H, T, D}, DType::bf16, 231).requires_grad_();
    Tensor v = randn_t({B, H, T, D}, DType::bf16, 232).requires_grad_();
    const size_t before = na::optimization::get_memory_stats().allocated_bytes;
    na::optimization::reset_peak();
    Tensor o = F::scaled_dot_product_attention(q, k, v, Tensor(), 0.0, true);
    na::autograd::backward({o.sum()});
    peak[fused] = na::optimization::get_memory_stats().peak_allocated_bytes - before;
    EXPECT_EQ(q.grad().dtype(), DType::bf16);
  }
  EXPECT_GT(peak[0], scores) << "composition peak " << peak[0];
  // Blocked: only (T × D) tensors (o, its gradient, dq, dk, dv, ...), each B·H·T·D·2 = 128 KiB.
  const size_t per_tensor = static_cast<size_t>(B * H * T * D * 2);
  EXPECT_LT(peak[1], 8 * per_tensor) << "blocked peak " << peak[1];
  EXPECT_LE(8 * per_tensor, scores / 4);
}

TEST(AttentionNarrow, DtypeErrors) {
  const Tensor b = randn_t({1, 4, 8}, DType::bf16, 240), h = randn_t({1, 4, 8}, DType::f16, 241);
  const Tensor f = randn_t({1, 4, 8}, DType::f32, 242);
  na_test::expect_error([&] { F::scaled_dot_product_attention(b, h, b); },
                        {"[scaled_dot_product_attention]", "one floating dtype", "bfloat16", "float16"});
  na_test::expect_error([&] { F::scaled_dot_product_attention(b, b, f); },
                        {"[scaled_dot_product_attention]", "one floating dtype", "float32"});
}

// Mean cross-entropy of a small GPT (4 heads, T = 80: two key blocks) in f32 and under
// autocast(bf16), from the same weights; and the parameter gradients stay f32.
TEST(AttentionNarrow, GptUnderAutocastBf16) {
  na::manual_seed(250);
  na::nn::GPTConfig cfg;
  cfg.vocab_size = 50, cfg.block_size = 80, cfg.n_layer = 2, cfg.n_head = 4, cfg.n_embd = 64;
  cfg.dropout = 0.0;
  na::nn::GPT gpt(cfg);
  na::Generator g(251);
  const Tensor idx = na::randint(0, cfg.vocab_size, {2, 80}, na::DType::i64, &g),
               tgt = na::randint(0, cfg.vocab_size, {2, 80}, na::DType::i64, &g);
  const double f32 = gpt.forward(idx, tgt).item<double>();
  Tensor loss;
  {
    na::optimization::autocast ac;
    loss = gpt.forward(idx, tgt);
  }
  EXPECT_EQ(loss.dtype(), DType::f32);
  // bf16 logits carry ~u = 2^-8 relative error; the loss (about log 50) moves by far less than 1%.
  EXPECT_NEAR(loss.item<double>(), f32, 0.01 * std::abs(f32));
  na::autograd::backward({loss});
  for (const auto& [name, p] : gpt.named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    EXPECT_EQ(p.grad().dtype(), DType::f32) << name;
    EXPECT_TRUE(std::isfinite(na::abs(p.grad()).max().item<double>())) << name;
  }
}

TEST(AttentionNarrow, TransformerEncoderUnderAutocastBf16) {
  na::manual_seed(260);
  auto layer = std::make_shared<na::nn::TransformerEncoderLayer>(32, 4, 64, 0.0, "relu", 1e-5, true);
  na::nn::TransformerEncoder enc(layer, 2);
  const Tensor src = randn_t({2, 70, 32}, DType::f32, 261);
  const Tensor y32 = enc.forward(src, Tensor(), Tensor(), true);
  Tensor y;
  {
    na::optimization::autocast ac;
    y = enc.forward(src, Tensor(), Tensor(), true);
  }
  const double loss32 = na::mean(y32 * y32).item<double>(),
               loss = na::mean(y.to(DType::f32) * y.to(DType::f32)).item<double>();
  EXPECT_NEAR(loss, loss32, 0.02 * loss32);
  // elementwise: the post-norm output is O(1); bf16 matmuls and attention keep it within a few u.
  EXPECT_TRUE(na_test::close(y.to(DType::f32), y32, 0, 0.1, "encoder output"));
  na::autograd::backward({na::mean(y.to(DType::f32) * y.to(DType::f32))});
}

}  // namespace
