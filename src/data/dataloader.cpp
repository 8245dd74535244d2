#include "neural_arch/data/dataloader.hpp"

#include <omp.h>

#include <algorithm>
#include <numeric>

#include "data/random_index.hpp"

namespace neural_arch::data {

namespace {
constexpr const char* kOp = "DataLoader";
// How many finished batches the worker may hold: one, the batch after the current one.
constexpr size_t kPrefetchDepth = 1;
}  // namespace

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options)
    : dataset_(std::move(dataset)), opt_(options), gen_(options.seed_) {
  NA_CHECK(dataset_ != nullptr, kOp, "dataset is null");
  NA_CHECK(opt_.batch_size_ > 0, kOp, "batch_size must be positive, got ", opt_.batch_size_);
}

DataLoader::~DataLoader() { stop_worker(); }

int64_t DataLoader::num_batches() const {
  const int64_t n = dataset_->size();
  return opt_.drop_last_ ? n / opt_.batch_size_ : (n + opt_.batch_size_ - 1) / opt_.batch_size_;
}

DataLoader::Iterator DataLoader::begin() { return begin_at(0); }

DataLoader::Iterator DataLoader::begin_at(int64_t first) {
  NA_CHECK(first >= 0 && first <= num_batches(), kOp, "begin_at(", first, ") is outside the epoch's ",
           num_batches(), " batches");
  stop_worker();
  ++epoch_;
  epoch_start_state_ = gen_.get_state();
  const int64_t n = dataset_->size();
  NA_CHECK(n >= 0, kOp, "dataset reports a negative size ", n);
  order_.resize(static_cast<size_t>(n));
  std::iota(order_.begin(), order_.end(), int64_t{0});
  if (opt_.shuffle_) detail::shuffle(order_, gen_.engine());
  if (opt_.prefetch_ && first < num_batches()) start_worker(first);

  Iterator it;
  it.loader_ = this;
  it.epoch_ = epoch_;
  it.index_ = first;
  if (first < num_batches()) it.current_ = fetch(epoch_, first);
  return it;
}

DataLoader::Iterator DataLoader::end() {
  Iterator it;
  it.loader_ = this;
  it.epoch_ = epoch_;
  it.index_ = num_batches();
  return it;
}

DataLoader::Iterator& DataLoader::Iterator::operator++() {
  NA_CHECK(loader_ != nullptr, kOp, "increment of a default-constructed iterator");
  NA_CHECK(index_ < loader_->num_batches(), kOp, "increment past the end of the epoch");
  ++index_;
  current_ = index_ < loader_->num_batches() ? loader_->fetch(epoch_, index_) : Example{};
  return *this;
}

Example DataLoader::make_batch(int64_t b) const {
  const int64_t n = static_cast<int64_t>(order_.size());
  const int64_t lo = b * opt_.batch_size_, hi = std::min(n, lo + opt_.batch_size_);
  std::vector<int64_t> idx(order_.begin() + lo, order_.begin() + hi);
  return dataset_->get_batch(idx);
}

Example DataLoader::fetch(uint64_t epoch, int64_t b) {
  NA_CHECK(epoch == epoch_, kOp, "iterator belongs to an epoch that has ended (begin() was called again)");
  if (!worker_.joinable()) return make_batch(b);
  Slot slot;
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !ready_.empty() || worker_done_; });
    // The worker stops early only after handing over a failed batch, which was rethrown.
    NA_CHECK(!ready_.empty(), kOp, "batch ", b, " is unavailable: an earlier batch of this epoch failed");
    slot = std::move(ready_.front());
    ready_.pop_front();
  }
  cv_.notify_all();
  NA_CHECK(slot.index == b, kOp, "internal error: prefetched batch ", slot.index, " where ", b,
           " was expected");
  if (slot.error) std::rethrow_exception(slot.error);
  return std::move(slot.batch);
}

void DataLoader::start_worker(int64_t first) {
  stop_ = false;
  worker_done_ = false;
  ready_.clear();
  worker_ = std::thread([this, first, nb = num_batches()] { worker_loop(first, nb); });
}

void DataLoader::stop_worker() {
  if (!worker_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  worker_.join();
  ready_.clear();
}

void DataLoader::worker_loop(int64_t first, int64_t nb) {
  // Any op a dataset runs here stays on this thread: the training threads own the cores.
  omp_set_num_threads(1);
  struct Done {
    DataLoader* self;
    ~Done() {
      {
        std::lock_guard lock(self->mu_);
        self->worker_done_ = true;
      }
      self->cv_.notify_all();
    }
  } done{this};
  for (int64_t b = first; b < nb; ++b) {
    Slot slot{b, {}, nullptr};
    try {
      slot.batch = make_batch(b);
    } catch (...) {
      slot.error = std::current_exception();
    }
    const bool failed = slot.error != nullptr;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || ready_.size() < kPrefetchDepth; });
      if (stop_) return;
      ready_.push_back(std::move(slot));
    }
    cv_.notify_all();
    if (failed) return;
  }
}

}  // namespace neural_arch::data
