// Internal: the communication thread a CPU backend runs its collectives on, and the Work
// handle those collectives return. Backend-neutral: a backend enqueues a job (a function that
// does the blocking library calls) and gets a Work that wait()s for it with the group's timeout.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "neural_arch/distributed/process_group.hpp"

namespace neural_arch::distributed::detail {

class CommQueue;

/// A collective queued on a CommQueue. The job runs on the communication thread; `finish`
/// (copying a staging buffer back, dividing for avg) runs once on the thread that waits, after
/// the job succeeded, so no tensor op ever runs on the communication thread.
class QueuedWork : public Work {
 public:
  QueuedWork(CommQueue* queue, std::string op) : queue_(queue), op_(std::move(op)) {}
  bool is_completed() override;
  void wait() override;

 private:
  friend class CommQueue;
  CommQueue* queue_;
  std::string op_;
  std::function<void()> job_;
  std::function<void()> finish_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  bool finished_ = false;
  std::exception_ptr error_;
};

/// One thread running queued jobs in order (every rank enqueues the same collectives in the
/// same order, so the blocking calls pair up across ranks).
class CommQueue {
 public:
  /// `describe` names this rank in error messages, e.g. "rank 1 of 2".
  CommQueue(std::string describe, std::chrono::milliseconds timeout);
  ~CommQueue();
  CommQueue(const CommQueue&) = delete;
  CommQueue& operator=(const CommQueue&) = delete;

  /// Queues job (run on the communication thread; throwing fails the Work) and finish (run by
  /// the first successful wait()). Throws Error at once when the queue is broken.
  std::shared_ptr<QueuedWork> enqueue(const std::string& op, std::function<void()> job,
                                      std::function<void()> finish = {});
  /// Waits up to the timeout for every queued job to end; false if one is still running.
  bool drain(std::chrono::milliseconds limit);
  /// Stops and joins the thread once the queue has drained (within the timeout, or 1 s when
  /// broken). Returns false, leaving the thread running, when a job is stuck in a blocking call
  /// (a dead peer): the owner must then leak this queue, and the process is expected to end.
  bool shutdown();

  std::chrono::milliseconds timeout() const { return std::chrono::milliseconds(timeout_ms_.load()); }
  void set_timeout(std::chrono::milliseconds t);
  bool broken() const { return broken_.load(); }
  void mark_broken() { broken_.store(true); }
  const std::string& describe() const { return describe_; }

 private:
  void loop();
  std::string describe_;
  std::atomic<int64_t> timeout_ms_;
  std::atomic<bool> broken_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::deque<std::shared_ptr<QueuedWork>> jobs_;
  bool running_job_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace neural_arch::distributed::detail
