// bf16 convolutions: the native oneDNN path (bf16 operands, f32 accumulation, each result
// rounded to bf16 once) against f64 convolutions of the same bf16-rounded values, over the
// geometries the f32 path supports; empty problems, misuse errors, f16 on the converted path,
// and conv under autocast(bf16).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "backends/cpu/conv_onednn.hpp"
#include "neural_arch/autograd.hpp"
#include "neural_arch/functional/conv.hpp"
#include "neural_arch/nn/conv.hpp"
#include "neural_arch/ops.hpp"
#include "neural_arch/optimization/autocast.hpp"
#include "neural_arch/random.hpp"
#include "test_util.hpp"

namespace {

namespace na = neural_arch;
namespace nn = neural_arch::nn;
namespace F = neural_arch::functional;
namespace cpu = neural_arch::cpu;
using na::DType;
using na::Tensor;
using na_test::close;
using na_test::expect_error;

// Random values that are exact in bf16 (so the f64 reference sees the very operands the bf16
// kernel does).
Tensor rand_bf16(const na::Shape& s, double scale = 1.0) {
  return na::mul(na::randn(s), na::scalar_tensor(scale)).to(DType::bf16);
}

// The bound for a bf16 result r = round_bf16(y32) of an exact result y, where y32 accumulates
// K products in f32: |r - y| <= 2^-8 |y32| (one round-to-nearest into bf16's 8-bit significand)
// + |y32 - y|, and |y32 - y| <= gamma_K sum|terms| with gamma_K ~ K 2^-24 (f32 summation in
// any order; twice that for margin). `abs_ref` is the same op applied to |operands| in f64,
// i.e. sum|terms| per element.
::testing::AssertionResult bf16_close(const Tensor& actual, const Tensor& ref, const Tensor& abs_ref,
                                      int64_t K, const std::string& what) {
  if (actual.dtype() != DType::bf16)
    return ::testing::AssertionFailure()
           << what << ": dtype " << na::dtype_name(actual.dtype()) << ", expected bf16";
  if (actual.shape() != ref.shape())
    return ::testing::AssertionFailure()
           << what << ": shape " << na::shape_str(actual.shape()) << " vs " << na::shape_str(ref.shape());
  const auto a = actual.to_vector<double>(), e = ref.to_vector<double>(), s = abs_ref.to_vector<double>();
  const double gamma = 2.0 * static_cast<double>(K) * std::ldexp(1.0, -24);
  for (size_t i = 0; i < a.size(); ++i) {
    const double acc = gamma * s[i];
    const double tol = std::ldexp(1.0, -8) * (std::abs(e[i]) + acc) + acc;
    if (!(std::abs(a[i] - e[i]) <= tol))
      return ::testing::AssertionFailure() << what << ": element " << i << " is " << a[i] << ", expected "
                                           << e[i] << " within " << tol << " (K " << K << ")";
  }
  return ::testing::AssertionSuccess();
}

struct Geo {
  std::string name;
  na::Shape x, w;
  F::Int2 stride, dilation;
  F::ConvPadding padding;
  int64_t groups;
};

const std::vector<Geo>& geometries() {
  static const std::vector<Geo> g{
      {"cnn_conv1", {16, 1, 28, 28}, {32, 1, 3, 3}, 1, 1, 1, 1},   // Fashion-MNIST CNN, first layer
      {"cnn_conv2", {8, 32, 14, 14}, {64, 32, 3, 3}, 1, 1, 1, 1},  // and second
      {"strided_asym_pad", {2, 16, 9, 11}, {32, 16, 5, 3}, {2, 3}, 1, {2, 1}, 1},
      {"depthwise_dilated_same", {2, 16, 12, 12}, {16, 1, 3, 3}, 1, 2, "same", 16},
      {"grouped_1x1_strided", {1, 24, 10, 10}, {36, 8, 1, 1}, 2, 1, 0, 3},
      {"pointwise_1x1", {3, 64, 7, 7}, {32, 64, 1, 1}, 1, 1, 0, 1},
      {"odd_channels_even_kernel_same", {2, 17, 8, 8}, {5, 17, 4, 4}, 1, 1, "same", 1},
      {"dilated_valid", {2, 8, 13, 13}, {16, 8, 3, 3}, 1, {2, 3}, "valid", 1},
  };
  return g;
}

Tensor conv(const Geo& g, const Tensor& x, const Tensor& w, const Tensor& b) {
  return F::conv2d(x, w, b, g.stride, g.padding, g.dilation, g.groups);
}

Tensor f64(const Tensor& t) { return t.defined() ? t.to(DType::f64) : t; }
Tensor abs64(const Tensor& t) { return t.defined() ? na::abs(t.to(DType::f64)) : t; }

// Forward and the fused backward (input, weight and bias gradients) of one geometry.
void check_geometry(const Geo& g, bool with_bias) {
  SCOPED_TRACE(g.name + (with_bias ? " with bias" : " without bias"));
  na::manual_seed(100);
  const Tensor x = rand_bf16(g.x), w = rand_bf16(g.w, 0.3), b = with_bias ? rand_bf16({g.w[0]}) : Tensor();
  Tensor xb = x.clone().requires_grad_(), wb = w.clone().requires_grad_(),
         bb = with_bias ? b.clone().requires_grad_() : Tensor();
  Tensor y = conv(g, xb, wb, bb);
  Tensor x64 = f64(x).requires_grad_(), w64 = f64(w).requires_grad_(),
         b64 = with_bias ? f64(b).requires_grad_() : Tensor();
  Tensor y64 = conv(g, x64, w64, b64);
  const int64_t cg = g.w[1], khw = g.w[2] * g.w[3];
  ASSERT_TRUE(bf16_close(y, y64, conv(g, abs64(x), abs64(w), abs64(b)), cg * khw + 1, "output"));

  const Tensor gy = rand_bf16(y.shape());
  y.backward(gy);
  y64.backward(f64(gy));
  const int64_t og = g.w[0] / g.groups, N = g.x[0], plane = y.size(2) * y.size(3);
  const Tensor agx =
      F::conv2d_input_grad(g.x, abs64(w), abs64(gy), g.stride, g.padding, g.dilation, g.groups);
  const Tensor agw =
      F::conv2d_weight_grad(abs64(x), g.w, abs64(gy), g.stride, g.padding, g.dilation, g.groups);
  EXPECT_TRUE(bf16_close(xb.grad(), x64.grad(), agx, og * khw, "input gradient"));
  EXPECT_TRUE(bf16_close(wb.grad(), w64.grad(), agw, N * plane, "weight gradient"));
  if (with_bias)
    EXPECT_TRUE(bf16_close(bb.grad(), b64.grad(), na::sum(abs64(gy), {0, 2, 3}), N * plane, "bias gradient"));
}

TEST(ConvBf16, MatchesF64OnTheSameRoundedValuesAcrossGeometries) {
  for (const Geo& g : geometries()) {
    check_geometry(g, true);
    check_geometry(g, false);
  }
}

TEST(ConvBf16, SeparateBackwardOpsMatchF64) {
  // conv2d_input_grad / conv2d_weight_grad (double backward's building blocks), and a frozen
  // input (weight gradient alone), run the unfused bf16 kernels.
  for (const Geo& g : geometries()) {
    SCOPED_TRACE(g.name);
    na::manual_seed(7);
    const Tensor x = rand_bf16(g.x), w = rand_bf16(g.w, 0.3);
    const Tensor y64 = conv(g, f64(x), f64(w), Tensor());
    const Tensor gy = rand_bf16(y64.shape());
    const int64_t og = g.w[0] / g.groups, khw = g.w[2] * g.w[3], K = g.x[0] * y64.size(2) * y64.size(3);
    auto in_grad = [&](const Tensor& wt, const Tensor& gt) {
      return F::conv2d_input_grad(g.x, wt, gt, g.stride, g.padding, g.dilation, g.groups);
    };
    auto w_grad = [&](const Tensor& xt, const Tensor& gt) {
      return F::conv2d_weight_grad(xt, g.w, gt, g.stride, g.padding, g.dilation, g.groups);
    };
    EXPECT_TRUE(bf16_close(in_grad(w, gy), in_grad(f64(w), f64(gy)), in_grad(abs64(w), abs64(gy)), og * khw,
                           "conv2d_input_grad"));
    EXPECT_TRUE(bf16_close(w_grad(x, gy), w_grad(f64(x), f64(gy)), w_grad(abs64(x), abs64(gy)), K,
                           "conv2d_weight_grad"));
    Tensor wb = w.clone().requires_grad_();
    conv(g, x, wb, Tensor()).backward(gy);
    EXPECT_TRUE(bf16_close(wb.grad(), w_grad(f64(x), f64(gy)), w_grad(abs64(x), abs64(gy)), K,
                           "weight gradient with a frozen input"));
  }
}

TEST(ConvBf16, Conv1dStrideDilationGroupsPadding) {
  na::manual_seed(11);
  const Tensor x = rand_bf16({2, 8, 30}), w = rand_bf16({16, 4, 5}, 0.3), b = rand_bf16({16});
  Tensor xb = x.clone().requires_grad_(), wb = w.clone().requires_grad_();
  Tensor x64 = f64(x).requires_grad_(), w64 = f64(w).requires_grad_();
  Tensor y = F::conv1d(xb, wb, b, 2, 3, 2, 2);
  Tensor y64 = F::conv1d(x64, w64, f64(b), 2, 3, 2, 2);
  ASSERT_TRUE(bf16_close(y, y64, F::conv1d(abs64(x), abs64(w), abs64(b), 2, 3, 2, 2), 4 * 5 + 1, "output"));
  const Tensor gy = rand_bf16(y.shape());
  y.backward(gy);
  y64.backward(f64(gy));
  const Tensor agx = F::conv2d_input_grad({2, 8, 1, 30}, abs64(w).unsqueeze(2), abs64(gy).unsqueeze(2),
                                          {1, 2}, {0, 3}, {1, 2}, 2);
  const Tensor agw = F::conv2d_weight_grad(abs64(x).unsqueeze(2), {16, 4, 1, 5}, abs64(gy).unsqueeze(2),
                                           {1, 2}, {0, 3}, {1, 2}, 2);
  EXPECT_TRUE(bf16_close(xb.grad(), x64.grad(), agx.squeeze(2), 8 * 5, "input gradient"));
  EXPECT_TRUE(bf16_close(wb.grad(), w64.grad(), agw.squeeze(2), 2 * y.size(2), "weight gradient"));
}

TEST(ConvBf16, RunsNativelyOnBf16CpusAndIsCachedSeparatelyFromF32) {
  // On a CPU with AVX512-BF16 (or AMX) the CNN's layers must not fall back to widening; on
  // others every bf16 geometry must report the fallback. Either way the results above hold.
  const bool native = cpu::conv_bf16_native_cpu();
  std::cout << "[ConvBf16] native bf16 convolution on this CPU: " << (native ? "yes" : "no (widened to f32)")
            << "\n";
  cpu::ConvShape s1;  // CNN conv1 at batch 128: 1 -> 32 channels, 3x3, padding 1, 28x28
  s1.N = 128, s1.C = 1, s1.H = s1.W = 28, s1.O = 32, s1.KH = s1.KW = 3, s1.OH = s1.OW = 28;
  s1.pad_top = s1.pad_bottom = s1.pad_left = s1.pad_right = 1;
  cpu::ConvShape s2 = s1;  // conv2: 32 -> 64 channels on 14x14
  s2.C = 32, s2.O = 64, s2.H = s2.W = s2.OH = s2.OW = 14;
  EXPECT_EQ(cpu::conv2d_bf16_native(s1, true), native);
  EXPECT_EQ(cpu::conv2d_bf16_native(s2, true), native);

  // The data type is part of the primitive cache key: f32 and bf16 of one geometry are two
  // entries where bf16 is native (one where bf16 is widened to f32).
  na::manual_seed(3);
  const Tensor x = na::randn({2, 4, 8, 8}), w = na::randn({6, 4, 3, 3});
  cpu::conv_cache_clear();
  F::conv2d(x, w, Tensor(), 1, 1);
  F::conv2d(x.to(DType::bf16), w.to(DType::bf16), Tensor(), 1, 1);
  EXPECT_EQ(cpu::conv_cache_stats().entries, native ? 2 : 1);
}

TEST(ConvBf16, EmptyProblems) {
  // Empty batch: empty output and input gradient, zero weight and bias gradients, all bf16.
  Tensor x = na::zeros({0, 3, 8, 8}).to(DType::bf16).requires_grad_();
  Tensor w = na::ones({4, 3, 3, 3}).to(DType::bf16).requires_grad_();
  Tensor b = na::ones({4}).to(DType::bf16).requires_grad_();
  Tensor y = F::conv2d(x, w, b, 1, 1);
  EXPECT_EQ(y.shape(), (na::Shape{0, 4, 8, 8}));
  EXPECT_EQ(y.dtype(), DType::bf16);
  y.backward(na::zeros({0, 4, 8, 8}).to(DType::bf16));
  EXPECT_EQ(x.grad().shape(), x.shape());
  EXPECT_TRUE(close(w.grad(), na::zeros({4, 3, 3, 3}).to(DType::bf16), 0, 0, "weight gradient"));
  EXPECT_TRUE(close(b.grad(), na::zeros({4}).to(DType::bf16), 0, 0, "bias gradient"));
  // No input channels: the output is the bias.
  Tensor y0 = F::conv2d(na::zeros({2, 0, 5, 5}).to(DType::bf16), na::zeros({3, 0, 3, 3}).to(DType::bf16),
                        na::tensor<float>({1.f, 2.f, -3.f}).to(DType::bf16));
  EXPECT_TRUE(close(y0,
                    na::tensor<float>({1.f, 2.f, -3.f})
                        .to(DType::bf16)
                        .view({1, 3, 1, 1})
                        .expand({2, 3, 3, 3})
                        .contiguous(),
                    0, 0, "zero input channels"));
}

TEST(ConvBf16, NonContiguousOperands) {
  na::manual_seed(5);
  const Tensor base = rand_bf16({2, 3, 8, 6});
  const Tensor x = base.transpose(2, 3), w = rand_bf16({4, 3, 3, 3});
  EXPECT_TRUE(close(F::conv2d(x, w, Tensor(), 1, 1), F::conv2d(x.contiguous(), w, Tensor(), 1, 1), 0, 0));
}

TEST(ConvBf16, Float16StaysOnTheConvertedPath) {
  // f16 is widened to f32 (oneDNN 2.6 has no CPU f16 convolution): the result is the f32
  // convolution of the f16 values, rounded once to f16 (unit roundoff 2^-11).
  na::manual_seed(9);
  const Tensor x = na::randn({2, 4, 9, 9}).to(DType::f16), w = na::randn({5, 4, 3, 3}).to(DType::f16);
  const Tensor y = F::conv2d(x, w, Tensor(), 2, 1);
  EXPECT_EQ(y.dtype(), DType::f16);
  EXPECT_TRUE(
      close(y.to(DType::f32),
            F::conv2d(x.to(DType::f32), w.to(DType::f32), Tensor(), 2, 1).to(DType::f16).to(DType::f32), 0, 0,
            "f16 output"));
}

TEST(ConvBf16Errors, MixedDtypesAreRejected) {
  const Tensor xb = na::randn({1, 2, 5, 5}).to(DType::bf16), wb = na::randn({3, 2, 3, 3}).to(DType::bf16);
  expect_error([&] { F::conv2d(xb, wb.to(DType::f32)); }, {"[conv2d]", "same dtype", "bfloat16", "float32"});
  expect_error([&] { F::conv2d(xb, wb, na::zeros({3})); },
               {"[conv2d]", "weight and bias", "bfloat16", "float32"});
  expect_error([&] { F::conv2d(xb, wb, na::zeros({4}).to(DType::bf16)); },
               {"[conv2d]", "bias of shape (3,)", "got shape (4,)"});
  expect_error([&] { F::conv2d(xb, na::randn({3, 3, 3, 3}).to(DType::bf16)); }, {"[conv2d]", "channels"});
  expect_error(
      [&] {
        F::conv2d_input_grad({1, 2, 5, 5}, wb, na::zeros({1, 3, 4, 4}).to(DType::bf16));
      },
      {"[conv2d_input_grad]", "grad_output has shape (1,3,4,4)", "gives (1,3,3,3)"});
  expect_error(
      [&] {
        F::conv2d_weight_grad(xb, {3, 2, 3, 3}, na::zeros({1, 3, 3, 3}));
      },
      {"[conv2d_weight_grad]", "same dtype"});
}

TEST(ConvBf16, Conv2dModuleUnderAutocast) {
  // f32 parameters, bf16 compute: the output is bf16, and the gradients reach the f32 leaves
  // as the bf16 gradients of the rounded operands, widened.
  na::manual_seed(21);
  nn::Conv2d layer(8, 16, 3, nn::Conv2dOptions().padding(1).stride(2));
  const Tensor x = na::randn({4, 8, 10, 10}).requires_grad_();
  Tensor y;
  {
    na::optimization::autocast ac(DType::bf16);
    y = layer.forward(x);
  }
  ASSERT_EQ(y.dtype(), DType::bf16);
  const Tensor gy = rand_bf16(y.shape());
  y.backward(gy);
  ASSERT_EQ(layer.weight.grad().dtype(), DType::f32);
  ASSERT_EQ(x.grad().dtype(), DType::f32);

  const Tensor xr = f64(x.detach().to(DType::bf16)), wr = f64(layer.weight.detach().to(DType::bf16)),
               br = f64(layer.bias.detach().to(DType::bf16));
  const F::Int2 st(2, 2), dil(1, 1);
  const F::ConvPadding pad(int64_t{1});
  EXPECT_TRUE(bf16_close(y, F::conv2d(xr, wr, br, st, pad, dil, 1),
                         F::conv2d(na::abs(xr), na::abs(wr), na::abs(br), st, pad, dil, 1), 8 * 9 + 1,
                         "output"));
  const Tensor gw = F::conv2d_weight_grad(xr, {16, 8, 3, 3}, f64(gy), st, pad, dil, 1);
  const Tensor agw = F::conv2d_weight_grad(na::abs(xr), {16, 8, 3, 3}, abs64(gy), st, pad, dil, 1);
  EXPECT_TRUE(bf16_close(layer.weight.grad().to(DType::bf16), gw, agw, 4 * 25, "weight gradient"));
  const Tensor gx = F::conv2d_input_grad({4, 8, 10, 10}, wr, f64(gy), st, pad, dil, 1);
  const Tensor agx = F::conv2d_input_grad({4, 8, 10, 10}, na::abs(wr), abs64(gy), st, pad, dil, 1);
  EXPECT_TRUE(bf16_close(x.grad().to(DType::bf16), gx, agx, 16 * 9, "input gradient"));
}

}  // namespace
