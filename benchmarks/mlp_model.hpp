// The benchmarks' MLP: `layers` x (Linear(width, width) + GELU) as one nn::Sequential with
// AdamW (PyTorch's defaults), a fixed input batch and regression target; and the same model in
// libtorch, started from the same parameters and data. bench_train, bench_amp and
// memory_optimization_benchmark all measure this model, so their train/mlp32x1024_b256 rows
// are one workload (each program times its own step: phases, autocast, checkpointing).
#pragma once
#include <cstdint>
#include <memory>

#include "neural_arch/nn/containers.hpp"
#include "neural_arch/optim/adam.hpp"
#include "neural_arch/tensor.hpp"

#ifdef NA_HAVE_LIBTORCH
#include <ATen/ATen.h>
#include <torch/nn.h>
#include <torch/optim.h>
#endif

namespace na_bench {

struct MlpShape {
  int64_t layers = 32, width = 1024, batch = 256;
  /// GEMM flops of one training step: forward, grad-input and grad-weight per layer.
  double step_gemm_flops() const {
    return 6.0 * double(batch) * double(width) * double(width) * double(layers);
  }
};

struct MlpModel {
  /// Parameters from manual_seed(seed) (nn::Linear's default init), x and y from randn with a
  /// generator seeded seed + 1.
  MlpModel(const MlpShape& shape, uint64_t seed);
  MlpShape shape;
  std::shared_ptr<neural_arch::nn::Sequential> net;
  std::unique_ptr<neural_arch::optim::AdamW> opt;
  neural_arch::Tensor x, y;  // batch x width each
  /// Bytes of all parameters (f32).
  size_t param_bytes() const;
};

#ifdef NA_HAVE_LIBTORCH
struct TorchMlpModel {
  /// The same layers with m's current parameters, x and y (when defined) copied;
  /// torch::optim::AdamW(lr 1e-3).
  explicit TorchMlpModel(const MlpModel& m);
  torch::nn::Sequential net;
  std::unique_ptr<torch::optim::AdamW> opt;
  at::Tensor x, y;
};
#endif

}  // namespace na_bench
