// Embedding module: ops::embedding plus padding_idx handling.
#include "neural_arch/nn/embedding.hpp"

#include <sstream>

#include "neural_arch/autograd.hpp"
#include "neural_arch/nn/init.hpp"
#include "neural_arch/ops.hpp"

namespace neural_arch::nn {

Embedding::Embedding(int64_t num, int64_t dim, std::optional<int64_t> pad)
    : Module("Embedding"), num_embeddings(num), embedding_dim(dim) {
  NA_CHECK(num >= 0 && dim >= 0, "Embedding", "num_embeddings and embedding_dim must be non-negative, got ",
           num, " and ", dim);
  if (pad) {
    NA_CHECK(*pad >= -num && *pad < num, "Embedding", "padding_idx ", *pad,
             " must be within num_embeddings (", num, ")");
    padding_idx = *pad < 0 ? *pad + num : *pad;
  }
  weight = register_parameter("weight", empty({num, dim}));
  reset_parameters();
}

void Embedding::reset_parameters() {
  init::normal_(weight);
  if (padding_idx) {
    NoGradGuard no_grad;
    weight.select(0, *padding_idx).zero_();
  }
}

Tensor Embedding::forward(const Tensor& indices) {
  NA_CHECK(indices.defined(), "Embedding", "indices is an undefined tensor");
  NA_CHECK(is_integral(indices.dtype()), "Embedding", "expected integer indices (int64 or int32), got ",
           dtype_name(indices.dtype()), " of shape ", shape_str(indices.shape()));
  Tensor out;
  try {
    out = embedding(weight, indices);
  } catch (const Error& e) {
    // Out-of-range indices are found by the op; the message names the layer, as for other misuse.
    std::string msg = e.what();
    const std::string op_prefix = "[embedding] ";
    if (msg.rfind(op_prefix, 0) == 0) msg.erase(0, op_prefix.size());
    detail::throw_error("Embedding", msg, " (indices of shape ", shape_str(indices.shape()), ")");
  }
  if (padding_idx && is_grad_enabled() && weight.requires_grad()) {
    // Same values, but the padding positions read a detached copy, so the padding row's
    // gradient stays zero while the lookup keeps its fast backward.
    Tensor keep = ne(indices, full_like(indices, *padding_idx)).unsqueeze(-1);
    out = where(keep, out, out.detach());
  }
  return out;
}

std::string Embedding::extra_repr() const {
  std::ostringstream os;
  os << num_embeddings << ", " << embedding_dim;
  if (padding_idx) os << ", padding_idx=" << *padding_idx;
  return os.str();
}

}  // namespace neural_arch::nn
