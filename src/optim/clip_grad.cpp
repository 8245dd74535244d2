#include "neural_arch/optim/clip_grad.hpp"

#include <algorithm>
#include <cmath>

#include "backends/cpu/parallel.hpp"
#include "neural_arch/autograd.hpp"
#include "neural_arch/ops.hpp"

namespace neural_arch::optim {

namespace {

// Partial results are per fixed-size chunk and combined in chunk order, so the norm does not
// depend on how many threads computed the chunks.
constexpr int64_t kChunk = 1 << 16;

enum class NormKind { two, one, inf, p };

template <class T> double chunk_partial(const T* g, int64_t n, NormKind kind, double p) {
  double acc = 0;
  switch (kind) {
    case NormKind::two:
#pragma omp simd reduction(+ : acc)
      for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(g[i]) * static_cast<double>(g[i]);
      return acc;
    case NormKind::one:
#pragma omp simd reduction(+ : acc)
      for (int64_t i = 0; i < n; ++i) acc += std::fabs(static_cast<double>(g[i]));
      return acc;
    case NormKind::inf:
      for (int64_t i = 0; i < n; ++i) {
        const double a = std::fabs(static_cast<double>(g[i]));
        if (a != a) return a;  // NaN propagates, as torch's vector_norm
        acc = std::max(acc, a);
      }
      return acc;
    case NormKind::p:
      for (int64_t i = 0; i < n; ++i) acc += std::pow(std::fabs(static_cast<double>(g[i])), p);
      return acc;
  }
  return acc;
}

}  // namespace

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type,
                       bool error_if_nonfinite) {
  const char* op = "clip_grad_norm_";
  NA_CHECK(norm_type > 0, op, "norm_type must be > 0 (or infinity), got ", norm_type);
  NoGradGuard no_grad;
  std::vector<Tensor> grads, dense;
  for (const auto& p : params) {
    NA_CHECK(p.defined(), op, "a parameter is an undefined tensor");
    Tensor g = p.grad();
    if (!g.defined()) continue;
    NA_CHECK(g.dtype() == DType::f32 || g.dtype() == DType::f64, op, "grads must be float32 or float64, got ",
             dtype_name(g.dtype()));
    grads.push_back(g);
    dense.push_back(g.contiguous());
  }
  if (grads.empty()) return 0.0;
  const NormKind kind = std::isinf(norm_type) ? NormKind::inf
                        : norm_type == 2.0    ? NormKind::two
                        : norm_type == 1.0    ? NormKind::one
                                              : NormKind::p;
  struct Chunk {
    const void* data;
    bool f64;
    int64_t n;
  };
  std::vector<Chunk> chunks;
  for (const auto& g : dense) {
    const int64_t n = g.numel();
    const bool f64 = g.dtype() == DType::f64;
    const char* base = static_cast<const char*>(g.raw_data());
    for (int64_t s = 0; s < n; s += kChunk)
      chunks.push_back({base + s * static_cast<int64_t>(g.element_size()), f64, std::min(kChunk, n - s)});
  }
  std::vector<double> partial(chunks.size());
  cpu::parallel_for(0, static_cast<int64_t>(chunks.size()), 1, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      const Chunk& ch = chunks[static_cast<size_t>(c)];
      partial[static_cast<size_t>(c)] =
          ch.f64 ? chunk_partial(static_cast<const double*>(ch.data), ch.n, kind, norm_type)
                 : chunk_partial(static_cast<const float*>(ch.data), ch.n, kind, norm_type);
    }
  });
  double total = 0;
  if (kind == NormKind::inf) {
    for (double v : partial) total = (v != v || total != total) ? std::nan("") : std::max(total, v);
  } else {
    for (double v : partial) total += v;
    if (kind == NormKind::two)
      total = std::sqrt(total);
    else if (kind == NormKind::p)
      total = std::pow(total, 1.0 / norm_type);
  }
  NA_CHECK(!error_if_nonfinite || std::isfinite(total), op, "the total norm of order ", norm_type,
           " of the gradients is ", total, "; grads left unchanged (error_if_nonfinite=true)");
  const double coef = max_norm / (total + 1e-6);
  // As torch: scale only when the clamped coefficient is below 1; a NaN coefficient scales too.
  if (!(coef >= 1.0))
    for (auto& g : grads) g.mul_(coef);
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& params, double clip_value) {
  NA_CHECK(clip_value >= 0, "clip_grad_value_", "clip_value must be >= 0, got ", clip_value);
  NoGradGuard no_grad;
  for (const auto& p : params) {
    NA_CHECK(p.defined(), "clip_grad_value_", "a parameter is an undefined tensor");
    Tensor g = p.grad();
    if (g.defined()) g.clamp_(-clip_value, clip_value);
  }
}

}  // namespace neural_arch::optim
