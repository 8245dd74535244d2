// Fused NN kernels (see nn_kernels.hpp), written once on GCC vector types and compiled per
// instruction set (CMake builds this file with -DNA_ISA=base|avx2|avx512 and the matching -m
// flags). Everything lives in namespace NA_ISA so the copies never merge at link time.
//
// Ragged row ends are staged through a padded vector (padding chosen so it cannot change the
// result: -inf before an exp, 0 before a sum), so the tail runs the same arithmetic as the body.
// float exp is vec_math's (1 ulp); double uses std::exp lane by lane (f64 is for gradchecks).
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#ifndef NA_ISA
#define NA_ISA base
#endif

#include "backends/cpu/narrow_convert.hpp"
#include "backends/cpu/nn_kernels.hpp"
#include "backends/cpu/parallel.hpp"
#include "backends/cpu/simd.hpp"
#include "backends/cpu/vec_math.hpp"
#include "backends/cpu/vec_math_f64.hpp"

namespace neural_arch::cpu {
namespace NA_ISA {
namespace {

using simd::kBytes;
using simd::kLanes;
using simd::load;
using simd::store;
using simd::Vec;
constexpr double kInf = std::numeric_limits<double>::infinity();

template <class T> inline Vec<T> splat(T x) { return Vec<T>{} + x; }
// The first n (< lanes) elements of p, the other lanes = fill.
template <class T> inline Vec<T> ld_part(const T* p, int64_t n, T fill) {
  Vec<T> v = splat<T>(fill);
  for (int64_t i = 0; i < n; ++i) v[i] = p[i];
  return v;
}
template <class T> inline void st_part(T* p, Vec<T> v, int64_t n) {
  for (int64_t i = 0; i < n; ++i) p[i] = v[i];
}
// Helpers on any vector type V (deduced: an alias template argument cannot be).
template <class V> constexpr int lanes_of() { return static_cast<int>(sizeof(V) / sizeof(V{}[0])); }
template <class V> inline double hsum_d(V v) {
  double s = 0;
  for (int i = 0; i < lanes_of<V>(); ++i) s += v[i];
  return s;
}
// torch.max semantics: NaN wins.
template <class V> inline V vmax(V a, V m) { return ((a != a) | (a > m)) ? a : m; }
template <class V> inline auto hmax(V v) {
  auto m = v[0];
  for (int i = 1; i < lanes_of<V>(); ++i) m = (v[i] != v[i] || v[i] > m) ? v[i] : m;
  return m;
}

inline Vec<float> vexp(Vec<float> x) { return vecmath::exp(x); }
inline Vec<double> vexp(Vec<double> x) { return vecmath::exp(x); }  // libmvec (vec_math_f64.hpp)

// Applies f(i, count) over [0, n) in full vectors and one staged tail: f receives the element
// index and how many lanes are real (kLanes for full vectors).
template <class T, class F> inline void for_vec(int64_t n, F&& f) {
  int64_t i = 0;
  for (; i + kLanes<T> <= n; i += kLanes<T>) f(i, static_cast<int64_t>(kLanes<T>));
  if (i < n) f(i, n - i);
}
template <class T> inline Vec<T> load(const T* p, int64_t cnt, T fill) {
  return cnt == kLanes<T> ? load(p) : ld_part(p, cnt, fill);
}
template <class T> inline void store(T* p, Vec<T> v, int64_t cnt) {
  if (cnt == kLanes<T>)
    store(p, v);
  else
    st_part(p, v, cnt);
}

// 1 in the first cnt lanes, 0 in the rest.
template <class T> inline Vec<T> load_ones(int64_t cnt) {
  if (cnt == kLanes<T>) return splat<T>(1);
  Vec<T> v{};
  for (int64_t i = 0; i < cnt; ++i) v[i] = T(1);
  return v;
}

// Rows per task so that one task touches at least ~16K elements.
inline int64_t row_grain(int64_t n) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(n, 1)); }

// ============================================================ softmax

template <class T> T row_max(const T* x, int64_t n) {
  Vec<T> m = splat<T>(static_cast<T>(-kInf));
  for_vec<T>(n, [&](int64_t i, int64_t c) { m = vmax(load(x + i, c, static_cast<T>(-kInf)), m); });
  return hmax(m);
}

template <class T> void softmax_forward(T* y, const T* x, int64_t rows, int64_t n, bool log_form) {
  parallel_for(0, rows, row_grain(n), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const T* xr = x + r * n;
      T* yr = y + r * n;
      T m = row_max(xr, n);
      if (m == static_cast<T>(-kInf)) m = 0;  // all -inf row: 0 / 0 = NaN below, as torch
      const Vec<T> mv = splat(m);
      Vec<T> s{};
      if (log_form) {
        for_vec<T>(n, [&](int64_t i, int64_t c) { s += vexp(load(xr + i, c, static_cast<T>(-kInf)) - mv); });
        const Vec<T> sub = splat(static_cast<T>(m + std::log(hsum_d(s))));
        for_vec<T>(n, [&](int64_t i, int64_t c) { store(yr + i, load(xr + i, c, T(0)) - sub, c); });
      } else {
        for_vec<T>(n, [&](int64_t i, int64_t c) {
          const Vec<T> ev = vexp(load(xr + i, c, static_cast<T>(-kInf)) - mv);
          s += ev;
          store(yr + i, ev, c);
        });
        const Vec<T> inv = splat(static_cast<T>(1.0 / hsum_d(s)));
        for_vec<T>(n, [&](int64_t i, int64_t c) { store(yr + i, load(yr + i, c, T(0)) * inv, c); });
      }
    }
  });
}

template <class T>
void softmax_backward(T* gx, const T* gy, const T* y, int64_t rows, int64_t n, bool log_form) {
  parallel_for(0, rows, row_grain(n), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const T* g = gy + r * n;
      const T* yr = y + r * n;
      T* o = gx + r * n;
      Vec<T> s{};
      if (log_form) {
        for_vec<T>(n, [&](int64_t i, int64_t c) { s += load(g + i, c, T(0)); });
        const Vec<T> sv = splat(static_cast<T>(hsum_d(s)));
        for_vec<T>(n, [&](int64_t i, int64_t c) {
          store(o + i, load(g + i, c, T(0)) - vexp(load(yr + i, c, static_cast<T>(-kInf))) * sv, c);
        });
      } else {
        for_vec<T>(n, [&](int64_t i, int64_t c) { s += load(g + i, c, T(0)) * load(yr + i, c, T(0)); });
        const Vec<T> sv = splat(static_cast<T>(hsum_d(s)));
        for_vec<T>(n, [&](int64_t i, int64_t c) {
          store(o + i, load(yr + i, c, T(0)) * (load(g + i, c, T(0)) - sv), c);
        });
      }
    }
  });
}

// ============================================================ cross-entropy

template <class T>
void ce_forward(const T* x, int64_t rows, int64_t C, const T* w, const T* probs, T* lse, double* wx,
                double* wtx, double* wt) {
  parallel_for(0, rows, row_grain(C), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const T* xr = x + r * C;
      const T* tr = probs ? probs + r * C : nullptr;
      T m = row_max(xr, C);
      const T shift = m == static_cast<T>(-kInf) ? T(0) : m;
      const Vec<T> mv = splat(shift);
      Vec<T> s{}, swx{}, swtx{}, swt{};
      for_vec<T>(C, [&](int64_t i, int64_t c) {
        const Vec<T> xv = load(xr + i, c, static_cast<T>(-kInf));
        s += vexp(xv - mv);
        if (!wx && !tr) return;
        const Vec<T> x0 = load(xr + i, c, T(0));  // padding 0 keeps w * x finite
        const Vec<T> wmask = w ? load(w + i, c, T(0)) : load_ones<T>(c);
        if (wx) swx += wmask * x0;
        if (tr) {
          const Vec<T> wtv = wmask * load(tr + i, c, T(0));
          swtx += wtv * x0;
          swt += wtv;
        }
      });
      lse[r] = static_cast<T>(shift + std::log(hsum_d(s)));
      if (wx) wx[r] = hsum_d(swx);
      if (tr) {
        wtx[r] = hsum_d(swtx);
        wt[r] = hsum_d(swt);
      }
    }
  });
}

template <class T>
void ce_backward(T* gx, const T* x, const T* lse, int64_t rows, int64_t C, const T* w, const T* probs,
                 const int64_t* tgt, const double* a, const double* s, const double* p, const double* d) {
  parallel_for(0, rows, row_grain(C), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const T* xr = x + r * C;
      T* o = gx + r * C;
      const T* tr = probs ? probs + r * C : nullptr;
      const Vec<T> av = splat(static_cast<T>(a[r])), lv = splat(lse[r]);
      const Vec<T> sv = splat(static_cast<T>(s ? s[r] : 0.0)), pv = splat(static_cast<T>(p ? p[r] : 0.0));
      for_vec<T>(C, [&](int64_t i, int64_t c) {
        Vec<T> g = av * vexp(load(xr + i, c, static_cast<T>(-kInf)) - lv);
        const Vec<T> wv = w ? load(w + i, c, T(0)) : splat<T>(1);
        if (s) g -= sv * wv;
        if (tr) g -= pv * wv * load(tr + i, c, T(0));
        store(o + i, g, c);
      });
      if (tgt && tgt[r] >= 0) o[tgt[r]] -= static_cast<T>(d[r]);
    }
  });
}

// ============================================================ layer_norm / rms_norm

// Column sums of fixed row blocks (partial: blocks × n) added in block order, in double:
// the same bits for any thread count. Threads split columns; each walks the blocks row by row.
template <class T> void sum_partials(T* out, const std::vector<T>& partial, int64_t blocks, int64_t n) {
  parallel_for(0, n, 256, [&](int64_t cb, int64_t ce) {
    std::vector<double> acc(static_cast<size_t>(ce - cb), 0.0);
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const T* p = partial.data() + blk * n;
      for (int64_t c = cb; c < ce; ++c) acc[static_cast<size_t>(c - cb)] += p[c];
    }
    for (int64_t c = cb; c < ce; ++c) out[c] = static_cast<T>(acc[static_cast<size_t>(c - cb)]);
  });
}

template <class T>
void norm_forward(T* y, T* mean, T* rstd, const T* x, const T* w, const T* bias, int64_t rows, int64_t n,
                  double eps, bool rms) {
  parallel_for(0, rows, row_grain(n), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const T* xr = x + r * n;
      T* yr = y + r * n;
      double mu = 0;
      if (!rms) {
        Vec<T> s{};
        for_vec<T>(n, [&](int64_t i, int64_t c) { s += load(xr + i, c, T(0)); });
        mu = hsum_d(s) / static_cast<double>(n);
      }
      // Two passes (mean, then squared deviations): exact for any offset, unlike E[x^2] - E[x]^2.
      const Vec<T> muv = splat(static_cast<T>(mu));
      Vec<T> q{};
      for_vec<T>(n, [&](int64_t i, int64_t c) {
        const Vec<T> dv = load(xr + i, c, static_cast<T>(mu)) - muv;
        q += dv * dv;
      });
      const double rs = 1.0 / std::sqrt(hsum_d(q) / static_cast<double>(n) + eps);
      if (mean) mean[r] = static_cast<T>(mu);
      rstd[r] = static_cast<T>(rs);
      const Vec<T> rv = splat(static_cast<T>(rs));
      for_vec<T>(n, [&](int64_t i, int64_t c) {
        Vec<T> v = (load(xr + i, c, T(0)) - muv) * rv;
        if (w) v *= load(w + i, c, T(0));
        if (bias) v += load(bias + i, c, T(0));
        store(yr + i, v, c);
      });
    }
  });
}

template <class T>
void norm_backward(T* gx, T* gw, T* gb, const T* gy, const T* x, const T* mean, const T* rstd, const T* w,
                   int64_t rows, int64_t n, bool rms) {
  // Weight/bias gradients: each fixed block of rows sums into its own partial row, then the
  // partials are added in block order, so the result is the same for any thread count.
  constexpr int64_t kBlock = 32;
  const int64_t blocks = (rows + kBlock - 1) / kBlock;
  const bool want_params = gw || gb;
  std::vector<T> pw(want_params && gw ? static_cast<size_t>(blocks * n) : 0);
  std::vector<T> pb(want_params && gb ? static_cast<size_t>(blocks * n) : 0);
  const double inv_n = 1.0 / static_cast<double>(n);
  parallel_for(0, blocks, std::max<int64_t>(1, row_grain(n) / kBlock), [&](int64_t bb, int64_t be) {
    for (int64_t blk = bb; blk < be; ++blk) {
      T* pwr = gw ? pw.data() + blk * n : nullptr;
      T* pbr = gb ? pb.data() + blk * n : nullptr;
      if (pwr) std::fill(pwr, pwr + n, T(0));
      if (pbr) std::fill(pbr, pbr + n, T(0));
      for (int64_t r = blk * kBlock; r < std::min(rows, (blk + 1) * kBlock); ++r) {
        const T* xr = x + r * n;
        const T* g = gy + r * n;
        T* o = gx + r * n;
        const Vec<T> muv = splat(rms ? T(0) : mean[r]);
        const Vec<T> rv = splat(rstd[r]);
        // xhat = (x - mean) * rstd; gxhat = gy * w.
        Vec<T> s1{}, s2{};
        for_vec<T>(n, [&](int64_t i, int64_t c) {
          const Vec<T> xh = (load(xr + i, c, T(0)) - muv) * rv;
          Vec<T> gh = load(g + i, c, T(0));
          if (pwr) store(pwr + i, load(pwr + i, c, T(0)) + gh * xh, c);
          if (pbr) store(pbr + i, load(pbr + i, c, T(0)) + gh, c);
          if (w) gh *= load(w + i, c, T(0));
          s1 += gh;
          s2 += gh * xh;
        });
        const Vec<T> m1 = splat(static_cast<T>(rms ? 0.0 : hsum_d(s1) * inv_n));
        const Vec<T> m2 = splat(static_cast<T>(hsum_d(s2) * inv_n));
        for_vec<T>(n, [&](int64_t i, int64_t c) {
          const Vec<T> xh = (load(xr + i, c, T(0)) - muv) * rv;
          Vec<T> gh = load(g + i, c, T(0));
          if (w) gh *= load(w + i, c, T(0));
          store(o + i, rv * (gh - m1 - xh * m2), c);
        });
      }
    }
  });
  if (gw) sum_partials(gw, pw, blocks, n);
  if (gb) sum_partials(gb, pb, blocks, n);
}

// ============================================================ bias + dropout + residual

// murmur3's 32-bit finaliser: a bijection with full avalanche, vectorizes to shifts and vpmulld.
typedef uint32_t VecU __attribute__((vector_size(kBytes)));
inline VecU fmix32(VecU h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}
inline uint64_t splitmix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
constexpr int kULanes = kBytes / 4;

// The keep mask of row r, columns [i, i + kLanes<T>), as 1/0 per lane (lanes of T, whose count
// may be less than the 32-bit lane count: the first kLanes<T> hash lanes are used).
template <class T> inline Vec<T> keep_mask(uint64_t key, int64_t i, uint64_t threshold) {
  VecU idx;
  for (int l = 0; l < kULanes; ++l) idx[l] = static_cast<uint32_t>(i + l);
  const uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  const VecU h = fmix32(fmix32(idx ^ k0) + k1);
  Vec<T> m{};
  for (int l = 0; l < kLanes<T>; ++l) m[l] = static_cast<uint64_t>(h[l]) < threshold ? T(1) : T(0);
  return m;
}
// float: lane counts match, so the compare stays a vector op.
template <> inline Vec<float> keep_mask<float>(uint64_t key, int64_t i, uint64_t threshold) {
  VecU idx;
  for (int l = 0; l < kULanes; ++l) idx[l] = static_cast<uint32_t>(i + l);
  const uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  const VecU h = fmix32(fmix32(idx ^ k0) + k1);
  if (threshold >= (1ull << 32)) return splat(1.0f);
  typedef int32_t VecI __attribute__((vector_size(kBytes)));
  const VecI keep = h < static_cast<uint32_t>(threshold);  // -1 where kept
  return (Vec<float>)((VecI)splat(1.0f) & keep);
}

template <class T>
void bias_dropout_add(T* y, const T* x, const T* bias, const T* res, int64_t rows, int64_t n, uint64_t seed,
                      uint64_t threshold, double scale) {
  const Vec<T> sc = splat(static_cast<T>(scale));
  parallel_for(0, rows, row_grain(n), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const uint64_t key = splitmix64(seed ^ splitmix64(static_cast<uint64_t>(r)));
      for_vec<T>(n, [&](int64_t i, int64_t c) {
        Vec<T> v = load(x + r * n + i, c, T(0));
        if (bias) v += load(bias + i, c, T(0));
        v *= keep_mask<T>(key, i, threshold) * sc;
        if (res) v += load(res + r * n + i, c, T(0));
        store(y + r * n + i, v, c);
      });
    }
  });
}

template <class T>
void dropout_backward(T* gx, T* gbias, const T* gy, int64_t rows, int64_t n, uint64_t seed,
                      uint64_t threshold, double scale) {
  const Vec<T> sc = splat(static_cast<T>(scale));
  // The bias gradient (column sums of gx) is summed while gx is written: per fixed block of rows
  // into a partial row, then the partials in block order (deterministic for any thread count).
  constexpr int64_t kBlock = 32;
  const int64_t blocks = (rows + kBlock - 1) / kBlock;
  std::vector<T> partial(gbias ? static_cast<size_t>(blocks * n) : 0);
  parallel_for(0, blocks, std::max<int64_t>(1, row_grain(n) / kBlock), [&](int64_t bb, int64_t be) {
    for (int64_t blk = bb; blk < be; ++blk) {
      T* pr = gbias ? partial.data() + blk * n : nullptr;
      if (pr) std::fill(pr, pr + n, T(0));
      for (int64_t r = blk * kBlock; r < std::min(rows, (blk + 1) * kBlock); ++r) {
        const uint64_t key = splitmix64(seed ^ splitmix64(static_cast<uint64_t>(r)));
        for_vec<T>(n, [&](int64_t i, int64_t c) {
          const Vec<T> g = load(gy + r * n + i, c, T(0)) * keep_mask<T>(key, i, threshold) * sc;
          store(gx + r * n + i, g, c);
          if (pr) store(pr + i, load(pr + i, c, T(0)) + g, c);
        });
      }
    }
  });
  if (gbias) sum_partials(gbias, partial, blocks, n);
}

// ============================================================ attention

// C (M×N, row stride ldc) = [C +] A·B for small blocks. A(m, k) = A[m*sam + k*sak] (so a
// transposed A costs nothing: its elements are broadcast one at a time); B is row-major K×N.
// Register tile: MR rows × NV vectors of C held in registers across the whole K loop.
constexpr int kMaxMR = 4;
constexpr int kMaxNV = kBytes == 64 ? 4 : 2;

template <class T, int MR, int NV>
inline void micro_tile(int64_t K, const T* A, int64_t sam, int64_t sak, const T* B, int64_t ldb, T* C,
                       int64_t ldc, bool acc) {
  constexpr int L = kLanes<T>;
  Vec<T> c[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) c[r][v] = acc ? load(C + r * ldc + v * L) : Vec<T>{};
  for (int64_t k = 0; k < K; ++k) {
    Vec<T> b[NV];
    for (int v = 0; v < NV; ++v) b[v] = load(B + k * ldb + v * L);
    for (int r = 0; r < MR; ++r) {
      const Vec<T> a = splat(A[r * sam + k * sak]);
      for (int v = 0; v < NV; ++v) c[r][v] += a * b[v];
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) store(C + r * ldc + v * L, c[r][v]);
}

template <class T, int MR>
inline void tile_nv(int nv, int64_t K, const T* A, int64_t sam, int64_t sak, const T* B, int64_t ldb, T* C,
                    int64_t ldc, bool acc) {
  switch (nv) {
    case 1: return micro_tile<T, MR, 1>(K, A, sam, sak, B, ldb, C, ldc, acc);
    case 2: return micro_tile<T, MR, 2>(K, A, sam, sak, B, ldb, C, ldc, acc);
    case 3:
      if constexpr (kMaxNV >= 3) return micro_tile<T, MR, 3>(K, A, sam, sak, B, ldb, C, ldc, acc);
      break;
    case 4:
      if constexpr (kMaxNV >= 4) return micro_tile<T, MR, 4>(K, A, sam, sak, B, ldb, C, ldc, acc);
      break;
  }
}

template <class T>
void gemm_small(int64_t M, int64_t N, int64_t K, const T* A, int64_t sam, int64_t sak, const T* B,
                int64_t ldb, T* C, int64_t ldc, bool acc) {
  constexpr int L = kLanes<T>;
  int64_t n0 = 0;
  while (N - n0 >= L) {
    const int nv = static_cast<int>(std::min<int64_t>(kMaxNV, (N - n0) / L));
    for (int64_t m0 = 0; m0 < M; m0 += kMaxMR) {
      const T* a = A + m0 * sam;
      T* c = C + m0 * ldc + n0;
      switch (std::min<int64_t>(kMaxMR, M - m0)) {
        case 1: tile_nv<T, 1>(nv, K, a, sam, sak, B + n0, ldb, c, ldc, acc); break;
        case 2: tile_nv<T, 2>(nv, K, a, sam, sak, B + n0, ldb, c, ldc, acc); break;
        case 3: tile_nv<T, 3>(nv, K, a, sam, sak, B + n0, ldb, c, ldc, acc); break;
        default: tile_nv<T, 4>(nv, K, a, sam, sak, B + n0, ldb, c, ldc, acc); break;
      }
    }
    n0 += nv * L;
  }
  for (int64_t m = 0; m < M; ++m)  // the last N % L columns
    for (int64_t n = n0; n < N; ++n) {
      T s = acc ? C[m * ldc + n] : T(0);
      for (int64_t k = 0; k < K; ++k) s += A[m * sam + k * sak] * B[k * ldb + n];
      C[m * ldc + n] = s;
    }
}

// Block sizes: a 64×64 score block (16 KiB in float) and the Q/K/V panels it touches stay in L1/L2.
constexpr int64_t kBQ = 64;
constexpr int64_t kBK = 64;

// Packs the (S × D, row stride ld) matrix M as S/kBK panels of D × kBK (its transpose, block by
// block), so that a score block Q·K_jᵀ reads a row-major B with a short leading dim.
template <class T> void pack_transposed(T* dst, const T* src, int64_t S, int64_t D, int64_t ld) {
  for (int64_t j0 = 0; j0 < S; j0 += kBK) {
    T* panel = dst + (j0 / kBK) * D * kBK;
    const int64_t bk = std::min(kBK, S - j0);
    for (int64_t j = 0; j < bk; ++j) {
      const T* row = src + (j0 + j) * ld;
      for (int64_t d = 0; d < D; ++d) panel[d * kBK + j] = row[d];
    }
    if (bk < kBK)  // unused panel columns: zero, so the full-width tile reads defined values
      for (int64_t d = 0; d < D; ++d) std::fill(panel + d * kBK + bk, panel + (d + 1) * kBK, T(0));
  }
}

// ------------------------------------------------------------ bf16 dot products
// For bf16 storage on AVX512-BF16 CPUs (checked at run time), the two score-shaped products
// with the head dim inside, S = Q·Kᵀ and dP = dO·Vᵀ, use vdpbf16ps on the bf16 data itself:
// two exact bf16 products per f32 lane per instruction, accumulated in f32 (like the f32 path
// up to summation order; bf16 subnormal inputs count as 0). The other products take P or dS,
// which stay f32, so they run on the widened f32 copies.
#if defined(__AVX512F__)
inline bool cpu_has_dpbf16() {
  static const bool has = __builtin_cpu_supports("avx512bf16");
  return has;
}

// Packs (S × D) bf16 rows (row stride ld, D even) as S/kBK panels of D/2 × kBK feature pairs:
// pair (d, d+1) of key j of panel p at dst[p * D/2 * kBK + d/2 * kBK + j] (d even, the lower
// half holding d, vdpbf16ps's order). Unused columns are 0.
inline void pack_pairs(uint32_t* dst, const BFloat16* src, int64_t S, int64_t D, int64_t ld) {
  const int64_t D2 = D / 2;
  for (int64_t j0 = 0; j0 < S; j0 += kBK) {
    uint32_t* panel = dst + (j0 / kBK) * D2 * kBK;
    const int64_t bk = std::min(kBK, S - j0);
    for (int64_t j = 0; j < bk; ++j) {
      const BFloat16* row = src + (j0 + j) * ld;
      for (int64_t d2 = 0; d2 < D2; ++d2) std::memcpy(panel + d2 * kBK + j, row + 2 * d2, 4);
    }
    if (bk < kBK)
      for (int64_t d2 = 0; d2 < D2; ++d2) std::fill(panel + d2 * kBK + bk, panel + (d2 + 1) * kBK, 0u);
  }
}

// C (MR × kBK, row stride kBK) = A·panel for MR bf16 rows of A (row stride lda, D2 pairs).
template <int MR>
__attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl"))) inline void dp_tile(
    int64_t D2, const BFloat16* A, int64_t lda, const uint32_t* B, float* C) {
  static_assert(kBK == 64, "four 16-lane vectors per score row");
  __m512 c[MR][4];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < 4; ++v) c[r][v] = _mm512_setzero_ps();
  for (int64_t k = 0; k < D2; ++k) {
    __m512bh b[4];
    for (int v = 0; v < 4; ++v) b[v] = (__m512bh)_mm512_loadu_si512(B + k * kBK + v * 16);
    for (int r = 0; r < MR; ++r) {
      uint32_t pair;
      std::memcpy(&pair, A + r * lda + 2 * k, 4);
      const __m512bh a = (__m512bh)_mm512_set1_epi32(static_cast<int>(pair));
      for (int v = 0; v < 4; ++v) c[r][v] = _mm512_dpbf16_ps(c[r][v], a, b[v]);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < 4; ++v) _mm512_storeu_ps(C + r * kBK + v * 16, c[r][v]);
}

// The M × kBK score block of M bf16 rows against one pair panel (what gemm_small computes from
// the widened rows and the f32 panel).
inline void dp_scores(int64_t M, int64_t D, const BFloat16* A, int64_t lda, const uint32_t* panel, float* C) {
  const int64_t D2 = D / 2;
  for (int64_t m0 = 0; m0 < M; m0 += 4) {
    const BFloat16* a = A + m0 * lda;
    float* c = C + m0 * kBK;
    switch (std::min<int64_t>(4, M - m0)) {
      case 1: dp_tile<1>(D2, a, lda, panel, c); break;
      case 2: dp_tile<2>(D2, a, lda, panel, c); break;
      case 3: dp_tile<3>(D2, a, lda, panel, c); break;
      default: dp_tile<4>(D2, a, lda, panel, c); break;
    }
  }
}
#endif

// pack_pairs for bf16 storage (the only one use_dpbf16 admits; a no-op for the others).
template <class S> inline void pack_pairs_of(uint32_t* dst, const S* src, int64_t S_, int64_t D, int64_t ld) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<S, BFloat16>) pack_pairs(dst, src, S_, D, ld);
#endif
  (void)dst, (void)src, (void)S_, (void)D, (void)ld;
}

// Whether a product with head dim n runs on bf16 dot products (see above).
template <class S> inline bool use_dpbf16(int64_t n) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<S, BFloat16>) return n % 2 == 0 && cpu_has_dpbf16();
#endif
  (void)n;
  return false;
}

// Number of keys of block [j0, j0 + bk) visible from query i.
inline int64_t visible(bool causal, int64_t i, int64_t j0, int64_t bk) {
  return causal ? std::clamp<int64_t>(i - j0 + 1, 0, bk) : bk;
}

// Runs task(t) for t in [0, n) over the OpenMP team with a dynamic schedule of `chunk` tasks
// (causal tasks differ in cost); each thread first calls init() for its scratch. Tasks write
// disjoint outputs, so results do not depend on the schedule.
template <class Init, class Task> void run_tasks(int64_t n, int64_t chunk, Init&& init, Task&& task) {
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (threads <= 1 || n <= 1) {
    auto st = init();
    for (int64_t t = 0; t < n; ++t) task(st, t);
    return;
  }
#pragma omp parallel num_threads(static_cast <int>(std::min <int64_t>(threads, n)))
  {
    auto st = init();
#pragma omp for schedule(dynamic, chunk)
    for (int64_t t = 0; t < n; ++t) task(st, t);
  }
}

// ------------------------------------------------------------ bf16/f16 storage
// Attention on f16/bf16 tensors stores narrow and computes in f32 (C = attention_compute_t<S>):
// each head's Q, K, V (and dO) are widened once into the thread's f32 scratch with the
// vectorized conversions of narrow_convert.hpp, the products and the online softmax run in the
// f32 code below (except bf16's Q·Kᵀ and dO·Vᵀ on AVX512-BF16: use_dpbf16), and outputs (o, dq,
// dk, dv) are rounded once from their f32 accumulators; lse stays f32. For f32/f64 the views are
// the tensors themselves (no copy).

// A (rows × cols, row stride ld) matrix in the compute type.
template <class C> struct MatView {
  const C* p = nullptr;
  int64_t ld = 0;
};

template <class S, class C> inline void widen_run(C* dst, const S* src, int64_t n) {
  if constexpr (std::is_same_v<S, C>)
    std::copy(src, src + n, dst);
  else if constexpr (std::is_same_v<S, BFloat16>)
    narrow::bf16_to_f32(dst, reinterpret_cast<const uint16_t*>(src), n);
  else
    narrow::f16_to_f32(dst, reinterpret_cast<const uint16_t*>(src), n);
}
// Rounds n compute-type elements into storage (once: the only rounding of a narrow output).
template <class S, class C> inline void store_run(S* dst, const C* src, int64_t n) {
  if constexpr (std::is_same_v<S, C>)
    std::copy(src, src + n, dst);
  else if constexpr (std::is_same_v<S, BFloat16>)
    narrow::f32_to_bf16(reinterpret_cast<uint16_t*>(dst), src, n);
  else
    narrow::f32_to_f16(reinterpret_cast<uint16_t*>(dst), src, n);
}

// The matrix src in the compute type: itself when S is C, else widened into buf (contiguous).
template <class S, class C>
MatView<C> as_compute(const S* src, int64_t rows, int64_t cols, int64_t ld, std::vector<C>& buf) {
  if constexpr (std::is_same_v<S, C>) {
    return {src, ld};
  } else {
    buf.resize(static_cast<size_t>(rows * cols));
    for (int64_t r = 0; r < rows; ++r) widen_run(buf.data() + r * cols, src + r * ld, cols);
    return {buf.data(), cols};
  }
}

// out (bq × kBK) = rows [i0, i0+bq) of a head's (· × n) matrix times panel j0: of the storage
// rows (rows_n, stride ldn) on bf16 dot products when dp, else of the compute-type rows (rows_c,
// stride ldc) with the f32/f64 micro-kernel (kt: pack_transposed panels, ktp: pack_pairs ones).
template <class S, class C>
void score_block(bool dp, int64_t i0, int64_t bq, int64_t n, const S* rows_n, int64_t ldn, const C* rows_c,
                 int64_t ldc, const C* kt, const uint32_t* ktp, int64_t j0, C* out) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<S, BFloat16>)
    if (dp) return dp_scores(bq, n, rows_n + i0 * ldn, ldn, ktp + (j0 / kBK) * (n / 2) * kBK, out);
#endif
  (void)dp, (void)rows_n, (void)ldn, (void)ktp;
  gemm_small<C>(bq, kBK, n, rows_c + i0 * ldc, ldc, 1, kt + (j0 / kBK) * n * kBK, kBK, out, kBK, false);
}

// A thread's scratch for one head: K (and V) packed transposed, the head's matrices in the
// compute type (q, k, v, dout: in place, or widened into qf, kf, vf, dof), and which head they hold.
template <class C> struct HeadScratch {
  std::vector<C> kt, vt, s, dp, dk, dv, oacc;
  std::vector<C> qf, kf, vf, dof, dqf;  // narrow storage only
  std::vector<uint32_t> ktp, vtp;       // bf16 pair panels (use_dpbf16)
  std::vector<double> m, l;
  MatView<C> q, k, v, dout;
  int64_t packed = -1;
};

// Scaled scores of query rows [i0, i0+bq) against key block j0 (bk keys) turned into
// probabilities P = exp(s - lse) (masked keys 0), written to p (bq × kBK).
template <class S, class C>
void block_probs(const AttentionArgs<S>& a, bool dp, const S* qn, MatView<C> q, const HeadScratch<C>& w,
                 const C* lse, int64_t i0, int64_t bq, int64_t j0, int64_t bk, C* p) {
  score_block(dp, i0, bq, a.D, qn, a.q_row, q.p, q.ld, w.kt.data(), w.ktp.data(), j0, p);
  const Vec<C> scv = splat(static_cast<C>(a.scale));
  for (int64_t r = 0; r < bq; ++r) {
    C* pr = p + r * kBK;
    const int64_t vis = visible(a.causal, i0 + r, j0, bk);
    const Vec<C> lv = splat(lse[i0 + r]);
    for (int64_t c = 0; c < kBK; c += kLanes<C>) {
      Vec<C> sv = load(pr + c) * scv - lv;
      for (int lane = 0; lane < kLanes<C>; ++lane)
        if (c + lane >= vis) sv[lane] = static_cast<C>(-kInf);
      store(pr + c, vexp(sv));
    }
  }
}

// dS = P ∘ (dO·Vᵀ − delta) · scale for the block, written to dp (bq × kBK).
template <class S, class C>
void block_dscores(const AttentionArgs<S>& a, bool dpv, const S* dout_n, const C* dout,
                   const HeadScratch<C>& w, const C* delta, int64_t i0, int64_t bq, int64_t j0, const C* p,
                   C* dp) {
  score_block(dpv, i0, bq, a.Dv, dout_n, a.Dv, dout, a.Dv, w.vt.data(), w.vtp.data(), j0, dp);
  const Vec<C> scv = splat(static_cast<C>(a.scale));
  for (int64_t r = 0; r < bq; ++r) {
    const Vec<C> dl = splat(delta[i0 + r]);
    C* dr = dp + r * kBK;
    const C* pr = p + r * kBK;
    for (int64_t c = 0; c < kBK; c += kLanes<C>) store(dr + c, load(pr + c) * (load(dr + c) - dl) * scv);
  }
}

template <class S> void attention_forward(const AttentionArgs<S>& a) {
  using C = attention_compute_t<S>;
  const int64_t L = a.L, Sk = a.S, D = a.D, Dv = a.Dv;
  const int64_t panels = (Sk + kBK - 1) / kBK, nqb = (L + kBQ - 1) / kBQ;
  // Tasks are (head, query block); whole heads per chunk when there are heads enough to share,
  // so each thread packs K (and widens a narrow head) once per head.
  const int64_t chunk = a.batch >= 2 * omp_get_max_threads() ? nqb : 1;
  const bool dp = use_dpbf16<S>(D);  // Q·Kᵀ on bf16 dot products: no widened Q or K
  auto init = [&] {
    HeadScratch<C> w;
    if (dp)
      w.ktp.resize(static_cast<size_t>(panels * (D / 2) * kBK));
    else
      w.kt.resize(static_cast<size_t>(panels * D * kBK));
    w.s.resize(static_cast<size_t>(kBQ * kBK));
    w.oacc.resize(static_cast<size_t>(kBQ * Dv));
    w.m.resize(kBQ), w.l.resize(kBQ);
    return w;
  };
  run_tasks(a.batch * nqb, chunk, init, [&](HeadScratch<C>& w, int64_t task) {
    const int64_t h = task / nqb, i0 = (task % nqb) * kBQ;
    if (w.packed != h) {
      if (dp) {
        pack_pairs_of(w.ktp.data(), a.k + a.k_off[h], Sk, D, a.k_row);
      } else {
        w.q = as_compute(a.q + a.q_off[h], L, D, a.q_row, w.qf);
        w.k = as_compute(a.k + a.k_off[h], Sk, D, a.k_row, w.kf);
        pack_transposed(w.kt.data(), w.k.p, Sk, D, w.k.ld);
      }
      w.v = as_compute(a.v + a.v_off[h], Sk, Dv, a.v_row, w.vf);
      w.packed = h;
    }
    const C* v = w.v.p;
    C* lse = a.lse + h * L;
    C* sblk = w.s.data();
    const int64_t bq = std::min(kBQ, L - i0);
    std::fill(w.m.begin(), w.m.end(), -kInf);
    std::fill(w.l.begin(), w.l.end(), 0.0);
    std::fill(w.oacc.begin(), w.oacc.end(), C(0));
    // Causal: keys after the block's last query are masked for every row; skip those blocks.
    const int64_t kend = a.causal ? std::min(Sk, i0 + bq) : Sk;
    for (int64_t j0 = 0; j0 < kend; j0 += kBK) {
      const int64_t bk = std::min(kBK, kend - j0);
      score_block(dp, i0, bq, D, a.q + a.q_off[h], a.q_row, w.q.p, w.q.ld, w.kt.data(), w.ktp.data(), j0,
                  sblk);
      for (int64_t r = 0; r < bq; ++r) {
        C* s = sblk + r * kBK;
        const int64_t vis = visible(a.causal, i0 + r, j0, bk);
        const Vec<C> scv = splat(static_cast<C>(a.scale));
        Vec<C> mx = splat(static_cast<C>(-kInf));
        for (int64_t c = 0; c < kBK; c += kLanes<C>) {
          Vec<C> sv = load(s + c) * scv;
          for (int lane = 0; lane < kLanes<C>; ++lane)
            if (c + lane >= vis) sv[lane] = static_cast<C>(-kInf);
          store(s + c, sv);
          mx = vmax(sv, mx);
        }
        const double mnew = std::max(w.m[r], static_cast<double>(hmax(mx)));
        if (mnew == -kInf) {  // nothing visible yet in this row
          std::fill(s, s + kBK, C(0));
          continue;
        }
        const Vec<C> mv = splat(static_cast<C>(mnew));
        Vec<C> sum{};
        for (int64_t c = 0; c < kBK; c += kLanes<C>) {
          const Vec<C> pv = vexp(load(s + c) - mv);
          sum += pv;
          store(s + c, pv);
        }
        // Online softmax: rescale what this row accumulated under the old maximum.
        const double corr = std::exp(w.m[r] - mnew);
        w.l[r] = w.l[r] * corr + hsum_d(sum);
        w.m[r] = mnew;
        if (corr != 1.0) {
          const Vec<C> cv = splat(static_cast<C>(corr));
          C* orow = w.oacc.data() + r * Dv;
          for_vec<C>(Dv,
                     [&](int64_t d, int64_t cnt) { store(orow + d, load(orow + d, cnt, C(0)) * cv, cnt); });
        }
      }
      gemm_small<C>(bq, Dv, bk, sblk, kBK, 1, v + j0 * w.v.ld, w.v.ld, w.oacc.data(), Dv, true);
    }
    for (int64_t r = 0; r < bq; ++r) {
      const Vec<C> inv = splat(static_cast<C>(1.0 / w.l[r]));
      C* orow = w.oacc.data() + r * Dv;
      for_vec<C>(Dv, [&](int64_t d, int64_t cnt) { store(orow + d, load(orow + d, cnt, C(0)) * inv, cnt); });
      lse[i0 + r] = static_cast<C>(w.m[r] + std::log(w.l[r]));
    }
    store_run(a.o + h * L * Dv + i0 * Dv, w.oacc.data(), bq * Dv);  // o is contiguous per head
  });
}

template <class S> void attention_backward(const AttentionArgs<S>& a) {
  using C = attention_compute_t<S>;
  constexpr bool kNarrowS = !std::is_same_v<S, C>;
  const int64_t L = a.L, Sk = a.S, D = a.D, Dv = a.Dv;
  const int64_t panels = (Sk + kBK - 1) / kBK, nqb = (L + kBQ - 1) / kBQ, nkb = panels;
  // delta_i = sum_c dO_ic O_ic = sum_j P_ij dP_ij: the softmax backward's row term.
  std::vector<C> delta(static_cast<size_t>(a.batch * L));
  parallel_for(0, a.batch * L, row_grain(Dv), [&](int64_t b, int64_t e) {
    std::vector<C> dob, ob;  // widened rows (narrow storage only)
    for (int64_t i = b; i < e; ++i) {
      const C* dr = as_compute(a.dout + i * Dv, 1, Dv, Dv, dob).p;
      const C* orow = as_compute(a.o + i * Dv, 1, Dv, Dv, ob).p;
      Vec<C> s{};
      for_vec<C>(Dv, [&](int64_t d, int64_t c) { s += load(dr + d, c, C(0)) * load(orow + d, c, C(0)); });
      delta[static_cast<size_t>(i)] = static_cast<C>(hsum_d(s));
    }
  });
  // Q·Kᵀ and dO·Vᵀ on bf16 dot products (their f32 panels unused); Q, K, dO are still widened
  // for the products with P and dS, V is not.
  const bool dp = use_dpbf16<S>(D), dpv = use_dpbf16<S>(Dv);
  auto init = [&] {
    HeadScratch<C> w;
    if (dp)
      w.ktp.resize(static_cast<size_t>(panels * (D / 2) * kBK));
    else
      w.kt.resize(static_cast<size_t>(panels * D * kBK));
    if (dpv)
      w.vtp.resize(static_cast<size_t>(panels * (Dv / 2) * kBK));
    else
      w.vt.resize(static_cast<size_t>(panels * Dv * kBK));
    w.s.resize(static_cast<size_t>(kBQ * kBK));
    w.dp.resize(static_cast<size_t>(kBQ * kBK));
    w.dk.resize(static_cast<size_t>(kBK * D));
    w.dv.resize(static_cast<size_t>(kBK * Dv));
    if (kNarrowS) w.dqf.resize(static_cast<size_t>(L * D));
    return w;
  };
  auto pack = [&](HeadScratch<C>& w, int64_t h) {
    if (w.packed == h) return;
    w.q = as_compute(a.q + a.q_off[h], L, D, a.q_row, w.qf);
    w.k = as_compute(a.k + a.k_off[h], Sk, D, a.k_row, w.kf);
    w.dout = as_compute(a.dout + h * L * Dv, L, Dv, Dv, w.dof);
    if (dp)
      pack_pairs_of(w.ktp.data(), a.k + a.k_off[h], Sk, D, a.k_row);
    else
      pack_transposed(w.kt.data(), w.k.p, Sk, D, w.k.ld);
    if (dpv) {
      pack_pairs_of(w.vtp.data(), a.v + a.v_off[h], Sk, Dv, a.v_row);
    } else {
      w.v = as_compute(a.v + a.v_off[h], Sk, Dv, a.v_row, w.vf);
      pack_transposed(w.vt.data(), w.v.p, Sk, Dv, w.v.ld);
    }
    w.packed = h;
  };
  // Where dQ rows [i0, ...) of head h accumulate: in place, or in the f32 scratch (rounded by
  // store_run once complete).
  auto dq_acc = [&](HeadScratch<C>& w, int64_t h, int64_t i0) -> C* {
    if constexpr (kNarrowS)
      return w.dqf.data() + i0 * D;
    else
      return a.dq + h * L * D + i0 * D;
  };
  // Causal: queries before j0 see none of key block j0's keys; start at the query block holding j0.
  auto first_qblock = [&](int64_t j0) { return a.causal ? (j0 / kBQ) * kBQ : 0; };
  // dK_j and dV_j of key block j (and, when with_dq, dQ contributions) of head h.
  auto key_block = [&](HeadScratch<C>& w, int64_t h, int64_t j0, bool with_dq) {
    const C* dout = w.dout.p;
    const C* lse = a.lse + h * L;
    const C* dl = delta.data() + h * L;
    C* dq = dq_acc(w, h, 0);
    const int64_t bk = std::min(kBK, Sk - j0);
    std::fill(w.dk.begin(), w.dk.end(), C(0));
    std::fill(w.dv.begin(), w.dv.end(), C(0));
    for (int64_t i0 = first_qblock(j0); i0 < L; i0 += kBQ) {
      const int64_t bq = std::min(kBQ, L - i0);
      block_probs(a, dp, a.q + a.q_off[h], w.q, w, lse, i0, bq, j0, bk, w.s.data());
      // dV_j += Pᵀ · dO_i
      gemm_small<C>(bk, Dv, bq, w.s.data(), 1, kBK, dout + i0 * Dv, Dv, w.dv.data(), Dv, true);
      block_dscores(a, dpv, a.dout + h * L * Dv, dout, w, dl, i0, bq, j0, w.s.data(), w.dp.data());
      // dQ_i += dS · K_j ; dK_j += dSᵀ · Q_i
      if (with_dq)
        gemm_small<C>(bq, D, bk, w.dp.data(), kBK, 1, w.k.p + j0 * w.k.ld, w.k.ld, dq + i0 * D, D, true);
      gemm_small<C>(bk, D, bq, w.dp.data(), 1, kBK, w.q.p + i0 * w.q.ld, w.q.ld, w.dk.data(), D, true);
    }
    store_run(a.dk + h * Sk * D + j0 * D, w.dk.data(), bk * D);
    store_run(a.dv + h * Sk * Dv + j0 * Dv, w.dv.data(), bk * Dv);
  };
  if (a.batch >= 2 * omp_get_max_threads()) {
    // Heads enough for every thread: one task per head, dQ accumulated in place across key blocks.
    run_tasks(a.batch, 1, init, [&](HeadScratch<C>& w, int64_t h) {
      pack(w, h);
      C* dq = dq_acc(w, h, 0);
      std::fill(dq, dq + L * D, C(0));
      for (int64_t j0 = 0; j0 < Sk; j0 += kBK) key_block(w, h, j0, true);
      if constexpr (kNarrowS) store_run(a.dq + h * L * D, dq, L * D);
    });
    return;
  }
  // Few heads: key-block tasks for dK/dV, then query-block tasks for dQ (which recompute P and
  // dS once more, so no two tasks write the same rows).
  run_tasks(a.batch * nkb, 1, init, [&](HeadScratch<C>& w, int64_t t) {
    pack(w, t / nkb);
    key_block(w, t / nkb, (t % nkb) * kBK, false);
  });
  run_tasks(a.batch * nqb, 1, init, [&](HeadScratch<C>& w, int64_t t) {
    const int64_t h = t / nqb, i0 = (t % nqb) * kBQ, bq = std::min(kBQ, L - i0);
    pack(w, h);
    C* dq = dq_acc(w, h, i0);
    std::fill(dq, dq + bq * D, C(0));
    const int64_t kend = a.causal ? std::min(Sk, i0 + bq) : Sk;
    for (int64_t j0 = 0; j0 < kend; j0 += kBK) {
      const int64_t bk = std::min(kBK, Sk - j0);
      block_probs(a, dp, a.q + a.q_off[h], w.q, w, a.lse + h * L, i0, bq, j0, bk, w.s.data());
      block_dscores(a, dpv, a.dout + h * L * Dv, w.dout.p, w, delta.data() + h * L, i0, bq, j0, w.s.data(),
                    w.dp.data());
      gemm_small<C>(bq, D, bk, w.dp.data(), kBK, 1, w.k.p + j0 * w.k.ld, w.k.ld, dq, D, true);
    }
    if constexpr (kNarrowS) store_run(a.dq + h * L * D + i0 * D, dq, bq * D);
  });
}

template <class T> NNKernels<T> make_kernels() {
  NNKernels<T> k;
  k.attention_forward = attention_forward<T>;
  k.attention_backward = attention_backward<T>;
  if constexpr (sizeof(T) > 2) {  // f16/bf16: attention only
    k.softmax_forward = softmax_forward<T>;
    k.softmax_backward = softmax_backward<T>;
    k.ce_forward = ce_forward<T>;
    k.ce_backward = ce_backward<T>;
    k.norm_forward = norm_forward<T>;
    k.norm_backward = norm_backward<T>;
    k.bias_dropout_add = bias_dropout_add<T>;
    k.dropout_backward = dropout_backward<T>;
  }
  return k;
}

#define NA_STR2(x) #x
#define NA_STR(x) NA_STR2(x)

}  // namespace

const NNKernelTable* nn_kernel_table() {
  static const NNKernelTable table = [] {
    NNKernelTable t;
    t.isa = NA_STR(NA_ISA);
    t.f32 = make_kernels<float>();
    t.f64 = make_kernels<double>();
    t.f16 = make_kernels<Half>();
    t.bf16 = make_kernels<BFloat16>();
    return t;
  }();
  return &table;
}

}  // namespace NA_ISA
}  // namespace neural_arch::cpu
