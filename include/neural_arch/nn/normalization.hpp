// Normalization layers: LayerNorm, RMSNorm, GroupNorm, BatchNorm1d, BatchNorm2d.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "neural_arch/nn/module.hpp"

namespace neural_arch::nn {

/// Normalises over the trailing dims normalized_shape, then scales by weight (ones) and shifts
/// by bias (zeros) of that shape when elementwise_affine (torch.nn.LayerNorm).
///
///   auto ln = std::make_shared<na::nn::LayerNorm>(std::vector<int64_t>{128});
class LayerNorm : public Module {
 public:
  explicit LayerNorm(std::vector<int64_t> normalized_shape, double eps = 1e-5,
                     bool elementwise_affine = true);
  explicit LayerNorm(int64_t normalized_size, double eps = 1e-5, bool elementwise_affine = true)
      : LayerNorm(std::vector<int64_t>{normalized_size}, eps, elementwise_affine) {}
  Tensor forward(const Tensor& x) override;
  void reset_parameters();
  std::string extra_repr() const override;

  std::vector<int64_t> normalized_shape;
  double eps;
  bool elementwise_affine;
  Tensor weight, bias;  // undefined without elementwise_affine
};

/// x / sqrt(mean(x^2) + eps) * weight over the trailing dims normalized_shape (torch.nn.RMSNorm).
/// eps defaults to the machine epsilon of the input's dtype.
class RMSNorm : public Module {
 public:
  explicit RMSNorm(std::vector<int64_t> normalized_shape, std::optional<double> eps = std::nullopt,
                   bool elementwise_affine = true);
  explicit RMSNorm(int64_t normalized_size, std::optional<double> eps = std::nullopt,
                   bool elementwise_affine = true)
      : RMSNorm(std::vector<int64_t>{normalized_size}, eps, elementwise_affine) {}
  Tensor forward(const Tensor& x) override;
  void reset_parameters();
  std::string extra_repr() const override;

  std::vector<int64_t> normalized_shape;
  std::optional<double> eps;
  bool elementwise_affine;
  Tensor weight;  // undefined without elementwise_affine
};

/// Input (N, C, *): C channels in num_groups groups, each normalised over its channels and
/// the trailing dims; per-channel affine weight (ones) and bias (zeros) (torch.nn.GroupNorm).
class GroupNorm : public Module {
 public:
  GroupNorm(int64_t num_groups, int64_t num_channels, double eps = 1e-5, bool affine = true);
  Tensor forward(const Tensor& x) override;
  void reset_parameters();
  std::string extra_repr() const override;

  int64_t num_groups, num_channels;
  double eps;
  bool affine;
  Tensor weight, bias;
};

/// Shared by BatchNorm1d/2d: per-channel normalisation with batch statistics in training and
/// running statistics in eval. Buffers running_mean (zeros), running_var (ones) and
/// num_batches_tracked (int64 scalar) when track_running_stats. Each training forward updates
/// running = (1 - momentum) * running + momentum * batch (unbiased variance for running_var);
/// momentum = nullopt uses the cumulative average 1 / num_batches_tracked instead.
class BatchNormBase : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  void reset_running_stats();
  void reset_parameters();
  std::string extra_repr() const override;

  int64_t num_features;
  double eps;
  std::optional<double> momentum;
  bool affine, track_running_stats;
  Tensor weight, bias;                                    // undefined without affine
  Tensor running_mean, running_var, num_batches_tracked;  // undefined without track_running_stats

 protected:
  BatchNormBase(std::string type_name, int64_t num_features, double eps, std::optional<double> momentum,
                bool affine, bool track_running_stats);
  /// Throws naming the layer when x's rank or channel count does not fit.
  virtual void check_input(const Tensor& x) const = 0;
};

/// Input (N, C) or (N, C, L).
class BatchNorm1d : public BatchNormBase {
 public:
  explicit BatchNorm1d(int64_t num_features, double eps = 1e-5, std::optional<double> momentum = 0.1,
                       bool affine = true, bool track_running_stats = true)
      : BatchNormBase("BatchNorm1d", num_features, eps, momentum, affine, track_running_stats) {}

 protected:
  void check_input(const Tensor& x) const override;
};

/// Input (N, C, H, W).
class BatchNorm2d : public BatchNormBase {
 public:
  explicit BatchNorm2d(int64_t num_features, double eps = 1e-5, std::optional<double> momentum = 0.1,
                       bool affine = true, bool track_running_stats = true)
      : BatchNormBase("BatchNorm2d", num_features, eps, momentum, affine, track_running_stats) {}

 protected:
  void check_input(const Tensor& x) const override;
};

}  // namespace neural_arch::nn
