// Behaviour of the Tensor handle: creation, views, dtypes, in-place writes, printing, errors.
#include <gtest/gtest.h>

#include <cmath>
#include <neural_arch/autograd.hpp>
#include <neural_arch/ops.hpp>

namespace na = neural_arch;
using na::Shape;

namespace {
std::vector<double> vals(const na::Tensor& t) { return t.to_vector<double>(); }
template <class F> std::string error_of(F f) {
  try {
    f();
  } catch (const na::Error& e) {
    return e.what();
  }
  return "<no error>";
}
}  // namespace

TEST(Tensor, CreationShapesAndValues) {
  auto z = na::zeros({2, 3});
  EXPECT_EQ(z.shape(), (Shape{2, 3}));
  EXPECT_EQ(z.dtype(), na::kFloat32);
  for (double v : vals(z)) EXPECT_EQ(v, 0.0);
  auto f = na::full({4}, 2.5, na::kFloat64);
  for (double v : vals(f)) EXPECT_EQ(v, 2.5);
  auto o = na::ones({3}, na::kInt32);
  EXPECT_EQ(o.dtype(), na::kInt32);
  EXPECT_EQ(o.to_vector<int32_t>(), (std::vector<int32_t>{1, 1, 1}));
  auto e = na::eye(2, 3);
  EXPECT_EQ(vals(e), (std::vector<double>{1, 0, 0, 0, 1, 0}));
  auto a = na::arange(1, 10, 3);
  EXPECT_EQ(a.dtype(), na::kInt64);
  EXPECT_EQ(a.to_vector<int64_t>(), (std::vector<int64_t>{1, 4, 7}));
  auto l = na::linspace(-1, 1, 5);
  EXPECT_EQ(vals(l), (std::vector<double>{-1, -0.5, 0, 0.5, 1}));
  EXPECT_EQ(na::scalar_tensor(3).dim(), 0);
}

TEST(Tensor, FromVectorCopiesAndChecksSize) {
  std::vector<float> data{1, 2, 3, 4};
  auto t = na::tensor(data, Shape{2, 2});
  data[0] = 100;
  EXPECT_EQ(t.to_vector<float>()[0], 1.0f);
  EXPECT_NE(error_of([] { na::tensor<float>({1, 2, 3}, Shape{2, 2}); }).find("[tensor]"), std::string::npos);
}

TEST(Tensor, RandomIsSeededAndInRange) {
  na::Generator g1(42), g2(42);
  auto a = na::rand({1000}, {}, &g1), b = na::rand({1000}, {}, &g2);
  EXPECT_EQ(vals(a), vals(b));
  for (double v : vals(a)) {
    EXPECT_GE(v, 0.0);
    EXPECT_LT(v, 1.0);
  }
  auto n = na::randn({20000}, na::kFloat64, &g1);
  double mean = na::mean(n).item(), sd = na::std(n).item();
  EXPECT_NEAR(mean, 0.0, 0.05);
  EXPECT_NEAR(sd, 1.0, 0.05);
  auto r = na::randint(-3, 3, {5000}, na::kInt64, &g1);
  for (auto v : r.to_vector<int64_t>()) {
    EXPECT_GE(v, -3);
    EXPECT_LT(v, 3);
  }
  std::string state = g1.get_state();
  auto x1 = na::rand({5}, {}, &g1);
  g1.set_state(state);
  EXPECT_EQ(vals(na::rand({5}, {}, &g1)), vals(x1));
}

TEST(Tensor, ViewsShareStorage) {
  auto base = na::arange(0, 12, 1, na::TensorOptions(na::kFloat32)).reshape({3, 4});
  auto t = base.transpose(0, 1);
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(t.shape(), (Shape{4, 3}));
  EXPECT_EQ(t.storage(), base.storage());
  auto s = base.slice(1, 0, 4, 2);  // columns 0 and 2
  EXPECT_EQ(vals(s), (std::vector<double>{0, 2, 4, 6, 8, 10}));
  s.fill_(-1);
  EXPECT_EQ(vals(base)[0], -1.0);
  EXPECT_EQ(vals(base)[1], 1.0);
  auto sel = base.select(0, -1);
  EXPECT_EQ(vals(sel), (std::vector<double>{-1, 9, -1, 11}));  // columns 0 and 2 were filled
  auto ex = na::tensor<float>({1, 2}).reshape({2, 1}).expand({2, 3});
  EXPECT_EQ(vals(ex), (std::vector<double>{1, 1, 1, 2, 2, 2}));
  auto perm = na::arange(0, 24, 1, na::TensorOptions(na::kFloat32)).reshape({2, 3, 4}).permute({2, 0, 1});
  EXPECT_EQ(perm.shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(perm.contiguous().to_vector<float>()[1], 4.0f);
  EXPECT_EQ(na::ones({2, 1, 3}).squeeze().shape(), (Shape{2, 3}));
  EXPECT_EQ(na::ones({2, 3}).unsqueeze(-1).shape(), (Shape{2, 3, 1}));
  EXPECT_EQ(na::ones({2, 3, 4}).flatten(1).shape(), (Shape{2, 12}));
  auto parts = na::arange(0, 7).chunk(3);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[2].numel(), 1);
  auto sp = na::arange(0, 7).split(3);
  EXPECT_EQ(sp[1].to_vector<int64_t>(), (std::vector<int64_t>{3, 4, 5}));
}

TEST(Tensor, ReshapeOfNonContiguousCopiesViewRefuses) {
  auto t = na::ones({3, 4}).t();
  EXPECT_NE(error_of([&] { t.view({12}); }).find("[view]"), std::string::npos);
  auto r = t.reshape({12});
  EXPECT_EQ(r.numel(), 12);
  EXPECT_NE(error_of([&] {
              na::ones({3, 4}).reshape({5, -1});
            }).find("invalid for input of size 12"),
            std::string::npos);
}

TEST(Tensor, TypePromotion) {
  auto i = na::ones({2}, na::kInt64), f = na::ones({2}, na::kFloat32), d = na::ones({2}, na::kFloat64);
  auto b = na::ones({2}, na::kBool);
  EXPECT_EQ((i + f).dtype(), na::kFloat32);
  EXPECT_EQ((f + d).dtype(), na::kFloat64);
  EXPECT_EQ((i + b).dtype(), na::kInt64);
  EXPECT_EQ((i / i).dtype(), na::kFloat32);
  EXPECT_EQ((i * 2).dtype(), na::kInt64);
  EXPECT_EQ((i * 2.5).dtype(), na::kFloat32);
  EXPECT_EQ((f + na::scalar_tensor(1.0, na::kFloat64)).dtype(), na::kFloat32);  // 0-d doesn't promote
  EXPECT_EQ(na::eq(i, f).dtype(), na::kBool);
  EXPECT_EQ(na::sum(b).dtype(), na::kInt64);
  EXPECT_EQ(na::exp(i).dtype(), na::kFloat32);
}

TEST(Tensor, BroadcastingNonContiguousArithmetic) {
  auto a = na::arange(0, 6, 1, na::TensorOptions(na::kFloat64)).reshape({2, 3});
  auto col = na::tensor<double>({10, 20}).reshape({2, 1});
  auto r = a.t() + col.t();  // (3,2) + (1,2)
  std::vector<double> expect;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 2; ++j) expect.push_back(j * 3 + i + (j ? 20 : 10));
  EXPECT_EQ(vals(r), expect);
  EXPECT_NE(error_of([] {
              na::mul(na::ones({2, 3}), na::ones({3, 2}));
            }).find("[mul] shapes (2,3) and (3,2)"),
            std::string::npos);
}

TEST(Tensor, InPlaceBumpsVersionAndChecksLeaves) {
  auto t = na::zeros({3});
  auto v0 = t.version();
  t.add_(1.0);
  EXPECT_GT(t.version(), v0);
  EXPECT_EQ(vals(t), (std::vector<double>{1, 1, 1}));
  t.mul_(na::tensor<float>({1, 2, 3}));
  EXPECT_EQ(vals(t), (std::vector<double>{1, 2, 3}));
  auto leaf = na::ones({2}).requires_grad_();
  EXPECT_NE(error_of([&] { leaf.add_(1.0); }).find("leaf tensor that requires grad"), std::string::npos);
  {
    na::NoGradGuard ng;
    leaf.add_(1.0);  // allowed without grad mode (optimizer updates)
  }
  EXPECT_EQ(vals(leaf), (std::vector<double>{2, 2}));
  auto it = na::ones({2}, na::kInt64);
  EXPECT_NE(error_of([&] { it.mul_(1.5); }).find("can't be cast"), std::string::npos);
  auto c = na::zeros({2, 3});
  c.copy_(na::tensor<double>({1, 2, 3}));
  EXPECT_EQ(vals(c), (std::vector<double>{1, 2, 3, 1, 2, 3}));
}

TEST(Tensor, ToDtypeRoundsAndClones) {
  auto f = na::tensor<float>({1.5f, -2.7f, 3.0f});
  EXPECT_EQ(f.to(na::kInt32).to_vector<int32_t>(),
            (std::vector<int32_t>{1, -2, 3}));  // truncation, as C++/torch
  auto h = f.to(na::kFloat16).to(na::kFloat32);
  EXPECT_EQ(h.to_vector<float>(), (std::vector<float>{1.5f, -2.69921875f, 3.0f}));
  auto bf = f.to(na::kBFloat16).to(na::kFloat32);
  EXPECT_EQ(bf.to_vector<float>()[1], -2.703125f);
  auto c = f.clone();
  EXPECT_NE(c.storage(), f.storage());
  EXPECT_TRUE(f.to(na::kFloat32).is_same(f));
}

TEST(Tensor, HalfConversionRoundTripsEveryPattern) {
  for (uint32_t bits = 0; bits < 65536; ++bits) {
    float f = na::half_to_float(static_cast<uint16_t>(bits));
    if (std::isnan(f)) continue;
    ASSERT_EQ(na::float_to_half(f), bits) << "pattern " << bits;
  }
  for (uint32_t bits = 0; bits < 65536; ++bits) {
    float f = na::bf16_to_float(static_cast<uint16_t>(bits));
    if (std::isnan(f)) continue;
    ASSERT_EQ(na::float_to_bf16(f), bits) << "pattern " << bits;
  }
  EXPECT_EQ(na::float_to_half(65520.0f), 0x7c00);            // rounds to inf
  EXPECT_EQ(na::float_to_half(1.0f + 1.0f / 2048), 0x3c00);  // tie to even
}

TEST(Tensor, PrintingLooksLikePyTorch) {
  EXPECT_EQ(na::tensor<float>({1.f, 2.5f}).str(), "tensor([1.0000, 2.5000])");
  EXPECT_EQ(na::tensor<int64_t>({1, 2, 3}).str(), "tensor([1, 2, 3])");
  EXPECT_EQ(na::tensor<double>({1, 2}).str(), "tensor([1., 2.], dtype=float64)");
  EXPECT_EQ(na::tensor<bool>({true, false}).str(), "tensor([ True, False])");
  EXPECT_EQ(na::zeros({2, 2}).str(), "tensor([[0., 0.],\n        [0., 0.]])");
  auto r = na::ones({2}).requires_grad_();
  EXPECT_EQ(r.str(), "tensor([1., 1.], requires_grad=True)");
  EXPECT_NE((r * 2.0).str().find("grad_fn=<MulBackward>"), std::string::npos);
  EXPECT_NE(na::zeros({2000}).str().find("..."), std::string::npos);
}

TEST(Tensor, ErrorsNameTheOpAndValues) {
  auto t = na::ones({2, 3});
  EXPECT_NE(error_of([&] { t.size(5); }).find("dimension 5 is out of range"), std::string::npos);
  EXPECT_NE(error_of([&] { t.select(1, 3); }).find("[select] index 3 is out of bounds"), std::string::npos);
  EXPECT_NE(error_of([&] { t.item(); }).find("[item]"), std::string::npos);
  EXPECT_NE(error_of([&] { t.data_ptr<double>(); }).find("[data_ptr]"), std::string::npos);
  EXPECT_NE(error_of([&] { t.permute({0, 0}); }).find("[permute] repeated dim"), std::string::npos);
  EXPECT_NE(error_of([&] { t.expand({4, 3, 2}); }).find("[expand]"), std::string::npos);
  EXPECT_NE(error_of([&] {
              na::Tensor u;
              u.shape();
            }).find("undefined"),
            std::string::npos);
  EXPECT_NE(error_of([] { na::ones({2}, na::kInt64).requires_grad_(); }).find("floating point"),
            std::string::npos);
  EXPECT_NE(error_of([] { na::gelu(na::ones({2}), "fast"); }).find("[gelu]"), std::string::npos);
  EXPECT_NE(error_of([] { na::ones({2}).to(na::Device("cuda:0")); }).find("[to]"), std::string::npos);
  EXPECT_NE(error_of([] { na::Device("tpu"); }).find("[device] unknown device 'tpu'"), std::string::npos);
  EXPECT_NE(error_of([] { na::dropout(na::ones({2}), 1.5); }).find("[dropout]"), std::string::npos);
}

TEST(Tensor, MethodShorthandsMatchFreeFunctions) {
  auto x = na::randn({3, 4}, na::kFloat64);
  EXPECT_EQ(vals(x.sum({1})), vals(na::sum(x, {1})));
  EXPECT_EQ(vals(x.exp()), vals(na::exp(x)));
  EXPECT_EQ(vals(x.softmax(0)), vals(na::softmax(x, 0)));
}
