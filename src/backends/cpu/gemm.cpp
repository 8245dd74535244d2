// GEMM glue: f32 and bf16 through oneDNN (cached matmul primitives, dnnl_sgemm for tiny f32
// products), f64 through a blocked OpenMP loop. See gemm.hpp for the contract.
#include "backends/cpu/gemm.hpp"

#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "backends/cpu/onednn_context.hpp"
#include "backends/cpu/parallel.hpp"
#include "neural_arch/error.hpp"

namespace neural_arch::cpu {

namespace {

// ------------------------------------------------------------------ argument checks

template <class T, class OutT = T>
void check_geometry(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda,
                    const T* B, int64_t ldb, const OutT* C, int64_t ldc, const GemmBatch& batch) {
  // Callers are ops that already validated user shapes: a failure here is a bug in an op,
  // reported as an error rather than a silent out-of-bounds read.
  NA_CHECK(M >= 0 && N >= 0 && K >= 0 && batch.count >= 0, "gemm", "negative size M=", M, " N=", N, " K=", K,
           " batch=", batch.count);
  NA_CHECK(lda >= std::max<int64_t>(1, trans_a ? M : K), "gemm", "lda=", lda, " too small for ",
           trans_a ? "transposed " : "", "A with M=", M, " K=", K);
  NA_CHECK(ldb >= std::max<int64_t>(1, trans_b ? K : N), "gemm", "ldb=", ldb, " too small for ",
           trans_b ? "transposed " : "", "B with K=", K, " N=", N);
  NA_CHECK(ldc >= std::max<int64_t>(1, N), "gemm", "ldc=", ldc, " too small for N=", N);
  NA_CHECK(batch.count <= 1 || M == 0 || batch.stride_c >= (M - 1) * ldc + N, "gemm", "batch stride of C (",
           batch.stride_c, ") makes products overlap");
  NA_CHECK(C != nullptr || M * N == 0, "gemm", "null output");
  NA_CHECK((A != nullptr && B != nullptr) || M * N * K == 0, "gemm", "null input");
}

template <class T> inline T activate(T v, GemmActivation act) {
  switch (act) {
    case GemmActivation::none: return v;
    case GemmActivation::relu: return v < T(0) ? T(0) : v;  // NaN propagates, as torch.relu
    case GemmActivation::gelu_tanh: {
      const T k0 = T(0.7978845608028654), k1 = T(0.044715);
      return T(0.5) * v * (T(1) + std::tanh(k0 * (v + k1 * v * v * v)));
    }
    case GemmActivation::gelu_erf: return T(0.5) * v * (T(1) + std::erf(v * T(0.7071067811865476)));
    case GemmActivation::silu: return v / (T(1) + std::exp(-v));
  }
  return v;
}

// ------------------------------------------------------------------ blocked loop (f64, fallback)

// Each output tile is owned by one thread and summed over k in a fixed order, so the result
// does not depend on the thread count. B is packed per k-block so the inner j loop is unit
// stride whatever the transposes.
template <class T>
void gemm_loop(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda,
               const T* B, int64_t ldb, T* C, int64_t ldc, T beta, const T* bias, GemmActivation act,
               const GemmBatch& batch) {
  constexpr int64_t MB = 64, NB = 128, KB = 256;
  const int64_t mt = (M + MB - 1) / MB, nt = (N + NB - 1) / NB;
  const int64_t tiles = batch.count * mt * nt;
  const int64_t tile_work = std::min(M, MB) * std::min(N, NB) * std::max<int64_t>(K, 1);
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(tile_work, 1));
  parallel_for(0, tiles, grain, [&](int64_t t0, int64_t t1) {
    std::vector<T> acc(MB * NB), bp(KB * NB);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t / (mt * nt), r = t % (mt * nt);
      const int64_t i0 = (r / nt) * MB, j0 = (r % nt) * NB;
      const int64_t mb = std::min(MB, M - i0), nb = std::min(NB, N - j0);
      const T* Ab = A + b * batch.stride_a;
      const T* Bb = B + b * batch.stride_b;
      T* Cb = C + b * batch.stride_c;
      std::fill(acc.begin(), acc.begin() + mb * nb, T(0));
      for (int64_t k0 = 0; k0 < K; k0 += KB) {
        const int64_t kb = std::min(KB, K - k0);
        for (int64_t k = 0; k < kb; ++k)
          for (int64_t j = 0; j < nb; ++j)
            bp[k * nb + j] = trans_b ? Bb[(j0 + j) * ldb + k0 + k] : Bb[(k0 + k) * ldb + j0 + j];
        for (int64_t i = 0; i < mb; ++i) {
          T* ci = acc.data() + i * nb;
          for (int64_t k = 0; k < kb; ++k) {
            const T a = trans_a ? Ab[(k0 + k) * lda + i0 + i] : Ab[(i0 + i) * lda + k0 + k];
            const T* bk = bp.data() + k * nb;
            for (int64_t j = 0; j < nb; ++j) ci[j] += a * bk[j];
          }
        }
      }
      for (int64_t i = 0; i < mb; ++i) {
        T* crow = Cb + (i0 + i) * ldc + j0;
        const T* ci = acc.data() + i * nb;
        for (int64_t j = 0; j < nb; ++j) {
          T v = ci[j];
          if (bias) v += bias[j0 + j];
          if (beta != T(0)) v += beta * crow[j];
          crow[j] = activate(v, act);
        }
      }
    }
  });
}

// ------------------------------------------------------------------ oneDNN plumbing

struct Key {
  int64_t M, N, K, lda, ldb, ldc, count, stride_a, stride_b, stride_c;
  int threads;  // onednn::primitive_threads() when the primitive was made
  bool trans_a, trans_b, has_bias;
  GemmActivation act;
  uint32_t beta_bits;
  dnnl::memory::data_type dt;      // of A and B: f32 or bf16 (oneDNN accumulates in f32)
  dnnl::memory::data_type dst_dt;  // of C and bias: dt, or f32 for bf16 operands
  bool operator==(const Key&) const = default;
};

struct KeyHash {
  size_t operator()(const Key& k) const {
    onednn::KeyHasher h;
    for (int64_t v : {k.M, k.N, k.K, k.lda, k.ldb, k.ldc, k.count, k.stride_a, k.stride_b, k.stride_c,
                      int64_t{k.threads}})
      h.mix(static_cast<uint64_t>(v));
    h.mix((uint64_t{k.trans_a} << 0) | (uint64_t{k.trans_b} << 1) | (uint64_t{k.has_bias} << 2) |
          (uint64_t(k.act) << 3) | (uint64_t{k.beta_bits} << 8) | (uint64_t(k.dt) << 40) |
          (uint64_t(k.dst_dt) << 48));
    return h.value();
  }
};

struct Entry {
  bool usable = false;  // false: oneDNN would use its reference code or refused; use a fallback
  dnnl::matmul prim;
  dnnl::memory::desc a_md, b_md, c_md, bias_md, scratch_md;
  size_t scratch_bytes = 0;
};

using Cache = onednn::PrimitiveCache<Key, Entry, KeyHash, GemmCacheStats>;

Cache& cache() {
  static Cache* c = new Cache(1024);  // never destroyed: GEMMs may run during exit
  return *c;
}

// Descriptor of the logical rows×cols matrix op(X); stored transposed when trans. A broadcast
// batch (stride 0) becomes a batch dim of 1, which oneDNN broadcasts (a 0 stride sends it to
// its reference code).
dnnl::memory::desc matrix_md(dnnl::memory::data_type dt, bool batched, int64_t count, int64_t bstride,
                             int64_t rows, int64_t cols, bool trans, int64_t ld) {
  using dims = dnnl::memory::dims;
  const dims s2 = trans ? dims{1, ld} : dims{ld, 1};
  if (!batched) return dnnl::memory::desc({rows, cols}, dt, s2);
  const bool bcast = bstride == 0;
  const int64_t bs = bcast ? (trans ? ld * cols : ld * rows) : bstride;
  return dnnl::memory::desc({bcast ? 1 : count, rows, cols}, dt, {bs, s2[0], s2[1]});
}

dnnl::algorithm eltwise_alg(GemmActivation act) {
  switch (act) {
    case GemmActivation::relu: return dnnl::algorithm::eltwise_relu;
    case GemmActivation::gelu_tanh: return dnnl::algorithm::eltwise_gelu_tanh;
    case GemmActivation::gelu_erf: return dnnl::algorithm::eltwise_gelu_erf;
    case GemmActivation::silu: return dnnl::algorithm::eltwise_swish;  // x sigmoid(alpha x), alpha 1
    case GemmActivation::none: break;
  }
  return dnnl::algorithm::undef;
}

Entry make_entry(const Key& k, float beta) {
  Entry e;
  const bool batched = k.count > 1;
  e.a_md = matrix_md(k.dt, batched, k.count, k.stride_a, k.M, k.K, k.trans_a, k.lda);
  e.b_md = matrix_md(k.dt, batched, k.count, k.stride_b, k.K, k.N, k.trans_b, k.ldb);
  e.c_md = matrix_md(k.dst_dt, batched, k.count, k.stride_c, k.M, k.N, false, k.ldc);
  if (k.has_bias)
    e.bias_md = batched ? dnnl::memory::desc({1, 1, k.N}, k.dst_dt, {k.N, k.N, 1})
                        : dnnl::memory::desc({1, k.N}, k.dst_dt, {k.N, 1});
  try {
    dnnl::primitive_attr attr = onednn::user_scratchpad_attr();
    dnnl::post_ops po;
    if (beta != 0.f) po.append_sum(beta);
    if (k.act != GemmActivation::none)
      po.append_eltwise(1.f, eltwise_alg(k.act), k.act == GemmActivation::silu ? 1.f : 0.f, 0.f);
    attr.set_post_ops(po);
    auto desc = k.has_bias ? dnnl::matmul::desc(e.a_md, e.b_md, e.bias_md, e.c_md)
                           : dnnl::matmul::desc(e.a_md, e.b_md, e.c_md);
    dnnl::matmul::primitive_desc pd(desc, attr, onednn::engine());
    if (onednn::is_reference(pd.impl_info_str())) return e;
    e.scratch_md = pd.scratchpad_desc();
    e.scratch_bytes = e.scratch_md.get_size();
    e.prim = dnnl::matmul(pd);
    e.usable = true;
  } catch (const dnnl::error&) {
    e.usable = false;  // e.g. a geometry this oneDNN build does not support: use the fallback
  }
  return e;
}

// Small products go to dnnl_sgemm, whose call overhead is lower than the matmul primitive's.
// Measured with oneDNN 2.6 on this AVX-512 machine, 2 threads, best of 50+ runs (primitive vs
// sgemm): 8³ 1.2 vs 0.3-0.5 µs, 32³ 3.5 vs 1.4 µs, 80³ 12 vs 8 µs (B plain) and 11.5 vs 9.6 µs
// (B transposed), 96³ 15 vs 11 µs (plain) but 15 vs 18 µs (transposed), 128³ 29 vs 25 µs
// (plain) but 30 vs 33 µs (transposed); from 256³ up they are within noise of each other
// (~200 GFLOP/s at 1024³). Above these sizes, and for anything batched or with a fused
// epilogue, the cached primitive runs.
constexpr int64_t kSgemmMaxWork = int64_t{128} * 128 * 128;
constexpr int64_t kSgemmMaxWorkTransB = int64_t{80} * 80 * 80;

// Runs the cached oneDNN matmul primitive for operands of data type dt and C (and bias) of
// dst_dt; false when oneDNN has only its reference code (or refuses) for this geometry, so the
// caller falls back.
bool run_primitive(dnnl::memory::data_type dt, dnnl::memory::data_type dst_dt, bool trans_a, bool trans_b,
                   int64_t M, int64_t N, int64_t K, const void* A, int64_t lda, const void* B, int64_t ldb,
                   void* C, int64_t ldc, float beta, const void* bias, GemmActivation act,
                   const GemmBatch& batch) {
  uint32_t beta_bits;
  std::memcpy(&beta_bits, &beta, sizeof beta);
  // Strides of non-batched calls do not matter: zero them so they do not split the cache.
  const bool batched = batch.count > 1;
  Key key{M,   N,         K,  lda,   ldb, ldc, batch.count, 0, 0, 0, 0, trans_a, trans_b, bias != nullptr,
          act, beta_bits, dt, dst_dt};
  key.threads = onednn::primitive_threads();
  if (batched) key.stride_a = batch.stride_a, key.stride_b = batch.stride_b, key.stride_c = batch.stride_c;
  const std::shared_ptr<const Entry> entry = cache().get(key, [&] { return make_entry(key, beta); });
  const Entry& e = *entry;
  if (!e.usable) return false;
  try {
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, onednn::wrap(e.a_md, A)},
                                               {DNNL_ARG_WEIGHTS, onednn::wrap(e.b_md, B)},
                                               {DNNL_ARG_DST, onednn::wrap(e.c_md, C)}};
    if (bias) args.emplace(DNNL_ARG_BIAS, onednn::wrap(e.bias_md, bias));
    onednn::add_scratchpad(args, e.scratch_md, e.scratch_bytes, "gemm");
    auto& s = onednn::stream();
    e.prim.execute(s, args);
    s.wait();
  } catch (const dnnl::error& err) {
    detail::throw_error("gemm", "oneDNN matmul failed: ", err.what());
  }
  return true;
}

// bf16 without a oneDNN kernel (a CPU without AVX-512): each product's operands widened to
// contiguous f32, the f32 GEMM, the result rounded back (OutT bf16) or kept (OutT float). Slow
// but exact to f32 accumulation.
template <class OutT>
void gemm_bf16_widened(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const BFloat16* A,
                       int64_t lda, const BFloat16* B, int64_t ldb, OutT* C, int64_t ldc, float beta,
                       const OutT* bias, GemmActivation act, const GemmBatch& batch) {
  std::vector<float> a(M * K), b(K * N), c(M * N), fb(bias ? N : 0);
  for (int64_t j = 0; j < static_cast<int64_t>(fb.size()); ++j) fb[j] = bias[j];
  for (int64_t p = 0; p < batch.count; ++p) {
    const BFloat16* Ap = A + p * batch.stride_a;
    const BFloat16* Bp = B + p * batch.stride_b;
    OutT* Cp = C + p * batch.stride_c;
    for (int64_t i = 0; i < M; ++i)
      for (int64_t k = 0; k < K; ++k) a[i * K + k] = trans_a ? Ap[k * lda + i] : Ap[i * lda + k];
    for (int64_t k = 0; k < K; ++k)
      for (int64_t j = 0; j < N; ++j) b[k * N + j] = trans_b ? Bp[j * ldb + k] : Bp[k * ldb + j];
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) c[i * N + j] = beta != 0.f ? static_cast<float>(Cp[i * ldc + j]) : 0.f;
    // lda of at least 1 also for K = 0 (then only bias and beta * C count).
    gemm(false, false, M, N, K, a.data(), std::max<int64_t>(1, K), b.data(), N, c.data(), N, beta,
         bias ? fb.data() : nullptr, act);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) Cp[i * ldc + j] = OutT(c[i * N + j]);
  }
}

template <class OutT>
void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const BFloat16* A, int64_t lda,
               const BFloat16* B, int64_t ldb, OutT* C, int64_t ldc, float beta, const OutT* bias,
               GemmActivation act, const GemmBatch& batch) {
  check_geometry(trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc, batch);
  if (M == 0 || N == 0 || batch.count == 0) return;
  constexpr auto dst =
      std::is_same_v<OutT, float> ? dnnl::memory::data_type::f32 : dnnl::memory::data_type::bf16;
  if (K > 0 && run_primitive(dnnl::memory::data_type::bf16, dst, trans_a, trans_b, M, N, K, A, lda, B, ldb, C,
                             ldc, beta, bias, act, batch))
    return;
  gemm_bf16_widened(trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc, beta, bias, act, batch);
}
}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
          const float* B, int64_t ldb, float* C, int64_t ldc, float beta, const float* bias,
          GemmActivation act, const GemmBatch& batch) {
  check_geometry(trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc, batch);
  if (M == 0 || N == 0 || batch.count == 0) return;
  if (K == 0) {
    gemm_loop(trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc, beta, bias, act, batch);
    return;
  }
  if (batch.count == 1 && bias == nullptr && act == GemmActivation::none &&
      M * N * K <= (trans_b ? kSgemmMaxWorkTransB : kSgemmMaxWork)) {
    const dnnl_status_t st =
        dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, 1.f, A, lda, B, ldb, beta, C, ldc);
    NA_CHECK(st == dnnl_success, "gemm", "dnnl_sgemm failed with status ", static_cast<int>(st));
    return;
  }
  if (run_primitive(dnnl::memory::data_type::f32, dnnl::memory::data_type::f32, trans_a, trans_b, M, N, K, A,
                    lda, B, ldb, C, ldc, beta, bias, act, batch))
    return;
  if (batch.count > 1) {
    for (int64_t b = 0; b < batch.count; ++b)
      gemm(trans_a, trans_b, M, N, K, A + b * batch.stride_a, lda, B + b * batch.stride_b, ldb,
           C + b * batch.stride_c, ldc, beta, bias, act);
  } else {
    gemm_loop(trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc, beta, bias, act, batch);
  }
}

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const double* A, int64_t lda,
          const double* B, int64_t ldb, double* C, int64_t ldc, double beta, const double* bias,
          GemmActivation act, const GemmBatch& batch) {
  check_geometry(trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc, batch);
  if (M == 0 || N == 0 || batch.count == 0) return;
  gemm_loop(trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc, beta, bias, act, batch);
}

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const BFloat16* A, int64_t lda,
          const BFloat16* B, int64_t ldb, BFloat16* C, int64_t ldc, float beta, const BFloat16* bias,
          GemmActivation act, const GemmBatch& batch) {
  gemm_bf16(trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc, beta, bias, act, batch);
}

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const BFloat16* A, int64_t lda,
          const BFloat16* B, int64_t ldb, float* C, int64_t ldc, float beta, const float* bias,
          GemmActivation act, const GemmBatch& batch) {
  gemm_bf16(trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc, beta, bias, act, batch);
}

GemmCacheStats gemm_cache_stats() { return cache().stats(); }
void gemm_cache_clear() { cache().clear(); }

}  // namespace neural_arch::cpu
