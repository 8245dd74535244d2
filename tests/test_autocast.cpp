// optimization::autocast: the op policy, op by op; scopes (nesting, enabled=false, threads);
// explicit dtypes opting out; gradients in the inputs' dtypes and backward in the forward's.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "neural_arch/autograd.hpp"
#include "neural_arch/backends/memory_pool.hpp"
#include "neural_arch/functional/attention.hpp"
#include "neural_arch/functional/conv.hpp"
#include "neural_arch/functional/fused.hpp"
#include "neural_arch/functional/loss.hpp"
#include "neural_arch/functional/normalization.hpp"
#include "neural_arch/nn/containers.hpp"
#include "neural_arch/nn/conv.hpp"
#include "neural_arch/nn/linear.hpp"
#include "neural_arch/nn/module.hpp"
#include "neural_arch/nn/normalization.hpp"
#include "neural_arch/ops.hpp"
#include "neural_arch/optimization/autocast.hpp"
#include "neural_arch/random.hpp"
#include "optimization/autocast_hook.hpp"
#include "test_util.hpp"

namespace {

namespace na = neural_arch;
namespace F = neural_arch::functional;
using na::DType;
using na::Tensor;
using na::optimization::autocast;

struct OpCase {
  std::string name;                  // the op's name in the policy table
  bool lower;                        // true: runs in the autocast dtype; false: in f32
  std::function<Tensor(DType)> run;  // runs the op on inputs of the given dtype
};

Tensor rnd(const na::Shape& s, DType t) { return na::randn(s).to(t); }
Tensor pos(const na::Shape& s, DType t) {
  return na::add(na::abs(na::randn(s)), na::scalar_tensor(0.1)).to(t);
}

const std::vector<OpCase>& op_cases() {
  static const std::vector<OpCase> cases = {
      {"matmul", true,
       [](DType t) {
         return na::matmul(rnd({3, 4}, t), rnd({4, 5}, t));
       }},
      {"mm", true,
       [](DType t) {
         return na::mm(rnd({3, 4}, t), rnd({4, 5}, t));
       }},
      {"bmm", true,
       [](DType t) {
         return na::bmm(rnd({2, 3, 4}, t), rnd({2, 4, 5}, t));
       }},
      {"linear", true,
       [](DType t) {
         return na::linear(rnd({3, 4}, t), rnd({5, 4}, t), rnd({5}, t));
       }},
      {"conv1d", true,
       [](DType t) {
         return F::conv1d(rnd({1, 2, 8}, t), rnd({3, 2, 3}, t));
       }},
      {"conv2d", true,
       [](DType t) {
         return F::conv2d(rnd({1, 2, 6, 6}, t), rnd({3, 2, 3, 3}, t), rnd({3}, t));
       }},
      {"scaled_dot_product_attention", true,
       [](DType t) {
         return F::scaled_dot_product_attention(rnd({1, 4, 8}, t), rnd({1, 4, 8}, t), rnd({1, 4, 8}, t));
       }},
      {"softmax", false,
       [](DType t) {
         return na::softmax(rnd({3, 4}, t), 1);
       }},
      {"log_softmax", false,
       [](DType t) {
         return na::log_softmax(rnd({3, 4}, t), 1);
       }},
      {"layer_norm", false,
       [](DType t) {
         return F::layer_norm(rnd({3, 4}, t), {4}, rnd({4}, t), rnd({4}, t));
       }},
      {"rms_norm", false,
       [](DType t) {
         return F::rms_norm(rnd({3, 4}, t), {4}, rnd({4}, t));
       }},
      {"group_norm", false,
       [](DType t) {
         return F::group_norm(rnd({2, 4, 3}, t), 2, rnd({4}, t), rnd({4}, t));
       }},
      {"batch_norm", false,
       [](DType t) {
         Tensor rm = na::zeros({4}), rv = na::ones({4});  // f32 running stats, updated in place
         Tensor y = F::batch_norm(rnd({5, 4}, t), rm, rv, rnd({4}, t), rnd({4}, t), true, 0.1, 1e-5);
         EXPECT_NE(rm.abs().sum().item(), 0.0) << "running mean not updated in place";
         return y;
       }},
      {"cross_entropy", false,
       [](DType t) {
         return F::cross_entropy(rnd({3, 4}, t), na::tensor<int64_t>({0, 3, 1}));
       }},
      {"nll_loss", false,
       [](DType t) {
         return F::nll_loss(rnd({3, 4}, t), na::tensor<int64_t>({0, 3, 1}));
       }},
      {"mse_loss", false,
       [](DType t) {
         return F::mse_loss(rnd({3, 4}, t), rnd({3, 4}, t));
       }},
      {"l1_loss", false,
       [](DType t) {
         return F::l1_loss(rnd({3, 4}, t), rnd({3, 4}, t));
       }},
      {"smooth_l1_loss", false,
       [](DType t) {
         return F::smooth_l1_loss(rnd({3, 4}, t), rnd({3, 4}, t));
       }},
      {"huber_loss", false,
       [](DType t) {
         return F::huber_loss(rnd({3, 4}, t), rnd({3, 4}, t));
       }},
      {"kl_div", false,
       [](DType t) {
         return F::kl_div(rnd({3, 4}, t), pos({3, 4}, t));
       }},
      {"binary_cross_entropy", false,
       [](DType t) {
         return F::binary_cross_entropy(na::sigmoid(rnd({3, 4}, t)), na::sigmoid(rnd({3, 4}, t)));
       }},
      {"binary_cross_entropy_with_logits", false,
       [](DType t) {
         return F::binary_cross_entropy_with_logits(rnd({3, 4}, t), na::sigmoid(rnd({3, 4}, t)));
       }},
      {"sum", false,
       [](DType t) {
         return na::sum(rnd({3, 4}, t));
       }},
      {"mean", false,
       [](DType t) {
         return na::mean(rnd({3, 4}, t), {1});
       }},
      {"var", false,
       [](DType t) {
         return na::var(rnd({3, 4}, t));
       }},
      {"std", false,
       [](DType t) {
         return na::std(rnd({3, 4}, t), {0});
       }},
      {"prod", false,
       [](DType t) {
         return na::prod(rnd({3, 4}, t), 1);
       }},
      {"logsumexp", false,
       [](DType t) {
         return na::logsumexp(rnd({3, 4}, t), {1});
       }},
      {"exp", false,
       [](DType t) {
         return na::exp(rnd({3, 4}, t));
       }},
      {"log", false,
       [](DType t) {
         return na::log(pos({3, 4}, t));
       }},
      {"log1p", false,
       [](DType t) {
         return na::log1p(pos({3, 4}, t));
       }},
      {"pow", false,
       [](DType t) {
         return na::pow(pos({3, 4}, t), rnd({3, 4}, t));
       }},
      {"pow", false,
       [](DType t) {
         return na::pow(pos({3, 4}, t), 1.5);
       }},
  };
  return cases;
}

TEST(Autocast, EachOpRunsInItsPolicyDtype) {
  na::manual_seed(1);
  for (DType low : {DType::bf16, DType::f16}) {
    for (const auto& c : op_cases()) {
      SCOPED_TRACE(c.name + " under " + na::dtype_name(low));
      const DType want = c.lower ? low : DType::f32;
      {
        autocast ac(low);
        EXPECT_EQ(na::optimization::detail::autocast_compute_dtype(c.name.c_str()), want);
        // From f32 inputs and from narrow inputs alike.
        EXPECT_EQ(c.run(DType::f32).dtype(), want);
        EXPECT_EQ(c.run(DType::bf16).dtype(), want);
        // f64 is never cast.
        EXPECT_EQ(c.run(DType::f64).dtype(), DType::f64);
      }
      // Outside a scope the op keeps its input dtype.
      EXPECT_EQ(c.run(DType::f32).dtype(), DType::f32);
    }
  }
}

TEST(Autocast, ValuesEqualTheExplicitCasts) {
  na::manual_seed(2);
  Tensor x = na::randn({6, 16}), w = na::randn({8, 16}), b = na::randn({8});
  Tensor want = na::linear(x.to(DType::bf16), w.to(DType::bf16), b.to(DType::bf16));
  Tensor s_want = na::softmax(want.to(DType::f32), 1);
  autocast ac;
  Tensor got = na::linear(x, w, b);
  EXPECT_TRUE(na_test::close(got.to(DType::f32), want.to(DType::f32), 0, 0, "linear"));
  EXPECT_TRUE(na_test::close(na::softmax(got, 1), s_want, 0, 0, "softmax"));
}

TEST(Autocast, OpsOutsideThePolicyPromoteToTheWidestInput) {
  autocast ac;
  Tensor h = na::randn({3, 4}).to(DType::bf16), f = na::randn({3, 4});
  EXPECT_EQ(na::add(h, f).dtype(), DType::f32);
  EXPECT_EQ(na::mul(h, h).dtype(), DType::bf16);
  EXPECT_EQ(na::relu(h).dtype(), DType::bf16);
  EXPECT_EQ(na::cat({h, f}).dtype(), DType::f32);
}

TEST(Autocast, ExplicitDtypeOptsOut) {
  autocast ac;
  Tensor h = na::randn({3, 4}).to(DType::bf16);
  EXPECT_EQ(na::sum(h).dtype(), DType::f32);
  EXPECT_EQ(na::sum(h, {}, false, DType::bf16).dtype(), DType::bf16);
  EXPECT_EQ(na::sum(h, {}, false, DType::f64).dtype(), DType::f64);
}

TEST(Autocast, ScopesNestAndRestore) {
  Tensor a = na::randn({3, 4}), b = na::randn({4, 2});
  EXPECT_FALSE(na::optimization::is_autocast_enabled());
  {
    autocast outer;
    EXPECT_EQ(na::mm(a, b).dtype(), DType::bf16);
    {
      autocast off(DType::bf16, false);
      EXPECT_FALSE(na::optimization::is_autocast_enabled());
      EXPECT_EQ(na::mm(a, b).dtype(), DType::f32);
      {
        autocast half(DType::f16);
        EXPECT_EQ(na::mm(a, b).dtype(), DType::f16);
      }
      EXPECT_EQ(na::mm(a, b).dtype(), DType::f32);
    }
    EXPECT_EQ(na::optimization::get_autocast_dtype(), DType::bf16);
    EXPECT_EQ(na::mm(a, b).dtype(), DType::bf16);
  }
  EXPECT_FALSE(na::optimization::is_autocast_enabled());
  EXPECT_EQ(na::mm(a, b).dtype(), DType::f32);
  na_test::expect_error([] { autocast bad(DType::f64); }, {"[autocast]", "float64"});
}

TEST(Autocast, IsThreadLocal) {
  autocast ac;
  DType other = DType::boolean;
  std::thread t([&] { other = na::mm(na::randn({2, 2}), na::randn({2, 2})).dtype(); });
  t.join();
  EXPECT_EQ(other, DType::f32);
  EXPECT_EQ(na::mm(na::randn({2, 2}), na::randn({2, 2})).dtype(), DType::bf16);
}

TEST(Autocast, GradientsReachInputsInTheirDtypesAndMatchTheCastComposition) {
  na::manual_seed(3);
  Tensor x0 = na::randn({5, 16}), w0 = na::randn({8, 16}), b0 = na::randn({8});
  auto leaf = [](const Tensor& t) {
    Tensor c = t.clone();
    c.requires_grad_(true);
    return c;
  };
  Tensor x = leaf(x0), w = leaf(w0), b = leaf(b0);
  {
    autocast ac;
    Tensor y = na::linear(x, w, b);
    EXPECT_EQ(y.dtype(), DType::bf16);
    Tensor loss = na::sum(na::exp(na::tanh(y)));  // exp and sum in f32, tanh in bf16
    EXPECT_EQ(loss.dtype(), DType::f32);
    loss.backward();  // inside the scope: the engine turns autocast off
  }
  EXPECT_EQ(x.grad().dtype(), DType::f32);
  EXPECT_EQ(w.grad().dtype(), DType::f32);
  EXPECT_EQ(b.grad().dtype(), DType::f32);
  // The same computation written with explicit casts, no autocast.
  Tensor x2 = leaf(x0), w2 = leaf(w0), b2 = leaf(b0);
  Tensor y2 = na::linear(x2.to(DType::bf16), w2.to(DType::bf16), b2.to(DType::bf16));
  na::sum(na::exp(na::tanh(y2).to(DType::f32))).backward();
  EXPECT_TRUE(na_test::close(x.grad(), x2.grad(), 0, 0, "grad x"));
  EXPECT_TRUE(na_test::close(b.grad(), b2.grad(), 0, 0, "grad b"));
  // The f32 weight's gradient comes from the bf16 GEMM's f32 accumulators directly, where the
  // composition (and PyTorch) rounds the product to bf16 first: it is the composition's value
  // before that rounding, so within half a bf16 ulp of it.
  EXPECT_TRUE(na_test::close(w.grad(), w2.grad(), 0x1p-8, 0, "grad w"));
  EXPECT_FALSE(na_test::close(w.grad(), w2.grad(), 0, 0, "grad w, bitwise"))
      << "grad w looks rounded to bf16";
}

TEST(Autocast, LinearKeepsNoNarrowWeightCopyForBackward) {
  // The bf16 copy of W is made for the GEMM and freed: what the graph holds is the f32 W.
  Tensor w = na::randn({512, 512});
  w.requires_grad_(true);
  Tensor x = na::randn({4, 512}).to(DType::bf16);
  autocast ac;
  const auto before = na::backends::get_memory_pool().stats().allocated_bytes;
  Tensor y = na::linear(x, w);
  const auto after = na::backends::get_memory_pool().stats().allocated_bytes;
  EXPECT_LT(after - before, size_t{512 * 512 * 2}) << "a bf16 copy of W outlived the forward";
}

TEST(Autocast, F32LayersTakeNarrowInputsOnlyInsideAScope) {
  // An f32 model under autocast gets the bf16 output of the previous layer (PyTorch AMP's
  // usage); outside a scope the layers still insist on their parameters' dtype.
  na::manual_seed(5);
  na::nn::Sequential net;
  net.push_back(std::make_shared<na::nn::Conv2d>(1, 4, 3, 1, 1));
  net.push_back(std::make_shared<na::nn::Linear>(6, 8));  // on the last dim of (2, 4, 6, 6)
  net.push_back(std::make_shared<na::nn::LayerNorm>(std::vector<int64_t>{8}));
  net.push_back(std::make_shared<na::nn::Linear>(8, 3));
  Tensor x = na::randn({2, 1, 6, 6});
  for (DType t : {DType::bf16, DType::f16}) {
    Tensor y;
    {
      autocast ac(t);
      y = net.forward(x);
    }
    EXPECT_EQ(y.dtype(), t);  // the last op is a Linear
    na::sum(y.to(DType::f32)).backward();
    for (const auto& p : net.parameters()) {
      ASSERT_TRUE(p.grad().defined());
      EXPECT_EQ(p.grad().dtype(), DType::f32);
    }
    net.zero_grad();
  }
  EXPECT_TRUE(na::optimization::autocast_compatible(DType::f32, DType::f32));
  EXPECT_FALSE(na::optimization::autocast_compatible(DType::bf16, DType::f32));
  na::nn::Linear lin(4, 2);
  EXPECT_THROW(lin.forward(na::randn({1, 4}).to(DType::bf16)), na::Error);
  autocast ac;
  EXPECT_TRUE(na::optimization::autocast_compatible(DType::bf16, DType::f32));
  EXPECT_FALSE(na::optimization::autocast_compatible(DType::f64, DType::f32));
  EXPECT_THROW(lin.forward(na::randn({1, 4}).to(DType::f64)), na::Error);
}

TEST(Autocast, BiasDropoutAddComputesInTheWidestInput) {
  // A GPT block adds its bf16 branch to the f32 residual stream: widest type, like x + r.
  Tensor x = na::randn({3, 8}).to(DType::bf16), r = na::randn({3, 8});
  EXPECT_THROW(F::bias_dropout_add(x, Tensor(), r, 0.0, false), na::Error);
  autocast ac;
  Tensor y = F::bias_dropout_add(x, Tensor(), r, 0.0, false);
  EXPECT_EQ(y.dtype(), DType::f32);
  EXPECT_TRUE(na_test::close(y, na::add(x.to(DType::f32), r), 0, 0, "bias_dropout_add"));
}

}  // namespace
