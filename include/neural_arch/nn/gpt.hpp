// A GPT language model (GPT-2 / nanoGPT shape): token + learned position embeddings, pre-norm
// transformer blocks with causal self-attention, a final LayerNorm and an output head tied to the
// token embedding.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "neural_arch/nn/attention.hpp"
#include "neural_arch/nn/containers.hpp"
#include "neural_arch/nn/dropout.hpp"
#include "neural_arch/nn/embedding.hpp"
#include "neural_arch/nn/linear.hpp"
#include "neural_arch/nn/module.hpp"
#include "neural_arch/random.hpp"

namespace neural_arch::nn {

/// Hyper-parameters of GPT (defaults: GPT-2 small with the vocabulary padded to 50304).
struct GPTConfig {
  int64_t vocab_size = 50304;
  int64_t block_size = 1024;  // longest sequence (number of learned positions)
  int64_t n_layer = 12;
  int64_t n_head = 12;
  int64_t n_embd = 768;
  double dropout = 0.0;  // embeddings, attention weights, residual branches
  bool bias = true;      // biases in the Linear layers and LayerNorms
};

/// LayerNorm over the last dim with a weight and an optional bias (torch.nn.LayerNorm has a
/// bias switch only from PyTorch 2.1; GPTConfig::bias = false needs it). Parameters "weight"
/// (ones) and "bias" (zeros).
class GPTLayerNorm : public Module {
 public:
  explicit GPTLayerNorm(int64_t n, bool bias = true, double eps = 1e-5);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  int64_t n;
  double eps;
  Tensor weight, bias;
};

/// Linear(n, 4n) -> GELU (erf form) -> Linear(4n, n) -> Dropout. Children c_fc, gelu, c_proj, dropout.
class GPTMLP : public Module {
 public:
  explicit GPTMLP(const GPTConfig& config);
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<Linear> c_fc, c_proj;
  std::shared_ptr<Dropout> dropout;
};

/// x = x + resid_dropout(attn(ln_1(x), causal)); x = x + mlp(ln_2(x)).
/// attn is a batch_first MultiheadAttention (parameters attn.in_proj_weight, attn.in_proj_bias,
/// attn.out_proj.weight, attn.out_proj.bias).
class GPTBlock : public Module {
 public:
  explicit GPTBlock(const GPTConfig& config);
  Tensor forward(const Tensor& x) override;  // x: (B, T, n_embd)
  std::shared_ptr<GPTLayerNorm> ln_1;
  std::shared_ptr<MultiheadAttention> attn;
  std::shared_ptr<Dropout> resid_dropout;
  std::shared_ptr<GPTLayerNorm> ln_2;
  std::shared_ptr<GPTMLP> mlp;
};

/// The GPT model. Parameter names: wte.weight (vocab, n_embd), wpe.weight (block_size, n_embd),
/// h.<i>.{ln_1, attn, ln_2, mlp.c_fc, mlp.c_proj}.*, ln_f.{weight, bias}. The output head reuses
/// wte.weight (weight tying), so there is no separate lm_head entry in the state dict.
/// Initialisation follows GPT-2: Linear and Embedding weights N(0, 0.02), the residual output
/// projections (attn.out_proj, mlp.c_proj) N(0, 0.02 / sqrt(2 * n_layer)), biases zero.
///
///   na::nn::GPTConfig cfg{.vocab_size = 65, .block_size = 64, .n_layer = 4, .n_head = 4, .n_embd = 128};
///   auto gpt = std::make_shared<na::nn::GPT>(cfg);
///   auto logits = gpt->forward(idx);            // idx: int64 (B, T) -> (B, T, vocab_size)
///   auto loss = gpt->forward(idx, targets);     // mean cross-entropy over B*T tokens
class GPT : public Module {
 public:
  explicit GPT(const GPTConfig& config);
  /// Logits (B, T, vocab_size) for token ids idx (B, T), T <= block_size.
  Tensor forward(const Tensor& idx) override;
  /// Mean cross-entropy (functional::cross_entropy) of the logits against targets (B, T) of
  /// int64 class ids; ids equal to -100 (torch's ignore_index) are left out of the mean.
  Tensor forward(const Tensor& idx, const Tensor& targets);
  /// Appends max_new_tokens sampled tokens to each row of idx (B, T) int64 and returns the
  /// longer (B, T + max_new_tokens) ids (nanoGPT's generate). Each step feeds the last
  /// block_size tokens, divides the last position's logits by temperature, keeps the top_k
  /// largest (0: all) and samples from their softmax with gen (default: the global one).
  /// temperature 0 takes the most likely token. Runs without grad; call eval() first to
  /// turn dropout off.
  Tensor generate(const Tensor& idx, int64_t max_new_tokens, double temperature = 1.0, int64_t top_k = 0,
                  Generator* gen = nullptr);
  std::string extra_repr() const override;

  GPTConfig config;
  /// Each block runs under optimization::checkpoint in training mode with grad enabled (set by
  /// optimization::enable_gradient_checkpointing).
  bool gradient_checkpointing = false;
  std::shared_ptr<Embedding> wte, wpe;
  std::shared_ptr<Dropout> drop;
  std::shared_ptr<ModuleList> h;
  std::shared_ptr<GPTLayerNorm> ln_f;
};

}  // namespace neural_arch::nn
