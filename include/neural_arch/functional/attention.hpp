// Attention as functions: scaled dot-product attention, the multi-head attention forward
// that nn::MultiheadAttention wraps, rotary position embedding and the sinusoidal table.
// Each is composed from differentiable ops (matmul, softmax, add, ...), so autograd covers them.
#pragma once
#include <cstdint>
#include <optional>
#include <utility>

#include "neural_arch/random.hpp"
#include "neural_arch/tensor.hpp"

namespace neural_arch::functional {

/// torch.nn.functional.scaled_dot_product_attention (PyTorch 2.x semantics):
///   softmax(query @ key^T * scale + bias) @ value, with dropout on the weights when dropout_p > 0.
/// Shapes: query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev); the leading
/// dims broadcast like matmul's batch dims.
/// attn_mask (optional) broadcasts to (..., L, S) and is either
///   * bool: **true = the position takes part** (torch's sdpa convention; note that
///     nn::MultiheadAttention's bool masks use the opposite sense, true = masked out), or
///   * floating: added to the scores (use -inf to mask out); gradients flow into it.
/// is_causal masks key j > query i (top-left aligned when L != S) and cannot be combined with
/// attn_mask. scale defaults to 1/sqrt(E). A row whose keys are all masked gives NaN, as in torch.
/// dropout_p is always applied when > 0 (pass 0 in evaluation), drawing from gen (default: global).
/// Without attn_mask and dropout it never forms the (L, S) scores (a blocked kernel), also for
/// f16/bf16 inputs, which compute in f32 and return (and backpropagate) their own dtype.
///
///   auto y = na::functional::scaled_dot_product_attention(q, k, v, {}, 0.0, /*is_causal=*/true);
Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                    const Tensor& attn_mask = Tensor(), double dropout_p = 0.0,
                                    bool is_causal = false, std::optional<double> scale = std::nullopt,
                                    Generator* gen = nullptr);

/// The attention output and the softmax weights (after dropout) of scaled_dot_product_attention,
/// for callers that need the weights (nn::MultiheadAttention with need_weights).
struct AttentionOutput {
  Tensor output;   // (..., L, Ev)
  Tensor weights;  // (..., L, S)
};
AttentionOutput scaled_dot_product_attention_with_weights(const Tensor& query, const Tensor& key,
                                                          const Tensor& value,
                                                          const Tensor& attn_mask = Tensor(),
                                                          double dropout_p = 0.0, bool is_causal = false,
                                                          std::optional<double> scale = std::nullopt,
                                                          Generator* gen = nullptr);

/// Options of multi_head_attention_forward (torch.nn.functional.multi_head_attention_forward).
struct MultiheadAttentionOptions {
  /// (N, S) or (S) for unbatched input; bool (true = ignore that key) or floating (added).
  Tensor key_padding_mask;
  /// (L, S) or (N*num_heads, L, S); bool (true = not allowed to attend) or floating (added).
  Tensor attn_mask;
  /// Apply a causal mask (key j > query i masked). When attn_mask is also given it is taken to be
  /// that causal mask (torch's "hint" contract) and used as is.
  bool is_causal = false;
  bool need_weights = true;
  /// Weights averaged over heads (N, L, S) rather than per head (N, num_heads, L, S).
  bool average_attn_weights = true;
  double dropout_p = 0.0;
  /// Dropout is applied only when training.
  bool training = true;
  Generator* gen = nullptr;
  /// Name used in error messages.
  const char* op_name = "multi_head_attention_forward";
};

/// torch's multi-head attention forward, sequence first: query (L, N, E) or (L, E) unbatched,
/// key/value (S, N, E) or (S, E). in_proj_weight is (3E, E) holding [W_q; W_k; W_v],
/// in_proj_bias (3E) or undefined, out_proj_weight (E, E), out_proj_bias (E) or undefined.
/// Returns (output (L, N, E), weights or an undefined tensor when !need_weights).
std::pair<Tensor, Tensor> multi_head_attention_forward(
    const Tensor& query, const Tensor& key, const Tensor& value, int64_t num_heads,
    const Tensor& in_proj_weight, const Tensor& in_proj_bias, const Tensor& out_proj_weight,
    const Tensor& out_proj_bias, const MultiheadAttentionOptions& options = {});

/// The GPT-NeoX / LLaMA "rotate half" convention: the channels are split into two halves
/// (x1, x2) and rotate_half(x) = cat(-x2, x1) along the last dim. Channel i is paired with
/// channel i + d/2 (not with i+1 as in the interleaved GPT-J / original RoFormer form).
Tensor rotate_half(const Tensor& x);

/// The cos and sin tables of rotary embedding for positions offset .. offset+seq_len-1, each
/// (seq_len, dim): angle(p, i) = p * base^(-2*(i mod dim/2)/dim), i.e. the dim/2 frequencies are
/// repeated for the two halves. Computed in float64 and cast to dtype. dim must be even.
std::pair<Tensor, Tensor> rotary_cos_sin(int64_t seq_len, int64_t dim, double base = 10000.0,
                                         int64_t offset = 0, DType dtype = DType::f32);

/// x * cos + rotate_half(x) * sin on the first cos.size(-1) channels of x (the rest pass through
/// unchanged: partial rotary). x is (..., T, head_dim); cos and sin (T, rot_dim) broadcast to it.
Tensor apply_rotary_pos_emb(const Tensor& x, const Tensor& cos, const Tensor& sin);

/// The "Attention is all you need" table (max_len, d_model):
///   pe[p, 2i] = sin(p / 10000^(2i/d_model)),  pe[p, 2i+1] = cos(p / 10000^(2i/d_model)).
/// Computed in float64 and cast to dtype; odd d_model is allowed (the last column is a sin).
Tensor sinusoidal_position_encoding(int64_t max_len, int64_t d_model, DType dtype = DType::f32);

}  // namespace neural_arch::functional
