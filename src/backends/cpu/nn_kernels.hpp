// Fused neural-network kernels: softmax, cross-entropy, layer/RMS norm, bias+dropout+residual and
// blocked (FlashAttention-style) scaled-dot-product attention, forward and backward.
// nn_kernels_isa.cpp is compiled once per instruction set like kernels_isa.cpp; nn_kernels()
// returns the table of the ISA that kernels() chose (NA_CPU_ISA narrows both alike).
//
// Every kernel works on contiguous rows and threads itself over rows (or over batch×heads for
// attention) with cpu::parallel_for; a row is always handled by one thread, so results do not
// depend on the thread count. The functional layer (src/functional, src/ops/softmax.cpp) keeps
// the plain compositions these replace, as references for the tests and as the fallback for the
// cases a kernel does not cover (double backward, f16/bf16 outside attention, attention masks
// and dropout). Attention also takes f16/bf16 storage, computing in f32 (attention_compute_t).
#pragma once
#include <cstdint>
#include <type_traits>

#include "neural_arch/dtype.hpp"

namespace neural_arch::cpu {

/// The type attention computes, accumulates and keeps lse in for storage type T: f32 for
/// f16/bf16 (inputs widened on load, outputs rounded once), T itself for f32/f64.
template <class T> using attention_compute_t = std::conditional_t<sizeof(T) == 2, float, T>;

/// One attention problem set: `batch` independent heads. q/k/v/o/do/dq/dk/dv point at the first
/// element of each head's (rows × features) matrix through per-head element offsets (so strided
/// views, e.g. (L, N, H, D) permuted to (N, H, L, D), need no copy); the feature dim is
/// contiguous and rows are `*_row` elements apart. o, lse (L per head, contiguous) are written by
/// forward; backward reads q, k, v, o, do, lse and writes dq, dk, dv (contiguous, overwritten).
template <class T> struct AttentionArgs {
  int64_t batch = 0, L = 0, S = 0, D = 0, Dv = 0;
  const T* q = nullptr;
  const T* k = nullptr;
  const T* v = nullptr;
  const int64_t* q_off = nullptr;
  const int64_t* k_off = nullptr;
  const int64_t* v_off = nullptr;
  int64_t q_row = 0, k_row = 0, v_row = 0;
  T* o = nullptr;                         // (batch, L, Dv) contiguous
  attention_compute_t<T>* lse = nullptr;  // (batch, L): log-sum-exp of each row's scaled scores
  const T* dout = nullptr;                // (batch, L, Dv) contiguous
  T* dq = nullptr;                        // (batch, L, D) contiguous
  T* dk = nullptr;                        // (batch, S, D)
  T* dv = nullptr;                        // (batch, S, Dv)
  double scale = 1.0;
  bool causal = false;  // key j visible from query i iff j <= i (top-left aligned)
};

template <class T> struct NNKernels {
  /// y = softmax or log_softmax of each of `rows` rows of length n (max, sum of exp, write).
  void (*softmax_forward)(T* y, const T* x, int64_t rows, int64_t n, bool log_form) = nullptr;
  /// gx from gy and the saved output y: softmax y * (gy - sum(gy * y)); log_softmax
  /// gy - exp(y) * sum(gy).
  void (*softmax_backward)(T* gx, const T* gy, const T* y, int64_t rows, int64_t n, bool log_form) = nullptr;

  /// Cross-entropy forward statistics per row of logits x (rows × C): lse[r] = logsumexp(x_r);
  /// when wx != null, wx[r] = sum_c w_c x_rc (w = 1 when null); when probs != null (rows × C,
  /// target probabilities), wtx[r] = sum_c w_c t_rc x_rc and wt[r] = sum_c w_c t_rc.
  void (*ce_forward)(const T* x, int64_t rows, int64_t C, const T* w, const T* probs, T* lse, double* wx,
                     double* wtx, double* wt) = nullptr;
  /// gx_rc = a_r * exp(x_rc - lse_r) - s_r * w_c - p_r * w_c * t_rc - d_r * [c == tgt_r]
  /// (w = 1 when null; probs and tgt may be null; tgt_r < 0 means none).
  void (*ce_backward)(T* gx, const T* x, const T* lse, int64_t rows, int64_t C, const T* w, const T* probs,
                      const int64_t* tgt, const double* a, const double* s, const double* p,
                      const double* d) = nullptr;

  /// layer_norm (rms = false) or rms_norm (rms = true) of rows × n: y = (x - mean) * rstd * w + b
  /// (mean = 0 for rms; w, b may be null). Saves mean (null for rms) and rstd per row.
  void (*norm_forward)(T* y, T* mean, T* rstd, const T* x, const T* w, const T* b, int64_t rows, int64_t n,
                       double eps, bool rms) = nullptr;
  /// gx from gy, x, the saved mean/rstd and w. gw/gb (may be null) receive the weight and bias
  /// gradients (length n, overwritten), reduced over rows in a fixed order.
  void (*norm_backward)(T* gx, T* gw, T* gb, const T* gy, const T* x, const T* mean, const T* rstd,
                        const T* w, int64_t rows, int64_t n, bool rms) = nullptr;

  /// y = residual + dropout(x + bias) over rows × n (bias of length n may be null; residual may be
  /// null). The keep mask comes from a counter-based hash of (seed, element index), so backward
  /// regenerates it instead of storing it; keep when hash < threshold (2^32 * (1 - p)).
  void (*bias_dropout_add)(T* y, const T* x, const T* bias, const T* residual, int64_t rows, int64_t n,
                           uint64_t seed, uint64_t threshold, double scale) = nullptr;
  /// gx = gy * mask * scale (the regenerated mask). gbias (may be null, length n) = column sums of gx.
  void (*dropout_backward)(T* gx, T* gbias, const T* gy, int64_t rows, int64_t n, uint64_t seed,
                           uint64_t threshold, double scale) = nullptr;

  /// Blocked attention with online softmax: writes o and lse, never more than one block of scores.
  void (*attention_forward)(const AttentionArgs<T>& a) = nullptr;
  /// Backward recomputing each block's scores from q, k and lse.
  void (*attention_backward)(const AttentionArgs<T>& a) = nullptr;
};

struct NNKernelTable {
  const char* isa = "";
  NNKernels<float> f32;
  NNKernels<double> f64;
  NNKernels<Half> f16;       // attention_forward/backward only (the rest stay null)
  NNKernels<BFloat16> bf16;  // likewise
};

/// The table for this CPU (the same instruction set as kernels()).
const NNKernelTable& nn_kernels();
template <class T> const NNKernels<T>& nn_kernels_for() {
  if constexpr (std::is_same_v<T, float>)
    return nn_kernels().f32;
  else if constexpr (std::is_same_v<T, double>)
    return nn_kernels().f64;
  else if constexpr (std::is_same_v<T, Half>)
    return nn_kernels().f16;
  else
    return nn_kernels().bf16;
}

namespace base {
const NNKernelTable* nn_kernel_table();
}
namespace avx2 {
const NNKernelTable* nn_kernel_table();
}
namespace avx512 {
const NNKernelTable* nn_kernel_table();
}

}  // namespace neural_arch::cpu
