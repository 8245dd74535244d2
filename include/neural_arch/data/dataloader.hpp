// DataLoader: batches of a Dataset in sequential or seeded-shuffled order, optionally
// prepared one batch ahead on a background thread.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "neural_arch/data/dataset.hpp"
#include "neural_arch/random.hpp"

namespace neural_arch::data {

/// DataLoader options (chained setters): batch_size 1, no shuffle, seed 0, keep the last
/// short batch, no prefetch — PyTorch's defaults.
struct DataLoaderOptions {
  int64_t batch_size_ = 1;
  bool shuffle_ = false;
  uint64_t seed_ = 0;
  bool drop_last_ = false;
  bool prefetch_ = false;
  DataLoaderOptions& batch_size(int64_t v) {
    batch_size_ = v;
    return *this;
  }
  DataLoaderOptions& shuffle(bool v = true) {
    shuffle_ = v;
    return *this;
  }
  DataLoaderOptions& seed(uint64_t v) {
    seed_ = v;
    return *this;
  }
  DataLoaderOptions& drop_last(bool v = true) {
    drop_last_ = v;
    return *this;
  }
  DataLoaderOptions& prefetch(bool v = true) {
    prefetch_ = v;
    return *this;
  }
};

/// Iterating a DataLoader runs one epoch: each begin() draws a new order (a permutation
/// from the loader's own Generator, seeded with options.seed, when shuffling) and yields
/// batches made by Dataset::get_batch. The sequence of epochs is a pure function of the
/// seed, and of generator() state for a resumed run: at an epoch boundary save
/// generator().get_state() and set_state() it on resume; in the middle of an epoch save
/// epoch_start_state() and the next batch's index, and on resume set the generator to that
/// state and call begin_at(index) (io::training_checkpoint does both).
///
/// With prefetch, one background thread builds the next batch while the caller works on
/// the current one; it runs with a single OpenMP thread so it never competes with the
/// training threads' team. Errors thrown by the dataset come out of the iterator at the
/// batch that caused them. Only one epoch runs at a time: begin() ends the previous one,
/// and using an iterator of an ended epoch is an Error.
///
///   data::DataLoader loader(std::make_shared<data::TensorDataset>(x, y),
///                           data::DataLoaderOptions().batch_size(64).shuffle().seed(1));
///   for (int epoch = 0; epoch < 3; ++epoch)
///     for (const data::Example& batch : loader) train_step(batch.data, batch.target);
class DataLoader {
 public:
  DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options = {});
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  class Iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Example;
    using difference_type = std::ptrdiff_t;
    using pointer = const Example*;
    using reference = const Example&;
    Iterator() = default;
    const Example& operator*() const { return current_; }
    const Example* operator->() const { return &current_; }
    Iterator& operator++();
    bool operator==(const Iterator& o) const { return index_ == o.index_; }
    /// Index of the current batch within the epoch.
    int64_t index() const { return index_; }

   private:
    friend class DataLoader;
    DataLoader* loader_ = nullptr;
    uint64_t epoch_ = 0;
    int64_t index_ = 0;
    Example current_;
  };

  /// Starts a new epoch and returns its first batch.
  Iterator begin();
  /// Starts a new epoch like begin() (drawing the same order) but at batch `first`, for
  /// resuming in the middle of an epoch; first == num_batches() gives end().
  Iterator begin_at(int64_t first);
  Iterator end();

  /// Batches per epoch: ceil(size / batch_size), or floor with drop_last.
  int64_t num_batches() const;
  /// The example order of the current (last started) epoch.
  const std::vector<int64_t>& order() const { return order_; }
  /// Draws the shuffle orders; its state determines every following epoch.
  Generator& generator() { return gen_; }
  /// generator() state from just before the current epoch drew its order ("" before the
  /// first epoch): restoring it and calling begin_at() redraws the same order.
  const std::string& epoch_start_state() const { return epoch_start_state_; }
  const Dataset& dataset() const { return *dataset_; }
  const DataLoaderOptions& options() const { return opt_; }

 private:
  Example make_batch(int64_t b) const;
  Example fetch(uint64_t epoch, int64_t b);
  void stop_worker();
  void start_worker(int64_t first);
  void worker_loop(int64_t first, int64_t nb);

  std::shared_ptr<const Dataset> dataset_;
  DataLoaderOptions opt_;
  Generator gen_;
  std::vector<int64_t> order_;
  std::string epoch_start_state_;
  uint64_t epoch_ = 0;

  // Prefetch state: the worker fills `ready_` (at most one batch ahead) in batch order.
  struct Slot {
    int64_t index;
    Example batch;
    std::exception_ptr error;
  };
  std::thread worker_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Slot> ready_;
  bool stop_ = false;
  bool worker_done_ = false;
};

}  // namespace neural_arch::data
