// Attention layers: MultiheadAttention (torch.nn.MultiheadAttention), RotaryEmbedding and
// SinusoidalPositionalEncoding.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "neural_arch/nn/linear.hpp"
#include "neural_arch/nn/module.hpp"

namespace neural_arch::nn {

/// Output of MultiheadAttention::forward: the attended values and, when need_weights, the
/// attention weights (averaged over heads unless average_attn_weights is false).
struct MultiheadAttentionOutput {
  Tensor output;   // (N, L, E) batch_first, (L, N, E) otherwise, (L, E) unbatched
  Tensor weights;  // (N, L, S), (N, num_heads, L, S), or undefined when !need_weights
};

/// Multi-head attention as torch.nn.MultiheadAttention, with the same parameters and names so
/// state dicts map 1:1: in_proj_weight (3E, E) = [W_q; W_k; W_v], in_proj_bias (3E) and out_proj
/// (a Linear(E, E)). Default init as torch: xavier_uniform on in_proj_weight, zero biases,
/// Linear's default on out_proj.weight. Key and value have embed_dim features (torch's kdim/vdim
/// variant with separate projection weights is not provided).
///
/// Masks follow torch's MultiheadAttention convention: a bool mask marks positions that are
/// **not** allowed to attend (true = masked); a float mask is added to the scores.
///   key_padding_mask: (N, S), or (S) for unbatched input;
///   attn_mask: (L, S) or (N*num_heads, L, S).
/// is_causal = true without an attn_mask applies the causal mask (key j > query i masked).
///
///   auto mha = std::make_shared<na::nn::MultiheadAttention>(64, 8, 0.0, true, /*batch_first=*/true);
///   auto [y, w] = mha->forward(x, x, x);            // self-attention, x: (N, L, 64)
class MultiheadAttention : public Module {
 public:
  MultiheadAttention(int64_t embed_dim, int64_t num_heads, double dropout = 0.0, bool bias = true,
                     bool batch_first = false);

  MultiheadAttentionOutput forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                   const Tensor& key_padding_mask = Tensor(),
                                   const Tensor& attn_mask = Tensor(), bool need_weights = true,
                                   bool is_causal = false, bool average_attn_weights = true);
  /// Self-attention without masks and without weights: forward(x, x, x).output.
  Tensor forward(const Tensor& x) override;

  void reset_parameters();
  std::string extra_repr() const override;

  int64_t embed_dim, num_heads, head_dim;
  double dropout;
  bool batch_first;
  Tensor in_proj_weight;
  Tensor in_proj_bias;  // undefined when bias = false
  std::shared_ptr<Linear> out_proj;
};

/// Rotary position embedding (RoFormer), in the GPT-NeoX / LLaMA "rotate half" convention:
/// channel i of the rotated part is paired with channel i + dim/2 (not with i+1 as in the
/// interleaved GPT-J form) and
///   out = x * cos(p * theta) + rotate_half(x) * sin(p * theta),  rotate_half(x) = cat(-x2, x1),
/// with theta_i = base^(-2i/dim) repeated for both halves and p the absolute position
/// (offset + index along dim -2). Only the first `dim` channels are rotated (partial rotary
/// when dim < head_dim); the rest pass through. No parameters and no state-dict entries (the
/// cos/sin tables are a cache, like the non-persistent buffers of HF's LLaMA).
///
///   auto rope = std::make_shared<na::nn::RotaryEmbedding>(64);
///   auto [q2, k2] = rope->forward(q, k);    // q, k: (B, H, T, 64)
class RotaryEmbedding : public Module {
 public:
  explicit RotaryEmbedding(int64_t dim, int64_t max_seq_len = 2048, double base = 10000.0);
  /// x is (..., T, head_dim) with head_dim >= dim; positions offset .. offset+T-1.
  Tensor forward(const Tensor& x, int64_t offset);
  Tensor forward(const Tensor& x) override { return forward(x, 0); }
  std::pair<Tensor, Tensor> forward(const Tensor& q, const Tensor& k, int64_t offset = 0);
  std::string extra_repr() const override;

  int64_t dim, max_seq_len;
  double base;

 private:
  Tensor cos_, sin_;  // (max_seq_len, dim) in float64; cast to the input's dtype on use
};

/// Adds the fixed sinusoidal table of "Attention is all you need" (see
/// functional::sinusoidal_position_encoding), registered as the buffer "pe" (max_len, d_model),
/// then applies dropout (training only). The sequence dim is 1 for batch_first (N, T, d) input,
/// 0 for (T, N, d) input, and 0 for unbatched (T, d) input.
class SinusoidalPositionalEncoding : public Module {
 public:
  explicit SinusoidalPositionalEncoding(int64_t d_model, int64_t max_len = 5000, double dropout = 0.0,
                                        bool batch_first = true);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  int64_t d_model, max_len;
  double dropout;
  bool batch_first;
  Tensor pe;

 protected:
  /// Recomputes pe in the new dtype, so after to(kFloat64) it holds the exact f64 table.
  void on_dtype_changed(DType dtype) override;
};

}  // namespace neural_arch::nn
