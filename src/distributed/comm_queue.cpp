#include "distributed/comm_queue.hpp"

#include "neural_arch/error.hpp"

namespace neural_arch::distributed::detail {

bool QueuedWork::is_completed() {
  std::lock_guard<std::mutex> lock(mu_);
  return done_;
}

void QueuedWork::wait() {
  std::unique_lock<std::mutex> lock(mu_);
  const auto limit = queue_->timeout();
  if (!cv_.wait_for(lock, limit, [&] { return done_; })) {
    queue_->mark_broken();
    neural_arch::detail::throw_error(
        op_.c_str(), "timed out after ", limit.count(), " ms on ", queue_->describe(),
        ": a peer rank died, is stuck, or did not call the same collective. The process "
        "group is unusable from now on; end the process (set the timeout with "
        "InitOptions::timeout, ProcessGroup::set_timeout or NA_DIST_TIMEOUT_S)");
  }
  if (error_) std::rethrow_exception(error_);
  if (!finished_) {
    finished_ = true;
    if (finish_) finish_();
  }
}

CommQueue::CommQueue(std::string describe, std::chrono::milliseconds timeout)
    : describe_(std::move(describe)), timeout_ms_(timeout.count()) {
  thread_ = std::thread([this] { loop(); });
}

CommQueue::~CommQueue() {
  // An owner that saw shutdown() fail leaks the queue instead of destroying it.
  if (thread_.joinable() && !shutdown()) thread_.detach();
}

void CommQueue::set_timeout(std::chrono::milliseconds t) {
  NA_CHECK(t.count() > 0, "set_timeout", "the timeout must be positive, got ", t.count(), " ms");
  timeout_ms_.store(t.count());
}

std::shared_ptr<QueuedWork> CommQueue::enqueue(const std::string& op, std::function<void()> job,
                                               std::function<void()> finish) {
  NA_CHECK(!broken(), op.c_str(), "the process group on ", describe_,
           " is unusable after an earlier collective timed out");
  auto w = std::make_shared<QueuedWork>(this, op);
  w->job_ = std::move(job);
  w->finish_ = std::move(finish);
  {
    std::lock_guard<std::mutex> lock(mu_);
    NA_CHECK(!stop_, op.c_str(), "the process group has been destroyed");
    jobs_.push_back(w);
  }
  cv_.notify_one();
  return w;
}

void CommQueue::loop() {
  for (;;) {
    std::shared_ptr<QueuedWork> w;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stop_ and nothing left
      w = jobs_.front();
      jobs_.pop_front();
      running_job_ = true;
    }
    std::exception_ptr error;
    try {
      w->job_();
    } catch (...) {
      error = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(w->mu_);
      w->error_ = error;
      w->done_ = true;
      w->job_ = nullptr;
    }
    w->cv_.notify_all();
    {
      std::lock_guard<std::mutex> lock(mu_);
      running_job_ = false;
    }
    idle_cv_.notify_all();
  }
}

bool CommQueue::drain(std::chrono::milliseconds limit) {
  std::unique_lock<std::mutex> lock(mu_);
  return idle_cv_.wait_for(lock, limit, [&] { return jobs_.empty() && !running_job_; });
}

bool CommQueue::shutdown() {
  if (!thread_.joinable()) return true;
  if (!drain(broken() ? std::chrono::milliseconds(1000) : timeout())) {
    broken_.store(true);
    return false;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  return true;
}

}  // namespace neural_arch::distributed::detail
