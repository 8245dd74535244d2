// Attention. scaled_dot_product_attention without a mask (or causal) and without dropout runs the
// blocked kernel of nn_kernels_isa.cpp (FlashAttention's scheme: online softmax over key blocks,
// only the output and per-row log-sum-exp saved, backward recomputing block scores), for f32,
// f64 and f16/bf16 (stored narrow, computed in f32, lse kept in f32; what autocast gives). Everything
// else, and double backward, uses the composition of public ops (matmul, softmax, masked_fill,
// dropout) below, which is also the reference the kernel is tested against.
#include "neural_arch/functional/attention.hpp"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "autograd/function.hpp"
#include "backends/cpu/nn_kernels.hpp"
#include "core/factory.hpp"
#include "neural_arch/autograd.hpp"
#include "neural_arch/functional/fused.hpp"
#include "neural_arch/ops.hpp"
#include "optimization/autocast_hook.hpp"

namespace neural_arch::functional {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

Shape batch_dims(const Tensor& t) { return Shape(t.shape().begin(), t.shape().end() - 2); }

// Key position j is visible from query position i when j <= i (torch's tril on an (L, S) grid).
Tensor causal_keep_mask(int64_t L, int64_t S) {
  Tensor i = arange(L).unsqueeze(1);
  Tensor j = arange(S).unsqueeze(0);
  return ge(i, j);
}

// ------------------------------------------------------------------ blocked kernel

// Per-head element offsets of a (..., rows, features) view whose batch dims are `batch`.
std::vector<int64_t> head_offsets(const Tensor& t, int64_t heads) {
  std::vector<int64_t> off(static_cast<size_t>(heads));
  const int64_t nb = t.dim() - 2;
  for (int64_t h = 0; h < heads; ++h) {
    int64_t rem = h, o = 0;
    for (int64_t d = nb - 1; d >= 0; --d) {
      o += (rem % t.size(d)) * t.stride(d);
      rem /= t.size(d);
    }
    off[static_cast<size_t>(h)] = o;
  }
  return off;
}

// A view the kernel can read in place: unit feature stride. Anything else is copied.
Tensor kernel_view(const Tensor& t) { return t.stride(-1) == 1 && t.size(-1) > 0 ? t : t.contiguous(); }

template <class T>
void run_attention(bool backward, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& o,
                   const Tensor& lse, const Tensor& dout, const Tensor& dq, const Tensor& dk,
                   const Tensor& dv, bool causal, double scale) {
  cpu::AttentionArgs<T> a;
  a.L = q.size(-2), a.S = k.size(-2), a.D = q.size(-1), a.Dv = v.size(-1);
  a.batch = a.L ? q.numel() / (a.L * a.D) : 0;
  const auto qo = head_offsets(q, a.batch), ko = head_offsets(k, a.batch), vo = head_offsets(v, a.batch);
  a.q = q.data_ptr<T>(), a.k = k.data_ptr<T>(), a.v = v.data_ptr<T>();
  a.q_off = qo.data(), a.k_off = ko.data(), a.v_off = vo.data();
  a.q_row = q.stride(-2), a.k_row = k.stride(-2), a.v_row = v.stride(-2);
  a.o = o.data_ptr<T>(), a.lse = lse.data_ptr<cpu::attention_compute_t<T>>();
  a.scale = scale, a.causal = causal;
  if (!backward) return cpu::nn_kernels_for<T>().attention_forward(a);
  a.dout = dout.data_ptr<T>();
  a.dq = dq.data_ptr<T>(), a.dk = dk.data_ptr<T>(), a.dv = dv.data_ptr<T>();
  cpu::nn_kernels_for<T>().attention_backward(a);
}

// run_attention for the tensors' dtype (one of the four blocked_kernel_covers accepts).
void run_attention_for(bool backward, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& o,
                       const Tensor& lse, const Tensor& dout, const Tensor& dq, const Tensor& dk,
                       const Tensor& dv, bool causal, double scale) {
  switch (q.dtype()) {
    case DType::f32: return run_attention<float>(backward, q, k, v, o, lse, dout, dq, dk, dv, causal, scale);
    case DType::f64: return run_attention<double>(backward, q, k, v, o, lse, dout, dq, dk, dv, causal, scale);
    case DType::f16: return run_attention<Half>(backward, q, k, v, o, lse, dout, dq, dk, dv, causal, scale);
    default: return run_attention<BFloat16>(backward, q, k, v, o, lse, dout, dq, dk, dv, causal, scale);
  }
}

// The composed backward (differentiable, for double backward): P recomputed from q and k.
std::vector<Tensor> composed_attention_backward(const Tensor& q, const Tensor& k, const Tensor& v,
                                                const Tensor& g, bool causal, double sc) {
  Tensor s = matmul(q, k.transpose(-2, -1)) * sc;
  if (causal) s = masked_fill(s, logical_not(causal_keep_mask(q.size(-2), k.size(-2))), kNegInf);
  Tensor p = softmax(s, -1);
  Tensor dv = matmul(p.transpose(-2, -1), g);
  Tensor dp = matmul(g, v.transpose(-2, -1));
  Tensor ds = p * (dp - sum(dp * p, {-1}, true)) * sc;
  return {matmul(ds, k), matmul(ds.transpose(-2, -1), q), dv};
}

// Whether the blocked kernel covers the call: a floating dtype, the same batch dims for q, k and v
// (broadcast K/V would race on their gradients), no mask beyond causal, no dropout, no weights.
bool blocked_kernel_covers(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                           double dropout_p, bool need_weights) {
  return fused_kernels_enabled() && !mask.defined() && dropout_p == 0.0 && !need_weights &&
         is_floating(q.dtype()) && batch_dims(q) == batch_dims(k) && batch_dims(q) == batch_dims(v) &&
         q.size(-1) > 0 && v.size(-1) > 0 && k.size(-2) > 0 && q.numel() > 0;
}

Tensor sdpa_blocked(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, bool causal, double sc) {
  Tensor q, k, v;
  {
    NoGradGuard ng;
    q = kernel_view(q_in), k = kernel_view(k_in), v = kernel_view(v_in);
  }
  const int64_t L = q.size(-2);
  Shape oshape = q.shape();
  oshape.back() = v.size(-1);
  Shape lshape = batch_dims(q);
  lshape.push_back(L);
  Tensor o = detail::make_tensor(oshape, q.dtype());
  // lse in the compute type: f32 for f16/bf16, so backward recomputes P from an unrounded lse.
  Tensor lse = detail::make_tensor(lshape, q.dtype() == DType::f64 ? DType::f64 : DType::f32);
  run_attention_for(false, q, k, v, o, lse, {}, {}, {}, {}, causal, sc);
  if (autograd::needs_grad({q_in, k_in, v_in})) {
    using autograd::SavedTensor;
    autograd::record(
        "ScaledDotProductAttentionBackward", {q_in, k_in, v_in}, {o},
        [q_ = SavedTensor(q_in), k_ = SavedTensor(k_in), v_ = SavedTensor(v_in), o_ = SavedTensor(o, true),
         lse_ = SavedTensor(lse), causal, sc](const std::vector<Tensor>& g) {
          Tensor qq = q_.unpack(), kk = k_.unpack(), vv = v_.unpack();
          if (is_grad_enabled()) return composed_attention_backward(qq, kk, vv, g[0], causal, sc);
          qq = kernel_view(qq), kk = kernel_view(kk), vv = kernel_view(vv);
          // Backward runs in the forward's dtype (bf16 gradients for bf16 inputs), whatever g's.
          Tensor dout = (g[0].dtype() == qq.dtype() ? g[0] : g[0].to(qq.dtype())).contiguous();
          Tensor dq = detail::make_tensor(qq.shape(), qq.dtype());
          Tensor dk = detail::make_tensor(kk.shape(), kk.dtype());
          Tensor dv = detail::make_tensor(vv.shape(), vv.dtype());
          run_attention_for(true, qq, kk, vv, o_.unpack(), lse_.unpack(), dout, dq, dk, dv, causal, sc);
          return std::vector<Tensor>{dq, dk, dv};
        });
  }
  return o;
}

// ------------------------------------------------------------------ entry point

AttentionOutput sdpa_impl(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                          double dropout_p, bool is_causal, std::optional<double> scale, Generator* gen,
                          bool need_weights) {
  const char* op = "scaled_dot_product_attention";
  NA_CHECK(q.defined() && k.defined() && v.defined(), op, "query, key and value must be defined tensors");
  NA_CHECK(q.dim() >= 2 && k.dim() >= 2 && v.dim() >= 2, op,
           "query, key and value need at least 2 dims (..., seq, features), got shapes ",
           shape_str(q.shape()), ", ", shape_str(k.shape()), " and ", shape_str(v.shape()));
  NA_CHECK(is_floating(q.dtype()) && q.dtype() == k.dtype() && q.dtype() == v.dtype(), op,
           "query, key and value must share one floating dtype, got ", dtype_name(q.dtype()), ", ",
           dtype_name(k.dtype()), " and ", dtype_name(v.dtype()));
  NA_CHECK(q.size(-1) == k.size(-1), op, "query ", shape_str(q.shape()), " and key ", shape_str(k.shape()),
           " must have the same last (embedding) dim");
  NA_CHECK(k.size(-2) == v.size(-2), op, "key ", shape_str(k.shape()), " and value ", shape_str(v.shape()),
           " must have the same sequence length (dim -2)");
  NA_CHECK(dropout_p >= 0.0 && dropout_p < 1.0, op, "dropout_p must be in [0, 1), got ", dropout_p);
  NA_CHECK(!(is_causal && mask.defined()), op,
           "is_causal and an explicit attn_mask cannot both be given (fold the causal mask into attn_mask)");

  const int64_t L = q.size(-2), S = k.size(-2);
  Shape batch = broadcast_shapes(broadcast_shapes(batch_dims(q), batch_dims(k), op), batch_dims(v), op);
  Shape score_shape = batch;
  score_shape.push_back(L);
  score_shape.push_back(S);

  const double sc = scale ? *scale : 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  if (blocked_kernel_covers(q, k, v, mask, dropout_p, need_weights))
    return {sdpa_blocked(q, k, v, is_causal, sc), {}};
  Tensor scores = matmul(q, k.transpose(-2, -1)) * sc;
  if (scores.shape() != score_shape) scores = scores.expand(score_shape);  // q, k batch dims < v's

  if (is_causal) scores = masked_fill(scores, logical_not(causal_keep_mask(L, S)), kNegInf);
  if (mask.defined()) {
    NA_CHECK(mask.dtype() == DType::boolean || is_floating(mask.dtype()), op,
             "attn_mask must be bool or floating, got ", dtype_name(mask.dtype()));
    bool fits = mask.dim() <= static_cast<int64_t>(score_shape.size());
    if (fits) {
      try {
        fits = broadcast_shapes(mask.shape(), score_shape, op) == score_shape;
      } catch (const Error&) {
        fits = false;
      }
    }
    NA_CHECK(fits, op, "attn_mask of shape ", shape_str(mask.shape()),
             " cannot be broadcast to the attention scores' shape ", shape_str(score_shape), " (..., L=", L,
             ", S=", S, ")");
    if (mask.dtype() == DType::boolean)
      scores = masked_fill(scores, logical_not(mask), kNegInf);
    else
      scores = scores + (mask.dtype() == scores.dtype() ? mask : mask.to(scores.dtype()));
  }

  Tensor weights = softmax(scores, -1);
  if (dropout_p > 0.0) weights = dropout(weights, dropout_p, /*training=*/true, gen);
  return {matmul(weights, v), weights};
}

std::string dims_str(std::initializer_list<int64_t> dims) { return shape_str(Shape(dims)); }

// A key-padding or attention mask as an additive float mask of dtype t (bool true -> -inf).
Tensor additive_mask(const Tensor& m, DType t) {
  if (m.dtype() == DType::boolean) return masked_fill(zeros(m.shape(), t), m, kNegInf);
  return m.dtype() == t ? m : m.to(t);
}

}  // namespace

Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                    const Tensor& attn_mask, double dropout_p, bool is_causal,
                                    std::optional<double> scale, Generator* gen) {
  if (optimization::detail::AutocastCall ac{"scaled_dot_product_attention", query, key, value})
    return scaled_dot_product_attention(ac[0], ac[1], ac[2], attn_mask, dropout_p, is_causal, scale, gen);
  return sdpa_impl(query, key, value, attn_mask, dropout_p, is_causal, scale, gen, false).output;
}

AttentionOutput scaled_dot_product_attention_with_weights(const Tensor& query, const Tensor& key,
                                                          const Tensor& value, const Tensor& attn_mask,
                                                          double dropout_p, bool is_causal,
                                                          std::optional<double> scale, Generator* gen) {
  return sdpa_impl(query, key, value, attn_mask, dropout_p, is_causal, scale, gen, true);
}

std::pair<Tensor, Tensor> multi_head_attention_forward(
    const Tensor& query_in, const Tensor& key_in, const Tensor& value_in, int64_t num_heads,
    const Tensor& in_proj_weight, const Tensor& in_proj_bias, const Tensor& out_proj_weight,
    const Tensor& out_proj_bias, const MultiheadAttentionOptions& o) {
  const char* op = o.op_name;
  NA_CHECK(query_in.defined() && key_in.defined() && value_in.defined(), op,
           "query, key and value must be defined tensors");
  NA_CHECK(in_proj_weight.defined() && in_proj_weight.dim() == 2 &&
               in_proj_weight.size(0) == 3 * in_proj_weight.size(1),
           op, "in_proj_weight must be (3*embed_dim, embed_dim), got ",
           in_proj_weight.defined() ? shape_str(in_proj_weight.shape()) : std::string("an undefined tensor"));
  const int64_t E = in_proj_weight.size(1);
  NA_CHECK(num_heads > 0 && E % num_heads == 0, op, "embed_dim ", E, " must be divisible by num_heads ",
           num_heads);
  const int64_t H = num_heads, D = E / num_heads;

  const bool batched = query_in.dim() == 3;
  NA_CHECK(query_in.dim() == 3 || query_in.dim() == 2, op,
           "query must be 3-D (batched) or 2-D (unbatched), got shape ", shape_str(query_in.shape()));
  NA_CHECK(key_in.dim() == query_in.dim() && value_in.dim() == query_in.dim(), op, "for a ", query_in.dim(),
           "-D query ", shape_str(query_in.shape()), ", key and value must be ", query_in.dim(),
           "-D too, got ", shape_str(key_in.shape()), " and ", shape_str(value_in.shape()));
  NA_CHECK(query_in.size(-1) == E, op, "expected query with embed_dim ", E, " in its last dim, got shape ",
           shape_str(query_in.shape()));
  NA_CHECK(key_in.shape() == value_in.shape(), op, "key shape ", shape_str(key_in.shape()),
           " does not match value shape ", shape_str(value_in.shape()));
  NA_CHECK(key_in.size(-1) == E, op, "expected key and value with embed_dim ", E,
           " in their last dim, got shape ", shape_str(key_in.shape()));
  if (batched)
    NA_CHECK(key_in.size(1) == query_in.size(1), op, "query ", shape_str(query_in.shape()), " and key ",
             shape_str(key_in.shape()),
             " have different batch sizes (dim 1 in the (seq, batch, embed) layout)");

  Tensor query = batched ? query_in : query_in.unsqueeze(1);
  Tensor key = batched ? key_in : key_in.unsqueeze(1);
  Tensor value = batched ? value_in : value_in.unsqueeze(1);
  const int64_t L = query.size(0), N = query.size(1), S = key.size(0);
  const DType t = query.dtype();

  // Masks become one additive float mask broadcastable to (N, H, L, S).
  Tensor mask;
  if (o.attn_mask.defined()) {
    const Tensor& m = o.attn_mask;
    NA_CHECK(m.dtype() == DType::boolean || is_floating(m.dtype()), op,
             "attn_mask must be bool or floating, got ", dtype_name(m.dtype()));
    if (m.dim() == 2) {
      NA_CHECK(m.size(0) == L && m.size(1) == S, op, "the 2-D attn_mask has shape ", shape_str(m.shape()),
               " but should be (L, S) = ", dims_str({L, S}), " (L: query length, S: key length)");
      mask = additive_mask(m, t).view({1, 1, L, S});
    } else if (m.dim() == 3) {
      NA_CHECK(m.size(0) == N * H && m.size(1) == L && m.size(2) == S, op, "the 3-D attn_mask has shape ",
               shape_str(m.shape()), " but should be (N*num_heads, L, S) = ", dims_str({N * H, L, S}),
               " (batch ", N, ", ", H, " heads, query length L, key length S)");
      mask = additive_mask(m, t).reshape({N, H, L, S});
    } else {
      ::neural_arch::detail::throw_error(
          op, "attn_mask must be 2-D (L, S) or 3-D (N*num_heads, L, S), got shape ", shape_str(m.shape()));
    }
  }
  // Causal alone goes to sdpa as is_causal (the blocked kernel skips masked blocks); combined
  // with a key padding mask it becomes part of the additive mask.
  bool causal = false;
  if (!o.attn_mask.defined() && o.is_causal) {
    if (o.key_padding_mask.defined())
      mask = additive_mask(logical_not(causal_keep_mask(L, S)), t).view({1, 1, L, S});
    else
      causal = true;
  }
  if (o.key_padding_mask.defined()) {
    const Tensor& m = o.key_padding_mask;
    NA_CHECK(m.dtype() == DType::boolean || is_floating(m.dtype()), op,
             "key_padding_mask must be bool or floating, got ", dtype_name(m.dtype()));
    const Shape want = batched ? Shape{N, S} : Shape{S};
    NA_CHECK(m.shape() == want, op, "key_padding_mask has shape ", shape_str(m.shape()), " but should be ",
             shape_str(want), batched ? " (N, S): batch size and key length" : " (S): the key length");
    Tensor kpm = additive_mask(m, t).reshape({N, 1, 1, S});
    mask = mask.defined() ? mask + kpm : kpm;
  }

  // Projections: one GEMM when query, key and value are the same tensor (self-attention).
  Tensor q, k, v;
  if (query_in.is_same(key_in) && key_in.is_same(value_in)) {
    std::vector<Tensor> qkv = linear(query, in_proj_weight, in_proj_bias).chunk(3, -1);
    q = qkv[0], k = qkv[1], v = qkv[2];
  } else {
    auto part = [&](const Tensor& x, int64_t i) {
      Tensor b = in_proj_bias.defined() ? in_proj_bias.narrow(0, i * E, E) : Tensor();
      return linear(x, in_proj_weight.narrow(0, i * E, E), b);
    };
    q = part(query, 0), k = part(key, 1), v = part(value, 2);
  }
  // (seq, N, E) -> (N, H, seq, D)
  q = q.reshape({L, N, H, D}).permute({1, 2, 0, 3});
  k = k.reshape({S, N, H, D}).permute({1, 2, 0, 3});
  v = v.reshape({S, N, H, D}).permute({1, 2, 0, 3});

  AttentionOutput a =
      sdpa_impl(q, k, v, mask, o.training ? o.dropout_p : 0.0, causal, std::nullopt, o.gen, o.need_weights);
  Tensor out = a.output.permute({2, 0, 1, 3}).reshape({L, N, E});
  out = linear(out, out_proj_weight, out_proj_bias);

  Tensor w;
  if (o.need_weights) {
    w = o.average_attn_weights ? a.weights.mean({1}) : a.weights;  // (N, L, S) or (N, H, L, S)
    if (!batched) w = w.squeeze(0);
  }
  if (!batched) out = out.squeeze(1);
  return {out, w};
}

Tensor rotate_half(const Tensor& x) {
  NA_CHECK(x.defined() && x.dim() >= 1 && x.size(-1) % 2 == 0, "rotate_half",
           "expected a tensor whose last dim is even, got shape ",
           x.defined() ? shape_str(x.shape()) : std::string("undefined"));
  const int64_t h = x.size(-1) / 2;
  return cat({neg(x.narrow(-1, h, h)), x.narrow(-1, 0, h)}, -1);
}

std::pair<Tensor, Tensor> rotary_cos_sin(int64_t seq_len, int64_t dim, double base, int64_t offset,
                                         DType dtype) {
  NA_CHECK(dim > 0 && dim % 2 == 0, "rotary_cos_sin", "rotary dim must be positive and even, got ", dim);
  NA_CHECK(seq_len >= 0 && offset >= 0, "rotary_cos_sin", "seq_len and offset must be >= 0, got ", seq_len,
           " and ", offset);
  NA_CHECK(base > 0, "rotary_cos_sin", "base must be positive, got ", base);
  NA_CHECK(is_floating(dtype), "rotary_cos_sin", "dtype must be floating, got ", dtype_name(dtype));
  const int64_t h = dim / 2;
  std::vector<double> c(static_cast<size_t>(seq_len * dim)), s(c.size());
  for (int64_t p = 0; p < seq_len; ++p)
    for (int64_t i = 0; i < h; ++i) {
      const double angle =
          static_cast<double>(p + offset) * std::pow(base, -2.0 * static_cast<double>(i) / dim);
      const double ca = std::cos(angle), sa = std::sin(angle);
      c[p * dim + i] = c[p * dim + i + h] = ca;
      s[p * dim + i] = s[p * dim + i + h] = sa;
    }
  return {tensor(c, Shape{seq_len, dim}, TensorOptions(DType::f64)).to(dtype),
          tensor(s, Shape{seq_len, dim}, TensorOptions(DType::f64)).to(dtype)};
}

Tensor apply_rotary_pos_emb(const Tensor& x, const Tensor& cos, const Tensor& sin) {
  const char* op = "apply_rotary_pos_emb";
  NA_CHECK(x.defined() && cos.defined() && sin.defined(), op, "x, cos and sin must be defined tensors");
  NA_CHECK(is_floating(x.dtype()), op, "x must be floating, got ", dtype_name(x.dtype()));
  NA_CHECK(cos.shape() == sin.shape(), op, "cos ", shape_str(cos.shape()), " and sin ",
           shape_str(sin.shape()), " must have the same shape");
  NA_CHECK(x.dim() >= 1 && cos.dim() >= 1, op, "x and cos need at least one dim, got shapes ",
           shape_str(x.shape()), " and ", shape_str(cos.shape()));
  const int64_t rot = cos.size(-1), d = x.size(-1);
  NA_CHECK(rot % 2 == 0 && rot <= d, op,
           "the rotary dim (cos/sin last dim) must be even and <= the head dim of x, got ", rot,
           " for x of shape ", shape_str(x.shape()));
  Tensor xr = rot == d ? x : x.narrow(-1, 0, rot);
  bool fits = cos.dim() <= xr.dim();
  if (fits) {
    try {
      fits = broadcast_shapes(cos.shape(), xr.shape(), op) == xr.shape();
    } catch (const Error&) {
      fits = false;
    }
  }
  NA_CHECK(fits, op, "cos/sin of shape ", shape_str(cos.shape()), " cannot be broadcast to x's rotated part ",
           shape_str(xr.shape()), " (x is (..., T, head_dim) and cos/sin (T, rot_dim))");
  Tensor c = cos.dtype() == x.dtype() ? cos : cos.to(x.dtype());
  Tensor s = sin.dtype() == x.dtype() ? sin : sin.to(x.dtype());
  Tensor y = xr * c + rotate_half(xr) * s;
  return rot == d ? y : cat({y, x.narrow(-1, rot, d - rot)}, -1);
}

Tensor sinusoidal_position_encoding(int64_t max_len, int64_t d_model, DType dtype) {
  NA_CHECK(max_len >= 0 && d_model > 0, "sinusoidal_position_encoding",
           "max_len must be >= 0 and d_model > 0, got ", max_len, " and ", d_model);
  NA_CHECK(is_floating(dtype), "sinusoidal_position_encoding", "dtype must be floating, got ",
           dtype_name(dtype));
  std::vector<double> pe(static_cast<size_t>(max_len * d_model));
  for (int64_t p = 0; p < max_len; ++p)
    for (int64_t c = 0; c < d_model; ++c) {
      const int64_t two_i = c - c % 2;
      const double angle = static_cast<double>(p) * std::pow(10000.0, -static_cast<double>(two_i) / d_model);
      pe[p * d_model + c] = c % 2 == 0 ? std::sin(angle) : std::cos(angle);
    }
  return tensor(pe, Shape{max_len, d_model}, TensorOptions(DType::f64)).to(dtype);
}

}  // namespace neural_arch::functional
