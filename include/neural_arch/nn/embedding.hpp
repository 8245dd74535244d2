// Embedding: a lookup table of vectors indexed by integers.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "neural_arch/nn/module.hpp"

namespace neural_arch::nn {

/// Rows of weight (num_embeddings, embedding_dim) picked by integer indices: an index tensor
/// of shape S gives an output of shape S + (embedding_dim) (torch.nn.Embedding).
/// weight ~ N(0, 1). padding_idx (negative counts from the end) names a row that starts at zero
/// and never receives a gradient, so it stays whatever it is set to.
///
///   auto emb = std::make_shared<na::nn::Embedding>(1000, 64, /*padding_idx=*/0);
///   auto y = emb->forward(tokens);   // tokens: int64 (B, T) -> (B, T, 64)
class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim, std::optional<int64_t> padding_idx = std::nullopt);
  Tensor forward(const Tensor& indices) override;
  void reset_parameters();
  std::string extra_repr() const override;

  int64_t num_embeddings, embedding_dim;
  /// Normalised to [0, num_embeddings) when given.
  std::optional<int64_t> padding_idx;
  Tensor weight;
};

}  // namespace neural_arch::nn
