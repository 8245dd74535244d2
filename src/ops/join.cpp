// Joining tensors along a dim: cat and stack. cat's backward narrows the gradient into the
// pieces; stack is unsqueeze + cat, so it needs no backward of its own.
#include <cstring>

#include "autograd/function.hpp"
#include "backends/cpu/parallel.hpp"
#include "core/factory.hpp"
#include "neural_arch/ops.hpp"
#include "ops/elementwise.hpp"

namespace neural_arch {

using Grads = std::vector<Tensor>;

namespace {

constexpr int64_t kCopyGrain = 1 << 16;  // bytes per thread below which a copy stays serial

// torch keeps accepting 1-D empty tensors in cat whatever the other shapes are (legacy code
// builds results by concatenating onto torch.empty(0)); they only take part in promotion.
bool is_legacy_empty(const Tensor& t) { return t.dim() == 1 && t.size(0) == 0; }

// Writes piece t into out at [offset, offset + t.size(dim)) along dim.
void copy_piece(const Tensor& out, const Tensor& t, int64_t dim, int64_t offset) {
  if (t.numel() == 0) return;
  const int64_t es = static_cast<int64_t>(out.element_size());
  if (t.dtype() == out.dtype() && t.is_contiguous()) {
    // Plain row copies: rows are the index space in front of dim.
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < dim; ++d) outer *= t.size(d);
    for (int64_t d = dim + 1; d < t.dim(); ++d) inner *= t.size(d);
    const int64_t row_bytes = t.size(dim) * inner * es;
    const int64_t out_row_bytes = out.size(dim) * inner * es;
    const char* src = static_cast<const char*>(t.raw_data());
    char* dst = static_cast<char*>(out.raw_data()) + offset * inner * es;
    if (outer == 1) {
      cpu::parallel_for(0, row_bytes, kCopyGrain,
                        [&](int64_t b, int64_t e) { std::memcpy(dst + b, src + b, e - b); });
      return;
    }
    cpu::parallel_for(0, outer, std::max<int64_t>(1, kCopyGrain / row_bytes), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) std::memcpy(dst + r * out_row_bytes, src + r * row_bytes, row_bytes);
    });
    return;
  }
  // Strided or differently typed pieces go through the cast kernel, which converts as it copies.
  Tensor dst = detail::make_view(out, t.shape(), out.strides(), offset * out.stride(dim));
  const auto& k = cpu::kernels();
  const DType to = out.dtype(), from = t.dtype();
  ops::for_each_row(
      t.shape(), {ops::operand(dst, t.shape()), ops::operand(t, t.shape())},
      [&](char* const* p, const int64_t* s, int64_t n) { k.cast(p[0], to, p[1], from, n, s[0], s[1]); });
}

struct Piece {
  bool skipped;
  bool requires_grad;
  int64_t offset;
  int64_t length;
  DType dtype;
};

}  // namespace

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  NA_CHECK(!tensors.empty(), "cat", "expected a non-empty list of tensors");
  DType dtype = DType::boolean;
  int64_t ref = -1;  // the first tensor that is not a legacy empty one: it fixes ndim and sizes
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    NA_CHECK(t.defined(), "cat", "tensor at position ", i, " is an undefined tensor");
    NA_CHECK(t.dim() > 0, "cat", "zero-dimensional tensor (at position ", i, ") cannot be concatenated");
    dtype = i == 0 ? t.dtype() : promote_types(dtype, t.dtype());
    if (ref < 0 && !is_legacy_empty(t)) ref = static_cast<int64_t>(i);
  }

  std::vector<Piece> pieces(tensors.size());
  Shape out_shape{0};
  if (ref >= 0) {
    const Tensor& r = tensors[ref];
    dim = detail::wrap_dim(dim, r.dim(), "cat");
    out_shape = r.shape();
    out_shape[dim] = 0;
    for (size_t i = 0; i < tensors.size(); ++i) {
      const Tensor& t = tensors[i];
      Piece& p = pieces[i];
      p.dtype = t.dtype();
      p.requires_grad = t.requires_grad();
      p.skipped = is_legacy_empty(t);
      if (p.skipped) continue;
      NA_CHECK(t.dim() == r.dim(), "cat", "tensors must have the same number of dimensions: tensor ", ref,
               " has shape ", shape_str(r.shape()), " but tensor ", i, " has shape ", shape_str(t.shape()));
      for (int64_t d = 0; d < r.dim(); ++d)
        NA_CHECK(d == dim || t.size(d) == r.size(d), "cat",
                 "sizes of tensors must match except in dimension ", dim, ": tensor ", ref, " has shape ",
                 shape_str(r.shape()), " but tensor ", i, " has shape ", shape_str(t.shape()),
                 " (mismatch in dimension ", d, ")");
      p.offset = out_shape[dim];
      p.length = t.size(dim);
      out_shape[dim] += p.length;
    }
  } else {
    dim = 0;
    for (size_t i = 0; i < tensors.size(); ++i)
      pieces[i] = Piece{true, tensors[i].requires_grad(), 0, 0, tensors[i].dtype()};
  }

  Tensor out = detail::make_tensor(out_shape, dtype);
  for (size_t i = 0; i < tensors.size(); ++i)
    if (!pieces[i].skipped) copy_piece(out, tensors[i], dim, pieces[i].offset);

  if (autograd::needs_grad(tensors)) {
    autograd::record("CatBackward", tensors, {out}, [pieces = std::move(pieces), dim](const Grads& g) {
      Grads r(pieces.size());
      if (!g[0].defined()) return r;
      for (size_t i = 0; i < pieces.size(); ++i) {
        const Piece& p = pieces[i];
        if (!p.requires_grad) continue;
        if (p.skipped) {
          r[i] = zeros({0}, p.dtype);
          continue;
        }
        Tensor gi = g[0].narrow(dim, p.offset, p.length);
        r[i] = gi.dtype() == p.dtype ? gi : gi.to(p.dtype);
      }
      return r;
    });
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  NA_CHECK(!tensors.empty(), "stack", "expected a non-empty list of tensors");
  for (size_t i = 0; i < tensors.size(); ++i)
    NA_CHECK(tensors[i].defined(), "stack", "tensor at position ", i, " is an undefined tensor");
  const Shape& first = tensors[0].shape();
  for (size_t i = 1; i < tensors.size(); ++i)
    NA_CHECK(tensors[i].shape() == first, "stack", "expects each tensor to be equal size, but got ",
             shape_str(first), " at entry 0 and ", shape_str(tensors[i].shape()), " at entry ", i);
  dim = detail::wrap_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor> parts;
  parts.reserve(tensors.size());
  for (const auto& t : tensors) parts.push_back(t.unsqueeze(dim));
  return cat(parts, dim);
}

}  // namespace neural_arch
