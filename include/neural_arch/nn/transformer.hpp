// TransformerEncoderLayer (torch.nn.TransformerEncoderLayer), post-norm or pre-norm, and the
// TransformerEncoder stack of them.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "neural_arch/nn/attention.hpp"
#include "neural_arch/nn/containers.hpp"
#include "neural_arch/nn/dropout.hpp"
#include "neural_arch/nn/linear.hpp"
#include "neural_arch/nn/module.hpp"
#include "neural_arch/nn/normalization.hpp"

namespace neural_arch::nn {

/// Self-attention and a feed-forward block with residual connections, as
/// torch.nn.TransformerEncoderLayer (same submodule names, so state dicts map 1:1:
/// self_attn, linear1, dropout, linear2, norm1, norm2, dropout1, dropout2).
///   post-norm (norm_first = false): x = norm1(x + sa(x)); x = norm2(x + ff(x))
///   pre-norm  (norm_first = true):  x = x + sa(norm1(x)); x = x + ff(norm2(x))
/// with sa(x) = dropout1(self_attn(x, x, x)) and ff(x) = dropout2(linear2(dropout(act(linear1(x))))).
/// activation is "relu" or "gelu". Masks follow MultiheadAttention (bool true = masked).
///
///   auto layer = std::make_shared<na::nn::TransformerEncoderLayer>(512, 8);
///   auto y = layer->forward(src);   // src: (S, N, 512), or (N, S, 512) with batch_first
class TransformerEncoderLayer : public Module {
 public:
  TransformerEncoderLayer(int64_t d_model, int64_t nhead, int64_t dim_feedforward = 2048,
                          double dropout = 0.1, const std::string& activation = "relu",
                          double layer_norm_eps = 1e-5, bool batch_first = false, bool norm_first = false);

  /// src_mask: (S, S) or (N*nhead, S, S); src_key_padding_mask: (N, S). is_causal without
  /// src_mask applies the causal mask.
  Tensor forward(const Tensor& src, const Tensor& src_mask, const Tensor& src_key_padding_mask = Tensor(),
                 bool is_causal = false);
  Tensor forward(const Tensor& src) override { return forward(src, Tensor()); }
  std::string extra_repr() const override;

  int64_t d_model, nhead, dim_feedforward;
  std::string activation;
  bool batch_first, norm_first;
  std::shared_ptr<MultiheadAttention> self_attn;
  std::shared_ptr<Linear> linear1;
  std::shared_ptr<Dropout> dropout;
  std::shared_ptr<Linear> linear2;
  std::shared_ptr<LayerNorm> norm1, norm2;
  std::shared_ptr<Dropout> dropout1, dropout2;

 private:
  Tensor sa_block(const Tensor& x, const Tensor& mask, const Tensor& key_padding_mask, bool is_causal);
  Tensor ff_block(const Tensor& x);
};

/// A stack of num_layers copies of encoder_layer (same initial weights, as torch's deepcopy)
/// and an optional final norm (torch.nn.TransformerEncoder; children "layers" and "norm").
///
///   auto enc = std::make_shared<na::nn::TransformerEncoder>(
///       std::make_shared<na::nn::TransformerEncoderLayer>(256, 4), 6);
///   auto y = enc->forward(src);
class TransformerEncoder : public Module {
 public:
  TransformerEncoder(const std::shared_ptr<TransformerEncoderLayer>& encoder_layer, int64_t num_layers,
                     std::shared_ptr<Module> norm = nullptr);
  /// Masks as TransformerEncoderLayer::forward, passed to every layer.
  Tensor forward(const Tensor& src, const Tensor& mask, const Tensor& src_key_padding_mask = Tensor(),
                 bool is_causal = false);
  Tensor forward(const Tensor& src) override { return forward(src, Tensor()); }

  int64_t num_layers;
  std::shared_ptr<ModuleList> layers;
  std::shared_ptr<Module> norm;  // null: none
  /// Each layer runs under optimization::checkpoint in training mode with grad enabled (set
  /// by optimization::enable_gradient_checkpointing).
  bool gradient_checkpointing = false;
};

}  // namespace neural_arch::nn
