// Linear algebra behaviour: matmul/mm/bmm/linear/outer against a naive double-precision loop
// (odd sizes, transposed and non-contiguous operands, broadcast batches, f32/f64/f16/bf16),
// error messages, and the GEMM layer's contract (epilogue, beta, batch strides, cache).
// Gradients are checked by finite differences in test_gradcheck.cpp.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "backends/cpu/gemm.hpp"
#include "neural_arch/autograd.hpp"
#include "neural_arch/ops.hpp"
#include "neural_arch/tensor.hpp"

namespace {

namespace na = neural_arch;
using na::Shape;
using na::Tensor;

int64_t numel_of(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

// Values from a test-local engine, so the inputs do not depend on the library's generators.
std::vector<double> random_values(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  std::vector<double> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

Tensor random_tensor(const Shape& shape, na::DType dtype, uint64_t seed) {
  return na::tensor(random_values(numel_of(shape), seed), shape, na::TensorOptions(dtype));
}

// torch.matmul computed naively in double from row-major values. Also returns, per output
// element, the sum of |a_ik * b_kj|, which bounds the rounding error of any summation order.
struct Reference {
  Shape shape;
  int64_t K = 0;
  std::vector<double> value, magnitude;
};

Reference naive_matmul(const std::vector<double>& a, Shape sa, const std::vector<double>& b, Shape sb) {
  const bool a1 = sa.size() == 1, b1 = sb.size() == 1;
  if (a1) sa.insert(sa.begin(), 1);
  if (b1) sb.push_back(1);
  const int64_t M = sa[sa.size() - 2], K = sa.back(), N = sb.back();
  EXPECT_EQ(K, sb[sb.size() - 2]);
  const Shape ba(sa.begin(), sa.end() - 2), bb(sb.begin(), sb.end() - 2);
  const size_t nb = std::max(ba.size(), bb.size());
  Shape batch(nb);
  Shape pa(nb, 1), pb(nb, 1);  // batch dims left-padded with 1s
  for (size_t i = 0; i < nb; ++i) {
    if (i + ba.size() >= nb) pa[i] = ba[i + ba.size() - nb];
    if (i + bb.size() >= nb) pb[i] = bb[i + bb.size() - nb];
    batch[i] = std::max(pa[i], pb[i]);
  }
  Reference r;
  const int64_t nbatch = numel_of(batch);
  r.value.assign(nbatch * M * N, 0.0);
  r.magnitude.assign(nbatch * M * N, 0.0);
  for (int64_t bi = 0; bi < nbatch; ++bi) {
    // Unravel the batch index and map it to each operand's (broadcast) batch index.
    int64_t rem = bi, ia = 0, ib = 0, mula = 1, mulb = 1;
    for (int64_t d = static_cast<int64_t>(nb) - 1; d >= 0; --d) {
      const int64_t idx = rem % batch[d];
      rem /= batch[d];
      ia += (pa[d] == 1 ? 0 : idx) * mula;
      ib += (pb[d] == 1 ? 0 : idx) * mulb;
      mula *= pa[d];
      mulb *= pb[d];
    }
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double s = 0, m = 0;
        for (int64_t k = 0; k < K; ++k) {
          const double p = a[(ia * M + i) * K + k] * b[(ib * K + k) * N + j];
          s += p;
          m += std::fabs(p);
        }
        r.value[(bi * M + i) * N + j] = s;
        r.magnitude[(bi * M + i) * N + j] = m;
      }
  }
  r.shape = batch;
  r.K = K;
  if (!a1) r.shape.push_back(M);
  if (!b1) r.shape.push_back(N);
  return r;
}

// Unit roundoff of a dtype.
double eps_of(na::DType t) {
  switch (t) {
    case na::DType::f64: return 1.12e-16;
    case na::DType::f16: return 4.9e-4;
    case na::DType::bf16: return 3.9e-3;
    default: return 6e-8;
  }
}

void expect_matches(const Tensor& out, const Reference& ref, na::DType dtype, const std::string& what) {
  ASSERT_EQ(out.dtype(), dtype) << what;
  ASSERT_EQ(out.shape(), ref.shape) << what;
  const std::vector<double> got = out.to_vector<double>();
  ASSERT_EQ(got.size(), ref.value.size()) << what;
  // Any summation order of K products is within (K + 2) u sum|a_ik b_kj| of the exact value
  // (u of the compute type: f16/bf16 compute in f32), plus the final rounding to the output type.
  const double u = dtype == na::DType::f64 ? eps_of(dtype) : eps_of(na::DType::f32);
  int bad = 0;
  for (size_t i = 0; i < got.size() && bad < 5; ++i) {
    const double tol = (ref.K + 2) * u * ref.magnitude[i] + 2 * eps_of(dtype) * std::fabs(ref.value[i]);
    if (!(std::fabs(got[i] - ref.value[i]) <= tol)) {
      ADD_FAILURE() << what << ": element " << i << " is " << got[i] << ", expected " << ref.value[i]
                    << " (tolerance " << tol << ")";
      ++bad;
    }
  }
}

// Row-major values of t (any strides), as the reference sees them.
std::vector<double> values_of(const Tensor& t) { return t.to_vector<double>(); }

void check_matmul(const Tensor& a, const Tensor& b, const std::string& what) {
  Tensor out = na::matmul(a, b);
  expect_matches(out, naive_matmul(values_of(a), a.shape(), values_of(b), b.shape()), a.dtype(), what);
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const na::Error& e) {
    return e.what();
  }
  return "<no neural_arch::Error thrown>";
}

const int64_t kSizes[] = {1, 3, 17, 65, 130};

// ------------------------------------------------------------------ matmul values

TEST(Linalg, MatmulMatchesNaiveForOddSizesF32) {
  uint64_t seed = 1;
  for (int64_t M : kSizes)
    for (int64_t N : kSizes)
      for (int64_t K : kSizes) {
        Tensor a = random_tensor({M, K}, na::kFloat32, seed++);
        Tensor b = random_tensor({K, N}, na::kFloat32, seed++);
        check_matmul(a, b, "f32 " + std::to_string(M) + "x" + std::to_string(N) + "x" + std::to_string(K));
      }
}

TEST(Linalg, MatmulMatchesNaiveForOddSizesF64) {
  uint64_t seed = 1000;
  for (int64_t M : kSizes)
    for (int64_t N : kSizes)
      for (int64_t K : kSizes) {
        Tensor a = random_tensor({M, K}, na::kFloat64, seed++);
        Tensor b = random_tensor({K, N}, na::kFloat64, seed++);
        check_matmul(a, b, "f64 " + std::to_string(M) + "x" + std::to_string(N) + "x" + std::to_string(K));
      }
}

TEST(Linalg, MatmulLargeF32AndF64) {
  // Big enough that the GEMM is threaded and blocked in every dimension.
  for (na::DType t : {na::kFloat32, na::kFloat64}) {
    Tensor a = random_tensor({257, 300}, t, 7);
    Tensor b = random_tensor({300, 190}, t, 8);
    check_matmul(a, b, std::string("large ") + na::dtype_name(t));
  }
}

TEST(Linalg, TransposedOperandsGiveTheSameResult) {
  for (na::DType t : {na::kFloat32, na::kFloat64}) {
    for (int64_t M : {1, 17, 130})
      for (int64_t K : {3, 65})
        for (int64_t N : {1, 17, 130}) {
          const std::string tag = std::string(na::dtype_name(t)) + " " + std::to_string(M) + "x" +
                                  std::to_string(N) + "x" + std::to_string(K);
          Tensor at = random_tensor({K, M}, t, 11).t();  // (M, K) view, column-major
          Tensor bt = random_tensor({N, K}, t, 12).t();  // (K, N) view, column-major
          Tensor a = random_tensor({M, K}, t, 13), b = random_tensor({K, N}, t, 14);
          ASSERT_FALSE(at.is_contiguous() && M > 1);
          check_matmul(at, b, "A^T " + tag);
          check_matmul(a, bt, "B^T " + tag);
          check_matmul(at, bt, "A^T B^T " + tag);
        }
  }
}

TEST(Linalg, NonContiguousOperands) {
  for (na::DType t : {na::kFloat32, na::kFloat64}) {
    const std::string tag = na::dtype_name(t);
    // Every other column: no unit stride in either dim, so the op must copy.
    Tensor a = random_tensor({17, 130}, t, 21).slice(1, 0, 130, 2);  // (17, 65)
    Tensor b = random_tensor({65, 40}, t, 22).slice(1, 3, 36);       // (65, 33), row stride 40
    check_matmul(a, b, "strided " + tag);
    // A row-sliced operand keeps unit column stride with a leading dim larger than its width.
    Tensor c = random_tensor({20, 50}, t, 23).narrow(1, 5, 30);  // (20, 30), ld 50
    check_matmul(c, random_tensor({30, 9}, t, 24), "narrowed " + tag);
    // Expanded rows (stride 0).
    Tensor e = random_tensor({1, 30}, t, 25).expand({6, 30});
    check_matmul(e, random_tensor({30, 7}, t, 26), "expanded " + tag);
  }
}

TEST(Linalg, MatmulVectorCases) {
  for (na::DType t : {na::kFloat32, na::kFloat64}) {
    const std::string tag = na::dtype_name(t);
    Tensor v = random_tensor({65}, t, 31), w = random_tensor({65}, t, 32);
    Tensor dot = na::matmul(v, w);
    EXPECT_EQ(dot.dim(), 0);
    check_matmul(v, w, "dot " + tag);
    check_matmul(random_tensor({17, 65}, t, 33), v, "matrix-vector " + tag);
    check_matmul(v, random_tensor({65, 17}, t, 34), "vector-matrix " + tag);
    check_matmul(random_tensor({2, 3, 65}, t, 35), v, "batched matrix-vector " + tag);
    check_matmul(v, random_tensor({4, 65, 3}, t, 36), "vector-batched matrix " + tag);
    check_matmul(random_tensor({130}, t, 37).slice(0, 0, 130, 2), v, "strided vectors " + tag);
  }
}

TEST(Linalg, BatchedWithBroadcast) {
  struct Case {
    Shape a, b;
  };
  const std::vector<Case> cases = {
      {{4, 3, 17}, {4, 17, 5}},
      {{2, 1, 3, 4}, {5, 4, 6}},
      {{3, 4}, {2, 4, 5}},
      {{2, 3, 4}, {4, 5}},
      {{2, 3, 4}, {1, 4, 5}},
      {{1, 3, 4}, {2, 2, 4, 5}},
      {{2, 1, 65, 17}, {1, 3, 17, 3}},
      {{3, 2, 1, 4}, {3, 1, 4, 2}},
      {{6, 1, 17}, {6, 17, 1}},
  };
  uint64_t seed = 40;
  for (na::DType t : {na::kFloat32, na::kFloat64})
    for (const auto& c : cases) {
      const std::string tag =
          std::string(na::dtype_name(t)) + " " + na::shape_str(c.a) + " @ " + na::shape_str(c.b);
      check_matmul(random_tensor(c.a, t, seed++), random_tensor(c.b, t, seed++), tag);
    }
}

TEST(Linalg, BatchedNonContiguousBatches) {
  for (na::DType t : {na::kFloat32, na::kFloat64}) {
    const std::string tag = na::dtype_name(t);
    // Batch dims swapped: they no longer collapse into one stride.
    Tensor a = random_tensor({3, 2, 5, 7}, t, 51).permute({1, 0, 2, 3});  // (2, 3, 5, 7)
    Tensor b = random_tensor({2, 3, 7, 4}, t, 52);
    check_matmul(a, b, "permuted batch " + tag);
    // Batch and matrix dims interleaved, and a transposed matrix inside a batch.
    Tensor c = random_tensor({5, 4, 7}, t, 53).permute({1, 0, 2});  // (4, 5, 7)
    Tensor d = random_tensor({4, 6, 7}, t, 54).transpose(1, 2);     // (4, 7, 6)
    check_matmul(c, d, "interleaved batch " + tag);
    // A batch expanded with stride 0 on both sides.
    Tensor e = random_tensor({1, 5, 7}, t, 55).expand({3, 5, 7});
    Tensor f = random_tensor({1, 7, 2}, t, 56).expand({3, 7, 2});
    check_matmul(e, f, "expanded batch " + tag);
    // A batch of matrices times a transposed matrix (the folded path with B^T).
    Tensor g = random_tensor({9, 7}, t, 57).t();  // (7, 9)
    check_matmul(random_tensor({2, 3, 5, 7}, t, 58), g, "folded with B^T " + tag);
    // A permuted batch times one matrix cannot fold into one GEMM.
    check_matmul(a, random_tensor({7, 3}, t, 59), "unfoldable " + tag);
  }
}

TEST(Linalg, EmptyDims) {
  for (na::DType t : {na::kFloat32, na::kFloat64}) {
    Tensor r = na::matmul(na::zeros({3, 0}, t), na::zeros({0, 4}, t));
    ASSERT_EQ(r.shape(), (Shape{3, 4}));
    for (double v : r.to_vector<double>()) EXPECT_EQ(v, 0.0);
    EXPECT_EQ(na::matmul(na::zeros({0, 5}, t), na::zeros({5, 4}, t)).shape(), (Shape{0, 4}));
    EXPECT_EQ(na::matmul(na::zeros({2, 0, 3, 5}, t), na::zeros({5, 4}, t)).shape(), (Shape{2, 0, 3, 4}));
    Tensor lin = na::linear(na::zeros({2, 0}, t), na::zeros({3, 0}, t), na::ones({3}, t));
    ASSERT_EQ(lin.shape(), (Shape{2, 3}));
    for (double v : lin.to_vector<double>()) EXPECT_EQ(v, 1.0);
  }
}

TEST(Linalg, NarrowFloatsComputeInF32) {
  for (na::DType t : {na::kFloat16, na::kBFloat16}) {
    Tensor a = random_tensor({2, 17, 33}, t, 61), b = random_tensor({33, 9}, t, 62);
    // The reference sees the already-rounded narrow inputs.
    check_matmul(a, b, std::string("narrow ") + na::dtype_name(t));
    Tensor w = random_tensor({9, 33}, t, 63), bias = random_tensor({9}, t, 64);
    Tensor y = na::linear(a, w, bias);
    EXPECT_EQ(y.dtype(), t);
    Tensor y32 = na::linear(a.to(na::kFloat32), w.to(na::kFloat32), bias.to(na::kFloat32));
    EXPECT_TRUE(na::allclose(y.to(na::kFloat32), y32, 4 * eps_of(t), 1e-3));
  }
}

TEST(Linalg, MmAndBmm) {
  for (na::DType t : {na::kFloat32, na::kFloat64}) {
    Tensor a = random_tensor({17, 65}, t, 71), b = random_tensor({65, 3}, t, 72);
    Tensor r = na::mm(a, b);
    expect_matches(r, naive_matmul(values_of(a), a.shape(), values_of(b), b.shape()), t, "mm");
    Tensor c = random_tensor({4, 17, 65}, t, 73), d = random_tensor({4, 3, 65}, t, 74).transpose(1, 2);
    Tensor s = na::bmm(c, d);
    expect_matches(s, naive_matmul(values_of(c), c.shape(), values_of(d), d.shape()), t, "bmm");
  }
}

TEST(Linalg, Outer) {
  Tensor a = random_tensor({5}, na::kFloat64, 81), b = random_tensor({7}, na::kFloat64, 82);
  Tensor o = na::outer(a, b);
  ASSERT_EQ(o.shape(), (Shape{5, 7}));
  auto va = a.to_vector<double>(), vb = b.to_vector<double>(), vo = o.to_vector<double>();
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 7; ++j) EXPECT_DOUBLE_EQ(vo[i * 7 + j], va[i] * vb[j]);
}

// ------------------------------------------------------------------ linear

// x (..., in) @ W^T + b computed naively.
std::vector<double> naive_linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  const auto vx = x.to_vector<double>(), vw = w.to_vector<double>();
  const int64_t in = w.size(1), out = w.size(0), rows = x.numel() / in;
  std::vector<double> vb = b.defined() ? b.to_vector<double>() : std::vector<double>(out, 0.0);
  std::vector<double> r(rows * out);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t o = 0; o < out; ++o) {
      double s = vb[o];
      for (int64_t k = 0; k < in; ++k) s += vx[i * in + k] * vw[o * in + k];
      r[i * out + o] = s;
    }
  return r;
}

void check_linear(const Tensor& x, const Tensor& w, const Tensor& b, const std::string& what) {
  Tensor y = na::linear(x, w, b);
  Shape expect(x.shape().begin(), x.shape().end() - 1);
  expect.push_back(w.size(0));
  ASSERT_EQ(y.shape(), expect) << what;
  ASSERT_EQ(y.dtype(), x.dtype()) << what;
  const auto ref = naive_linear(x, w, b), got = y.to_vector<double>();
  const double tol = x.dtype() == na::kFloat64 ? 1e-12 : 2e-5 * std::sqrt(static_cast<double>(w.size(1)));
  for (size_t i = 0; i < ref.size(); ++i) ASSERT_NEAR(got[i], ref[i], tol) << what << " element " << i;
}

TEST(Linalg, LinearWithAndWithoutBias) {
  uint64_t seed = 90;
  for (na::DType t : {na::kFloat32, na::kFloat64}) {
    const std::string tag = na::dtype_name(t);
    for (int64_t in : {1, 17, 130})
      for (int64_t out : {1, 3, 65}) {
        Tensor w = random_tensor({out, in}, t, seed++), b = random_tensor({out}, t, seed++);
        Tensor x = random_tensor({5, in}, t, seed++);
        const std::string sz = " in=" + std::to_string(in) + " out=" + std::to_string(out);
        check_linear(x, w, b, "bias " + tag + sz);
        check_linear(x, w, Tensor(), "no bias " + tag + sz);
      }
    Tensor w = random_tensor({6, 17}, t, seed++), b = random_tensor({6}, t, seed++);
    check_linear(random_tensor({17}, t, seed++), w, b, "1-D input " + tag);
    check_linear(random_tensor({2, 3, 17}, t, seed++), w, b, "3-D input " + tag);
    check_linear(random_tensor({17, 4}, t, seed++).t(), w, b, "transposed input " + tag);
    check_linear(random_tensor({3, 2, 17}, t, seed++).permute({1, 0, 2}), w, b, "permuted input " + tag);
    check_linear(random_tensor({4, 17}, t, seed++), random_tensor({17, 6}, t, seed++).t(), b,
                 "transposed weight " + tag);
    check_linear(random_tensor({4, 17}, t, seed++), w, random_tensor({12}, t, seed++).slice(0, 0, 12, 2),
                 "strided bias " + tag);
  }
}

TEST(Linalg, LinearGradientsHaveInputShapes) {
  // Values: y = x W^T + b, loss = sum(y): dL/dx = ones @ W, dL/dW = ones^T @ x, dL/db = rows.
  Tensor x = random_tensor({2, 3, 4}, na::kFloat64, 101).requires_grad_();
  Tensor w = random_tensor({5, 4}, na::kFloat64, 102).requires_grad_();
  Tensor b = random_tensor({5}, na::kFloat64, 103).requires_grad_();
  na::sum(na::linear(x, w, b)).backward();
  ASSERT_EQ(x.grad().shape(), x.shape());
  ASSERT_EQ(w.grad().shape(), w.shape());
  ASSERT_EQ(b.grad().shape(), b.shape());
  const auto vw = w.to_vector<double>(), vx = x.to_vector<double>();
  const auto gx = x.grad().to_vector<double>(), gw = w.grad().to_vector<double>(),
             gb = b.grad().to_vector<double>();
  for (int r = 0; r < 6; ++r)
    for (int k = 0; k < 4; ++k) {
      double s = 0;
      for (int o = 0; o < 5; ++o) s += vw[o * 4 + k];
      EXPECT_NEAR(gx[r * 4 + k], s, 1e-12);
    }
  for (int o = 0; o < 5; ++o) {
    EXPECT_NEAR(gb[o], 6.0, 1e-12);
    for (int k = 0; k < 4; ++k) {
      double s = 0;
      for (int r = 0; r < 6; ++r) s += vx[r * 4 + k];
      EXPECT_NEAR(gw[o * 4 + k], s, 1e-12);
    }
  }
}

TEST(Linalg, MatmulGradientsReduceBroadcastBatchDims) {
  Tensor a = random_tensor({2, 1, 3, 4}, na::kFloat64, 111).requires_grad_();
  Tensor b = random_tensor({5, 4, 6}, na::kFloat64, 112).requires_grad_();
  Tensor v = random_tensor({4}, na::kFloat64, 113).requires_grad_();
  na::sum(na::matmul(a, b)).backward();
  na::sum(na::matmul(b.transpose(1, 2), v)).backward();
  ASSERT_EQ(a.grad().shape(), a.shape());
  ASSERT_EQ(b.grad().shape(), b.shape());
  ASSERT_EQ(v.grad().shape(), v.shape());
  // d sum(a@b) / da[i,0,m,k] = sum over the 5 broadcast batches and n of b[j,k,n].
  const auto vb = b.to_vector<double>(), ga = a.grad().to_vector<double>();
  for (int i = 0; i < 2; ++i)
    for (int m = 0; m < 3; ++m)
      for (int k = 0; k < 4; ++k) {
        double s = 0;
        for (int j = 0; j < 5; ++j)
          for (int n = 0; n < 6; ++n) s += vb[(j * 4 + k) * 6 + n];
        EXPECT_NEAR(ga[(i * 3 + m) * 4 + k], s, 1e-12);
      }
  // d sum(b^T v) / dv[k] = sum of b[:, k, :].
  const auto gv = v.grad().to_vector<double>();
  for (int k = 0; k < 4; ++k) {
    double s = 0;
    for (int j = 0; j < 5; ++j)
      for (int n = 0; n < 6; ++n) s += vb[(j * 4 + k) * 6 + n];
    EXPECT_NEAR(gv[k], s, 1e-12);
  }
}

// ------------------------------------------------------------------ errors

TEST(Linalg, ShapeErrorsNameTheShapes) {
  EXPECT_EQ(message_of([] {
              na::matmul(na::zeros({4, 3}), na::zeros({5, 2}));
            }),
            "[matmul] shapes (4,3) and (5,2) cannot be multiplied");
  EXPECT_EQ(message_of([] { na::matmul(na::zeros({3}), na::zeros({4})); }),
            "[matmul] shapes (3,) and (4,) cannot be multiplied");
  EXPECT_EQ(message_of([] {
              na::mm(na::zeros({4, 3}), na::zeros({5, 2}));
            }),
            "[mm] shapes (4,3) and (5,2) cannot be multiplied");
  EXPECT_EQ(message_of([] {
              na::bmm(na::zeros({2, 4, 3}), na::zeros({2, 5, 2}));
            }),
            "[bmm] shapes (2,4,3) and (2,5,2) cannot be multiplied");
  const std::string batch = message_of([] { na::matmul(na::zeros({2, 3, 4}), na::zeros({3, 4, 5})); });
  EXPECT_NE(batch.find("[matmul] batch dimensions of shapes (2,3,4) and (3,4,5) cannot be broadcast"),
            std::string::npos)
      << batch;
  EXPECT_EQ(message_of([] { na::matmul(na::scalar_tensor(1.0), na::zeros({3})); }).rfind("[matmul] ", 0), 0u);
  const std::string mm_dims = message_of([] { na::mm(na::zeros({2, 3, 4}), na::zeros({4, 5})); });
  EXPECT_NE(mm_dims.find("[mm] expected 2-D tensors, got shapes (2,3,4) and (4,5)"), std::string::npos)
      << mm_dims;
  const std::string bmm_batch = message_of([] { na::bmm(na::zeros({2, 3, 4}), na::zeros({3, 4, 5})); });
  EXPECT_NE(bmm_batch.find("[bmm] batch sizes differ"), std::string::npos) << bmm_batch;
  const std::string lin = message_of([] { na::linear(na::zeros({4, 3}), na::zeros({5, 2})); });
  EXPECT_NE(lin.find("[linear] input shape (4,3) and weight shape (5,2) cannot be multiplied"),
            std::string::npos)
      << lin;
  const std::string lin_bias = message_of([] {
    na::linear(na::zeros({4, 3}), na::zeros({5, 3}), na::zeros({4}));
  });
  EXPECT_NE(lin_bias.find("[linear] bias must have shape (5,)"), std::string::npos) << lin_bias;
  const std::string outer = message_of([] { na::outer(na::zeros({2, 2}), na::zeros({3})); });
  EXPECT_NE(outer.find("[outer] expected 1-D tensors"), std::string::npos) << outer;
}

TEST(Linalg, DtypeErrors) {
  EXPECT_EQ(message_of([] {
              na::matmul(na::zeros({2, 2}, na::kInt64), na::zeros({2, 2}, na::kInt64));
            }),
            "[matmul] expected floating tensors, got int64");
  EXPECT_EQ(message_of([] {
              na::mm(na::zeros({2, 2}), na::zeros({2, 2}, na::kInt32));
            }),
            "[mm] expected floating tensors, got int32");
  EXPECT_EQ(message_of([] {
              na::matmul(na::zeros({2, 2}), na::zeros({2, 2}, na::kFloat64));
            }),
            "[matmul] expected both tensors to have the same dtype, got float32 and float64");
  EXPECT_EQ(message_of([] {
              na::linear(na::zeros({2, 2}, na::kBool), na::zeros({2, 2}, na::kBool));
            }),
            "[linear] expected floating tensors, got bool");
  EXPECT_EQ(message_of([] { na::matmul(Tensor(), na::zeros({2})); }).rfind("[matmul] ", 0), 0u);
}

// ------------------------------------------------------------------ the GEMM layer itself

template <class T>
std::vector<T> naive_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const std::vector<T>& A,
                          int64_t lda, const std::vector<T>& B, int64_t ldb, std::vector<T> C, int64_t ldc,
                          double beta, const T* bias, na::cpu::GemmActivation act) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k)
        s += double(ta ? A[k * lda + i] : A[i * lda + k]) * double(tb ? B[j * ldb + k] : B[k * ldb + j]);
      if (bias) s += bias[j];
      if (beta != 0) s += beta * C[i * ldc + j];
      switch (act) {
        case na::cpu::GemmActivation::relu: s = s > 0 ? s : 0; break;
        case na::cpu::GemmActivation::gelu_tanh:
          s = 0.5 * s * (1 + std::tanh(0.7978845608028654 * (s + 0.044715 * s * s * s)));
          break;
        case na::cpu::GemmActivation::gelu_erf: s = 0.5 * s * (1 + std::erf(s / std::sqrt(2.0))); break;
        case na::cpu::GemmActivation::none: break;
      }
      C[i * ldc + j] = static_cast<T>(s);
    }
  return C;
}

template <class T> void check_gemm_epilogues() {
  using na::cpu::GemmActivation;
  const double tol = std::is_same_v<T, double> ? 1e-12 : 2e-5;
  uint64_t seed = 200;
  for (GemmActivation act :
       {GemmActivation::none, GemmActivation::relu, GemmActivation::gelu_tanh, GemmActivation::gelu_erf})
    for (double beta : {0.0, 1.0, -0.5})
      for (bool with_bias : {false, true})
        for (int tr = 0; tr < 4; ++tr)
          for (auto [M, N, K] : {std::array<int64_t, 3>{1, 3, 1}, std::array<int64_t, 3>{17, 130, 65}}) {
            const bool ta = tr & 1, tb = tr & 2;
            // Padded leading dims: the GEMM must honour lda/ldb/ldc, not assume dense rows.
            const int64_t lda = (ta ? M : K) + 2, ldb = (tb ? K : N) + 3, ldc = N + 1;
            auto to_t = [](const std::vector<double>& v) { return std::vector<T>(v.begin(), v.end()); };
            const auto A = to_t(random_values((ta ? K : M) * lda, seed++));
            const auto B = to_t(random_values((tb ? N : K) * ldb, seed++));
            const auto bias = to_t(random_values(N, seed++));
            auto C = to_t(random_values(M * ldc, seed++));
            if (beta == 0) std::fill(C.begin(), C.end(), std::numeric_limits<T>::quiet_NaN());
            const auto expect = naive_gemm<T>(ta, tb, M, N, K, A, lda, B, ldb, C, ldc, beta,
                                              with_bias ? bias.data() : nullptr, act);
            na::cpu::gemm(ta, tb, M, N, K, A.data(), lda, B.data(), ldb, C.data(), ldc, static_cast<T>(beta),
                          with_bias ? bias.data() : nullptr, act);
            for (int64_t i = 0; i < M; ++i)
              for (int64_t j = 0; j < N; ++j)
                ASSERT_NEAR(C[i * ldc + j], expect[i * ldc + j], tol)
                    << "act " << int(act) << " beta " << beta << " bias " << with_bias << " ta " << ta
                    << " tb " << tb << " M " << M << " N " << N << " K " << K;
            // Padding between rows of C is left alone.
            if (beta != 0)
              for (int64_t i = 0; i < M; ++i) ASSERT_EQ(C[i * ldc + N], expect[i * ldc + N]);
          }
}

TEST(Gemm, EpiloguesBetaAndLeadingDimsF32) { check_gemm_epilogues<float>(); }
TEST(Gemm, EpiloguesBetaAndLeadingDimsF64) { check_gemm_epilogues<double>(); }

template <class T> void check_gemm_batches() {
  const double tol = std::is_same_v<T, double> ? 1e-12 : 2e-5;
  const int64_t M = 17, N = 9, K = 33, count = 5;
  auto to_t = [](const std::vector<double>& v) { return std::vector<T>(v.begin(), v.end()); };
  const auto A = to_t(random_values(count * M * K, 300));
  const auto B = to_t(random_values(count * K * N, 301));
  const auto bias = to_t(random_values(N, 302));
  // Broadcast A, broadcast B, neither, both.
  for (int mode = 0; mode < 4; ++mode) {
    const int64_t sa = mode & 1 ? 0 : M * K, sb = mode & 2 ? 0 : K * N;
    std::vector<T> C(count * M * N, std::numeric_limits<T>::quiet_NaN());
    na::cpu::gemm(false, false, M, N, K, A.data(), K, B.data(), N, C.data(), N, T(0), bias.data(),
                  na::cpu::GemmActivation::relu, na::cpu::GemmBatch{count, sa, sb, M * N});
    for (int64_t b = 0; b < count; ++b) {
      const std::vector<T> Ab(A.begin() + b * sa, A.begin() + b * sa + M * K);
      const std::vector<T> Bb(B.begin() + b * sb, B.begin() + b * sb + K * N);
      const auto expect = naive_gemm<T>(false, false, M, N, K, Ab, K, Bb, N, std::vector<T>(M * N), N, 0,
                                        bias.data(), na::cpu::GemmActivation::relu);
      for (int64_t i = 0; i < M * N; ++i) ASSERT_NEAR(C[b * M * N + i], expect[i], tol) << "mode " << mode;
    }
  }
}

TEST(Gemm, BatchStridesAndBroadcastF32) { check_gemm_batches<float>(); }
TEST(Gemm, BatchStridesAndBroadcastF64) { check_gemm_batches<double>(); }

TEST(Gemm, ZeroKGivesBiasAndBeta) {
  std::vector<float> C = {1, 2, 3, 4, 5, 6};
  const std::vector<float> bias = {10, 20, 30};
  const float* none = nullptr;
  na::cpu::gemm(false, false, 2, 3, 0, none, 1, none, 3, C.data(), 3, 2.f, bias.data());
  EXPECT_EQ(C, (std::vector<float>{12, 24, 36, 18, 30, 42}));
}

// bf16 operands with an f32 output: the f32 accumulation comes back unrounded (autocast's weight
// gradients), within f32 accumulation error of the exact product of the bf16 values.
TEST(Gemm, Bf16OperandsWithF32Output) {
  const int64_t M = 37, N = 53, K = 300;
  na::manual_seed(5);
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      const na::Tensor a = na::randn(ta ? na::Shape{K, M} : na::Shape{M, K}).to(na::DType::bf16);
      const na::Tensor b = na::randn(tb ? na::Shape{N, K} : na::Shape{K, N}).to(na::DType::bf16);
      const na::Tensor a64 = a.to(na::DType::f64), b64 = b.to(na::DType::f64);
      const na::Tensor ref = na::mm(ta ? a64.t() : a64, tb ? b64.t() : b64);
      std::vector<float> C(M * N, -1.f);
      na::cpu::gemm(ta, tb, M, N, K, a.data_ptr<na::BFloat16>(), ta ? M : K, b.data_ptr<na::BFloat16>(),
                    tb ? K : N, C.data(), N);
      const double* r = ref.data_ptr<double>();
      int64_t not_bf16 = 0;
      for (int64_t i = 0; i < M * N; ++i) {
        ASSERT_NEAR(C[i], r[i], 1e-5 * K) << "ta " << ta << " tb " << tb << " at " << i;
        not_bf16 += static_cast<float>(na::BFloat16(C[i])) != C[i];
      }
      EXPECT_GT(not_bf16, M * N / 2) << "the output looks rounded to bf16";
    }
  // K = 0: beta * C (+ bias), as for the other element types.
  std::vector<float> C = {1, 2, 3, 4, 5, 6};
  const std::vector<float> bias = {10, 20, 30};
  const na::BFloat16* none = nullptr;
  na::cpu::gemm(false, false, 2, 3, 0, none, 1, none, 3, C.data(), 3, 2.f, bias.data());
  EXPECT_EQ(C, (std::vector<float>{12, 24, 36, 18, 30, 42}));
}

TEST(Gemm, RepeatedShapesReuseCachedPrimitives) {
  // A bias sends every size through the cached matmul primitive (small plain products skip it).
  const int64_t M = 96, N = 80, K = 72;
  std::vector<float> A(M * K, 1.f), B(K * N, 2.f), C(M * N), zero_bias(N, 0.f);
  na::cpu::gemm(false, true, M, N, K, A.data(), K, B.data(), K, C.data(), N, 0.f, zero_bias.data());
  const auto before = na::cpu::gemm_cache_stats();
  for (int i = 0; i < 3; ++i)
    na::cpu::gemm(false, true, M, N, K, A.data(), K, B.data(), K, C.data(), N, 0.f, zero_bias.data());
  const auto after = na::cpu::gemm_cache_stats();
  EXPECT_EQ(after.misses, before.misses);
  EXPECT_EQ(after.hits, before.hits + 3);
  for (float v : C) ASSERT_EQ(v, 2.f * K);
}

TEST(Gemm, ConcurrentCallersGetCorrectResults) {
  // Several threads share the primitive cache and may run the same primitive at once.
  const int64_t M = 70, N = 66, K = 80;
  std::vector<float> A(M * K), B(K * N), bias(N);
  for (int64_t i = 0; i < M * K; ++i) A[i] = static_cast<float>((i % 7) - 3);
  for (int64_t i = 0; i < K * N; ++i) B[i] = static_cast<float>((i % 5) - 2);
  for (int64_t j = 0; j < N; ++j) bias[j] = static_cast<float>(j % 3);
  // Small integers: every summation order gives the exact result.
  const auto expect = naive_gemm<float>(false, false, M, N, K, A, K, B, N, std::vector<float>(M * N), N, 0,
                                        bias.data(), na::cpu::GemmActivation::none);
  na::cpu::gemm_cache_clear();
  std::vector<std::vector<float>> results(4, std::vector<float>(M * N));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int r = 0; r < 10; ++r)
        na::cpu::gemm(false, false, M, N, K, A.data(), K, B.data(), N, results[t].data(), N, 0.f,
                      bias.data());
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(results[t], expect) << "thread " << t;
}

TEST(Gemm, PrimitivesAreKeptPerThreadCount) {
  // oneDNN fixes a primitive's threading when it is created: a thread-count change must not
  // reuse a primitive made for the old count.
  const int before_threads = na::get_num_threads();
  const int64_t M = 90, N = 70, K = 75;
  std::vector<float> A(M * K, 1.f), B(K * N, 1.f), C(M * N), zero_bias(N, 0.f);
  na::cpu::gemm(false, false, M, N, K, A.data(), K, B.data(), N, C.data(), N, 0.f, zero_bias.data());
  const auto first = na::cpu::gemm_cache_stats();
  na::set_num_threads(before_threads + 1);
  na::cpu::gemm(false, false, M, N, K, A.data(), K, B.data(), N, C.data(), N, 0.f, zero_bias.data());
  na::set_num_threads(before_threads);
  const auto second = na::cpu::gemm_cache_stats();
  EXPECT_EQ(second.misses, first.misses + 1);
  for (float v : C) ASSERT_EQ(v, static_cast<float>(K));
}

}  // namespace
