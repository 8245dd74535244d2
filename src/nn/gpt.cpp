// GPT: embeddings, pre-norm causal transformer blocks, tied output head.
#include "neural_arch/nn/gpt.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "neural_arch/autograd.hpp"
#include "neural_arch/functional/fused.hpp"
#include "neural_arch/functional/loss.hpp"
#include "neural_arch/functional/normalization.hpp"
#include "neural_arch/nn/init.hpp"
#include "neural_arch/ops.hpp"
#include "neural_arch/optimization/checkpoint.hpp"

namespace neural_arch::nn {

namespace {

void check_config(const GPTConfig& c) {
  NA_CHECK(c.vocab_size > 0 && c.block_size > 0 && c.n_layer >= 0 && c.n_head > 0 && c.n_embd > 0, "GPT",
           "vocab_size, block_size, n_head and n_embd must be positive and n_layer >= 0, got vocab_size=",
           c.vocab_size, ", block_size=", c.block_size, ", n_layer=", c.n_layer, ", n_head=", c.n_head,
           ", n_embd=", c.n_embd);
  NA_CHECK(c.n_embd % c.n_head == 0, "GPT", "n_embd ", c.n_embd, " must be divisible by n_head ", c.n_head);
  NA_CHECK(c.dropout >= 0.0 && c.dropout < 1.0, "GPT", "dropout must be in [0, 1), got ", c.dropout);
}

}  // namespace

// ---------------------------------------------------------------- GPTLayerNorm

GPTLayerNorm::GPTLayerNorm(int64_t n_, bool with_bias, double eps_) : Module("LayerNorm"), n(n_), eps(eps_) {
  weight = register_parameter("weight", ones({n}));
  bias = register_parameter("bias", with_bias ? zeros({n}) : Tensor());
}

Tensor GPTLayerNorm::forward(const Tensor& x) {
  NA_CHECK(x.defined() && x.dim() >= 1 && x.size(-1) == n, "LayerNorm", "expected input with last dim ", n,
           ", got ", x.defined() ? shape_str(x.shape()) : std::string("an undefined tensor"));
  return functional::layer_norm(x, {n}, weight, bias, eps);
}

std::string GPTLayerNorm::extra_repr() const {
  std::ostringstream os;
  os << "(" << n << ",), eps=" << eps << ", bias=" << (bias.defined() ? "true" : "false");
  return os.str();
}

// ---------------------------------------------------------------- GPTMLP, GPTBlock

GPTMLP::GPTMLP(const GPTConfig& c) : Module("MLP") {
  c_fc = register_module("c_fc", std::make_shared<Linear>(c.n_embd, 4 * c.n_embd, c.bias));
  c_proj = register_module("c_proj", std::make_shared<Linear>(4 * c.n_embd, c.n_embd, c.bias));
  dropout = register_module("dropout", std::make_shared<Dropout>(c.dropout));
}

Tensor GPTMLP::forward(const Tensor& x) { return dropout->forward(c_proj->forward(gelu(c_fc->forward(x)))); }

GPTBlock::GPTBlock(const GPTConfig& c) : Module("Block") {
  ln_1 = register_module("ln_1", std::make_shared<GPTLayerNorm>(c.n_embd, c.bias));
  attn = register_module("attn", std::make_shared<MultiheadAttention>(c.n_embd, c.n_head, c.dropout, c.bias,
                                                                      /*batch_first=*/true));
  resid_dropout = register_module("resid_dropout", std::make_shared<Dropout>(c.dropout));
  ln_2 = register_module("ln_2", std::make_shared<GPTLayerNorm>(c.n_embd, c.bias));
  mlp = register_module("mlp", std::make_shared<GPTMLP>(c));
}

Tensor GPTBlock::forward(const Tensor& x) {
  Tensor h = ln_1->forward(x);
  Tensor a = attn->forward(h, h, h, {}, {}, /*need_weights=*/false, /*is_causal=*/true).output;
  // x + resid_dropout(a) in one pass (mask regenerated in backward, not stored).
  Tensor y = functional::bias_dropout_add(a, Tensor(), x, resid_dropout->p, resid_dropout->is_training());
  return y + mlp->forward(ln_2->forward(y));
}

// ---------------------------------------------------------------- GPT

GPT::GPT(const GPTConfig& c) : Module("GPT"), config(c) {
  check_config(c);
  wte = register_module("wte", std::make_shared<Embedding>(c.vocab_size, c.n_embd));
  wpe = register_module("wpe", std::make_shared<Embedding>(c.block_size, c.n_embd));
  drop = register_module("drop", std::make_shared<Dropout>(c.dropout));
  h = register_module("h", std::make_shared<ModuleList>());
  for (int64_t i = 0; i < c.n_layer; ++i) h->push_back(std::make_shared<GPTBlock>(c));
  ln_f = register_module("ln_f", std::make_shared<GPTLayerNorm>(c.n_embd, c.bias));

  // GPT-2 initialisation; the residual projections are scaled down so that the residual stream's
  // variance does not grow with depth.
  const double proj_std = 0.02 / std::sqrt(2.0 * static_cast<double>(std::max<int64_t>(c.n_layer, 1)));
  init::normal_(wte->weight, 0.0, 0.02);
  init::normal_(wpe->weight, 0.0, 0.02);
  for (const auto& m : *h) {
    auto b = std::static_pointer_cast<GPTBlock>(m);
    init::normal_(b->attn->in_proj_weight, 0.0, 0.02);
    init::normal_(b->attn->out_proj->weight, 0.0, proj_std);
    init::normal_(b->mlp->c_fc->weight, 0.0, 0.02);
    init::normal_(b->mlp->c_proj->weight, 0.0, proj_std);
    for (const Tensor& bias :
         {b->attn->in_proj_bias, b->attn->out_proj->bias, b->mlp->c_fc->bias, b->mlp->c_proj->bias})
      if (bias.defined()) init::zeros_(bias);
  }
}

Tensor GPT::forward(const Tensor& idx) {
  NA_CHECK(idx.defined() && idx.dim() == 2, "GPT", "expected token ids of shape (B, T), got ",
           idx.defined() ? shape_str(idx.shape()) : std::string("an undefined tensor"));
  NA_CHECK(idx.dtype() == DType::i64 || idx.dtype() == DType::i32, "GPT",
           "token ids must be int64 or int32, got ", dtype_name(idx.dtype()));
  const int64_t T = idx.size(1);
  NA_CHECK(T <= config.block_size, "GPT", "sequence length ", T, " of input ", shape_str(idx.shape()),
           " exceeds block_size ", config.block_size);
  Tensor x = wte->forward(idx) + wpe->forward(arange(T));
  x = drop->forward(x);
  const bool ckpt = gradient_checkpointing && is_training() && is_grad_enabled();
  for (const auto& m : *h) {
    // The node keeps the block alive (captured handle) until backward has recomputed it.
    x = ckpt ? optimization::checkpoint([m](const Tensor& t) { return m->forward(t); }, x) : m->forward(x);
  }
  x = ln_f->forward(x);
  return linear(x, wte->weight);  // tied output head
}

Tensor GPT::forward(const Tensor& idx, const Tensor& targets) {
  NA_CHECK(targets.defined() && idx.defined() && targets.shape() == idx.shape(), "GPT", "targets of shape ",
           targets.defined() ? shape_str(targets.shape()) : std::string("(undefined)"),
           " must match the token ids' shape ",
           idx.defined() ? shape_str(idx.shape()) : std::string("(undefined)"));
  NA_CHECK(targets.dtype() == DType::i64, "GPT", "targets must be int64 class ids, got ",
           dtype_name(targets.dtype()));
  Tensor logits = forward(idx);
  const int64_t V = config.vocab_size, n = targets.numel();
  try {
    return functional::cross_entropy(logits.reshape({n, V}), targets.reshape({n}));
  } catch (const Error& e) {
    // Prefixed so that a bad target id reads as a GPT error, with cross_entropy's detail kept.
    ::neural_arch::detail::throw_error("GPT", "loss for targets of shape ", shape_str(targets.shape()), ": ",
                                       e.what());
  }
}

Tensor GPT::generate(const Tensor& idx, int64_t max_new_tokens, double temperature, int64_t top_k,
                     Generator* gen) {
  NA_CHECK(idx.defined() && idx.dim() == 2 && idx.dtype() == DType::i64 && idx.size(1) >= 1, "GPT.generate",
           "expected int64 token ids of shape (B, T) with T >= 1, got ",
           idx.defined() ? shape_str(idx.shape()) + " " + dtype_name(idx.dtype())
                         : std::string("an undefined tensor"));
  NA_CHECK(max_new_tokens >= 0, "GPT.generate", "max_new_tokens must be >= 0, got ", max_new_tokens);
  NA_CHECK(temperature >= 0 && std::isfinite(temperature), "GPT.generate",
           "temperature must be finite and >= 0, got ", temperature);
  NA_CHECK(top_k >= 0, "GPT.generate", "top_k must be >= 0, got ", top_k);
  NoGradGuard no_grad;
  Generator& g = gen ? *gen : default_generator();
  const int64_t B = idx.size(0), V = config.vocab_size, k = top_k > 0 ? std::min(top_k, V) : V;
  Tensor out = idx.contiguous();
  std::vector<std::pair<float, int64_t>> cand(static_cast<size_t>(V));
  std::vector<double> p(static_cast<size_t>(k));
  for (int64_t s = 0; s < max_new_tokens; ++s) {
    const int64_t T = out.size(1), t0 = std::max<int64_t>(0, T - config.block_size);
    const Tensor logits =
        forward(out.narrow(1, t0, T - t0)).select(1, T - t0 - 1).to(DType::f32).contiguous();
    const float* lp = logits.data_ptr<float>();
    std::vector<int64_t> next(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t v = 0; v < V; ++v) cand[static_cast<size_t>(v)] = {lp[b * V + v], v};
      // Largest first; ties keep the lower id first, so top_k and greedy are deterministic.
      auto by_logit = [](const auto& a, const auto& c) {
        return a.first > c.first || (a.first == c.first && a.second < c.second);
      };
      std::partial_sort(cand.begin(), cand.begin() + k, cand.end(), by_logit);
      if (temperature == 0) {
        next[static_cast<size_t>(b)] = cand[0].second;
        continue;
      }
      double total = 0;
      for (int64_t i = 0; i < k; ++i) {
        p[static_cast<size_t>(i)] = std::exp(
            (static_cast<double>(cand[static_cast<size_t>(i)].first) - static_cast<double>(cand[0].first)) /
            temperature);
        total += p[static_cast<size_t>(i)];
      }
      // Inverse-CDF sampling with a 53-bit uniform from the generator.
      double u = static_cast<double>(g.engine()() >> 11) * 0x1.0p-53 * total;
      int64_t pick = k - 1;
      for (int64_t i = 0; i < k; ++i) {
        u -= p[static_cast<size_t>(i)];
        if (u < 0) {
          pick = i;
          break;
        }
      }
      next[static_cast<size_t>(b)] = cand[static_cast<size_t>(pick)].second;
    }
    out = cat({out, tensor(next).reshape({B, 1})}, 1);
  }
  return out;
}

std::string GPT::extra_repr() const {
  std::ostringstream os;
  os << "vocab_size=" << config.vocab_size << ", block_size=" << config.block_size
     << ", n_layer=" << config.n_layer << ", n_head=" << config.n_head << ", n_embd=" << config.n_embd
     << ", dropout=" << config.dropout << ", bias=" << (config.bias ? "true" : "false");
  return os.str();
}

}  // namespace neural_arch::nn
