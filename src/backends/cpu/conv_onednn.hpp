// 2-D convolution kernels for the CPU backend: forward, backward-data and backward-weights.
// f32 and bf16 run on oneDNN's convolution primitives (cached per geometry, data type and thread
// count, the way gemm.cpp caches matmul); f64 runs on direct loops (oneDNN has no f64
// convolution, and f64 exists for gradient checks). 1-D convolutions are 2-D ones with H = 1.
//
// Every buffer is contiguous: activations NCHW, weights OIHW with I = C / groups. oneDNN's
// types stay inside conv_onednn.cpp.
#pragma once
#include <cstdint>

#include "neural_arch/dtype.hpp"

namespace neural_arch::cpu {

/// Geometry of one convolution, already validated by the op. Padding may differ between the
/// two sides of a dim ("same" with an even kernel pads one more at the end, like PyTorch).
/// Dilation follows PyTorch's convention: 1 is a dense kernel.
struct ConvShape {
  int64_t N = 0, C = 0, H = 0, W = 0;  // input
  int64_t O = 0, KH = 1, KW = 1;       // weight (O, C / groups, KH, KW)
  int64_t OH = 0, OW = 0;              // output
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
  int64_t dil_h = 1, dil_w = 1;
  int64_t groups = 1;
};

/// y = conv(x, w) + bias (bias may be null).
void conv2d_forward(const ConvShape& s, const float* x, const float* w, const float* bias, float* y);
void conv2d_forward(const ConvShape& s, const double* x, const double* w, const double* bias, double* y);

/// gx = the gradient of conv(x, w) with respect to x, given gy (gx is fully overwritten).
void conv2d_backward_data(const ConvShape& s, const float* gy, const float* w, float* gx);
void conv2d_backward_data(const ConvShape& s, const double* gy, const double* w, double* gx);

/// gw (and gbias unless null) = the gradients of conv(x, w) + bias with respect to w and bias.
void conv2d_backward_weights(const ConvShape& s, const float* x, const float* gy, float* gw, float* gbias);
void conv2d_backward_weights(const ConvShape& s, const double* x, const double* gy, double* gw,
                             double* gbias);

/// Both backward passes at once (gx, gw and, unless null, gbias): the same results as the two
/// calls above, but the output gradient is reordered into oneDNN's layout once for both.
void conv2d_backward(const ConvShape& s, const float* x, const float* gy, const float* w, float* gx,
                     float* gw, float* gbias);
void conv2d_backward(const ConvShape& s, const double* x, const double* gy, const double* w, double* gx,
                     double* gw, double* gbias);

/// bf16: activations, weights, bias and all gradients bf16. oneDNN accumulates in f32 and rounds
/// each output once; the weight and bias gradients are accumulated into f32 buffers and rounded
/// to bf16 once (as PyTorch does). These return false, having written nothing, when there is no
/// fast native bf16 kernel (a CPU without AVX512-BF16/AMX, or oneDNN only has its reference code
/// for the geometry) or some extent is zero: the caller then widens to f32 and uses the f32 ones.
[[nodiscard]] bool conv2d_forward(const ConvShape& s, const BFloat16* x, const BFloat16* w,
                                  const BFloat16* bias, BFloat16* y);
[[nodiscard]] bool conv2d_backward_data(const ConvShape& s, const BFloat16* gy, const BFloat16* w,
                                        BFloat16* gx);
[[nodiscard]] bool conv2d_backward_weights(const ConvShape& s, const BFloat16* x, const BFloat16* gy,
                                           BFloat16* gw, BFloat16* gbias);
[[nodiscard]] bool conv2d_backward(const ConvShape& s, const BFloat16* x, const BFloat16* gy,
                                   const BFloat16* w, BFloat16* gx, BFloat16* gw, BFloat16* gbias);

/// Whether this CPU runs oneDNN's bf16 convolutions natively (AVX512-BF16 or AMX, as oneDNN sees
/// it: ONEDNN_MAX_CPU_ISA lowers it), and whether all three bf16 entry points run natively for
/// s (with a bias when has_bias). For tests and benchmarks: the entry points decide for themselves.
bool conv_bf16_native_cpu();
bool conv2d_bf16_native(const ConvShape& s, bool has_bias);

/// Statistics of the primitive cache (for tests and benchmarks).
struct ConvCacheStats {
  int64_t entries = 0;
  int64_t hits = 0;
  int64_t misses = 0;
};
ConvCacheStats conv_cache_stats();
void conv_cache_clear();

}  // namespace neural_arch::cpu
