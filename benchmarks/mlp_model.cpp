#include "mlp_model.hpp"

#include <stdexcept>

#include "bench_util.hpp"
#include "neural_arch/nn/activation.hpp"
#include "neural_arch/nn/linear.hpp"
#include "neural_arch/ops.hpp"
#include "neural_arch/random.hpp"

namespace na = neural_arch;

namespace na_bench {

MlpModel::MlpModel(const MlpShape& s, uint64_t seed) : shape(s), net(std::make_shared<na::nn::Sequential>()) {
  na::manual_seed(seed);
  for (int64_t i = 0; i < s.layers; ++i) {
    net->push_back(std::make_shared<na::nn::Linear>(s.width, s.width));
    net->push_back(std::make_shared<na::nn::GELU>());
  }
  opt = std::make_unique<na::optim::AdamW>(net->parameters(), na::optim::AdamWOptions());
  na::Generator gen(seed + 1);
  x = na::randn({s.batch, s.width}, na::kFloat32, &gen);
  y = na::randn({s.batch, s.width}, na::kFloat32, &gen);
}

size_t MlpModel::param_bytes() const {
  size_t n = 0;
  for (const auto& p : net->parameters()) n += static_cast<size_t>(p.numel()) * p.element_size();
  return n;
}

#ifdef NA_HAVE_LIBTORCH
TorchMlpModel::TorchMlpModel(const MlpModel& m) {
  for (int64_t i = 0; i < m.shape.layers; ++i) {
    net->push_back(torch::nn::Linear(m.shape.width, m.shape.width));
    net->push_back(torch::nn::GELU());
  }
  const auto ours = m.net->parameters();
  auto theirs = net->parameters();
  if (ours.size() != theirs.size()) throw std::runtime_error("parameter lists differ between the two models");
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < ours.size(); ++i) theirs[i].copy_(to_torch(ours[i].detach()));
  }
  opt = std::make_unique<torch::optim::AdamW>(theirs, torch::optim::AdamWOptions(1e-3));
  x = to_torch(m.x);
  if (m.y.defined()) y = to_torch(m.y);
}
#endif

}  // namespace na_bench
