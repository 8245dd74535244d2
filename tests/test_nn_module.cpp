// nn::Module behaviour: registration and traversal, train/eval, zero_grad, to(dtype), state
// dicts (round trip, strict/non-strict, every mismatch, failed loads leave the module alone),
// printing, containers and the init functions.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "neural_arch/autograd.hpp"
#include "neural_arch/nn.hpp"
#include "neural_arch/ops.hpp"
#include "test_util.hpp"

namespace {

namespace na = neural_arch;
namespace nn = neural_arch::nn;
using na::Tensor;

using na_test::expect_error;

std::vector<std::string> keys_of(const nn::StateDict& sd) {
  std::vector<std::string> k;
  for (const auto& [n, _] : sd) k.push_back(n);
  return k;
}

bool same_values(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.to_vector<double>() == b.to_vector<double>();
}

// A module with every kind of registered thing: parameters (one absent), buffers (one absent),
// and a nested child.
class Block : public nn::Module {
 public:
  Block() : Module("Block") {
    scale = register_parameter("scale", na::ones({3}));
    absent = register_parameter("absent", Tensor());
    count = register_buffer("count", na::zeros({}, na::kInt64));
    stat = register_buffer("stat", na::zeros({3}));
    register_buffer("nothing", Tensor());
    fc = register_module("fc", std::make_shared<nn::Linear>(3, 2));
  }
  Tensor forward(const Tensor& x) override { return fc->forward(x * scale); }
  Tensor scale, absent, count, stat;
  std::shared_ptr<nn::Linear> fc;
};

class Net : public nn::Module {
 public:
  Net() : Module("Net") {
    block = register_module("block", std::make_shared<Block>());
    head = register_module("head", std::make_shared<nn::Linear>(2, 1, false));
  }
  Tensor forward(const Tensor& x) override { return head->forward(block->forward(x)); }
  std::shared_ptr<Block> block;
  std::shared_ptr<nn::Linear> head;
};

// ------------------------------------------------------------------ registration and traversal

TEST(NnModule, NamedParametersAreDottedAndInRegistrationOrder) {
  auto net = std::make_shared<Net>();
  EXPECT_EQ(keys_of(net->named_parameters()),
            (std::vector<std::string>{"block.scale", "block.fc.weight", "block.fc.bias", "head.weight"}));
  EXPECT_EQ(keys_of(net->named_parameters(false)), std::vector<std::string>{});
  EXPECT_EQ(keys_of(net->block->named_parameters(false)), std::vector<std::string>{"scale"});
  EXPECT_EQ(keys_of(net->named_buffers()), (std::vector<std::string>{"block.count", "block.stat"}));
  EXPECT_EQ(net->parameters().size(), 4u);
  EXPECT_EQ(net->buffers().size(), 2u);
  for (const Tensor& p : net->parameters()) {
    EXPECT_TRUE(p.requires_grad());
    EXPECT_TRUE(p.is_leaf());
  }
  for (const Tensor& b : net->buffers()) EXPECT_FALSE(b.requires_grad());
  // The handles returned are the module's own tensors, not copies.
  EXPECT_TRUE(net->named_parameters()[1].second.is_same(net->block->fc->weight));
}

TEST(NnModule, ChildrenAndNamedModules) {
  auto net = std::make_shared<Net>();
  auto ch = net->named_children();
  ASSERT_EQ(ch.size(), 2u);
  EXPECT_EQ(ch[0].first, "block");
  EXPECT_EQ(ch[0].second.get(), net->block.get());
  EXPECT_EQ(net->children().size(), 2u);
  auto mods = net->named_modules();
  std::vector<std::string> names;
  for (auto& [n, m] : mods) names.push_back(n + ":" + m->type_name());
  EXPECT_EQ(names, (std::vector<std::string>{":Net", "block:Block", "block.fc:Linear", "head:Linear"}));
  EXPECT_EQ(mods[0].second.get(), net.get());
}

TEST(NnModule, NamedModulesWorksForAModuleNotOwnedBySharedPtr) {
  nn::Linear lin(2, 2);
  auto mods = lin.named_modules();
  ASSERT_EQ(mods.size(), 1u);
  EXPECT_EQ(mods[0].second.get(), &lin);
}

TEST(NnModule, TiedParametersAreListedOnceButStateDictHasBothKeys) {
  auto seq = std::make_shared<nn::Sequential>();
  auto a = seq->push_back(std::make_shared<nn::Linear>(3, 3, false));
  auto b = seq->push_back(std::make_shared<nn::Linear>(3, 3, false));
  b->weight = a->weight;
  b->replace_tensor("weight", a->weight);
  EXPECT_EQ(seq->parameters().size(), 1u);
  EXPECT_EQ(seq->num_parameters(), 9);
  EXPECT_EQ(keys_of(seq->state_dict()), (std::vector<std::string>{"0.weight", "1.weight"}));
  // A shared submodule is traversed once too.
  auto shared = std::make_shared<nn::Linear>(2, 2);
  nn::Sequential twice({shared, shared});
  EXPECT_EQ(twice.parameters().size(), 2u);
  EXPECT_EQ(twice.named_modules().size(), 2u);
}

TEST(NnModule, RegistrationMisuseIsAnError) {
  struct Bad : nn::Module {
    Bad() : Module("Bad") {}
    using Module::register_buffer;
    using Module::register_parameter;
  };
  Bad m;
  m.register_parameter("w", na::zeros({2}));
  expect_error([&] { m.register_parameter("w", na::zeros({2})); }, {"[Bad]", "'w'", "already registered"});
  expect_error([&] { m.register_buffer("w", na::zeros({2})); }, {"[Bad]", "'w'", "parameter"});
  expect_error([&] { m.register_parameter("a.b", na::zeros({2})); }, {"[Bad]", "'a.b'", "'.'"});
  expect_error([&] { m.register_parameter("", na::zeros({2})); }, {"[Bad]", "empty"});
  expect_error([&] { m.register_parameter("i", na::zeros({2}, na::kInt64)); },
               {"[Bad]", "'i'", "floating", "int64"});
  expect_error([&] { m.register_module("c", std::shared_ptr<nn::Linear>()); }, {"[Bad]", "'c'", "null"});
  m.register_module("c", std::make_shared<nn::ReLU>());
  expect_error([&] { m.register_module("c", std::make_shared<nn::ReLU>()); }, {"[Bad]", "'c'", "already"});
  expect_error([&] { m.replace_tensor("nope", na::zeros({1})); }, {"[Bad]", "'nope'"});
  // An integer parameter is allowed when it does not require grad.
  Tensor i = m.register_parameter("i", na::zeros({2}, na::kInt64), false);
  EXPECT_FALSE(i.requires_grad());
}

TEST(NnModule, RegisteringANonLeafDetachesIt) {
  struct M : nn::Module {
    M() : Module("M") {}
    using Module::register_parameter;
  };
  M m;
  Tensor base = na::ones({2}).requires_grad_();
  Tensor p = m.register_parameter("p", base * 2.0);
  EXPECT_TRUE(p.is_leaf());
  EXPECT_TRUE(p.requires_grad());
  EXPECT_EQ(p.to_vector<double>(), (std::vector<double>{2.0, 2.0}));
}

TEST(NnModule, DefaultForwardNamesTheModule) {
  nn::ModuleList list;
  expect_error([&] { list.forward(na::zeros({2, 3})); }, {"[ModuleList]", "forward", "(2,3)"});
  nn::Bilinear bil(2, 3, 4);
  expect_error([&] { bil.forward(na::zeros({2, 2})); }, {"[Bilinear]", "forward"});
}

// ------------------------------------------------------------------ mode, grads, dtype

TEST(NnModule, TrainEvalPropagatesToDescendants) {
  auto net = std::make_shared<Net>();
  EXPECT_TRUE(net->is_training());
  net->eval();
  for (auto& [n, m] : net->named_modules()) EXPECT_FALSE(m->is_training()) << n;
  net->block->train();
  EXPECT_FALSE(net->is_training());
  EXPECT_TRUE(net->block->fc->is_training());
  net->train(true);
  for (auto& [n, m] : net->named_modules()) EXPECT_TRUE(m->is_training()) << n;
}

TEST(NnModule, ZeroGradClearsOrZeroes) {
  auto net = std::make_shared<Net>();
  net->forward(na::randn({4, 3})).sum().backward();
  for (const Tensor& p : net->parameters()) ASSERT_TRUE(p.grad().defined());
  net->zero_grad(false);
  for (const Tensor& p : net->parameters()) {
    ASSERT_TRUE(p.grad().defined());
    for (double v : p.grad().to_vector<double>()) EXPECT_EQ(v, 0.0);
  }
  net->zero_grad();
  for (const Tensor& p : net->parameters()) EXPECT_FALSE(p.grad().defined());
}

TEST(NnModule, ToConvertsFloatingTensorsInPlaceAndKeepsHandles) {
  auto bn = std::make_shared<nn::BatchNorm1d>(3);
  auto seq = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(2, 3), bn);
  auto lin = seq->at<nn::Linear>(0);
  const Tensor w = lin->weight;
  const std::vector<double> before = w.to_vector<double>();
  seq->forward(na::randn({4, 2})).sum().backward();
  seq->to(na::kFloat64);
  EXPECT_TRUE(lin->weight.is_same(w));  // same handle, new data
  EXPECT_EQ(w.dtype(), na::kFloat64);
  EXPECT_EQ(w.to_vector<double>(), before);  // float32 -> float64 is exact
  EXPECT_TRUE(w.requires_grad());
  EXPECT_TRUE(w.is_leaf());
  ASSERT_TRUE(w.grad().defined());
  EXPECT_EQ(w.grad().dtype(), na::kFloat64);
  EXPECT_EQ(bn->running_mean.dtype(), na::kFloat64);
  EXPECT_EQ(bn->num_batches_tracked.dtype(), na::kInt64);  // integer buffers keep their type
  for (auto& [n, p] : seq->state_dict())
    if (n != "1.num_batches_tracked") EXPECT_EQ(p.dtype(), na::kFloat64) << n;
  // The converted module computes in float64 and still trains.
  Tensor y = seq->forward(na::randn({4, 2}, na::kFloat64));
  EXPECT_EQ(y.dtype(), na::kFloat64);
  seq->zero_grad();
  y.sum().backward();
  EXPECT_EQ(w.grad().dtype(), na::kFloat64);
  expect_error([&] { seq->to(na::kInt32); }, {"[Sequential]", "int32"});
}

// ------------------------------------------------------------------ state dicts

TEST(NnStateDict, KeysIncludeParametersAndBuffersInTorchOrder) {
  auto net = std::make_shared<Net>();
  EXPECT_EQ(keys_of(net->state_dict()),
            (std::vector<std::string>{"block.scale", "block.count", "block.stat", "block.fc.weight",
                                      "block.fc.bias", "head.weight"}));
  auto bn = std::make_shared<nn::BatchNorm2d>(4);
  EXPECT_EQ(keys_of(bn->state_dict()), (std::vector<std::string>{"weight", "bias", "running_mean",
                                                                 "running_var", "num_batches_tracked"}));
  for (auto& [n, t] : net->state_dict()) EXPECT_FALSE(t.requires_grad()) << n;
}

TEST(NnStateDict, RoundTripMakesTwoModelsComputeTheSame) {
  na::manual_seed(1);
  auto a = std::make_shared<nn::MLP>(std::vector<int64_t>{6, 5, 3});
  auto b = std::make_shared<nn::MLP>(std::vector<int64_t>{6, 5, 3});
  Tensor x = na::randn({4, 6});
  ASSERT_FALSE(na::allclose(a->forward(x), b->forward(x)));
  auto res = b->load_state_dict(a->state_dict());
  EXPECT_TRUE(res.missing_keys.empty());
  EXPECT_TRUE(res.unexpected_keys.empty());
  EXPECT_TRUE(same_values(a->forward(x), b->forward(x)));
  // Loading copies values: later training of a does not reach b.
  {
    na::NoGradGuard ng;
    a->net->at<nn::Linear>(1)->weight.add_(1.0);
  }
  EXPECT_FALSE(na::allclose(a->forward(x), b->forward(x)));
  // Parameters of b stay leaves that require grad.
  for (const Tensor& p : b->parameters()) {
    EXPECT_TRUE(p.is_leaf());
    EXPECT_TRUE(p.requires_grad());
  }
}

TEST(NnStateDict, LoadingItsOwnOrSwappedTensorsIsSafe) {
  auto seq = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(2, 2, false),
                                              std::make_shared<nn::Linear>(2, 2, false));
  auto w0 = seq->at<nn::Linear>(0)->weight.to_vector<double>();
  auto w1 = seq->at<nn::Linear>(1)->weight.to_vector<double>();
  seq->load_state_dict(seq->state_dict());
  EXPECT_EQ(seq->at<nn::Linear>(0)->weight.to_vector<double>(), w0);
  auto sd = seq->state_dict();
  std::swap(sd[0].second, sd[1].second);  // each key now holds the other layer's live tensor
  seq->load_state_dict(sd);
  EXPECT_EQ(seq->at<nn::Linear>(0)->weight.to_vector<double>(), w1);
  EXPECT_EQ(seq->at<nn::Linear>(1)->weight.to_vector<double>(), w0);
}

TEST(NnStateDict, StrictLoadNamesMissingAndUnexpectedKeys) {
  auto net = std::make_shared<Net>();
  auto sd = net->state_dict();
  sd.erase(sd.begin() + 3);  // block.fc.weight
  sd.emplace_back("block.fc.extra", na::zeros({1}));
  expect_error(
      [&] { net->load_state_dict(sd); },
      {"[load_state_dict]", "Net", "missing", "\"block.fc.weight\"", "unexpected", "\"block.fc.extra\""});
}

TEST(NnStateDict, NonStrictLoadReportsKeysAndLoadsTheRest) {
  auto a = std::make_shared<Net>();
  auto b = std::make_shared<Net>();
  auto sd = a->state_dict();
  sd.erase(sd.begin());  // block.scale
  sd.emplace_back("stray", na::zeros({2}));
  {
    na::NoGradGuard ng;
    b->block->scale.fill_(5.0);
  }
  auto res = b->load_state_dict(sd, /*strict=*/false);
  EXPECT_EQ(res.missing_keys, std::vector<std::string>{"block.scale"});
  EXPECT_EQ(res.unexpected_keys, std::vector<std::string>{"stray"});
  EXPECT_TRUE(same_values(b->head->weight, a->head->weight));
  EXPECT_EQ(b->block->scale.to_vector<double>(), (std::vector<double>{5.0, 5.0, 5.0}));
}

TEST(NnStateDict, ShapeAndDtypeMismatchesAreErrorsEvenWhenNotStrict) {
  auto net = std::make_shared<Net>();
  auto sd = net->state_dict();
  sd[3].second = na::zeros({3, 2});  // block.fc.weight is (2,3)
  expect_error([&] { net->load_state_dict(sd, false); },
               {"[load_state_dict]", "size mismatch for block.fc.weight", "(3,2)", "(2,3)"});
  sd = net->state_dict();
  sd[5].second = na::zeros({1, 2}, na::kInt64);  // head.weight is float32 (floating dtypes would cast)
  expect_error([&] { net->load_state_dict(sd, false); },
               {"[load_state_dict]", "dtype mismatch for head.weight", "int64", "float32"});
  sd = net->state_dict();
  sd[1].second = Tensor();
  expect_error([&] { net->load_state_dict(sd); }, {"[load_state_dict]", "\"block.count\"", "undefined"});
  sd = net->state_dict();
  sd.push_back(sd[0]);
  expect_error([&] { net->load_state_dict(sd); }, {"[load_state_dict]", "\"block.scale\"", "more than once"});
}

TEST(NnStateDict, FailedLoadLeavesEveryTensorUnchanged) {
  auto target = std::make_shared<Net>();
  auto source = std::make_shared<Net>();
  std::vector<std::vector<double>> before;
  for (auto& [_, t] : target->state_dict()) before.push_back(t.to_vector<double>());
  const uint64_t version = target->head->weight.version();

  // Every key is valid except the last one's shape: nothing may be written.
  auto sd = source->state_dict();
  sd.back().second = na::zeros({7});
  EXPECT_THROW(target->load_state_dict(sd), na::Error);
  // A strict failure on keys alone writes nothing either.
  sd = source->state_dict();
  sd.emplace_back("unexpected", na::zeros({1}));
  EXPECT_THROW(target->load_state_dict(sd), na::Error);

  auto after = target->state_dict();
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i)
    EXPECT_EQ(after[i].second.to_vector<double>(), before[i]) << after[i].first;
  EXPECT_EQ(target->head->weight.version(), version);
}

// ------------------------------------------------------------------ printing

TEST(NnModule, PrintsATorchStyleSummaryWithParameterCounts) {
  auto seq = std::make_shared<nn::Sequential>(
      std::make_shared<nn::Linear>(4, 3), std::make_shared<nn::ReLU>(), std::make_shared<nn::Dropout>(0.25));
  EXPECT_EQ(seq->str(),
            "Sequential(\n"
            "  (0): Linear(in_features=4, out_features=3, bias=true)\n"
            "  (1): ReLU()\n"
            "  (2): Dropout(p=0.25)\n"
            ")\n"
            "Parameters: 15 total, 15 trainable");
  auto mlp = std::make_shared<nn::MLP>(std::vector<int64_t>{4, 2});
  mlp->net->at<nn::Linear>(1)->bias.requires_grad_(false);
  EXPECT_EQ(mlp->str(),
            "MLP(\n"
            "  (net): Sequential(\n"
            "    (0): Flatten(start_dim=1, end_dim=-1)\n"
            "    (1): Linear(in_features=4, out_features=2, bias=true)\n"
            "  )\n"
            ")\n"
            "Parameters: 10 total, 8 trainable, 2 frozen");
  EXPECT_EQ(mlp->num_parameters(), 10);
  EXPECT_EQ(mlp->num_parameters(true), 8);
  nn::LayerNorm ln(std::vector<int64_t>{2, 3});
  EXPECT_EQ(ln.extra_repr(), "(2,3), eps=1e-05, elementwise_affine=true");
}

// ------------------------------------------------------------------ containers

TEST(NnContainers, SequentialChainsForwardAndIndexes) {
  auto l1 = std::make_shared<nn::Linear>(3, 4);
  auto l2 = std::make_shared<nn::Linear>(4, 2);
  nn::Sequential seq{l1, std::make_shared<nn::Tanh>(), l2};
  Tensor x = na::randn({5, 3});
  EXPECT_TRUE(same_values(seq.forward(x), l2->forward(na::tanh(l1->forward(x)))));
  EXPECT_EQ(seq.size(), 3u);
  EXPECT_EQ(seq[-1].get(), l2.get());
  EXPECT_EQ(seq.at<nn::Linear>(0).get(), l1.get());
  int n = 0;
  for (const auto& m : seq) n += m != nullptr;
  EXPECT_EQ(n, 3);
  expect_error([&] { seq.at(3); }, {"[Sequential]", "index 3", "3 module"});
  expect_error([&] { seq.at<nn::Linear>(1); }, {"[Sequential]", "module 1", "Tanh"});
  seq.push_back("named", std::make_shared<nn::Identity>());
  EXPECT_EQ(seq.named_children().back().first, "named");
  expect_error([&] { seq.push_back(std::shared_ptr<nn::ReLU>()); }, {"[Sequential]", "null"});
  // Wrong features in the middle of the chain name the layer that rejected them.
  nn::Sequential bad{std::make_shared<nn::Linear>(3, 4), std::make_shared<nn::Linear>(5, 2)};
  expect_error([&] { bad.forward(x); }, {"[Linear]", "5", "(5,4)"});
}

TEST(NnContainers, ModuleListRegistersAndIterates) {
  nn::ModuleList list;
  for (int i = 0; i < 3; ++i) list.push_back(std::make_shared<nn::Linear>(2, 2));
  list.extend({std::make_shared<nn::ReLU>()});
  EXPECT_EQ(list.size(), 4u);
  EXPECT_EQ(keys_of(list.named_parameters())[4], "2.weight");
  EXPECT_EQ(list.parameters().size(), 6u);
  EXPECT_EQ(list.at<nn::ReLU>(3)->type_name(), "ReLU");
  expect_error([&] { list.at(-5); }, {"[ModuleList]", "index -5"});
}

TEST(NnContainers, ModuleDictKeepsInsertionOrder) {
  nn::ModuleDict dict;
  dict.insert("encoder", std::make_shared<nn::Linear>(2, 3));
  dict.insert("act", std::make_shared<nn::GELU>());
  dict.insert("decoder", std::make_shared<nn::Linear>(3, 2));
  EXPECT_EQ(dict.keys(), (std::vector<std::string>{"encoder", "act", "decoder"}));
  EXPECT_TRUE(dict.contains("act"));
  EXPECT_EQ(keys_of(dict.named_parameters())[2], "decoder.weight");
  EXPECT_EQ(dict.at<nn::Linear>("decoder")->in_features, 3);
  expect_error([&] { dict.at("nope"); }, {"[ModuleDict]", "'nope'", "'encoder', 'act', 'decoder'"});
  expect_error([&] { dict.insert("act", std::make_shared<nn::ReLU>()); },
               {"[ModuleDict]", "'act'", "already"});
}

// ------------------------------------------------------------------ init

TEST(NnInit, LinearDefaultInitMatchesTorchBounds) {
  na::manual_seed(7);
  nn::Linear lin(64, 256);
  const double bound = 1.0 / std::sqrt(64.0);
  double wmax = 0.0, bmax = 0.0, wsum = 0.0;
  for (double v : lin.weight.to_vector<double>()) {
    EXPECT_LE(std::abs(v), bound);
    wmax = std::max(wmax, std::abs(v));
    wsum += v;
  }
  for (double v : lin.bias.to_vector<double>()) {
    EXPECT_LE(std::abs(v), bound);
    bmax = std::max(bmax, std::abs(v));
  }
  // 16384 uniform draws reach within 1% of the bound and average near zero.
  EXPECT_GT(wmax, 0.99 * bound);
  EXPECT_GT(bmax, 0.9 * bound);
  EXPECT_LT(std::abs(wsum / 16384.0), 0.01 * bound * 5);
  EXPECT_TRUE(lin.weight.is_leaf());
  EXPECT_EQ(lin.weight.grad_fn(), nullptr);
}

TEST(NnInit, KaimingAndXavierUseTheirFans) {
  Tensor w = na::empty({10, 4, 3, 3});  // fan_in 36, fan_out 90
  auto [fi, fo] = nn::init::calculate_fan_in_and_fan_out(w);
  EXPECT_EQ(fi, 36);
  EXPECT_EQ(fo, 90);
  auto max_abs = [](const Tensor& t) {
    double m = 0.0;
    for (double v : t.to_vector<double>()) m = std::max(m, std::abs(v));
    return m;
  };
  nn::init::kaiming_uniform_(w, 0.0, "fan_in", "relu");
  EXPECT_LE(max_abs(w), std::sqrt(2.0) * std::sqrt(3.0 / 36.0));
  EXPECT_GT(max_abs(w), 0.95 * std::sqrt(2.0) * std::sqrt(3.0 / 36.0));
  nn::init::kaiming_uniform_(w, 0.0, "fan_out", "relu");
  EXPECT_LE(max_abs(w), std::sqrt(2.0) * std::sqrt(3.0 / 90.0));
  nn::init::xavier_uniform_(w, 2.0);
  EXPECT_LE(max_abs(w), 2.0 * std::sqrt(6.0 / 126.0));
  EXPECT_GT(max_abs(w), 0.95 * 2.0 * std::sqrt(6.0 / 126.0));
  EXPECT_DOUBLE_EQ(nn::init::calculate_gain("tanh"), 5.0 / 3.0);
  EXPECT_DOUBLE_EQ(nn::init::calculate_gain("leaky_relu", std::sqrt(5.0)), std::sqrt(1.0 / 3.0));
  expect_error([&] { nn::init::calculate_gain("swoosh"); }, {"[calculate_gain]", "'swoosh'"});
  expect_error([&] { nn::init::xavier_uniform_(na::empty({5})); }, {"[init]", "(5,)"});
  expect_error([&] { nn::init::kaiming_uniform_(w, 0.0, "fan_mid"); }, {"[kaiming_uniform_]", "'fan_mid'"});
}

TEST(NnInit, NormalAndTruncNormalStatistics) {
  na::Generator gen(3);
  Tensor t = na::empty({20000}, na::kFloat64);
  nn::init::normal_(t, 2.0, 0.5, &gen);
  EXPECT_NEAR(na::mean(t).item(), 2.0, 0.02);
  EXPECT_NEAR(na::std(t).item(), 0.5, 0.02);
  nn::init::trunc_normal_(t, 0.0, 1.0, -0.5, 1.0, &gen);
  EXPECT_GE(na::min(t).item(), -0.5);
  EXPECT_LE(na::max(t).item(), 1.0);
  nn::init::constant_(t, 0.25);
  EXPECT_EQ(na::max(t).item(), 0.25);
  EXPECT_EQ(na::min(t).item(), 0.25);
}

TEST(NnInit, SameGeneratorStateGivesSameWeights) {
  na::Generator g1(11), g2(11);
  Tensor a = na::empty({3, 4}), b = na::empty({3, 4});
  nn::init::kaiming_uniform_(a, std::sqrt(5.0), "fan_in", "leaky_relu", &g1);
  nn::init::kaiming_uniform_(b, std::sqrt(5.0), "fan_in", "leaky_relu", &g2);
  EXPECT_TRUE(same_values(a, b));
  na::manual_seed(5);
  nn::Linear l1(3, 3);
  na::manual_seed(5);
  nn::Linear l2(3, 3);
  EXPECT_TRUE(same_values(l1.weight, l2.weight));
  EXPECT_TRUE(same_values(l1.bias, l2.bias));
}

TEST(NnInit, InitialisesAParameterThatRequiresGradWithoutRecording) {
  nn::Linear lin(3, 2);
  nn::init::ones_(lin.weight);
  EXPECT_TRUE(lin.weight.is_leaf());
  EXPECT_TRUE(lin.weight.requires_grad());
  EXPECT_EQ(lin.weight.to_vector<double>(), std::vector<double>(6, 1.0));
  expect_error([&] { nn::init::zeros_(na::zeros({2}, na::kInt64)); }, {"[constant_]", "int64"});
}

}  // namespace
