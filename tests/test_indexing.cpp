// Behaviour of the joining and indexing ops (cat, stack, index_select, gather, scatter,
// scatter_add, embedding). Expected values are computed here from each op's definition with
// plain loops over the inputs' values, never taken from the code under test. Inputs are
// small integers, so sums are exact whatever the order of accumulation.
// Gradients are checked by tests/test_gradcheck.cpp; only dtype/shape details of cat's
// backward that a finite-difference check cannot see are tested here.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include "neural_arch/autograd.hpp"
#include "neural_arch/ops.hpp"
#include "neural_arch/tensor.hpp"

namespace {

namespace na = neural_arch;
using na::Shape;
using na::Tensor;
using Coord = std::vector<int64_t>;

int64_t numel_of(const Shape& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

// Calls f(c) for every coordinate c of shape, in row-major order.
void for_each_coord(const Shape& shape, const std::function<void(const Coord&)>& f) {
  if (numel_of(shape) == 0) return;
  Coord c(shape.size(), 0);
  while (true) {
    f(c);
    int64_t d = static_cast<int64_t>(shape.size()) - 1;
    for (; d >= 0; --d) {
      if (++c[d] < shape[d]) break;
      c[d] = 0;
    }
    if (d < 0) return;
  }
}

// Row-major values with their shape: the reference side of every comparison.
struct Ref {
  Shape shape;
  std::vector<double> v;
  Ref() = default;
  Ref(Shape s, double fill) : shape(std::move(s)), v(static_cast<size_t>(numel_of(shape)), fill) {}
  explicit Ref(const Tensor& t) : shape(t.shape()), v(t.to_vector<double>()) {}
  size_t flat(const Coord& c) const {
    size_t f = 0;
    for (size_t d = 0; d < shape.size(); ++d)
      f = f * static_cast<size_t>(shape[d]) + static_cast<size_t>(c[d]);
    return f;
  }
  double at(const Coord& c) const { return v[flat(c)]; }
  double& at(const Coord& c) { return v[flat(c)]; }
};

void expect_equal(const Tensor& actual, const Ref& expected) {
  ASSERT_EQ(actual.shape(), expected.shape);
  EXPECT_EQ(actual.to_vector<double>(), expected.v);
}

// Integer values in [lo, hi] of the given dtype (exact in every dtype used here).
Tensor random_values(const Shape& shape, na::DType dtype, uint32_t seed, int lo = -20, int hi = 20) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(lo, hi);
  std::vector<double> v(static_cast<size_t>(numel_of(shape)));
  for (auto& x : v) x = dist(rng);
  return na::tensor<double>(v, shape).to(dtype);
}

Tensor random_index(const Shape& shape, int64_t bound, uint32_t seed, na::DType dtype = na::kInt64) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> dist(0, bound - 1);
  std::vector<int64_t> v(static_cast<size_t>(numel_of(shape)));
  for (auto& x : v) x = dist(rng);
  return na::tensor<int64_t>(v, shape).to(dtype);
}

// Runs f and checks that it throws neural_arch::Error whose message contains every part.
void expect_error(const std::function<void()>& f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "expected neural_arch::Error";
  } catch (const na::Error& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

// ------------------------------------------------------------------ references

Ref ref_cat(const std::vector<Ref>& xs, int64_t dim) {
  Shape shape = xs[0].shape;
  shape[dim] = 0;
  for (const auto& x : xs) shape[dim] += x.shape[dim];
  Ref out(shape, 0);
  int64_t offset = 0;
  for (const auto& x : xs) {
    for_each_coord(x.shape, [&](const Coord& c) {
      Coord o = c;
      o[dim] += offset;
      out.at(o) = x.at(c);
    });
    offset += x.shape[dim];
  }
  return out;
}

Ref ref_index_select(const Ref& x, int64_t dim, const std::vector<int64_t>& idx) {
  Shape shape = x.shape;
  shape[dim] = static_cast<int64_t>(idx.size());
  Ref out(shape, 0);
  for_each_coord(shape, [&](const Coord& c) {
    Coord s = c;
    s[dim] = idx[c[dim]];
    out.at(c) = x.at(s);
  });
  return out;
}

Ref ref_gather(const Ref& x, int64_t dim, const Ref& idx) {
  Ref out(idx.shape, 0);
  for_each_coord(idx.shape, [&](const Coord& c) {
    Coord s = c;
    s[dim] = static_cast<int64_t>(idx.at(c));
    out.at(c) = x.at(s);
  });
  return out;
}

Ref ref_scatter(const Ref& x, int64_t dim, const Ref& idx, const Ref& src, bool add) {
  Ref out = x;
  for_each_coord(idx.shape, [&](const Coord& c) {
    Coord d = c;
    d[dim] = static_cast<int64_t>(idx.at(c));
    out.at(d) = add ? out.at(d) + src.at(c) : src.at(c);
  });
  return out;
}

std::vector<int64_t> as_ints(const Tensor& t) { return t.to_vector<int64_t>(); }

// ------------------------------------------------------------------ cat

TEST(Cat, MatchesDefinitionAlongEveryDim) {
  for (int64_t dim : {0, 1, 2, -1, -2, -3}) {
    const int64_t d = dim < 0 ? dim + 3 : dim;
    std::vector<Tensor> parts;
    std::vector<Ref> refs;
    for (int64_t len : {1, 3, 2}) {
      Shape s{2, 3, 4};
      s[d] = len;
      parts.push_back(random_values(s, na::kFloat32, static_cast<uint32_t>(10 * len + d)));
      refs.emplace_back(parts.back());
    }
    SCOPED_TRACE("dim " + std::to_string(dim));
    expect_equal(na::cat(parts, dim), ref_cat(refs, d));
  }
}

TEST(Cat, NonContiguousPieces) {
  Tensor a = random_values({4, 2}, na::kFloat64, 1).t();                // (2,4), transposed
  Tensor b = random_values({2, 6}, na::kFloat64, 2).slice(1, 0, 6, 2);  // (2,3), stride 2
  Tensor c = random_values({2, 1}, na::kFloat64, 3).expand({2, 5});     // (2,5), stride 0
  ASSERT_FALSE(a.is_contiguous());
  ASSERT_FALSE(b.is_contiguous());
  expect_equal(na::cat({a, b, c}, 1), ref_cat({Ref(a), Ref(b), Ref(c)}, 1));
  Tensor at = random_values({3, 2}, na::kFloat64, 4).t();  // (2,3)
  expect_equal(na::cat({at, b}, 0), ref_cat({Ref(at), Ref(b)}, 0));
}

TEST(Cat, PromotesDtypes) {
  struct Case {
    na::DType a, b, expected;
  };
  for (auto c : {Case{na::kInt32, na::kFloat32, na::kFloat32}, Case{na::kBool, na::kInt32, na::kInt32},
                 Case{na::kFloat32, na::kFloat64, na::kFloat64}, Case{na::kUInt8, na::kInt64, na::kInt64},
                 Case{na::kFloat16, na::kFloat32, na::kFloat32}}) {
    Tensor x = random_values({2, 2}, c.a, 5, c.a == na::kBool ? 0 : -3, c.a == na::kBool ? 1 : 3);
    Tensor y = random_values({1, 2}, c.b, 6, 0, 5);
    Tensor out = na::cat({x, y}, 0);
    EXPECT_EQ(out.dtype(), c.expected) << na::dtype_name(c.a) << " + " << na::dtype_name(c.b);
    expect_equal(out, ref_cat({Ref(x), Ref(y)}, 0));
  }
}

TEST(Cat, SkipsOneDimensionalEmptyTensors) {
  Tensor x = random_values({2, 3}, na::kFloat32, 7);
  Tensor e = na::zeros({0}, na::kFloat64);
  Tensor out = na::cat({e, x, e}, 1);
  EXPECT_EQ(out.dtype(), na::kFloat64);  // the skipped tensor still takes part in promotion
  expect_equal(out, Ref(x));
  Tensor only_empty = na::cat({e, na::zeros({0})}, 5);
  EXPECT_EQ(only_empty.shape(), (Shape{0}));
  // Empty tensors of more dims are not skipped: they must match like any other.
  Tensor e2 = na::zeros({2, 0});
  expect_equal(na::cat({e2, x}, 1), Ref(x));
  expect_error([&] { na::cat({e2, x}, 0); }, {"[cat]", "(2,0)", "(2,3)"});
}

TEST(Cat, ManyRowsAndLargePieces) {
  // Sizes above the parallel grain, so the threaded row copies and the split memcpy run.
  Tensor a = random_values({300, 700}, na::kFloat32, 8);
  Tensor b = random_values({300, 7}, na::kFloat32, 9);
  expect_equal(na::cat({a, b}, 1), ref_cat({Ref(a), Ref(b)}, 1));
  Tensor c = random_values({5, 700}, na::kFloat32, 10);
  expect_equal(na::cat({a, c}, 0), ref_cat({Ref(a), Ref(c)}, 0));
}

TEST(Cat, Errors) {
  Tensor x = na::zeros({2, 3});
  expect_error([] { na::cat({}, 0); }, {"[cat]", "non-empty"});
  expect_error([&] { na::cat({x, na::scalar_tensor(1.0)}, 0); }, {"[cat]", "zero-dimensional", "position 1"});
  expect_error([&] { na::cat({x, na::zeros({2, 3, 1})}, 0); }, {"[cat]", "(2,3)", "(2,3,1)"});
  expect_error([&] { na::cat({x, na::zeros({2, 4})}, 0); }, {"[cat]", "(2,3)", "(2,4)", "dimension 1"});
  expect_error([&] { na::cat({x, x}, 2); }, {"[cat]", "dimension 2"});
  expect_error([&] { na::cat({x, x}, -3); }, {"[cat]", "-3"});
  expect_error([&] { na::cat({x, Tensor()}, 0); }, {"[cat]", "position 1"});
}

TEST(Cat, BackwardGivesEachPieceItsDtypeAndShape) {
  Tensor a = random_values({2, 2}, na::kFloat32, 11).requires_grad_();
  Tensor b = random_values({1, 2}, na::kFloat64, 12).requires_grad_();
  Tensor e = na::zeros({0}, na::kFloat32).requires_grad_();
  Tensor w = random_values({3, 2}, na::kFloat64, 13);
  (na::cat({a, e, b}, 0) * w).sum().backward();
  ASSERT_TRUE(a.grad().defined());
  ASSERT_TRUE(b.grad().defined());
  ASSERT_TRUE(e.grad().defined());
  EXPECT_EQ(a.grad().dtype(), na::kFloat32);
  EXPECT_EQ(b.grad().dtype(), na::kFloat64);
  EXPECT_EQ(e.grad().shape(), (Shape{0}));
  Ref rw(w);
  expect_equal(a.grad(), ref_index_select(rw, 0, {0, 1}));
  expect_equal(b.grad(), ref_index_select(rw, 0, {2}));
}

// ------------------------------------------------------------------ stack

TEST(Stack, MatchesDefinition) {
  std::vector<Tensor> xs;
  for (uint32_t i = 0; i < 3; ++i) xs.push_back(random_values({2, 4}, na::kFloat32, 20 + i));
  for (int64_t dim : {0, 1, 2, -1, -3}) {
    const int64_t d = dim < 0 ? dim + 3 : dim;
    Tensor out = na::stack(xs, dim);
    Shape shape{2, 4};
    shape.insert(shape.begin() + d, 3);
    Ref expected(shape, 0);
    for_each_coord(shape, [&](const Coord& c) {
      Coord s = c;
      s.erase(s.begin() + d);
      expected.at(c) = Ref(xs[c[d]]).at(s);
    });
    SCOPED_TRACE("dim " + std::to_string(dim));
    expect_equal(out, expected);
  }
}

TEST(Stack, ScalarsAndNonContiguous) {
  Tensor s = na::stack({na::scalar_tensor(1.0), na::scalar_tensor(2.0), na::scalar_tensor(3.0)});
  EXPECT_EQ(s.shape(), (Shape{3}));
  EXPECT_EQ(s.to_vector<double>(), (std::vector<double>{1, 2, 3}));
  Tensor a = random_values({3, 2}, na::kFloat32, 30).t();
  Tensor b = random_values({2, 3}, na::kFloat32, 31);
  Tensor out = na::stack({a, b}, 1);
  Ref expected({2, 2, 3}, 0);
  for_each_coord(expected.shape, [&](const Coord& c) {
    expected.at(c) = Ref(c[1] == 0 ? a : b).at({c[0], c[2]});
  });
  expect_equal(out, expected);
}

TEST(Stack, Errors) {
  expect_error([] { na::stack({}, 0); }, {"[stack]", "non-empty"});
  expect_error(
      [] {
        na::stack({na::zeros({2}), na::zeros({2}), na::zeros({3})});
      },
      {"[stack]", "(2,)", "(3,)", "entry 2"});
  expect_error([] { na::stack({na::zeros({2}), na::zeros({2})}, 2); }, {"[stack]", "dimension 2"});
}

// ------------------------------------------------------------------ index_select

TEST(IndexSelect, MatchesDefinition) {
  Tensor x = random_values({3, 4, 5}, na::kFloat32, 40);
  for (int64_t dim : {0, 1, 2, -1, -3}) {
    const int64_t d = dim < 0 ? dim + 3 : dim;
    for (auto idt : {na::kInt64, na::kInt32}) {
      Tensor idx = random_index({7}, x.size(d), static_cast<uint32_t>(41 + d), idt);  // repeats are likely
      SCOPED_TRACE("dim " + std::to_string(dim) + " " + na::dtype_name(idt));
      expect_equal(na::index_select(x, dim, idx), ref_index_select(Ref(x), d, as_ints(idx)));
    }
  }
}

TEST(IndexSelect, ZeroDimIndexKeepsTheDim) {
  Tensor x = random_values({2, 3}, na::kFloat32, 50);
  Tensor out = na::index_select(x, 1, na::scalar_tensor(int64_t{2}, na::kInt64));
  expect_equal(out, ref_index_select(Ref(x), 1, {2}));
  Tensor s = na::scalar_tensor(4.0);
  Tensor out0 = na::index_select(s, 0, na::tensor<int64_t>({0}));
  EXPECT_EQ(out0.dim(), 0);
  EXPECT_EQ(out0.item(), 4.0);
}

TEST(IndexSelect, EmptyIndex) {
  Tensor x = random_values({2, 3}, na::kFloat32, 51);
  Tensor out = na::index_select(x, 0, na::zeros({0}, na::kInt64));
  EXPECT_EQ(out.shape(), (Shape{0, 3}));
}

TEST(IndexSelect, NonContiguousInput) {
  Tensor base = random_values({4, 5, 6}, na::kFloat64, 52);
  Tensor x = base.permute({2, 0, 1});  // (6,4,5)
  ASSERT_FALSE(x.is_contiguous());
  for (int64_t d = 0; d < 3; ++d) {
    Tensor idx = random_index({5}, x.size(d), static_cast<uint32_t>(53 + d));
    expect_equal(na::index_select(x, d, idx), ref_index_select(Ref(x), d, as_ints(idx)));
  }
  Tensor idx_strided = na::tensor<int64_t>({3, 9, 1, 9, 0, 9}).slice(0, 0, 6, 2);  // values 3,1,0
  expect_equal(na::index_select(x, 0, idx_strided), ref_index_select(Ref(x), 0, {3, 1, 0}));
}

TEST(IndexSelect, EveryElementWidth) {
  for (auto dt : {na::kBool, na::kUInt8, na::kFloat16, na::kBFloat16, na::kInt32, na::kFloat32, na::kInt64,
                  na::kFloat64}) {
    Tensor x = random_values({3, 4}, dt, 60, dt == na::kBool ? 0 : -9, dt == na::kBool ? 1 : 9);
    Tensor idx = na::tensor<int64_t>({3, 0, 0, 2});
    SCOPED_TRACE(na::dtype_name(dt));
    Tensor out = na::index_select(x, 1, idx);
    EXPECT_EQ(out.dtype(), dt);
    expect_equal(out, ref_index_select(Ref(x), 1, {3, 0, 0, 2}));
    Tensor xt = x.t();  // the strided path too
    expect_equal(na::index_select(xt, 0, idx), ref_index_select(Ref(xt), 0, {3, 0, 0, 2}));
  }
}

TEST(IndexSelect, ManyRows) {
  Tensor x = random_values({2000, 33}, na::kFloat32, 61);
  Tensor idx = random_index({5000}, 2000, 62);
  expect_equal(na::index_select(x, 0, idx), ref_index_select(Ref(x), 0, as_ints(idx)));
  Tensor idx1 = random_index({40}, 33, 63);
  expect_equal(na::index_select(x, 1, idx1), ref_index_select(Ref(x), 1, as_ints(idx1)));
}

TEST(IndexSelect, Errors) {
  Tensor x = na::zeros({3, 4});
  expect_error(
      [&] {
        na::index_select(x, 0, na::tensor<int64_t>({0, 3}));
      },
      {"[index_select]", "index 3", "size 3", "(3,4)"});
  expect_error([&] { na::index_select(x, 1, na::tensor<int64_t>({-1})); },
               {"[index_select]", "index -1", "size 4", "(3,4)"});
  expect_error(
      [&] {
        na::index_select(x, 0, na::tensor<int64_t>({0, 1}, Shape{1, 2}));
      },
      {"[index_select]", "(1,2)"});
  expect_error([&] { na::index_select(x, 0, na::tensor<float>({0.f})); }, {"[index_select]", "float32"});
  expect_error([&] { na::index_select(x, 2, na::tensor<int64_t>({0})); }, {"[index_select]", "dimension 2"});
}

// ------------------------------------------------------------------ gather

TEST(Gather, MatchesDefinition) {
  Tensor x = random_values({3, 4, 5}, na::kFloat32, 70);
  for (int64_t dim : {0, 1, 2, -1}) {
    const int64_t d = dim < 0 ? dim + 3 : dim;
    // Smaller than x in the other dims, larger along dim: both are allowed.
    Shape is{2, 3, 4};
    is[d] = 7;
    Tensor idx = random_index(is, x.size(d), static_cast<uint32_t>(71 + d));
    SCOPED_TRACE("dim " + std::to_string(dim));
    expect_equal(na::gather(x, dim, idx), ref_gather(Ref(x), d, Ref(idx)));
    expect_equal(na::gather(x, dim, idx.to(na::kInt32)), ref_gather(Ref(x), d, Ref(idx)));
  }
}

TEST(Gather, NonContiguousInputAndIndex) {
  Tensor x = random_values({5, 4}, na::kFloat64, 75).t();  // (4,5)
  Tensor idx = random_index({3, 4}, 4, 76).t();            // (4,3), values < 4
  ASSERT_FALSE(x.is_contiguous());
  ASSERT_FALSE(idx.is_contiguous());
  expect_equal(na::gather(x, 1, idx), ref_gather(Ref(x), 1, Ref(idx)));
  Tensor idx0 = random_index({4, 3}, 4, 77).t();  // (3,4), values < 4 = x.size(0)
  expect_equal(na::gather(x, 0, idx0), ref_gather(Ref(x), 0, Ref(idx0)));
}

TEST(Gather, ManyLines) {
  Tensor x = random_values({40000, 3}, na::kFloat32, 78);
  Tensor idx = random_index({40000, 1}, 3, 79);
  expect_equal(na::gather(x, 1, idx), ref_gather(Ref(x), 1, Ref(idx)));
}

TEST(Gather, Errors) {
  Tensor x = na::zeros({2, 3});
  expect_error(
      [&] {
        na::gather(x, 1, na::tensor<int64_t>({0, 3}, Shape{1, 2}));
      },
      {"[gather]", "index 3", "dimension 1", "size 3", "(2,3)"});
  expect_error([&] { na::gather(x, 0, na::tensor<int64_t>({-1}, Shape{1, 1})); }, {"[gather]", "index -1"});
  expect_error([&] { na::gather(x, 1, na::tensor<int64_t>({0, 1})); }, {"[gather]", "(2,)", "(2,3)"});
  expect_error(
      [&] {
        na::gather(x, 1, na::zeros({3, 1}, na::kInt64));
      },
      {"[gather]", "(3,1)", "(2,3)", "dimension 0"});
  expect_error([&] { na::gather(x, 1, na::zeros({2, 1})); }, {"[gather]", "float32"});
  expect_error([&] { na::gather(x, -3, na::zeros({2, 1}, na::kInt64)); }, {"[gather]", "-3"});
}

// ------------------------------------------------------------------ scatter / scatter_add

// An index whose lines along dim are distinct values (a prefix of a permutation), so scatter's
// result does not depend on which of two writes to one place lands last.
Tensor distinct_index(const Shape& shape, int64_t dim, int64_t bound, uint32_t seed) {
  std::mt19937 rng(seed);
  Ref idx(shape, 0);
  Shape lines = shape;
  lines[dim] = 1;
  for_each_coord(lines, [&](const Coord& c) {
    std::vector<int64_t> perm(static_cast<size_t>(bound));
    for (int64_t i = 0; i < bound; ++i) perm[i] = i;
    std::shuffle(perm.begin(), perm.end(), rng);
    for (int64_t k = 0; k < shape[dim]; ++k) {
      Coord p = c;
      p[dim] = k;
      idx.at(p) = static_cast<double>(perm[k]);
    }
  });
  return na::tensor<double>(idx.v, shape).to(na::kInt64);
}

TEST(Scatter, MatchesDefinitionAndLeavesInputAlone) {
  for (int64_t dim : {0, 1, -1}) {
    const int64_t d = dim < 0 ? dim + 2 : dim;
    Tensor x = random_values({4, 5}, na::kFloat32, 80);
    const std::vector<double> before = x.to_vector<double>();
    Shape is{3, 4};
    is[d] = 3;
    Tensor idx = distinct_index(is, d, x.size(d), static_cast<uint32_t>(81 + d));
    Tensor src = random_values({4, 5}, na::kFloat32, 82);  // larger than the index: allowed
    SCOPED_TRACE("dim " + std::to_string(dim));
    expect_equal(na::scatter(x, dim, idx, src), ref_scatter(Ref(x), d, Ref(idx), Ref(src), false));
    EXPECT_EQ(x.to_vector<double>(), before);
  }
}

TEST(Scatter, NonContiguousOperands) {
  Tensor x = random_values({5, 4}, na::kFloat64, 83).t();    // (4,5)
  Tensor src = random_values({6, 4}, na::kFloat64, 84).t();  // (4,6)
  Tensor idx = distinct_index({2, 4}, 0, 5, 85).t();         // (4,2), distinct along dim 1
  ASSERT_FALSE(idx.is_contiguous());
  expect_equal(na::scatter(x, 1, idx, src), ref_scatter(Ref(x), 1, Ref(idx), Ref(src), false));
  expect_equal(na::scatter_add(x, 1, idx, src), ref_scatter(Ref(x), 1, Ref(idx), Ref(src), true));
}

TEST(ScatterAdd, DuplicatesAccumulate) {
  Tensor x = random_values({3, 4, 5}, na::kFloat32, 90);
  for (int64_t dim : {0, 1, 2, -1}) {
    const int64_t d = dim < 0 ? dim + 3 : dim;
    Shape is{2, 3, 4};
    is[d] = 9;  // longer than x along dim: indices repeat
    Shape ss = is;
    ss[0] += 1;  // src may be larger than the index
    Tensor idx = random_index(is, x.size(d), static_cast<uint32_t>(91 + d));
    Tensor src = random_values(ss, na::kFloat32, static_cast<uint32_t>(95 + d));
    SCOPED_TRACE("dim " + std::to_string(dim));
    expect_equal(na::scatter_add(x, dim, idx, src), ref_scatter(Ref(x), d, Ref(idx), Ref(src), true));
  }
}

TEST(ScatterAdd, IntegerAndHalfDtypes) {
  for (auto dt : {na::kInt64, na::kInt32, na::kFloat16, na::kBFloat16, na::kFloat64}) {
    Tensor x = random_values({3, 4}, dt, 110);
    Tensor idx = random_index({6, 4}, 3, 111);
    Tensor src = random_values({6, 4}, dt, 112);
    SCOPED_TRACE(na::dtype_name(dt));
    Tensor out = na::scatter_add(x, 0, idx, src);
    EXPECT_EQ(out.dtype(), dt);
    expect_equal(out, ref_scatter(Ref(x), 0, Ref(idx), Ref(src), true));
  }
}

TEST(ScatterAdd, SameResultForAnyThreadCount) {
  // Non-integer values: a racy or thread-dependent order of additions would change the bits.
  Tensor x = na::zeros({8, 3000});
  Tensor idx = random_index({64, 3000}, 8, 120);
  std::mt19937 rng(121);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<float> v(64 * 3000);
  for (auto& f : v) f = dist(rng);
  Tensor src = na::tensor<float>(v, Shape{64, 3000});
  const int saved = na::get_num_threads();
  na::set_num_threads(1);
  const std::vector<float> one = na::scatter_add(x, 0, idx, src).to_vector<float>();
  na::set_num_threads(4);
  const std::vector<float> four = na::scatter_add(x, 0, idx, src).to_vector<float>();
  na::set_num_threads(saved);
  EXPECT_EQ(one, four);
}

TEST(Scatter, Errors) {
  Tensor x = na::zeros({2, 3});
  Tensor src = na::ones({2, 3});
  for (const char* op : {"scatter", "scatter_add"}) {
    auto f = std::string(op) == "scatter" ? na::scatter : na::scatter_add;
    const std::string tag = std::string("[") + op + "]";
    expect_error(
        [&] {
          f(x, 1, na::tensor<int64_t>({0, 5}, Shape{1, 2}), src);
        },
        {tag, "index 5", "dimension 1", "size 3", "(2,3)"});
    expect_error([&] { f(x, 1, na::tensor<int64_t>({0, -2}, Shape{1, 2}), src); }, {tag, "index -2"});
    expect_error(
        [&] {
          f(x, 1, na::zeros({1, 2}, na::kInt64), na::ones({1, 1}));
        },
        {tag, "(1,2)", "(1,1)", "src"});
    expect_error(
        [&] {
          f(x, 1, na::zeros({1, 2}, na::kInt64), na::ones({2, 3}, na::kFloat64));
        },
        {tag, "float64", "float32"});
    expect_error([&] { f(x, 1, na::zeros({3, 1}, na::kInt64), na::ones({3, 3})); }, {tag, "(3,1)", "(2,3)"});
    expect_error([&] { f(x, 0, na::zeros({2}, na::kInt64), src); }, {tag, "(2,)", "(2,3)"});
    expect_error([&] { f(x, 0, na::zeros({1, 1}), src); }, {tag, "float32"});
  }
}

// ------------------------------------------------------------------ embedding

Ref ref_embedding(const Ref& w, const Tensor& indices) {
  Shape shape = indices.shape();
  shape.push_back(w.shape[1]);
  Ref out(shape, 0);
  const auto ids = as_ints(indices);
  for (size_t i = 0; i < ids.size(); ++i)
    for (int64_t j = 0; j < w.shape[1]; ++j) out.v[i * w.shape[1] + j] = w.at({ids[i], j});
  return out;
}

TEST(Embedding, MatchesDefinition) {
  Tensor w = random_values({6, 4}, na::kFloat32, 130);
  Tensor ids = random_index({2, 3}, 6, 131);
  expect_equal(na::embedding(w, ids), ref_embedding(Ref(w), ids));
  expect_equal(na::embedding(w, ids.to(na::kInt32)), ref_embedding(Ref(w), ids));
  Tensor one = na::scalar_tensor(int64_t{5}, na::kInt64);
  Tensor row = na::embedding(w, one);
  EXPECT_EQ(row.shape(), (Shape{4}));
  expect_equal(row, ref_embedding(Ref(w), one));
  EXPECT_EQ(na::embedding(w, na::zeros({0, 2}, na::kInt64)).shape(), (Shape{0, 2, 4}));
}

TEST(Embedding, NonContiguousWeightAndIndices) {
  Tensor w = random_values({4, 7}, na::kFloat64, 132).t();  // (7,4)
  Tensor ids = random_index({5, 3}, 7, 133).t();            // (3,5)
  expect_equal(na::embedding(w, ids), ref_embedding(Ref(w), ids));
}

TEST(Embedding, ManyIndices) {
  Tensor w = random_values({1000, 64}, na::kFloat32, 134);
  Tensor ids = random_index({32, 257}, 1000, 135);
  expect_equal(na::embedding(w, ids), ref_embedding(Ref(w), ids));
}

TEST(Embedding, Errors) {
  Tensor w = na::zeros({5, 3});
  expect_error(
      [&] {
        na::embedding(w, na::tensor<int64_t>({1, 5}));
      },
      {"[embedding]", "index 5", "size 5", "(5,3)"});
  expect_error([&] { na::embedding(w, na::tensor<int64_t>({-1})); }, {"[embedding]", "index -1"});
  expect_error([&] { na::embedding(na::zeros({5}), na::tensor<int64_t>({1})); },
               {"[embedding]", "2-D", "(5,)"});
  expect_error([&] { na::embedding(w, na::tensor<float>({1.f})); }, {"[embedding]", "float32"});
}

}  // namespace
