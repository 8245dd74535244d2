// DistributedSampler: each rank's share of a dataset for one epoch (torch's DistributedSampler).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "neural_arch/data/dataset.hpp"

namespace neural_arch::distributed {

/// Splits the indices 0..N-1 of a dataset among num_replicas ranks. With shuffle, the order is
/// a permutation drawn from seed + epoch (the same on every rank, so the shares never
/// overlap); set_epoch() before each epoch gives a new one. Without drop_last the order is
/// padded by repeating its start until it divides evenly, so every rank gets the same number
/// of examples (and of batches); with drop_last the tail is cut instead. Rank r takes the
/// elements r, r + num_replicas, r + 2 num_replicas, ... of the order.
///
/// dataset() is a Dataset view of this rank's share in the current epoch, for a DataLoader
/// (without its own shuffle):
///
///   auto sampler = std::make_shared<DistributedSampler>(train_set, get_world_size(), get_rank());
///   data::DataLoader loader(sampler->dataset(), data::DataLoaderOptions().batch_size(b));
///   for (int epoch = 0; ...) { sampler->set_epoch(epoch); for (auto& batch : loader) ... }
class DistributedSampler : public std::enable_shared_from_this<DistributedSampler> {
 public:
  DistributedSampler(std::shared_ptr<const data::Dataset> dataset, int num_replicas, int rank,
                     bool shuffle = true, uint64_t seed = 0, bool drop_last = false);
  /// Selects the epoch whose order indices() returns. Not while a DataLoader epoch runs.
  void set_epoch(uint64_t epoch);
  uint64_t epoch() const { return epoch_; }
  /// This rank's dataset indices for the current epoch (num_samples() of them).
  const std::vector<int64_t>& indices() const { return indices_; }
  int64_t num_samples() const { return num_samples_; }
  /// num_samples() * num_replicas: the padded (or cut) epoch length over all ranks.
  int64_t total_size() const { return num_samples_ * num_replicas_; }
  /// This rank's share as a Dataset: example i is the base dataset's example indices()[i].
  std::shared_ptr<const data::Dataset> dataset();

 private:
  void draw();
  std::shared_ptr<const data::Dataset> base_;
  int num_replicas_, rank_;
  bool shuffle_;
  uint64_t seed_;
  bool drop_last_;
  uint64_t epoch_ = 0;
  int64_t num_samples_ = 0;
  std::vector<int64_t> indices_;
};

}  // namespace neural_arch::distributed
