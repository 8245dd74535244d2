// Convolutions, pooling and the small CNN: gradient checks (float64; input, weight and bias
// gradients, and gradients of the backward ops themselves), PyTorch reference cases
// (tests/reference/gen_nn_conv.py -> data/nn/conv_*.bin), the oneDNN float32 path against the
// float64 loops over many geometries, and misuse errors.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backends/cpu/conv_onednn.hpp"
#include "neural_arch/autograd.hpp"
#include "neural_arch/functional/conv.hpp"
#include "neural_arch/functional/loss.hpp"
#include "neural_arch/functional/pooling.hpp"
#include "neural_arch/nn/cnn.hpp"
#include "neural_arch/nn/conv.hpp"
#include "neural_arch/nn/pooling.hpp"
#include "neural_arch/ops.hpp"
#include "nn_test_util.hpp"
#include "reference_data.hpp"

namespace {
using na_test::PrintTo;

namespace na = neural_arch;
namespace nn = neural_arch::nn;
namespace F = neural_arch::functional;
using na::Tensor;
using na_test::Inputs;

// ------------------------------------------------------------------ helpers

using na_test::close;
using na_test::error_of;
using na_test::leaf;
using na_test::rand64;

double max_abs(const Tensor& t) {
  double m = 0.0;
  for (double v : t.to_vector<double>()) m = std::max(m, std::abs(v));
  return m;
}

// float32 cases run on oneDNN, whose summation order differs from torch's.
void check_reference(const std::string& name, const std::function<Tensor(const Inputs&)>& fn) {
  na_test::check_reference(name, fn, {1e-4, 1e-5});
}

// Gradient check of a module with respect to its input and every parameter.
na_test::GradcheckResult module_gradcheck(nn::Module& m, const Tensor& x, const std::string& name) {
  return na_test::module_gradcheck(m, {x}, na_test::one_input(m), name);
}

// Double-backward checks call autograd::grad inside fn; gradcheck's numerical pass runs fn under
// no-grad on plain copies, so fn re-enables recording and makes its own leaves there.
Tensor as_leaf(const Tensor& t) { return t.requires_grad() ? t : t.detach().requires_grad_(); }

// ------------------------------------------------------------------ reference: conv

TEST(NnConvReference, conv2d_basic) {
  check_reference("conv_conv2d_basic",
                  [](const Inputs& v) { return F::conv2d(v.at("x"), v.at("w"), v.at("b"), 1, 1); });
}

TEST(NnConvReference, conv2d_stride_pad_pair) {
  check_reference("conv_conv2d_stride_pad_pair", [](const Inputs& v) {
    return F::conv2d(v.at("x"), v.at("w"), v.at("b"), {2, 1}, {1, 2});
  });
}

TEST(NnConvReference, conv2d_dilation) {
  check_reference("conv_conv2d_dilation", [](const Inputs& v) {
    return F::conv2d(v.at("x"), v.at("w"), v.at("b"), 2, 2, {2, 3});
  });
}

TEST(NnConvReference, conv2d_groups) {
  check_reference("conv_conv2d_groups",
                  [](const Inputs& v) { return F::conv2d(v.at("x"), v.at("w"), v.at("b"), 1, 1, 1, 2); });
}

TEST(NnConvReference, conv2d_depthwise) {
  check_reference("conv_conv2d_depthwise",
                  [](const Inputs& v) { return F::conv2d(v.at("x"), v.at("w"), v.at("b"), 2, 1, 1, 8); });
}

TEST(NnConvReference, conv2d_same_even_kernel) {
  check_reference("conv_conv2d_same_even", [](const Inputs& v) {
    return F::conv2d(v.at("x"), v.at("w"), v.at("b"), 1, "same", {1, 2});
  });
}

TEST(NnConvReference, conv2d_valid_nobias) {
  check_reference("conv_conv2d_valid_nobias",
                  [](const Inputs& v) { return F::conv2d(v.at("x"), v.at("w"), Tensor(), 1, "valid"); });
}

TEST(NnConvReference, conv2d_f64) {
  check_reference("conv_conv2d_f64", [](const Inputs& v) {
    return F::conv2d(v.at("x"), v.at("w"), v.at("b"), {1, 2}, {2, 1}, {2, 1}, 3);
  });
}

TEST(NnConvReference, conv2d_wide_blocked_layout) {
  check_reference("conv_conv2d_wide",
                  [](const Inputs& v) { return F::conv2d(v.at("x"), v.at("w"), v.at("b"), 1, 1); });
}

TEST(NnConvReference, conv1d_basic) {
  check_reference("conv_conv1d_basic",
                  [](const Inputs& v) { return F::conv1d(v.at("x"), v.at("w"), v.at("b"), 1, 2); });
}

TEST(NnConvReference, conv1d_same_dilated) {
  check_reference("conv_conv1d_same",
                  [](const Inputs& v) { return F::conv1d(v.at("x"), v.at("w"), v.at("b"), 1, "same", 3); });
}

TEST(NnConvReference, conv1d_stride_groups_f64) {
  check_reference("conv_conv1d_stride_groups_f64",
                  [](const Inputs& v) { return F::conv1d(v.at("x"), v.at("w"), v.at("b"), 3, 1, 2, 2); });
}

// The module with the case's weights loaded gives the functional case's output and gradients,
// parameter gradients included.
template <class Conv> void check_conv_module(const std::string& case_name, Conv& conv) {
  SCOPED_TRACE("reference case nn/" + case_name);
  const auto ref = na_reference::load_reference("nn/" + case_name);
  conv.load_state_dict({{"weight", ref.at("w")}, {"bias", ref.at("b")}});
  Tensor x = ref.at("x").clone().requires_grad_();
  Tensor out = conv.forward(x);
  EXPECT_TRUE(close(out, ref.at("out"), 1e-4, 1e-5));
  out.backward(ref.at("gout"));
  EXPECT_TRUE(close(x.grad(), ref.at("grad_x"), 1e-4, 1e-5));
  EXPECT_TRUE(close(conv.weight.grad(), ref.at("grad_w"), 1e-4, 1e-5));
  EXPECT_TRUE(close(conv.bias.grad(), ref.at("grad_b"), 1e-4, 1e-5));
}

TEST(NnConvReference, Conv2d_module) {
  auto conv = std::make_shared<nn::Conv2d>(3, 4, 3, nn::Conv2dOptions().padding(1));
  check_conv_module("conv_conv2d_basic", *conv);
}

TEST(NnConvReference, Conv1d_module) {
  auto conv = std::make_shared<nn::Conv1d>(2, 3, 4, nn::Conv1dOptions().padding("same").dilation(3));
  check_conv_module("conv_conv1d_same", *conv);
}

// ------------------------------------------------------------------ reference: pooling

TEST(NnConvReference, max_pool2d_basic) {
  check_reference("conv_max_pool2d_basic", [](const Inputs& v) { return F::max_pool2d(v.at("x"), 2); });
}

TEST(NnConvReference, max_pool2d_options) {
  check_reference("conv_max_pool2d_options", [](const Inputs& v) {
    return F::max_pool2d(v.at("x"), {3, 2}, {2, 1}, 1, {1, 2}, true);
  });
}

TEST(NnConvReference, max_pool2d_unbatched) {
  check_reference("conv_max_pool2d_unbatched",
                  [](const Inputs& v) { return F::max_pool2d(v.at("x"), 3, 2, 1); });
}

TEST(NnConvReference, MaxPool2d_module) {
  check_reference("conv_max_pool2d_options", [](const Inputs& v) {
    return nn::MaxPool2d(F::Int2(3, 2), F::Int2(2, 1), 1, F::Int2(1, 2), true).forward(v.at("x"));
  });
}

TEST(NnConvReference, avg_pool2d_basic) {
  check_reference("conv_avg_pool2d_basic", [](const Inputs& v) { return F::avg_pool2d(v.at("x"), 2); });
}

TEST(NnConvReference, avg_pool2d_pad_include) {
  check_reference("conv_avg_pool2d_pad_include",
                  [](const Inputs& v) { return F::avg_pool2d(v.at("x"), 3, 2, 1); });
}

TEST(NnConvReference, avg_pool2d_pad_exclude_ceil) {
  check_reference("conv_avg_pool2d_pad_exclude_ceil", [](const Inputs& v) {
    return F::avg_pool2d(v.at("x"), {3, 2}, 2, 1, true, false);
  });
}

TEST(NnConvReference, avg_pool2d_divisor_override) {
  check_reference("conv_avg_pool2d_divisor",
                  [](const Inputs& v) { return F::avg_pool2d(v.at("x"), 3, 2, 1, true, true, 5); });
}

TEST(NnConvReference, AvgPool2d_module) {
  check_reference("conv_avg_pool2d_pad_exclude_ceil", [](const Inputs& v) {
    return nn::AvgPool2d(F::Int2(3, 2), 2, 1, true, false).forward(v.at("x"));
  });
}

TEST(NnConvReference, adaptive_avg_pool2d) {
  check_reference("conv_adaptive_avg_pool2d", [](const Inputs& v) {
    return F::adaptive_avg_pool2d(v.at("x"), {3, 4});
  });
}

TEST(NnConvReference, adaptive_avg_pool2d_global) {
  check_reference("conv_adaptive_avg_pool2d_global",
                  [](const Inputs& v) { return F::adaptive_avg_pool2d(v.at("x"), 1); });
}

TEST(NnConvReference, AdaptiveAvgPool2d_module_upsample) {
  check_reference("conv_adaptive_avg_pool2d_upsample",
                  [](const Inputs& v) { return nn::AdaptiveAvgPool2d(F::Int2(5, 3)).forward(v.at("x")); });
}

// ------------------------------------------------------------------ reference: the CNN

TEST(NnConvReference, CNN_loss_and_parameter_gradients_match_pytorch) {
  // The default CNN (1x28x28, channels 32/64, hidden 128, 10 classes) against the PyTorch model:
  // its weights, batch and labels; its loss and every parameter gradient, elementwise.
  const auto ref = na_reference::load_reference("nn/conv_cnn");
  auto model = std::make_shared<nn::CNN>();
  nn::StateDict sd;
  for (const auto& [n, t] : ref.tensors())
    if (n.rfind("p_", 0) == 0) sd.emplace_back(n.substr(2), t);
  model->load_state_dict(sd, /*strict=*/true);
  model->eval();  // dropout off, as in the generator
  Tensor loss = F::cross_entropy(model->forward(ref.at("x")), ref.at("y"));
  EXPECT_TRUE(close(loss, ref.at("loss"), 1e-4, 0.0)) << loss.item() << " vs " << ref.at("loss").item();
  loss.backward();
  int checked = 0;
  for (const auto& [name, p] : model->named_parameters()) {
    const Tensor& expected = ref.at("grad_" + name);
    ASSERT_TRUE(p.grad().defined()) << name;
    // rtol 1e-4, with an absolute floor tied to the tensor's scale for entries that cancel to ~0.
    EXPECT_TRUE(close(p.grad(), expected, 1e-4, 1e-5 * max_abs(expected))) << "gradient of " << name;
    ++checked;
  }
  EXPECT_EQ(checked, 8);
}

// ------------------------------------------------------------------ gradient checks: conv

struct ConvCase {
  std::string name;
  na::Shape x, w;
  F::Int2 stride, dilation;
  F::ConvPadding padding;
  int64_t groups;
  bool bias;
};

class NnConvGradCheck : public ::testing::TestWithParam<ConvCase> {};

TEST_P(NnConvGradCheck, Conv2d_input_weight_bias) {
  const ConvCase& c = GetParam();
  std::vector<Tensor> in{leaf(c.x, 1), leaf(c.w, 2, 0.5)};
  if (c.bias) in.push_back(leaf({c.w[0]}, 3));
  auto r = na_test::gradcheck(
      [&](const std::vector<Tensor>& v) {
        return F::conv2d(v[0], v[1], c.bias ? v[2] : Tensor(), c.stride, c.padding, c.dilation, c.groups);
      },
      in, 1e-6, 1e-5, 1e-3, c.name);
  EXPECT_TRUE(r.ok) << r.message;
}

INSTANTIATE_TEST_SUITE_P(
    Geometries, NnConvGradCheck,
    ::testing::Values(
        ConvCase{"pad1", {2, 2, 5, 4}, {3, 2, 3, 3}, 1, 1, 1, 1, true},
        ConvCase{"stride2_pad_pair", {1, 2, 6, 5}, {2, 2, 3, 2}, {2, 1}, 1, F::ConvPadding(1, 2), 1, true},
        ConvCase{"dilation", {1, 2, 7, 6}, {2, 2, 3, 2}, 1, {2, 3}, 1, 1, true},
        ConvCase{"groups", {2, 4, 4, 4}, {4, 2, 3, 3}, 1, 1, 1, 2, true},
        ConvCase{"same_even_kernel", {1, 2, 5, 5}, {2, 2, 2, 4}, 1, 1, "same", 1, true},
        ConvCase{"valid_nobias", {2, 3, 4, 5}, {2, 3, 2, 2}, {1, 2}, 1, "valid", 1, false}),
    [](const ::testing::TestParamInfo<ConvCase>& i) { return i.param.name; });

TEST(NnGradCheck, conv1d_stride_dilation_groups) {
  auto r =
      na_test::gradcheck([](const std::vector<Tensor>& v) { return F::conv1d(v[0], v[1], v[2], 2, 1, 2, 2); },
                         {leaf({2, 4, 9}, 4), leaf({4, 2, 3}, 5), leaf({4}, 6)}, 1e-6, 1e-5, 1e-3, "conv1d");
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(NnGradCheck, conv1d_same) {
  auto r = na_test::gradcheck(
      [](const std::vector<Tensor>& v) { return F::conv1d(v[0], v[1], v[2], 1, "same"); },
      {leaf({1, 2, 6}, 7), leaf({3, 2, 4}, 8), leaf({3}, 9)}, 1e-6, 1e-5, 1e-3, "conv1d_same");
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(NnGradCheck, conv2d_input_grad_op) {
  // The input-gradient op is itself differentiable in grad_output and weight.
  auto r = na_test::gradcheck(
      [](const std::vector<Tensor>& v) {
        return F::conv2d_input_grad({2, 4, 5, 5}, v[0], v[1], 2, 1, 1, 2);
      },
      {leaf({4, 2, 3, 3}, 10), leaf({2, 4, 3, 3}, 11)}, 1e-6, 1e-5, 1e-3, "conv2d_input_grad");
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(NnGradCheck, conv2d_weight_grad_op) {
  auto r = na_test::gradcheck(
      [](const std::vector<Tensor>& v) {
        return F::conv2d_weight_grad(v[0], {3, 2, 2, 3}, v[1], 1, {1, 0}, {2, 1});
      },
      {leaf({2, 2, 5, 4}, 12), leaf({2, 3, 5, 2}, 13)}, 1e-6, 1e-5, 1e-3, "conv2d_weight_grad");
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(NnGradCheck, conv2d_double_backward) {
  // d/d(x, w, b) of <grad_x L + grad_w L + grad_b L, .>: goes through every backward op.
  auto r = na_test::gradcheck(
      [](const std::vector<Tensor>& v) {
        na::EnableGradGuard grad_on;
        Tensor x = as_leaf(v[0]), w = as_leaf(v[1]), b = as_leaf(v[2]);
        Tensor y = F::conv2d(x, w, b, 1, 1);
        auto g = na::autograd::grad({(y * y).sum()}, {x, w, b}, {}, true, true);
        return na::cat({g[0].flatten(), g[1].flatten(), g[2].flatten()});
      },
      {leaf({1, 2, 4, 4}, 14), leaf({3, 2, 3, 3}, 15, 0.5), leaf({3}, 16)}, 1e-6, 1e-5, 1e-3,
      "conv2d_double");
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(NnGradCheck, Conv2d_module) {
  na::manual_seed(21);
  auto conv = std::make_shared<nn::Conv2d>(2, 4, F::Int2(3, 2),
                                           nn::Conv2dOptions().stride(2).padding({1, 1}).groups(2));
  conv->to(na::kFloat64);
  auto r = module_gradcheck(*conv, leaf({2, 2, 5, 6}, 22), "Conv2d");
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(NnGradCheck, Conv1d_module) {
  na::manual_seed(23);
  auto conv = std::make_shared<nn::Conv1d>(3, 2, 3, /*stride=*/1, /*padding=*/"same", /*dilation=*/2);
  conv->to(na::kFloat64);
  auto r = module_gradcheck(*conv, leaf({2, 3, 7}, 24), "Conv1d");
  EXPECT_TRUE(r.ok) << r.message;
}

// ------------------------------------------------------------------ gradient checks: pooling

TEST(NnGradCheck, max_pool2d) {
  auto r = na_test::gradcheck([](const std::vector<Tensor>& v) { return F::max_pool2d(v[0], 2); },
                              {leaf({2, 3, 6, 4}, 30)}, 1e-6, 1e-5, 1e-3, "max_pool2d");
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(NnGradCheck, max_pool2d_overlapping_padding_dilation_ceil) {
  auto r = na_test::gradcheck(
      [](const std::vector<Tensor>& v) {
        return F::max_pool2d(v[0], 3, {2, 1}, 1, {1, 2}, true);
      },
      {leaf({1, 2, 7, 8}, 31)}, 1e-6, 1e-5, 1e-3, "max_pool2d_options");
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(NnGradCheck, max_pool2d_backward_op) {
  // grad_x as a function of (x, upstream): linear in the upstream gradient, through a gather.
  auto r = na_test::gradcheck(
      [](const std::vector<Tensor>& v) {
        na::EnableGradGuard grad_on;
        Tensor x = v[0].detach().requires_grad_();
        Tensor y = F::max_pool2d(x, 3, 2, 1);
        return na::autograd::grad({(y * v[1]).sum()}, {x}, {}, true, true)[0];
      },
      {rand64({2, 2, 5, 5}, 32), leaf({2, 2, 3, 3}, 33)}, 1e-6, 1e-5, 1e-3, "max_pool2d_backward");
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(NnGradCheck, avg_pool2d_count_include_pad) {
  auto r = na_test::gradcheck([](const std::vector<Tensor>& v) { return F::avg_pool2d(v[0], 3, 2, 1); },
                              {leaf({2, 2, 6, 5}, 34)}, 1e-6, 1e-5, 1e-3, "avg_pool2d");
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(NnGradCheck, avg_pool2d_exclude_pad_ceil_divisor) {
  auto r1 = na_test::gradcheck(
      [](const std::vector<Tensor>& v) {
        return F::avg_pool2d(v[0], {3, 2}, 2, 1, true, false);
      },
      {leaf({1, 2, 7, 6}, 35)}, 1e-6, 1e-5, 1e-3, "avg_pool2d_exclude");
  EXPECT_TRUE(r1.ok) << r1.message;
  auto r2 = na_test::gradcheck(
      [](const std::vector<Tensor>& v) { return F::avg_pool2d(v[0], 2, 1, 0, false, true, 3); },
      {leaf({1, 1, 4, 4}, 36)}, 1e-6, 1e-5, 1e-3, "avg_pool2d_divisor");
  EXPECT_TRUE(r2.ok) << r2.message;
}

TEST(NnGradCheck, avg_pool2d_double_backward) {
  auto r = na_test::gradcheck(
      [](const std::vector<Tensor>& v) {
        na::EnableGradGuard grad_on;
        Tensor x = as_leaf(v[0]);
        Tensor y = F::avg_pool2d(x, 3, 2, 1);
        return na::autograd::grad({(y * y * v[1]).sum()}, {x}, {}, true, true)[0];
      },
      {leaf({1, 2, 5, 5}, 37), leaf({1, 2, 3, 3}, 38)}, 1e-6, 1e-5, 1e-3, "avg_pool2d_double");
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(NnGradCheck, adaptive_avg_pool2d) {
  auto r = na_test::gradcheck(
      [](const std::vector<Tensor>& v) {
        return F::adaptive_avg_pool2d(v[0], {3, 2});
      },
      {leaf({2, 2, 7, 5}, 39)}, 1e-6, 1e-5, 1e-3, "adaptive_avg_pool2d");
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(NnGradCheck, pooling_modules) {
  nn::MaxPool2d mp(2);
  nn::AvgPool2d ap(3, 1, 1);
  nn::AdaptiveAvgPool2d aap(2);
  for (nn::Module* m : std::vector<nn::Module*>{&mp, &ap, &aap}) {
    auto r = module_gradcheck(*m, leaf({2, 3, 4, 4}, 40), m->type_name());
    EXPECT_TRUE(r.ok) << r.message;
  }
}

TEST(NnGradCheck, CNN_input_and_all_parameters) {
  na::manual_seed(41);
  auto model = std::make_shared<nn::CNN>(
      nn::CNNOptions().image_size(8).channels1(2).channels2(3).hidden(4).num_classes(3));
  model->to(na::kFloat64);
  model->eval();
  auto r = module_gradcheck(*model, leaf({2, 1, 8, 8}, 42), "CNN");
  EXPECT_TRUE(r.ok) << r.message;
}

// ------------------------------------------------------------------ behaviour

TEST(NnConv, Float32OneDnnMatchesFloat64LoopsAcrossGeometries) {
  // The f32 path goes through oneDNN with layout reorders; the f64 path is plain loops.
  struct G {
    na::Shape x, w;
    F::Int2 stride, dilation;
    F::ConvPadding padding;
    int64_t groups;
  };
  const std::vector<G> cases{
      {{3, 1, 28, 28}, {8, 1, 3, 3}, 1, 1, 1, 1},     // first layer of the CNN
      {{2, 32, 14, 14}, {64, 32, 3, 3}, 1, 1, 1, 1},  // second layer
      {{2, 16, 9, 11}, {32, 16, 5, 3}, {2, 3}, 1, {2, 1}, 1},
      {{2, 16, 12, 12}, {16, 1, 3, 3}, 1, 2, "same", 16},  // depthwise, dilated
      {{1, 24, 10, 10}, {36, 8, 1, 1}, 2, 1, 0, 3},        // grouped 1x1, strided
      {{2, 17, 8, 8}, {5, 17, 4, 4}, 1, 1, "same", 1},     // odd channel count, asymmetric pad
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(na::shape_str(c.x) + " * " + na::shape_str(c.w));
    Tensor x = rand64(c.x, 50), w = rand64(c.w, 51, 0.2), b = rand64({c.w[0]}, 52);
    Tensor x32 = x.to(na::kFloat32).requires_grad_(), w32 = w.to(na::kFloat32).requires_grad_(),
           b32 = b.to(na::kFloat32).requires_grad_();
    Tensor x64 = x.clone().requires_grad_(), w64 = w.clone().requires_grad_(),
           b64 = b.clone().requires_grad_();
    Tensor y32 = F::conv2d(x32, w32, b32, c.stride, c.padding, c.dilation, c.groups);
    Tensor y64 = F::conv2d(x64, w64, b64, c.stride, c.padding, c.dilation, c.groups);
    ASSERT_TRUE(close(y32, y64.to(na::kFloat32), 1e-4, 1e-4));
    Tensor g = rand64(y64.shape(), 53);
    y32.backward(g.to(na::kFloat32));
    y64.backward(g);
    EXPECT_TRUE(close(x32.grad(), x64.grad().to(na::kFloat32), 1e-4, 1e-4)) << "input gradient";
    EXPECT_TRUE(close(w32.grad(), w64.grad().to(na::kFloat32), 1e-4, 1e-3)) << "weight gradient";
    EXPECT_TRUE(close(b32.grad(), b64.grad().to(na::kFloat32), 1e-4, 1e-3)) << "bias gradient";
  }
}

TEST(NnConv, PrimitivesAreCachedPerGeometry) {
  namespace cpu = neural_arch::cpu;
  Tensor x = na::randn({2, 3, 8, 9}), w = na::randn({4, 3, 3, 3});
  cpu::conv_cache_clear();
  const auto start = cpu::conv_cache_stats();
  EXPECT_EQ(start.entries, 0);
  F::conv2d(x, w, Tensor(), 1, 1);
  const auto first = cpu::conv_cache_stats();
  EXPECT_EQ(first.misses - start.misses, 1);
  EXPECT_EQ(first.entries, 1);
  F::conv2d(x, w, Tensor(), 1, 1);
  const auto second = cpu::conv_cache_stats();
  EXPECT_EQ(second.misses, first.misses);
  EXPECT_EQ(second.hits, first.hits + 1);
  F::conv2d(x, w, Tensor(), 2, 1);  // another geometry: another primitive
  EXPECT_EQ(cpu::conv_cache_stats().misses, first.misses + 1);
  EXPECT_EQ(cpu::conv_cache_stats().entries, 2);
}

TEST(NnConv, NonContiguousInputsAndHalfPrecision) {
  Tensor base = na::randn({2, 3, 8, 6});
  Tensor x = base.transpose(2, 3);  // (2, 3, 6, 8), not contiguous
  Tensor w = na::randn({4, 3, 3, 3});
  Tensor ref = F::conv2d(x.contiguous(), w, Tensor(), 1, 1);
  EXPECT_TRUE(close(F::conv2d(x, w, Tensor(), 1, 1), ref, 1e-5, 1e-5));
  Tensor yb = F::conv2d(x.to(na::kBFloat16), w.to(na::kBFloat16), Tensor(), 1, 1);
  EXPECT_EQ(yb.dtype(), na::kBFloat16);
  EXPECT_TRUE(close(yb.to(na::kFloat32), ref, 5e-2, 1e-1));
}

TEST(NnConv, GradientsOfAnySubsetOfInputs) {
  // Frozen weights, a frozen input or a bias-only fine-tune each take their own backward path.
  Tensor x = rand64({2, 3, 5, 5}, 60), w = rand64({4, 3, 3, 3}, 61), b = rand64({4}, 62);
  Tensor g = rand64({2, 4, 5, 5}, 63);
  auto grads = [&](bool gx, bool gw, bool gb) {
    Tensor xx = gx ? x.clone().requires_grad_() : x, ww = gw ? w.clone().requires_grad_() : w,
           bb = gb ? b.clone().requires_grad_() : b;
    F::conv2d(xx, ww, bb, 1, 1).backward(g);
    return std::vector<Tensor>{gx ? xx.grad() : Tensor(), gw ? ww.grad() : Tensor(),
                               gb ? bb.grad() : Tensor()};
  };
  const auto all = grads(true, true, true);
  for (int mask = 1; mask < 8; ++mask) {
    const auto some = grads(mask & 1, mask & 2, mask & 4);
    for (int i = 0; i < 3; ++i) {
      if (!(mask & (1 << i))) continue;
      EXPECT_TRUE(close(some[i], all[i], 1e-12, 1e-12)) << "mask " << mask << " input " << i;
    }
  }
  EXPECT_TRUE(close(all[2], g.sum({0, 2, 3}), 1e-12, 1e-12));
}

TEST(NnConv, MaxPoolPropagatesNaNAndRoutesGradientToArgmax) {
  Tensor x = na::tensor<float>({1, 5, 3, 2, NAN, 0, 7, 7, 1}, na::Shape{1, 1, 3, 3}).requires_grad_();
  auto [y, idx] = F::max_pool2d_with_indices(x, 2, 1);
  auto v = y.to_vector<float>();
  EXPECT_TRUE(std::isnan(v[0]) && std::isnan(v[1]) && std::isnan(v[2]) && std::isnan(v[3]));
  // A tie goes to the first element in row-major order, as in PyTorch.
  Tensor z = na::tensor<float>({9, 1, 2, 9, 3, 2, 8, 6, 5}, na::Shape{1, 1, 3, 3}).requires_grad_();
  auto [yz, iz] = F::max_pool2d_with_indices(z, 2, 1);
  EXPECT_EQ(yz.to_vector<float>(), (std::vector<float>{9, 3, 9, 6}));
  EXPECT_EQ(iz.to_vector<int64_t>(), (std::vector<int64_t>{0, 4, 3, 7}));
  (yz * na::tensor<float>({1, 2, 3, 4}, na::Shape{1, 1, 2, 2})).sum().backward();
  EXPECT_EQ(z.grad().to_vector<float>(), (std::vector<float>{1, 0, 0, 3, 2, 0, 0, 4, 0}));
  // The same rules on the dedicated 2x2 / stride 2 kernel.
  Tensor q =
      na::tensor<float>({1, 1, 0, NAN, 1, 1, 2, 2, -INFINITY, -INFINITY, 3, 5, -INFINITY, -INFINITY, 5, 4},
                        na::Shape{1, 1, 4, 4});
  auto [yq, iq] = F::max_pool2d_with_indices(q, 2);
  auto vq = yq.to_vector<float>();
  EXPECT_EQ(vq[0], 1.0f);
  EXPECT_TRUE(std::isnan(vq[1]));
  EXPECT_EQ(vq[2], -INFINITY);
  EXPECT_EQ(vq[3], 5.0f);
  EXPECT_EQ(iq.to_vector<int64_t>(), (std::vector<int64_t>{0, 3, 8, 11}));
}

TEST(NnConv, ModuleDefaultsAndInitialisation) {
  na::manual_seed(7);
  nn::Conv2d conv(4, 8, 3, nn::Conv2dOptions().groups(2));
  EXPECT_EQ(conv.weight.shape(), (na::Shape{8, 2, 3, 3}));
  EXPECT_EQ(conv.bias.shape(), (na::Shape{8}));
  const double bound = 1.0 / std::sqrt(2.0 * 9.0);  // 1/sqrt(fan_in), fan_in = C/groups * k*k
  EXPECT_LE(max_abs(conv.weight), bound);
  EXPECT_LE(max_abs(conv.bias), bound);
  EXPECT_GT(max_abs(conv.weight), 0.5 * bound);
  EXPECT_EQ(conv.extra_repr(), "4, 8, kernel_size=(3, 3), stride=(1, 1), groups=2");
  nn::Conv2d same(2, 2, 3, 1, "same", 1, 1, false);
  EXPECT_FALSE(same.bias.defined());
  EXPECT_EQ(same.named_parameters().size(), 1u);
  EXPECT_EQ(same.extra_repr(), "2, 2, kernel_size=(3, 3), stride=(1, 1), padding=same, bias=false");
  EXPECT_EQ(nn::MaxPool2d(2).stride.h, 2);  // stride defaults to the kernel size
  nn::CNN cnn;
  EXPECT_EQ(cnn.num_parameters(), 320 + 18496 + 401536 + 1290);
  Tensor logits = cnn.forward(na::randn({2, 1, 28, 28}));
  EXPECT_EQ(logits.shape(), (na::Shape{2, 10}));
}

TEST(NnConv, CNNTrainingStepReducesTheLoss) {
  na::manual_seed(9);
  auto model = std::make_shared<nn::CNN>(nn::CNNOptions().channels1(4).channels2(8).hidden(16).dropout(0.0));
  Tensor x = na::randn({8, 1, 28, 28});
  Tensor y = na::randint(0, 10, {8});
  double first = 0.0, last = 0.0;
  for (int step = 0; step < 5; ++step) {
    model->zero_grad();
    Tensor loss = F::cross_entropy(model->forward(x), y);
    loss.backward();
    na::NoGradGuard ng;
    for (auto& p : model->parameters()) p.sub_(p.grad() * 0.05);
    (step == 0 ? first : last) = loss.item();
  }
  EXPECT_LT(last, first);
}

// ------------------------------------------------------------------ misuse

TEST(NnConvErrors, Conv2dModuleNamesLayerAndShapes) {
  nn::Conv2d conv(3, 4, 3);
  EXPECT_EQ(error_of([&] {
              conv.forward(na::randn({2, 5, 8, 8}));
            }),
            "[Conv2d] expected input with 4 dims (N,C,H,W) and 3 channels, got shape (2,5,8,8)");
  EXPECT_EQ(error_of([&] {
              conv.forward(na::randn({3, 8, 8}));
            }),
            "[Conv2d] expected input with 4 dims (N,C,H,W) and 3 channels, got shape (3,8,8)");
  EXPECT_NE(error_of([&] {
              conv.forward(na::randn({1, 3, 8, 8}, na::kFloat64));
            }).find("[Conv2d] input dtype float64"),
            std::string::npos);
  nn::Conv1d c1(2, 4, 3);
  EXPECT_EQ(error_of([&] {
              c1.forward(na::randn({2, 3, 8}));
            }),
            "[Conv1d] expected input with 3 dims (N,C,L) and 2 channels, got shape (2,3,8)");
}

TEST(NnConvErrors, Conv2dModuleConstruction) {
  EXPECT_EQ(error_of([] { nn::Conv2d(3, 4, 3, nn::Conv2dOptions().groups(2)); }),
            "[Conv2d] in_channels (3) must be divisible by groups (2)");
  EXPECT_EQ(error_of([] { nn::Conv2d(4, 4, 3, 2, "same"); }),
            "[Conv2d] padding='same' is not supported for strided convolutions");
  EXPECT_EQ(error_of([] { nn::Conv2d(4, 4, 3, 1, "full"); }),
            "[Conv2d] padding must be a number, 'same' or 'valid', got 'full'");
}

TEST(NnConvErrors, FunctionalConvChecks) {
  Tensor x = na::randn({2, 4, 6, 6});
  EXPECT_EQ(error_of([&] {
              F::conv2d(x, na::randn({3, 3, 3, 3}));
            }),
            "[conv2d] input of shape (2,4,6,6) has 4 channels but weight of shape (3,3,3,3) with groups=1 "
            "expects 3");
  EXPECT_EQ(error_of([&] {
              F::conv2d(x, na::randn({3, 2, 3, 3}), Tensor(), 1, 0, 1, 2);
            }),
            "[conv2d] weight of shape (3,2,3,3) has 3 output channels, which is not divisible by groups=2");
  EXPECT_EQ(error_of([&] {
              F::conv2d(x, na::randn({3, 4, 3, 3}), na::randn({4}));
            }),
            "[conv2d] expected bias of shape (3,) for weight of shape (3,4,3,3), got shape (4,)");
  EXPECT_EQ(
      error_of([&] {
        F::conv2d(x, na::randn({3, 4, 7, 3}));
      }),
      "[conv2d] kernel of size (7,3) with dilation (1,1) spans (7,3), which is larger than the padded input "
      "(6,6) of input shape (2,4,6,6)");
  EXPECT_EQ(error_of([&] {
              F::conv2d(x, na::randn({3, 4, 3, 3}), Tensor(), 2, "same");
            }),
            "[conv2d] padding='same' is not supported for strided convolutions (stride (2,2))");
  EXPECT_EQ(
      error_of([&] {
        F::conv2d(x, na::randn({3, 4, 3}), Tensor());
      }),
      "[conv2d] expected weight with 4 dims (out_channels, in_channels/groups, kH, kW), got shape (3,4,3)");
  EXPECT_EQ(error_of([&] {
              F::conv2d(x, na::randn({3, 4, 3, 3}, na::kFloat64));
            }),
            "[conv2d] expected input and weight to have the same dtype, got float32 and float64");
  EXPECT_EQ(error_of([&] {
              F::conv1d(na::randn({2, 4, 6}), na::randn({3, 4, 3}), Tensor(), 1, {1, 1});
            }),
            "[conv1d] padding must be one number or 'same'/'valid', got (1,1)");
  EXPECT_EQ(error_of([&] {
              F::conv2d_input_grad({2, 4, 6, 6}, na::randn({3, 4, 3, 3}), na::randn({2, 3, 5, 5}));
            }),
            "[conv2d_input_grad] grad_output has shape (2,3,5,5) but the convolution of input (2,4,6,6) with "
            "weight "
            "(3,4,3,3) gives (2,3,4,4)");
}

TEST(NnConvErrors, Pooling) {
  EXPECT_EQ(error_of([] {
              nn::MaxPool2d(2).forward(na::randn({4, 4}));
            }),
            "[MaxPool2d] expected input with 3 dims (C,H,W) or 4 dims (N,C,H,W), got shape (4,4)");
  EXPECT_EQ(
      error_of([] {
        F::max_pool2d(na::randn({1, 1, 4, 4}), 2, 2, 2);
      }),
      "[max_pool2d] padding must be non-negative and at most half of the kernel size, got padding (2,2) for "
      "kernel_size (2,2)");
  EXPECT_EQ(error_of([] {
              F::avg_pool2d(na::randn({1, 1, 2, 2}), 3);
            }),
            "[avg_pool2d] input of shape (1,1,2,2) is too small for kernel_size (3,3) with dilation (1,1) "
            "and padding "
            "(0,0): the output size would be (0,0)");
  EXPECT_EQ(error_of([] {
              F::adaptive_avg_pool2d(na::randn({1, 1, 2, 2}), 0);
            }),
            "[adaptive_avg_pool2d] output_size must be positive, got (0,0)");
  EXPECT_EQ(error_of([] {
              nn::AvgPool2d(2).forward(na::randn({2, 3, 4, 4, 4}));
            }),
            "[AvgPool2d] expected input with 3 dims (C,H,W) or 4 dims (N,C,H,W), got shape (2,3,4,4,4)");
}

TEST(NnConvErrors, CNNInputShape) {
  nn::CNN cnn;
  EXPECT_EQ(error_of([&] {
              cnn.forward(na::randn({2, 3, 28, 28}));
            }),
            "[CNN] expected input of shape (N,1,28,28), got shape (2,3,28,28)");
}

}  // namespace
