#include "neural_arch/distributed/sampler.hpp"

#include <numeric>

#include "data/random_index.hpp"

namespace neural_arch::distributed {

namespace {
// The sampler's share of the base dataset; reads the sampler's current indices.
class ShardDataset : public data::Dataset {
 public:
  ShardDataset(std::shared_ptr<const DistributedSampler> sampler, std::shared_ptr<const data::Dataset> base)
      : sampler_(std::move(sampler)), base_(std::move(base)) {}
  int64_t size() const override { return sampler_->num_samples(); }
  data::Example get(int64_t index) const override { return base_->get(map(index)); }
  data::Example get_batch(const std::vector<int64_t>& indices) const override {
    std::vector<int64_t> mapped;
    mapped.reserve(indices.size());
    for (int64_t i : indices) mapped.push_back(map(i));
    return base_->get_batch(mapped);
  }

 private:
  int64_t map(int64_t i) const {
    NA_CHECK(i >= 0 && i < size(), "DistributedSampler", "index ", i, " is out of range for a share of ",
             size(), " examples");
    return sampler_->indices()[static_cast<size_t>(i)];
  }
  std::shared_ptr<const DistributedSampler> sampler_;
  std::shared_ptr<const data::Dataset> base_;
};
}  // namespace

DistributedSampler::DistributedSampler(std::shared_ptr<const data::Dataset> dataset, int num_replicas,
                                       int rank, bool shuffle, uint64_t seed, bool drop_last)
    : base_(std::move(dataset)),
      num_replicas_(num_replicas),
      rank_(rank),
      shuffle_(shuffle),
      seed_(seed),
      drop_last_(drop_last) {
  NA_CHECK(base_ != nullptr, "DistributedSampler", "the dataset is null");
  NA_CHECK(num_replicas >= 1, "DistributedSampler", "num_replicas must be at least 1, got ", num_replicas);
  NA_CHECK(rank >= 0 && rank < num_replicas, "DistributedSampler", "rank ", rank,
           " is not in [0, num_replicas = ", num_replicas, ")");
  const int64_t n = base_->size();
  num_samples_ = drop_last_ ? n / num_replicas_ : (n + num_replicas_ - 1) / num_replicas_;
  draw();
}

void DistributedSampler::set_epoch(uint64_t epoch) {
  epoch_ = epoch;
  draw();
}

void DistributedSampler::draw() {
  std::vector<int64_t> order(static_cast<size_t>(base_->size()));
  std::iota(order.begin(), order.end(), int64_t{0});
  if (shuffle_) {
    std::mt19937_64 engine(seed_ + epoch_);
    data::detail::shuffle(order, engine);
  }
  const size_t total = static_cast<size_t>(total_size());
  if (order.size() > total) {
    order.resize(total);
  } else if (!order.empty()) {
    for (size_t i = 0; order.size() < total; ++i) order.push_back(order[i]);  // pad with the start
  }
  indices_.clear();
  for (size_t k = static_cast<size_t>(rank_); k < order.size(); k += static_cast<size_t>(num_replicas_))
    indices_.push_back(order[k]);
}

std::shared_ptr<const data::Dataset> DistributedSampler::dataset() {
  return std::make_shared<ShardDataset>(shared_from_this(), base_);
}

}  // namespace neural_arch::distributed
