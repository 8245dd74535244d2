// Core nn layers: Linear, Bilinear, Embedding, Dropout, activation modules, Flatten, Identity,
// MLP. Gradient checks (input and parameter gradients, float64), PyTorch reference cases
// (tests/reference/gen_nn_core.py -> data/nn/core_*.bin) and misuse errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "neural_arch/autograd.hpp"
#include "neural_arch/nn.hpp"
#include "neural_arch/ops.hpp"
#include "nn_test_util.hpp"
#include "reference_data.hpp"

namespace {

namespace na = neural_arch;
namespace nn = neural_arch::nn;
using na::Tensor;
using na_test::check_module_reference;
using na_test::expect_error;
using na_test::module_gradcheck;
using na_test::ModuleFn;
using na_test::one_input;
using na_test::rand64;

// Values kept at least `margin` away from zero, where relu-like kinks would break finite differences.
Tensor away_from_zero(const na::Shape& s, uint64_t seed, double margin = 0.1) {
  Tensor v = rand64(s, seed);
  return na::where(na::ge(v, na::zeros_like(v)), v + margin, v - margin);
}

template <class M> std::shared_ptr<M> f64(std::shared_ptr<M> m) {
  m->to(na::kFloat64);
  return m;
}

// ------------------------------------------------------------------ gradient checks

TEST(NnGradCheck, Linear) {
  auto lin = f64(std::make_shared<nn::Linear>(4, 3));
  auto r = module_gradcheck(*lin, {rand64({5, 4}, 1).requires_grad_()}, one_input(*lin), "Linear");
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_EQ(r.elements_checked, 20 + 12 + 3);
}

TEST(NnGradCheck, Linear_3d_input_no_bias) {
  auto lin = f64(std::make_shared<nn::Linear>(3, 2, false));
  auto r = module_gradcheck(*lin, {rand64({2, 4, 3}, 2).requires_grad_()}, one_input(*lin), "Linear_nobias");
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(NnGradCheck, Bilinear) {
  auto bil = f64(std::make_shared<nn::Bilinear>(3, 2, 4));
  auto r = module_gradcheck(
      *bil, {rand64({2, 3, 3}, 3).requires_grad_(), rand64({2, 3, 2}, 4).requires_grad_()},
      [&](const std::vector<Tensor>& v) { return bil->forward(v[0], v[1]); }, "Bilinear");
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(NnGradCheck, Embedding) {
  auto emb = f64(std::make_shared<nn::Embedding>(6, 3));
  Tensor idx = na::tensor<int64_t>({0, 4, 4, 5, 1, 0}, na::Shape{2, 3});
  auto r = module_gradcheck(*emb, {idx}, one_input(*emb), "Embedding");
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(NnGradCheck, Embedding_padding_idx_not_in_batch) {
  // With the padding row absent from the indices the module is an ordinary lookup; the padding
  // row's zero gradient (where finite differences would disagree by design) is checked in
  // NnLayers.EmbeddingPaddingRowGetsNoGradient and the reference case.
  auto emb = f64(std::make_shared<nn::Embedding>(5, 2, 1));
  Tensor idx = na::tensor<int64_t>({0, 2, 3, 4, 0});
  auto r = module_gradcheck(*emb, {idx}, one_input(*emb), "Embedding_padding");
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(NnGradCheck, Dropout_train) {
  auto drop = std::make_shared<nn::Dropout>(0.4);
  // Reseeding before every evaluation gives the finite differences the same mask.
  auto fn = [&](const std::vector<Tensor>& v) {
    na::manual_seed(99);
    return drop->forward(v[0]);
  };
  auto r = module_gradcheck(*drop, {rand64({4, 5}, 5).requires_grad_()}, fn, "Dropout");
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(NnGradCheck, Flatten) {
  auto fl = std::make_shared<nn::Flatten>(1, 2);
  auto r = module_gradcheck(*fl, {rand64({2, 3, 2, 2}, 6).requires_grad_()}, one_input(*fl), "Flatten");
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(NnGradCheck, MLP) {
  na::manual_seed(3);
  auto mlp = f64(std::make_shared<nn::MLP>(std::vector<int64_t>{6, 5, 4, 3}, "tanh"));
  auto r = module_gradcheck(*mlp, {rand64({3, 2, 3}, 7).requires_grad_()}, one_input(*mlp), "MLP");
  EXPECT_TRUE(r.ok) << r.message;
}

struct ActivationCase {
  std::string name;
  std::function<nn::ModulePtr()> make;
  std::function<Tensor()> input;
};
// gtest prints a parameter with PrintTo; the default would dump the struct's bytes.
void PrintTo(const ActivationCase& c, std::ostream* os) { *os << c.name; }

std::vector<ActivationCase> activation_cases() {
  auto smooth = [] { return rand64({3, 4}, 11, 2.0).requires_grad_(); };
  auto kinked = [] { return away_from_zero({3, 4}, 12).requires_grad_(); };
  return {
      {"ReLU", [] { return std::make_shared<nn::ReLU>(); }, kinked},
      {"LeakyReLU", [] { return std::make_shared<nn::LeakyReLU>(0.2); }, kinked},
      {"GELU", [] { return std::make_shared<nn::GELU>(); }, smooth},
      {"GELU_tanh", [] { return std::make_shared<nn::GELU>("tanh"); }, smooth},
      {"SiLU", [] { return std::make_shared<nn::SiLU>(); }, smooth},
      {"Tanh", [] { return std::make_shared<nn::Tanh>(); }, smooth},
      {"Sigmoid", [] { return std::make_shared<nn::Sigmoid>(); }, smooth},
      {"Softplus", [] { return std::make_shared<nn::Softplus>(2.0, 3.0); }, smooth},
      {"Mish", [] { return std::make_shared<nn::Mish>(); }, smooth},
      {"GLU", [] { return std::make_shared<nn::GLU>(1); }, smooth},
      {"Softmax", [] { return std::make_shared<nn::Softmax>(1); }, smooth},
      {"LogSoftmax", [] { return std::make_shared<nn::LogSoftmax>(0); }, smooth},
      {"Identity", [] { return std::make_shared<nn::Identity>(); }, smooth},
  };
}

class NnActivationGradCheck : public ::testing::TestWithParam<ActivationCase> {};

TEST_P(NnActivationGradCheck, InputGradient) {
  auto m = GetParam().make();
  auto r = module_gradcheck(*m, {GetParam().input()}, one_input(*m), GetParam().name);
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_GT(r.max_abs_numeric, 0.0);
}

INSTANTIATE_TEST_SUITE_P(Nn, NnActivationGradCheck, ::testing::ValuesIn(activation_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(NnGradCheck, FunctionalActivations) {
  namespace F = na::functional;
  // Away from the kinks of relu6 (0, 6), hardswish (-3, 3) and elu (0).
  Tensor x =
      na::tensor<double>({-4.0, -2.5, -1.0, -0.3, 0.4, 1.5, 2.6, 4.0, 5.5, 7.0}, std::nullopt, na::kFloat64);
  x.requires_grad_();
  const std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>> fns = {
      {"mish", [](const Tensor& t) { return F::mish(t); }},
      {"glu", [](const Tensor& t) { return F::glu(t, 0); }},
      {"relu6", [](const Tensor& t) { return F::relu6(t); }},
      {"hardswish", [](const Tensor& t) { return F::hardswish(t); }},
      {"elu", [](const Tensor& t) { return F::elu(t, 0.7); }},
  };
  for (const auto& [name, f] : fns) {
    auto r = na_test::gradcheck([&](const std::vector<Tensor>& v) { return f(v[0]); }, {x}, 1e-6, 1e-5, 1e-3,
                                name);
    EXPECT_TRUE(r.ok) << r.message;
  }
}

// ------------------------------------------------------------------ reference (PyTorch)

struct RefCaseSpec {
  std::string name;  // file nn/core_<name>.bin
  std::function<nn::ModulePtr()> make;
  std::vector<std::string> inputs;
  // Forward for modules whose call is not forward(x); null = forward(inputs[0]).
  std::function<Tensor(nn::Module&, const std::vector<Tensor>&)> call;
};
void PrintTo(const RefCaseSpec& c, std::ostream* os) { *os << "core_" << c.name; }

nn::ModulePtr fn_module(std::function<Tensor(const Tensor&)> f) {
  struct Fn : nn::Module {
    explicit Fn(std::function<Tensor(const Tensor&)> fn) : Module("Fn"), f(std::move(fn)) {}
    Tensor forward(const Tensor& x) override { return f(x); }
    std::function<Tensor(const Tensor&)> f;
  };
  return std::make_shared<Fn>(std::move(f));
}

std::vector<RefCaseSpec> layer_reference_cases() {
  namespace F = na::functional;
  auto bilinear_call = [](nn::Module& m, const std::vector<Tensor>& v) {
    return dynamic_cast<nn::Bilinear&>(m).forward(v[0], v[1]);
  };
  return {
      {"identity", [] { return std::make_shared<nn::Identity>(); }, {"x"}, nullptr},
      {"flatten", [] { return std::make_shared<nn::Flatten>(); }, {"x"}, nullptr},
      {"flatten_range", [] { return std::make_shared<nn::Flatten>(0, 1); }, {"x"}, nullptr},
      {"dropout_eval",
       [] {
         auto d = std::make_shared<nn::Dropout>(0.5);
         d->eval();
         return d;
       },
       {"x"},
       nullptr},
      {"dropout_p0_train", [] { return std::make_shared<nn::Dropout>(0.0); }, {"x"}, nullptr},
      {"linear", [] { return std::make_shared<nn::Linear>(5, 3); }, {"x"}, nullptr},
      {"linear_3d_f32", [] { return std::make_shared<nn::Linear>(6, 4); }, {"x"}, nullptr},
      {"linear_nobias", [] { return std::make_shared<nn::Linear>(4, 2, false); }, {"x"}, nullptr},
      {"bilinear", [] { return std::make_shared<nn::Bilinear>(3, 4, 2); }, {"x", "x2"}, bilinear_call},
      {"embedding_padding", [] { return std::make_shared<nn::Embedding>(7, 3, 2); }, {"idx"}, nullptr},
      {"mlp",
       [] {
         return std::make_shared<nn::MLP>(std::vector<int64_t>{12, 16, 8, 4});
       },
       {"x"},
       nullptr},
      {"act_relu", [] { return std::make_shared<nn::ReLU>(); }, {"x"}, nullptr},
      {"act_leaky_relu", [] { return std::make_shared<nn::LeakyReLU>(0.2); }, {"x"}, nullptr},
      {"act_gelu", [] { return std::make_shared<nn::GELU>(); }, {"x"}, nullptr},
      {"act_gelu_tanh", [] { return std::make_shared<nn::GELU>("tanh"); }, {"x"}, nullptr},
      {"act_silu", [] { return std::make_shared<nn::SiLU>(); }, {"x"}, nullptr},
      {"act_tanh", [] { return std::make_shared<nn::Tanh>(); }, {"x"}, nullptr},
      {"act_sigmoid", [] { return std::make_shared<nn::Sigmoid>(); }, {"x"}, nullptr},
      {"act_softplus", [] { return std::make_shared<nn::Softplus>(2.0, 5.0); }, {"x"}, nullptr},
      {"act_mish", [] { return std::make_shared<nn::Mish>(); }, {"x"}, nullptr},
      {"act_glu", [] { return std::make_shared<nn::GLU>(1); }, {"x"}, nullptr},
      {"act_softmax", [] { return std::make_shared<nn::Softmax>(1); }, {"x"}, nullptr},
      {"act_log_softmax", [] { return std::make_shared<nn::LogSoftmax>(1); }, {"x"}, nullptr},
      {"act_elu", [] { return fn_module([](const Tensor& x) { return F::elu(x, 0.7); }); }, {"x"}, nullptr},
      {"act_relu6", [] { return fn_module([](const Tensor& x) { return F::relu6(x); }); }, {"x"}, nullptr},
      {"act_hardswish",
       [] { return fn_module([](const Tensor& x) { return F::hardswish(x); }); },
       {"x"},
       nullptr},
  };
}

class NnLayersReference : public ::testing::TestWithParam<RefCaseSpec> {};

TEST_P(NnLayersReference, MatchesTorch) {
  const auto& spec = GetParam();
  auto m = spec.make();
  ModuleFn fwd = spec.call ? ModuleFn([&](const std::vector<Tensor>& v) { return spec.call(*m, v); })
                           : ModuleFn([&](const std::vector<Tensor>& v) { return m->forward(v[0]); });
  check_module_reference("core_" + spec.name, *m, spec.inputs, fwd);
}

INSTANTIATE_TEST_SUITE_P(Core, NnLayersReference, ::testing::ValuesIn(layer_reference_cases()),
                         [](const auto& info) { return info.param.name; });

// Every core_* file that gen_nn_core.py writes is run by this file or by test_nn_norm.cpp (whose
// cases all start with a normalization prefix), so no generated case goes untested.
TEST(NnLayersReferenceCoverage, EveryCoreFileHasATest) {
  std::set<std::string> known;
  for (const auto& c : layer_reference_cases()) known.insert("core_" + c.name);
  const std::vector<std::string> norm_prefixes = {"core_layer_norm", "core_rms_norm", "core_group_norm",
                                                  "core_batch_norm"};
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(NA_REFERENCE_DIR) + "/nn")) {
    const std::string stem = entry.path().stem().string();
    if (stem.rfind("core_", 0) != 0 || entry.path().extension() != ".bin") continue;
    ++files;
    const bool is_norm = std::any_of(norm_prefixes.begin(), norm_prefixes.end(),
                                     [&](const std::string& p) { return stem.rfind(p, 0) == 0; });
    EXPECT_TRUE(is_norm || known.count(stem)) << stem << ".bin has no test";
  }
  for (const auto& k : known)
    EXPECT_TRUE(std::filesystem::exists(std::string(NA_REFERENCE_DIR) + "/nn/" + k + ".bin")) << k;
  EXPECT_GT(files, static_cast<int>(known.size()));
}

// ------------------------------------------------------------------ behaviour

TEST(NnLayers, LinearComputesXWtPlusB) {
  nn::Linear lin(2, 2);
  nn::init::constant_(lin.weight, 0.0);
  {
    na::NoGradGuard ng;
    lin.weight.copy_(na::tensor<float>({1, 2, 3, 4}, na::Shape{2, 2}));
    lin.bias.copy_(na::tensor<float>({10, 20}));
  }
  Tensor y = lin.forward(na::tensor<float>({1, 1, 0, 2}, na::Shape{2, 2}));
  EXPECT_EQ(y.to_vector<double>(), (std::vector<double>{13, 27, 14, 28}));
}

TEST(NnLayers, EmbeddingPaddingRowStartsZeroAndGetsNoGradient) {
  na::manual_seed(4);
  nn::Embedding emb(5, 3, -1);  // negative index counts from the end
  ASSERT_TRUE(emb.padding_idx.has_value());
  EXPECT_EQ(*emb.padding_idx, 4);
  EXPECT_EQ(emb.weight.select(0, 4).to_vector<double>(), std::vector<double>(3, 0.0));
  EXPECT_NE(emb.weight.select(0, 0).to_vector<double>(), std::vector<double>(3, 0.0));
  {
    na::NoGradGuard ng;
    emb.weight.select(0, 4).fill_(2.0);  // a padding row set by the user is returned as is
  }
  Tensor idx = na::tensor<int64_t>({4, 1, 4, 1});
  Tensor y = emb.forward(idx);
  EXPECT_EQ(y.select(0, 0).to_vector<double>(), std::vector<double>(3, 2.0));
  y.sum().backward();
  Tensor g = emb.weight.grad();
  EXPECT_EQ(g.select(0, 4).to_vector<double>(), std::vector<double>(3, 0.0));
  EXPECT_EQ(g.select(0, 1).to_vector<double>(), std::vector<double>(3, 2.0));
  // Under no-grad the lookup is the plain one.
  na::NoGradGuard ng;
  EXPECT_EQ(emb.forward(idx).select(0, 2).to_vector<double>(), std::vector<double>(3, 2.0));
}

TEST(NnLayers, DropoutTrainsAndEvaluates) {
  nn::Dropout drop(0.3);
  Tensor x = na::ones({200, 100});
  na::manual_seed(8);
  Tensor y = drop.forward(x);
  int64_t zeros = 0;
  for (double v : y.to_vector<double>()) {
    if (v == 0.0)
      ++zeros;
    else
      EXPECT_NEAR(v, 1.0 / 0.7, 1e-6);
  }
  EXPECT_NEAR(static_cast<double>(zeros) / 20000.0, 0.3, 0.02);
  // Same seed, same mask.
  na::manual_seed(8);
  EXPECT_EQ(drop.forward(x).to_vector<double>(), y.to_vector<double>());
  drop.eval();
  Tensor e = drop.forward(x);
  EXPECT_EQ(e.to_vector<double>(), x.to_vector<double>());
  // p = 0 and p = 1 edge cases in training.
  drop.train();
  nn::Dropout none(0.0), all(1.0);
  EXPECT_EQ(none.forward(x).to_vector<double>(), x.to_vector<double>());
  EXPECT_EQ(na::max(all.forward(x)).item(), 0.0);
}

TEST(NnLayers, FlattenIdentityAndMLPShapes) {
  Tensor x = na::randn({2, 3, 4, 5});
  EXPECT_EQ(nn::Flatten().forward(x).shape(), (na::Shape{2, 60}));
  EXPECT_EQ(nn::Flatten(0, 1).forward(x).shape(), (na::Shape{6, 4, 5}));
  EXPECT_EQ(nn::Flatten(-2, -1).forward(x).shape(), (na::Shape{2, 3, 20}));
  EXPECT_TRUE(nn::Identity().forward(x).is_same(x));
  nn::MLP mlp({784, 256, 128, 10});
  EXPECT_EQ(mlp.forward(na::randn({4, 1, 28, 28})).shape(), (na::Shape{4, 10}));
  EXPECT_EQ(mlp.num_parameters(), 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);
  nn::MLP drop_mlp({8, 4, 2}, "gelu", 0.5);
  EXPECT_EQ(drop_mlp.net->size(), 5u);  // Flatten, Linear, GELU, Dropout, Linear
  EXPECT_EQ(drop_mlp.net->at(3)->type_name(), "Dropout");
}

TEST(NnLayers, MLPTrainsOnASeparableProblem) {
  // A few SGD steps on a fixed batch must lower the loss: forward, backward and parameter
  // traversal work together.
  na::manual_seed(21);
  nn::MLP mlp({4, 16, 2});
  Tensor x = na::randn({32, 4});
  Tensor target = na::gt(x.select(1, 0), na::zeros({32})).to(na::kFloat32);  // class 1 when x0 > 0
  auto loss_of = [&] {
    Tensor logits = mlp.forward(x);
    Tensor logp = na::log_softmax(logits, 1);
    Tensor picked = logp.select(1, 1) * target + logp.select(1, 0) * (1.0 - target);
    return -na::mean(picked);
  };
  const double first = loss_of().item();
  for (int step = 0; step < 50; ++step) {
    mlp.zero_grad();
    loss_of().backward();
    na::NoGradGuard ng;
    for (Tensor p : mlp.parameters()) p.sub_(p.grad(), 0.5);
  }
  EXPECT_LT(loss_of().item(), 0.5 * first);
}

// ------------------------------------------------------------------ misuse

TEST(NnLayersMisuse, LinearNamesTheLayerAndTheShapes) {
  nn::Linear lin(4, 3);
  expect_error([&] { lin.forward(na::zeros({2, 5})); }, {"[Linear]", "last dim 4", "(2,5)"});
  expect_error([&] { lin.forward(na::zeros({}, na::kFloat32)); }, {"[Linear]", "last dim 4", "()"});
  expect_error(
      [&] {
        lin.forward(na::zeros({2, 4}, na::kFloat64));
      },
      {"[Linear]", "float64", "float32", "(2,4)"});
  expect_error([&] { lin.forward(Tensor()); }, {"[Linear]", "undefined"});
  expect_error([] { nn::Linear(-1, 2); }, {"[Linear]", "-1"});
}

TEST(NnLayersMisuse, BilinearChecksBothInputs) {
  nn::Bilinear bil(3, 2, 4);
  expect_error(
      [&] {
        bil.forward(na::zeros({5, 2}), na::zeros({5, 2}));
      },
      {"[Bilinear]", "input1", "3", "(5,2)"});
  expect_error(
      [&] {
        bil.forward(na::zeros({5, 3}), na::zeros({5, 3}));
      },
      {"[Bilinear]", "input2", "2", "(5,3)"});
  expect_error([&] { bil.forward(na::zeros({5, 3}), na::zeros({4, 2})); }, {"[Bilinear]", "(5,3)", "(4,2)"});
}

TEST(NnLayersMisuse, EmbeddingChecksIndices) {
  nn::Embedding emb(5, 2);
  expect_error([&] { emb.forward(na::zeros({3})); }, {"[Embedding]", "integer", "float32", "(3,)"});
  expect_error(
      [&] {
        emb.forward(na::tensor<int64_t>({1, 5}));
      },
      {"[Embedding]", "index 5", "(5,2)", "(2,)"});
  expect_error([] { nn::Embedding(5, 2, 5); }, {"[Embedding]", "padding_idx 5"});
  expect_error([] { nn::Embedding(5, 2, -6); }, {"[Embedding]", "padding_idx -6"});
}

TEST(NnLayersMisuse, OptionsAreValidated) {
  expect_error([] { nn::Dropout(1.5); }, {"[Dropout]", "1.5"});
  expect_error([] { nn::GELU("fast"); }, {"[GELU]", "'fast'"});
  expect_error([] { nn::Softplus(0.0); }, {"[Softplus]", "beta"});
  expect_error([] { nn::MLP({10}); }, {"[MLP]", "1 size"});
  expect_error([] { nn::MLP({10, 0, 2}); }, {"[MLP]", "(10,0,2)"});
  expect_error([] { nn::MLP({10, 2}, "swish2"); }, {"[MLP]", "'swish2'"});
  expect_error([] { nn::Flatten(2, 5).forward(na::zeros({2, 3})); }, {"[Flatten]", "(2,3)"});
  expect_error(
      [] {
        nn::Flatten(1, 0).forward(na::zeros({2, 3}));
      },
      {"[Flatten]", "start_dim=1", "end_dim=0"});
  expect_error([] { nn::GLU(1).forward(na::zeros({2, 3})); }, {"[glu]", "even", "(2,3)"});
  expect_error([] { nn::ReLU().forward(na::zeros({2}, na::kInt64)); }, {"[ReLU]", "int64", "(2,)"});
  nn::MLP mlp({12, 3});
  expect_error([&] { mlp.forward(na::zeros({2, 3, 5})); }, {"[MLP]", "12", "(2,3,5)"});
}

}  // namespace
