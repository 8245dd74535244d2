// TransformerEncoderLayer: the composition of torch.nn.TransformerEncoderLayer.forward.
// Each residual branch ends in functional::bias_dropout_add (dropout and the residual add in one
// pass, mask regenerated in backward); in eval mode that is the plain sum, as in torch.
#include "neural_arch/nn/transformer.hpp"

#include <sstream>

#include "neural_arch/autograd.hpp"
#include "neural_arch/functional/fused.hpp"
#include "neural_arch/ops.hpp"
#include "neural_arch/optimization/checkpoint.hpp"

namespace neural_arch::nn {

TransformerEncoderLayer::TransformerEncoderLayer(int64_t d_model_, int64_t nhead_, int64_t dim_feedforward_,
                                                 double dropout_p, const std::string& activation_,
                                                 double layer_norm_eps, bool batch_first_, bool norm_first_)
    : Module("TransformerEncoderLayer"),
      d_model(d_model_),
      nhead(nhead_),
      dim_feedforward(dim_feedforward_),
      activation(activation_),
      batch_first(batch_first_),
      norm_first(norm_first_) {
  NA_CHECK(activation == "relu" || activation == "gelu", "TransformerEncoderLayer",
           "activation should be \"relu\" or \"gelu\", got \"", activation, "\"");
  NA_CHECK(dim_feedforward > 0, "TransformerEncoderLayer", "dim_feedforward must be positive, got ",
           dim_feedforward);
  // Registration order follows torch's __init__ so state_dict() lists keys in the same order.
  self_attn = register_module(
      "self_attn", std::make_shared<MultiheadAttention>(d_model, nhead, dropout_p, true, batch_first));
  linear1 = register_module("linear1", std::make_shared<Linear>(d_model, dim_feedforward));
  dropout = register_module("dropout", std::make_shared<Dropout>(dropout_p));
  linear2 = register_module("linear2", std::make_shared<Linear>(dim_feedforward, d_model));
  norm1 = register_module("norm1", std::make_shared<LayerNorm>(d_model, layer_norm_eps));
  norm2 = register_module("norm2", std::make_shared<LayerNorm>(d_model, layer_norm_eps));
  dropout1 = register_module("dropout1", std::make_shared<Dropout>(dropout_p));
  dropout2 = register_module("dropout2", std::make_shared<Dropout>(dropout_p));
}

Tensor TransformerEncoderLayer::sa_block(const Tensor& x, const Tensor& mask, const Tensor& key_padding_mask,
                                         bool is_causal) {
  // dropout1 is applied by the caller, fused with the residual add.
  return self_attn->forward(x, x, x, key_padding_mask, mask, /*need_weights=*/false, is_causal).output;
}

Tensor TransformerEncoderLayer::ff_block(const Tensor& x) {
  Tensor h = linear1->forward(x);
  h = activation == "relu" ? relu(h) : gelu(h);
  return linear2->forward(dropout->forward(h));  // dropout2: fused with the residual add by the caller
}

Tensor TransformerEncoderLayer::forward(const Tensor& src, const Tensor& src_mask,
                                        const Tensor& src_key_padding_mask, bool is_causal) {
  NA_CHECK(src.defined() && (src.dim() == 3 || src.dim() == 2) && src.size(-1) == d_model,
           "TransformerEncoderLayer", "expected src ", batch_first ? "(N, S, " : "(S, N, ", d_model,
           ") or (S, ", d_model, "), got ",
           src.defined() ? shape_str(src.shape()) : std::string("an undefined tensor"));
  Tensor x = src;
  auto residual = [](const Tensor& branch, const Tensor& res, const Dropout& d) {
    return functional::bias_dropout_add(branch, Tensor(), res, d.p, d.is_training());
  };
  if (norm_first) {
    x = residual(sa_block(norm1->forward(x), src_mask, src_key_padding_mask, is_causal), x, *dropout1);
    x = residual(ff_block(norm2->forward(x)), x, *dropout2);
  } else {
    x = norm1->forward(residual(sa_block(x, src_mask, src_key_padding_mask, is_causal), x, *dropout1));
    x = norm2->forward(residual(ff_block(x), x, *dropout2));
  }
  return x;
}

std::string TransformerEncoderLayer::extra_repr() const {
  std::ostringstream os;
  os << "d_model=" << d_model << ", nhead=" << nhead << ", dim_feedforward=" << dim_feedforward
     << ", activation=" << activation << ", batch_first=" << (batch_first ? "true" : "false")
     << ", norm_first=" << (norm_first ? "true" : "false");
  return os.str();
}

TransformerEncoder::TransformerEncoder(const std::shared_ptr<TransformerEncoderLayer>& layer, int64_t n,
                                       std::shared_ptr<Module> norm_)
    : Module("TransformerEncoder"), num_layers(n) {
  NA_CHECK(layer != nullptr, "TransformerEncoder", "encoder_layer is a null handle");
  NA_CHECK(n >= 1, "TransformerEncoder", "num_layers must be at least 1, got ", n);
  layers = register_module("layers", std::make_shared<ModuleList>());
  const auto state = layer->state_dict();
  for (int64_t i = 0; i < n; ++i) {
    auto copy = std::make_shared<TransformerEncoderLayer>(
        layer->d_model, layer->nhead, layer->dim_feedforward, layer->dropout->p, layer->activation,
        layer->norm1->eps, layer->batch_first, layer->norm_first);
    copy->load_state_dict(state);
    copy->train(layer->is_training());
    layers->push_back(copy);
  }
  if (norm_) norm = register_module("norm", std::move(norm_));
}

Tensor TransformerEncoder::forward(const Tensor& src, const Tensor& mask, const Tensor& src_key_padding_mask,
                                   bool is_causal) {
  const bool ckpt = gradient_checkpointing && is_training() && is_grad_enabled();
  Tensor x = src;
  for (const auto& m : *layers) {
    auto layer = std::static_pointer_cast<TransformerEncoderLayer>(m);
    if (ckpt) {
      // Masks are not differentiable: captured by the segment, not passed as inputs.
      x = optimization::checkpoint(
          [layer, mask, src_key_padding_mask, is_causal](const Tensor& t) {
            return layer->forward(t, mask, src_key_padding_mask, is_causal);
          },
          x);
    } else {
      x = layer->forward(x, mask, src_key_padding_mask, is_causal);
    }
  }
  return norm ? norm->forward(x) : x;
}

}  // namespace neural_arch::nn
