// GEMM for the CPU backend: C = act(op(A)·op(B) + bias + beta·C), optionally batched.
// f32 and bf16 run on oneDNN's matmul primitive (cached per problem geometry); f64 runs on a
// cache-blocked OpenMP loop (oneDNN has no f64 matmul; f64 exists for gradient checks).
// oneDNN stays inside gemm.cpp: nothing here exposes its types.
#pragma once
#include <cstdint>

#include "neural_arch/dtype.hpp"

namespace neural_arch::cpu {

/// Elementwise activation applied to the finished output tile (oneDNN eltwise post-op), so a
/// fused Linear+activation never makes a second pass over C.
enum class GemmActivation : uint8_t { none, relu, gelu_tanh, gelu_erf, silu };

/// `count` independent products. The strides are element offsets between consecutive A, B and
/// C matrices; a stride of 0 reuses one matrix for every product (a broadcast batch dim).
struct GemmBatch {
  int64_t count = 1;
  int64_t stride_a = 0;
  int64_t stride_b = 0;
  int64_t stride_c = 0;
};

/// Row-major GEMM. op(A) is M×K: A is stored M×K with row stride lda (lda >= K), or K×M with
/// row stride lda (lda >= M) when trans_a. op(B) is K×N: B is stored K×N (ldb >= N), or N×K
/// (ldb >= K) when trans_b. C is M×N with row stride ldc >= N.
///
///   C = act(op(A)·op(B) + bias + beta·C)
///
/// bias (may be null) has N elements, added to every row. When beta == 0, C is not read (it
/// may hold garbage, NaN included). K == 0 gives act(bias + beta·C).
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
          const float* B, int64_t ldb, float* C, int64_t ldc, float beta = 0.f, const float* bias = nullptr,
          GemmActivation act = GemmActivation::none, const GemmBatch& batch = {});
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const double* A, int64_t lda,
          const double* B, int64_t ldb, double* C, int64_t ldc, double beta = 0.0,
          const double* bias = nullptr, GemmActivation act = GemmActivation::none,
          const GemmBatch& batch = {});

/// bf16 operands, output and bias; oneDNN accumulates in f32 and rounds C once (vdpbf16ps on
/// AVX512-BF16 CPUs). Without a oneDNN bf16 kernel the operands are widened to f32.
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const BFloat16* A, int64_t lda,
          const BFloat16* B, int64_t ldb, BFloat16* C, int64_t ldc, float beta = 0.f,
          const BFloat16* bias = nullptr, GemmActivation act = GemmActivation::none,
          const GemmBatch& batch = {});

/// bf16 operands, f32 output and bias: oneDNN's f32 accumulators written without rounding to
/// bf16 (autocast's weight gradients, which go to f32 parameters).
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const BFloat16* A, int64_t lda,
          const BFloat16* B, int64_t ldb, float* C, int64_t ldc, float beta = 0.f,
          const float* bias = nullptr, GemmActivation act = GemmActivation::none,
          const GemmBatch& batch = {});

/// Statistics of the primitive cache (for tests and benchmarks).
struct GemmCacheStats {
  int64_t entries = 0;
  int64_t hits = 0;
  int64_t misses = 0;
};
GemmCacheStats gemm_cache_stats();
/// Drops every cached primitive.
void gemm_cache_clear();

}  // namespace neural_arch::cpu
