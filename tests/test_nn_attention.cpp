// Attention: scaled_dot_product_attention, MultiheadAttention, TransformerEncoderLayer, rotary and
// sinusoidal position encodings. PyTorch reference cases (tests/reference/gen_nn_attention.py),
// finite-difference gradient checks (input and parameter gradients, float64) and misuse errors.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "neural_arch/autograd.hpp"
#include "neural_arch/functional/attention.hpp"
#include "neural_arch/nn/attention.hpp"
#include "neural_arch/nn/transformer.hpp"
#include "neural_arch/ops.hpp"
#include "nn_test_util.hpp"
#include "reference_data.hpp"

namespace {

namespace na = neural_arch;
namespace F = neural_arch::functional;
using na_reference::RefCase;

using na_test::error_of;
using na_test::load_params;
using na_test::module_gradcheck;
using na_test::rand64;
using na_test::Tol;

// float64 cases differ from the torch composition only by summation order.
constexpr Tol kF64{1e-9, 1e-11};
// float32 cases go through GEMMs (oneDNN here, OpenBLAS in torch) with other blockings.
constexpr Tol kF32{1e-4, 1e-5};

Tol tol_for(const na::Tensor& t) { return t.dtype() == na::kFloat64 ? kF64 : kF32; }

// A NaN expected value asks for a NaN (no stored case has one today; a fully masked row would).
::testing::AssertionResult close(const na::Tensor& actual, const na::Tensor& expected, Tol tol,
                                 const std::string& what) {
  return na_test::close(actual, expected, tol.rtol, tol.atol, what, /*nan_equal=*/true);
}

/// Stored input by name; a fresh leaf requiring grad when the file stores its gradient.
na::Tensor input(const RefCase& c, const std::string& name) {
  na::Tensor t = c.at(name);
  if (c.has("grad_" + name)) t = t.clone().requires_grad_();
  return t;
}

/// Compares `out` (and the listed extra outputs), backpropagates `gout` and compares
/// grad_<input> for the given inputs and grad_param.<name> for every parameter of m (if any).
void check_case(const RefCase& c, const std::map<std::string, na::Tensor>& outputs,
                const std::vector<std::pair<std::string, na::Tensor>>& inputs, na::nn::Module* m) {
  const na::Tensor& out = outputs.at("out");
  for (const auto& [n, t] : outputs) EXPECT_TRUE(close(t, c.at(n), tol_for(c.at(n)), c.name() + " " + n));
  out.backward(c.at("gout"));
  for (const auto& [n, t] : inputs)
    if (c.has("grad_" + n))
      EXPECT_TRUE(close(t.grad(), c.at("grad_" + n), tol_for(t), c.name() + " grad_" + n));
  if (m)
    for (const auto& [n, p] : m->named_parameters())
      EXPECT_TRUE(close(p.grad(), c.at("grad_param." + n), tol_for(p), c.name() + " grad_param." + n));
}

// ------------------------------------------------------------------ sdpa reference cases
void sdpa_case(const std::string& name,
               const std::function<na::Tensor(const RefCase&, const na::Tensor&, const na::Tensor&,
                                              const na::Tensor&)>& fn) {
  const RefCase c = na_reference::load_reference("nn/" + name);
  na::Tensor q = input(c, "q"), k = input(c, "k"), v = input(c, "v");
  check_case(c, {{"out", fn(c, q, k, v)}}, {{"q", q}, {"k", k}, {"v", v}}, nullptr);
}

TEST(NnAttentionReference, SdpaBasic) {
  sdpa_case("attn_sdpa_basic", [](const RefCase&, const na::Tensor& q, const na::Tensor& k,
                                  const na::Tensor& v) { return F::scaled_dot_product_attention(q, k, v); });
}

TEST(NnAttentionReference, SdpaBroadcastF32) {
  sdpa_case("attn_sdpa_broadcast_f32",
            [](const RefCase&, const na::Tensor& q, const na::Tensor& k, const na::Tensor& v) {
              return F::scaled_dot_product_attention(q, k, v);
            });
}

TEST(NnAttentionReference, SdpaCausal) {
  sdpa_case("attn_sdpa_causal",
            [](const RefCase&, const na::Tensor& q, const na::Tensor& k, const na::Tensor& v) {
              return F::scaled_dot_product_attention(q, k, v, {}, 0.0, /*is_causal=*/true);
            });
}

TEST(NnAttentionReference, SdpaBoolMask) {
  sdpa_case("attn_sdpa_bool_mask",
            [](const RefCase& c, const na::Tensor& q, const na::Tensor& k, const na::Tensor& v) {
              return F::scaled_dot_product_attention(q, k, v, c.at("attn_mask"));
            });
}

TEST(NnAttentionReference, SdpaFloatMaskWithGradAndScale) {
  const RefCase c = na_reference::load_reference("nn/attn_sdpa_float_mask");
  na::Tensor q = input(c, "q"), k = input(c, "k"), v = input(c, "v"), mask = input(c, "attn_mask");
  ASSERT_TRUE(mask.requires_grad());
  na::Tensor out = F::scaled_dot_product_attention(q, k, v, mask, 0.0, false, 0.3);
  check_case(c, {{"out", out}}, {{"q", q}, {"k", k}, {"v", v}, {"attn_mask", mask}}, nullptr);
}

// ------------------------------------------------------------------ MultiheadAttention reference cases
std::shared_ptr<na::nn::MultiheadAttention> mha_for(const RefCase& c, bool batch_first) {
  const bool bias = c.has("param.in_proj_bias");
  auto m = std::make_shared<na::nn::MultiheadAttention>(8, 2, 0.0, bias, batch_first);
  load_params(*m, c);
  return m;
}

TEST(NnAttentionReference, MhaCrossKeyPaddingMask) {
  const RefCase c = na_reference::load_reference("nn/attn_mha_cross_kpm");
  auto m = mha_for(c, false);
  na::Tensor q = input(c, "query"), k = input(c, "key"), v = input(c, "value");
  auto r = m->forward(q, k, v, c.at("key_padding_mask"));
  check_case(c, {{"out", r.output}, {"weights", r.weights}}, {{"query", q}, {"key", k}, {"value", v}},
             m.get());
}

TEST(NnAttentionReference, MhaSelfFloatMaskBatchFirstPerHeadWeights) {
  const RefCase c = na_reference::load_reference("nn/attn_mha_self_float_mask");
  auto m = mha_for(c, true);
  na::Tensor x = input(c, "x");
  auto r = m->forward(x, x, x, c.at("key_padding_mask"), c.at("attn_mask"), true, false,
                      /*average_attn_weights=*/false);
  check_case(c, {{"out", r.output}, {"weights", r.weights}}, {{"x", x}}, m.get());
}

TEST(NnAttentionReference, MhaMask3d) {
  const RefCase c = na_reference::load_reference("nn/attn_mha_mask3d");
  auto m = mha_for(c, true);
  na::Tensor q = input(c, "query"), k = input(c, "key"), v = input(c, "value");
  auto r = m->forward(q, k, v, {}, c.at("attn_mask"));
  check_case(c, {{"out", r.output}, {"weights", r.weights}}, {{"query", q}, {"key", k}, {"value", v}},
             m.get());
}

TEST(NnAttentionReference, MhaIsCausalMatchesExplicitMask) {
  const RefCase c = na_reference::load_reference("nn/attn_mha_causal");
  auto m = mha_for(c, true);
  na::Tensor x = input(c, "x");
  auto r = m->forward(x, x, x, {}, {}, true, /*is_causal=*/true);
  check_case(c, {{"out", r.output}, {"weights", r.weights}}, {{"x", x}}, m.get());
}

TEST(NnAttentionReference, MhaUnbatched) {
  const RefCase c = na_reference::load_reference("nn/attn_mha_unbatched");
  auto m = mha_for(c, false);
  na::Tensor q = input(c, "query"), k = input(c, "key"), v = input(c, "value");
  auto r = m->forward(q, k, v, c.at("key_padding_mask"));
  check_case(c, {{"out", r.output}, {"weights", r.weights}}, {{"query", q}, {"key", k}, {"value", v}},
             m.get());
}

TEST(NnAttentionReference, MhaNoBias) {
  const RefCase c = na_reference::load_reference("nn/attn_mha_nobias");
  auto m = mha_for(c, true);
  EXPECT_FALSE(m->in_proj_bias.defined());
  EXPECT_FALSE(m->out_proj->bias.defined());
  na::Tensor x = input(c, "x");
  auto r = m->forward(x, x, x, {}, {}, /*need_weights=*/false);
  EXPECT_FALSE(r.weights.defined());
  check_case(c, {{"out", r.output}}, {{"x", x}}, m.get());
}

// ------------------------------------------------------------------ TransformerEncoderLayer reference cases
TEST(NnAttentionReference, EncoderPostNormRelu) {
  const RefCase c = na_reference::load_reference("nn/attn_encoder_post_relu");
  auto layer =
      std::make_shared<na::nn::TransformerEncoderLayer>(16, 4, 32, 0.1, "relu", 1e-5, /*batch_first=*/true,
                                                        /*norm_first=*/false);
  load_params(*layer, c);
  layer->eval();
  na::Tensor x = input(c, "x");
  na::Tensor y = layer->forward(x, {}, c.at("key_padding_mask"));
  check_case(c, {{"out", y}}, {{"x", x}}, layer.get());
}

TEST(NnAttentionReference, EncoderPreNormGelu) {
  const RefCase c = na_reference::load_reference("nn/attn_encoder_pre_gelu");
  auto layer =
      std::make_shared<na::nn::TransformerEncoderLayer>(16, 4, 32, 0.1, "gelu", 1e-5, /*batch_first=*/false,
                                                        /*norm_first=*/true);
  load_params(*layer, c);
  layer->eval();
  na::Tensor x = input(c, "x");
  na::Tensor y = layer->forward(x, c.at("attn_mask"));
  check_case(c, {{"out", y}}, {{"x", x}}, layer.get());
}

// ------------------------------------------------------------------ position encodings reference cases
TEST(NnAttentionReference, RotaryFull) {
  const RefCase c = na_reference::load_reference("nn/attn_rotary_full");
  na::nn::RotaryEmbedding rope(8);
  na::Tensor x = input(c, "x");
  check_case(c, {{"out", rope.forward(x, /*offset=*/3)}}, {{"x", x}}, nullptr);
}

TEST(NnAttentionReference, RotaryPartialF32) {
  const RefCase c = na_reference::load_reference("nn/attn_rotary_partial_f32");
  na::nn::RotaryEmbedding rope(8, 64, 500.0);
  na::Tensor x = input(c, "x");
  check_case(c, {{"out", rope.forward(x)}}, {{"x", x}}, nullptr);
}

TEST(NnAttentionReference, Sinusoidal) {
  const RefCase c = na_reference::load_reference("nn/attn_sinusoidal");
  na::nn::SinusoidalPositionalEncoding pe(10, 16);
  EXPECT_EQ(pe.state_dict().size(), 1u);
  EXPECT_EQ(pe.state_dict()[0].first, "pe");
  na::Tensor x = input(c, "x");
  check_case(c,
             {{"out", pe.forward(x)}, {"table", pe.pe}, {"table_odd", F::sinusoidal_position_encoding(9, 7)}},
             {{"x", x}}, nullptr);
}

// ------------------------------------------------------------------ gradient checks

TEST(NnGradCheck, Sdpa_plain) {
  auto r = na_test::gradcheck(
      [](const std::vector<na::Tensor>& v) { return F::scaled_dot_product_attention(v[0], v[1], v[2]); },
      {rand64({2, 3, 4}, 1).requires_grad_(), rand64({2, 5, 4}, 2).requires_grad_(),
       rand64({2, 5, 3}, 3).requires_grad_()});
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(NnGradCheck, Sdpa_causal_scale) {
  auto r = na_test::gradcheck(
      [](const std::vector<na::Tensor>& v) {
        return F::scaled_dot_product_attention(v[0], v[1], v[2], {}, 0.0, true, 0.7);
      },
      {rand64({2, 4, 3}, 4).requires_grad_(), rand64({2, 4, 3}, 5).requires_grad_(),
       rand64({2, 4, 2}, 6).requires_grad_()});
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(NnGradCheck, Sdpa_bool_mask) {
  // Column 0 is always visible, so no row is fully masked.
  na::Tensor mask = na::tensor<bool>({1, 0, 1, 0, 1, 1, 1, 1, 1, 0, 1, 0}, na::Shape{3, 4});
  auto r = na_test::gradcheck(
      [mask](const std::vector<na::Tensor>& v) {
        return F::scaled_dot_product_attention(v[0], v[1], v[2], mask);
      },
      {rand64({2, 3, 3}, 7).requires_grad_(), rand64({2, 4, 3}, 8).requires_grad_(),
       rand64({2, 4, 2}, 9).requires_grad_()});
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(NnGradCheck, Sdpa_float_mask) {
  auto r = na_test::gradcheck(
      [](const std::vector<na::Tensor>& v) {
        return F::scaled_dot_product_attention(v[0], v[1], v[2], v[3]);
      },
      {rand64({2, 3, 3}, 10).requires_grad_(), rand64({2, 4, 3}, 11).requires_grad_(),
       rand64({2, 4, 2}, 12).requires_grad_(), rand64({1, 3, 4}, 13).requires_grad_()});
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(NnGradCheck, MultiheadAttention_cross_kpm_seq_first) {
  na::manual_seed(3);
  auto m = std::make_shared<na::nn::MultiheadAttention>(4, 2, 0.0, true, false);
  m->to(na::kFloat64);
  {  // non-zero biases, so their gradients are checked at a generic point
    na::NoGradGuard ng;
    m->in_proj_bias.copy_(rand64({12}, 20, 0.3));
    m->out_proj->bias.copy_(rand64({4}, 21, 0.3));
  }
  na::Tensor kpm = na::tensor<bool>({0, 1, 0, 0, 0, 1}, na::Shape{2, 3});
  auto r = module_gradcheck(
      *m,
      {rand64({2, 2, 4}, 22).requires_grad_(), rand64({3, 2, 4}, 23).requires_grad_(),
       rand64({3, 2, 4}, 24).requires_grad_()},
      [&](const std::vector<na::Tensor>& v) { return m->forward(v[0], v[1], v[2], kpm).output; },
      "mha_cross");
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(NnGradCheck, MultiheadAttention_self_causal_batch_first_weights) {
  na::manual_seed(4);
  auto m = std::make_shared<na::nn::MultiheadAttention>(4, 2, 0.0, true, true);
  m->to(na::kFloat64);
  // The averaged weights depend on q/k projections only; gradients flow through them too.
  auto r = module_gradcheck(
      *m, {rand64({2, 3, 4}, 25).requires_grad_()},
      [&](const std::vector<na::Tensor>& v) {
        auto o = m->forward(v[0], v[0], v[0], {}, {}, true, /*is_causal=*/true);
        return na::cat({o.output.flatten(), o.weights.flatten()});
      },
      "mha_self_causal");
  EXPECT_TRUE(r.ok) << r.message;
}

void encoder_gradcheck(bool norm_first, const std::string& act) {
  na::manual_seed(5);
  auto layer = std::make_shared<na::nn::TransformerEncoderLayer>(4, 2, 6, 0.1, act, 1e-5, true, norm_first);
  layer->to(na::kFloat64);
  layer->eval();
  na::Tensor kpm = na::tensor<bool>({0, 0, 1, 0, 0, 0}, na::Shape{2, 3});
  auto r = module_gradcheck(
      *layer, {rand64({2, 3, 4}, 26).requires_grad_()},
      [&](const std::vector<na::Tensor>& v) { return layer->forward(v[0], {}, kpm); }, "encoder_" + act);
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(NnGradCheck, TransformerEncoderLayer_post_norm_relu) { encoder_gradcheck(false, "relu"); }
TEST(NnGradCheck, TransformerEncoderLayer_pre_norm_gelu) { encoder_gradcheck(true, "gelu"); }

TEST(NnGradCheck, RotaryEmbedding_partial_offset) {
  na::nn::RotaryEmbedding rope(4, 16);
  auto r = na_test::gradcheck([&](const std::vector<na::Tensor>& v) { return rope.forward(v[0], 5); },
                              {rand64({2, 3, 6}, 27).requires_grad_()});
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(NnGradCheck, SinusoidalPositionalEncoding_seq_first) {
  na::nn::SinusoidalPositionalEncoding pe(4, 8, 0.0, /*batch_first=*/false);
  auto r = na_test::gradcheck([&](const std::vector<na::Tensor>& v) { return pe.forward(v[0]) * v[0]; },
                              {rand64({3, 2, 4}, 28).requires_grad_()});
  EXPECT_TRUE(r.ok) << r.message;
}

// ------------------------------------------------------------------ behaviour
TEST(NnAttention, MhaParameterNamesAndDefaultInitMatchTorch) {
  auto m = std::make_shared<na::nn::MultiheadAttention>(8, 2);
  std::vector<std::string> names;
  for (const auto& [n, p] : m->named_parameters()) names.push_back(n);
  EXPECT_EQ(names,
            (std::vector<std::string>{"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"}));
  EXPECT_EQ(m->in_proj_weight.shape(), (na::Shape{24, 8}));
  EXPECT_EQ(na::abs(m->in_proj_bias).max().item(), 0.0);
  EXPECT_EQ(na::abs(m->out_proj->bias).max().item(), 0.0);
  // xavier_uniform bound sqrt(6 / (fan_in + fan_out)) for the (24, 8) weight.
  const double bound = std::sqrt(6.0 / 32.0);
  EXPECT_LE(na::abs(m->in_proj_weight).max().item(), bound);
  EXPECT_GT(na::abs(m->in_proj_weight).max().item(), 0.5 * bound);
}

TEST(NnAttention, SdpaDropoutIsReproducibleAndEvalIgnoresIt) {
  na::Tensor q = rand64({2, 5, 4}, 30), k = rand64({2, 6, 4}, 31), v = rand64({2, 6, 3}, 32);
  na::Generator g1(9), g2(9);
  na::Tensor a = F::scaled_dot_product_attention(q, k, v, {}, 0.5, false, std::nullopt, &g1);
  na::Tensor b = F::scaled_dot_product_attention(q, k, v, {}, 0.5, false, std::nullopt, &g2);
  na::Tensor plain = F::scaled_dot_product_attention(q, k, v);
  EXPECT_TRUE(na::allclose(a, b, 0, 0));
  EXPECT_FALSE(na::allclose(a, plain));
  // The weights returned are the dropped-out ones, and output = weights @ v.
  na::Generator g3(9);
  auto wo = F::scaled_dot_product_attention_with_weights(q, k, v, {}, 0.5, false, std::nullopt, &g3);
  EXPECT_TRUE(na::allclose(wo.output, a, 0, 0));
  EXPECT_TRUE(na::allclose(na::matmul(wo.weights, v), a, 1e-12, 1e-12));

  auto m = std::make_shared<na::nn::MultiheadAttention>(4, 2, /*dropout=*/0.5, true, true);
  m->to(na::kFloat64);
  m->eval();
  na::Tensor x = rand64({2, 3, 4}, 33);
  EXPECT_TRUE(na::allclose(m->forward(x), m->forward(x), 0, 0));
}

TEST(NnAttention, SdpaFullyMaskedRowIsNaNLikeTorch) {
  na::Tensor mask = na::tensor<bool>({1, 1, 0, 0}, na::Shape{2, 2});  // row 1: nothing visible
  na::Tensor y =
      F::scaled_dot_product_attention(rand64({2, 3}, 34), rand64({2, 3}, 35), rand64({2, 3}, 36), mask);
  auto vals = y.to_vector<double>();
  EXPECT_TRUE(std::isfinite(vals[0]));
  EXPECT_TRUE(std::isnan(vals[3]));
}

TEST(NnAttention, MhaBoolAndFloatMasksAgree) {
  // MultiheadAttention's bool mask (true = masked) equals the float mask with -inf there.
  na::manual_seed(6);
  auto m = std::make_shared<na::nn::MultiheadAttention>(4, 2, 0.0, true, true);
  na::Tensor x = na::randn({2, 3, 4});
  na::Tensor bmask = na::tensor<bool>({0, 1, 1, 0, 0, 1, 0, 0, 0}, na::Shape{3, 3});
  na::Tensor fmask = na::masked_fill(na::zeros({3, 3}), bmask, -INFINITY);
  auto a = m->forward(x, x, x, {}, bmask), b = m->forward(x, x, x, {}, fmask);
  EXPECT_TRUE(na::allclose(a.output, b.output, 1e-6, 1e-7));
  EXPECT_TRUE(na::allclose(a.weights, b.weights, 1e-6, 1e-7));
  // Masked weights are exactly zero.
  auto w = a.weights.to_vector<double>();
  EXPECT_EQ(w[1], 0.0);
  EXPECT_EQ(w[2], 0.0);
}

TEST(NnAttention, RotaryPreservesNormsAndRelativePositions) {
  // A rotation keeps each pair's norm, and q_m . k_n depends only on m - n.
  na::nn::RotaryEmbedding rope(6, 32);
  na::Tensor q = rand64({1, 6}, 40), k = rand64({1, 6}, 41);
  auto dot_at = [&](int64_t m, int64_t n) { return na::sum(rope.forward(q, m) * rope.forward(k, n)).item(); };
  EXPECT_NEAR(dot_at(3, 1), dot_at(12, 10), 1e-12);
  EXPECT_NEAR(dot_at(0, 5), dot_at(7, 12), 1e-12);
  EXPECT_NEAR(na::sum(rope.forward(q, 9) * rope.forward(q, 9)).item(), na::sum(q * q).item(), 1e-12);
  // Position 0 is the identity.
  EXPECT_TRUE(na::allclose(rope.forward(q, 0), q, 0, 1e-15));
}

TEST(NnAttention, EncoderLayerStateDictKeysMatchTorch) {
  auto layer = std::make_shared<na::nn::TransformerEncoderLayer>(8, 2, 16);
  std::vector<std::string> keys;
  for (const auto& [n, t] : layer->state_dict()) keys.push_back(n);
  EXPECT_EQ(keys, (std::vector<std::string>{
                      "self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight",
                      "self_attn.out_proj.bias", "linear1.weight", "linear1.bias", "linear2.weight",
                      "linear2.bias", "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"}));
  // Training mode applies dropout: two forwards differ; eval mode is deterministic.
  na::Tensor x = na::randn({4, 2, 8});
  EXPECT_FALSE(na::allclose(layer->forward(x), layer->forward(x)));
  layer->eval();
  EXPECT_TRUE(na::allclose(layer->forward(x), layer->forward(x), 0, 0));
}

// ------------------------------------------------------------------ misuse
TEST(NnAttentionMisuse, BadAttnMaskShapeNamesLayerAndShapes) {
  auto m = std::make_shared<na::nn::MultiheadAttention>(8, 2, 0.0, true, true);
  na::Tensor q = na::randn({2, 4, 8}), kv = na::randn({2, 5, 8});
  std::string msg = error_of([&] { m->forward(q, kv, kv, {}, na::zeros({3, 3})); });
  EXPECT_NE(msg.find("[MultiheadAttention]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(3,3)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(4,5)"), std::string::npos) << msg;

  msg = error_of([&] { m->forward(q, kv, kv, {}, na::zeros({2, 4, 5}, na::kBool)); });
  EXPECT_NE(msg.find("[MultiheadAttention]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(2,4,5)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(4,4,5)"), std::string::npos) << msg;

  msg = error_of([&] { m->forward(q, kv, kv, na::zeros({2, 4}, na::kBool)); });
  EXPECT_NE(msg.find("[MultiheadAttention] key_padding_mask has shape (2,4)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(2,5)"), std::string::npos) << msg;

  msg = error_of([&] { m->forward(q, kv, kv, {}, na::zeros({4, 5}, na::kInt64)); });
  EXPECT_NE(msg.find("[MultiheadAttention] attn_mask must be bool or floating"), std::string::npos) << msg;
}

TEST(NnAttentionMisuse, EmbedDimNotDivisibleByHeads) {
  std::string msg = error_of([] { na::nn::MultiheadAttention(10, 3); });
  EXPECT_NE(msg.find("[MultiheadAttention] embed_dim 10 must be divisible by num_heads 3"), std::string::npos)
      << msg;
  msg = error_of([] { na::nn::TransformerEncoderLayer(10, 4); });
  EXPECT_NE(msg.find("embed_dim 10 must be divisible by num_heads 4"), std::string::npos) << msg;
}

TEST(NnAttentionMisuse, WrongInputShapes) {
  auto m = std::make_shared<na::nn::MultiheadAttention>(8, 2, 0.0, true, true);
  std::string msg = error_of([&] { m->forward(na::randn({2, 4, 6})); });
  EXPECT_NE(msg.find("[MultiheadAttention] expected query with embed_dim 8"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(2,4,6)"), std::string::npos) << msg;  // the caller's (batch_first) shape
  msg = error_of([&] { m->forward(na::randn({2, 4, 8}), na::randn({2, 5, 8}), na::randn({2, 6, 8})); });
  EXPECT_NE(msg.find("key shape"), std::string::npos) << msg;
  msg = error_of([&] { m->forward(na::randn({2, 4, 8}).to(na::kFloat64)); });
  EXPECT_NE(msg.find("[MultiheadAttention]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("float64"), std::string::npos) << msg;

  msg = error_of([] {
    F::scaled_dot_product_attention(na::randn({2, 4, 8}), na::randn({2, 5, 7}), na::randn({2, 5, 7}));
  });
  EXPECT_NE(msg.find("[scaled_dot_product_attention] query (2,4,8) and key (2,5,7)"), std::string::npos)
      << msg;
  msg = error_of([] {
    F::scaled_dot_product_attention(na::randn({2, 4, 8}), na::randn({2, 5, 8}), na::randn({2, 5, 8}),
                                    na::ones({3, 5}, na::kBool));
  });
  EXPECT_NE(msg.find("attn_mask of shape (3,5) cannot be broadcast to the attention scores' shape (2,4,5)"),
            std::string::npos)
      << msg;
  msg = error_of([] {
    na::Tensor x = na::randn({4, 8});
    F::scaled_dot_product_attention(x, x, x, na::ones({4, 4}, na::kBool), 0.0, true);
  });
  EXPECT_NE(msg.find("is_causal and an explicit attn_mask"), std::string::npos) << msg;

  msg = error_of([] { na::nn::RotaryEmbedding(5); });
  EXPECT_NE(msg.find("[RotaryEmbedding] dim must be positive and even, got 5"), std::string::npos) << msg;
  msg = error_of([] { na::nn::RotaryEmbedding(8, 16).forward(na::randn({2, 10, 8}), 8); });
  EXPECT_NE(msg.find("exceed max_seq_len 16"), std::string::npos) << msg;
  msg = error_of([] { na::nn::RotaryEmbedding(8).forward(na::randn({2, 10, 6})); });
  EXPECT_NE(msg.find("smaller than the rotary dim 8"), std::string::npos) << msg;
  msg = error_of([] { na::nn::SinusoidalPositionalEncoding(6, 4).forward(na::randn({2, 5, 6})); });
  EXPECT_NE(msg.find("[SinusoidalPositionalEncoding] sequence length 5"), std::string::npos) << msg;
  msg = error_of([] { na::nn::TransformerEncoderLayer(8, 2, 16, 0.1, "tanh"); });
  EXPECT_NE(msg.find("[TransformerEncoderLayer] activation should be \"relu\" or \"gelu\", got \"tanh\""),
            std::string::npos)
      << msg;
}

}  // namespace
