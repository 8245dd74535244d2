// MultiheadAttention, RotaryEmbedding, SinusoidalPositionalEncoding: modules over
// functional/attention.cpp.
#include "neural_arch/nn/attention.hpp"

#include <sstream>
#include <tuple>

#include "neural_arch/autograd.hpp"
#include "neural_arch/functional/attention.hpp"
#include "neural_arch/nn/init.hpp"
#include "neural_arch/ops.hpp"

namespace neural_arch::nn {

// ---------------------------------------------------------------- MultiheadAttention

MultiheadAttention::MultiheadAttention(int64_t embed_dim_, int64_t num_heads_, double dropout_, bool bias,
                                       bool batch_first_)
    : Module("MultiheadAttention"),
      embed_dim(embed_dim_),
      num_heads(num_heads_),
      head_dim(0),
      dropout(dropout_),
      batch_first(batch_first_) {
  NA_CHECK(embed_dim > 0 && num_heads > 0, "MultiheadAttention",
           "embed_dim and num_heads must be positive, got ", embed_dim, " and ", num_heads);
  NA_CHECK(embed_dim % num_heads == 0, "MultiheadAttention", "embed_dim ", embed_dim,
           " must be divisible by num_heads ", num_heads);
  NA_CHECK(dropout >= 0.0 && dropout < 1.0, "MultiheadAttention", "dropout must be in [0, 1), got ", dropout);
  head_dim = embed_dim / num_heads;
  in_proj_weight = register_parameter("in_proj_weight", empty({3 * embed_dim, embed_dim}));
  in_proj_bias = register_parameter("in_proj_bias", bias ? empty({3 * embed_dim}) : Tensor());
  out_proj = register_module("out_proj", std::make_shared<Linear>(embed_dim, embed_dim, bias));
  reset_parameters();
}

void MultiheadAttention::reset_parameters() {
  init::xavier_uniform_(in_proj_weight);
  if (in_proj_bias.defined()) init::zeros_(in_proj_bias);
  if (out_proj->bias.defined()) init::zeros_(out_proj->bias);
}

MultiheadAttentionOutput MultiheadAttention::forward(const Tensor& query, const Tensor& key,
                                                     const Tensor& value, const Tensor& key_padding_mask,
                                                     const Tensor& attn_mask, bool need_weights,
                                                     bool is_causal, bool average_attn_weights) {
  const char* op = "MultiheadAttention";
  NA_CHECK(query.defined() && key.defined() && value.defined(), op,
           "query, key and value must be defined tensors");
  NA_CHECK(query.dtype() == in_proj_weight.dtype() && key.dtype() == query.dtype() &&
               value.dtype() == query.dtype(),
           op, "query, key and value must have the parameters' dtype ", dtype_name(in_proj_weight.dtype()),
           ", got ", dtype_name(query.dtype()), ", ", dtype_name(key.dtype()), " and ",
           dtype_name(value.dtype()), " (convert the inputs, or the module with to(dtype))");
  // Checked here, before the batch_first transpose, so that errors show the caller's shapes.
  NA_CHECK(query.dim() == 3 || query.dim() == 2, op,
           "query must be 3-D (batched) or 2-D (unbatched), got shape ", shape_str(query.shape()));
  NA_CHECK(query.size(-1) == embed_dim, op, "expected query with embed_dim ", embed_dim,
           " in its last dim, got shape ", shape_str(query.shape()));
  NA_CHECK(key.shape() == value.shape(), op, "key shape ", shape_str(key.shape()),
           " does not match value shape ", shape_str(value.shape()));
  NA_CHECK(key.dim() == query.dim() && key.size(-1) == embed_dim, op, "expected key and value with ",
           query.dim(), " dims and embed_dim ", embed_dim, " in their last dim (like query ",
           shape_str(query.shape()), "), got ", shape_str(key.shape()));
  if (query.dim() == 3) {
    const int64_t bdim = batch_first ? 0 : 1;
    NA_CHECK(key.size(bdim) == query.size(bdim), op, "query ", shape_str(query.shape()), " and key ",
             shape_str(key.shape()), " have different batch sizes (dim ", bdim, ")");
  }
  // torch.nn.MultiheadAttention's batch_first only swaps the first two dims of 3-D inputs.
  const bool swap = batch_first && query.dim() == 3;
  auto seq_first = [&](const Tensor& t) { return swap && t.dim() == 3 ? t.transpose(0, 1) : t; };
  const bool self_attention = query.is_same(key) && key.is_same(value);
  Tensor q = seq_first(query);
  Tensor k = self_attention ? q : seq_first(key);
  Tensor v = self_attention ? q : seq_first(value);

  functional::MultiheadAttentionOptions o;
  o.key_padding_mask = key_padding_mask;
  o.attn_mask = attn_mask;
  o.is_causal = is_causal;
  o.need_weights = need_weights;
  o.average_attn_weights = average_attn_weights;
  o.dropout_p = dropout;
  o.training = is_training();
  o.op_name = op;
  auto [out, w] = functional::multi_head_attention_forward(q, k, v, num_heads, in_proj_weight, in_proj_bias,
                                                           out_proj->weight, out_proj->bias, o);
  return {swap ? out.transpose(0, 1) : out, w};
}

Tensor MultiheadAttention::forward(const Tensor& x) { return forward(x, x, x, {}, {}, false).output; }

std::string MultiheadAttention::extra_repr() const {
  std::ostringstream os;
  os << "embed_dim=" << embed_dim << ", num_heads=" << num_heads << ", dropout=" << dropout
     << ", bias=" << (in_proj_bias.defined() ? "true" : "false")
     << ", batch_first=" << (batch_first ? "true" : "false");
  return os.str();
}

// ---------------------------------------------------------------- RotaryEmbedding

RotaryEmbedding::RotaryEmbedding(int64_t dim_, int64_t max_seq_len_, double base_)
    : Module("RotaryEmbedding"), dim(dim_), max_seq_len(max_seq_len_), base(base_) {
  NA_CHECK(dim > 0 && dim % 2 == 0, "RotaryEmbedding", "dim must be positive and even, got ", dim);
  NA_CHECK(max_seq_len > 0, "RotaryEmbedding", "max_seq_len must be positive, got ", max_seq_len);
  NA_CHECK(base > 0, "RotaryEmbedding", "base must be positive, got ", base);
  std::tie(cos_, sin_) = functional::rotary_cos_sin(max_seq_len, dim, base, 0, DType::f64);
}

Tensor RotaryEmbedding::forward(const Tensor& x, int64_t offset) {
  NA_CHECK(x.defined() && x.dim() >= 2, "RotaryEmbedding", "expected input (..., T, head_dim), got ",
           x.defined() ? shape_str(x.shape()) : std::string("an undefined tensor"));
  NA_CHECK(x.size(-1) >= dim, "RotaryEmbedding", "input of shape ", shape_str(x.shape()), " has head_dim ",
           x.size(-1), " smaller than the rotary dim ", dim);
  const int64_t T = x.size(-2);
  NA_CHECK(offset >= 0 && offset + T <= max_seq_len, "RotaryEmbedding", "positions ", offset, "..",
           offset + T - 1, " of input ", shape_str(x.shape()), " exceed max_seq_len ", max_seq_len);
  Tensor c = cos_.narrow(0, offset, T), s = sin_.narrow(0, offset, T);
  return functional::apply_rotary_pos_emb(x, c, s);
}

std::pair<Tensor, Tensor> RotaryEmbedding::forward(const Tensor& q, const Tensor& k, int64_t offset) {
  return {forward(q, offset), forward(k, offset)};
}

std::string RotaryEmbedding::extra_repr() const {
  std::ostringstream os;
  os << "dim=" << dim << ", max_seq_len=" << max_seq_len << ", base=" << base;
  return os.str();
}

// ---------------------------------------------------------------- SinusoidalPositionalEncoding

SinusoidalPositionalEncoding::SinusoidalPositionalEncoding(int64_t d_model_, int64_t max_len_,
                                                           double dropout_, bool batch_first_)
    : Module("SinusoidalPositionalEncoding"),
      d_model(d_model_),
      max_len(max_len_),
      dropout(dropout_),
      batch_first(batch_first_) {
  NA_CHECK(d_model > 0 && max_len > 0, "SinusoidalPositionalEncoding",
           "d_model and max_len must be positive, got ", d_model, " and ", max_len);
  NA_CHECK(dropout >= 0.0 && dropout <= 1.0, "SinusoidalPositionalEncoding",
           "dropout must be in [0, 1], got ", dropout);
  pe = register_buffer("pe", functional::sinusoidal_position_encoding(max_len, d_model));
}

Tensor SinusoidalPositionalEncoding::forward(const Tensor& x) {
  const char* op = "SinusoidalPositionalEncoding";
  NA_CHECK(x.defined() && (x.dim() == 2 || x.dim() == 3) && x.size(-1) == d_model, op,
           "expected input (N, T, ", d_model, "), (T, N, ", d_model, ") or (T, ", d_model, "), got ",
           x.defined() ? shape_str(x.shape()) : std::string("an undefined tensor"));
  NA_CHECK(is_floating(x.dtype()), op, "expected a floating input, got ", dtype_name(x.dtype()));
  const int64_t seq_dim = x.dim() == 3 && batch_first ? 1 : 0;
  const int64_t T = x.size(seq_dim);
  NA_CHECK(T <= max_len, op, "sequence length ", T, " of input ", shape_str(x.shape()), " exceeds max_len ",
           max_len);
  Tensor table = pe.narrow(0, 0, T);
  if (table.dtype() != x.dtype()) table = table.to(x.dtype());
  if (x.dim() == 3 && !batch_first) table = table.unsqueeze(1);  // (T, 1, d) against (T, N, d)
  return neural_arch::dropout(x + table, dropout, is_training());
}

void SinusoidalPositionalEncoding::on_dtype_changed(DType dtype) {
  NoGradGuard no_grad;
  pe.set_data(functional::sinusoidal_position_encoding(max_len, d_model, dtype));
}

std::string SinusoidalPositionalEncoding::extra_repr() const {
  std::ostringstream os;
  os << "d_model=" << d_model << ", max_len=" << max_len << ", dropout=" << dropout
     << ", batch_first=" << (batch_first ? "true" : "false");
  return os.str();
}

}  // namespace neural_arch::nn
