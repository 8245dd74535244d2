// DistributedDataParallel: data-parallel training of any nn::Module over a ProcessGroup, with
// gradients averaged by bucketed all-reduces that overlap the rest of backward.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "neural_arch/distributed/process_group.hpp"
#include "neural_arch/nn/module.hpp"

namespace neural_arch::distributed {

/// Options of DistributedDataParallel (PyTorch's names and defaults).
struct DDPOptions {
  /// A bucket is all-reduced once this many bytes of gradients are in it.
  double bucket_cap_mb = 25;
  /// forward() first broadcasts rank 0's buffers (e.g. BatchNorm running statistics).
  bool broadcast_buffers = true;
  /// The group to average over; nullptr = the default group.
  ProcessGroup* process_group = nullptr;
};

/// Wraps a module replicated on every rank: the constructor broadcasts rank 0's parameters and
/// buffers; each backward then leaves on every rank the gradient averaged over the ranks, as if
/// one process had run the whole global batch (each rank's loss being the mean over its share).
///
/// Parameters are grouped into buckets of about bucket_cap_mb, in reverse registration order
/// (roughly the order backward produces their gradients). A hook on each parameter's gradient
/// accumulation copies the gradient into its bucket; when a bucket is full its all-reduce
/// starts on the backend's communication thread while backward goes on. At the end of backward
/// (autograd::queue_callback) the averaged buckets are waited for and written to the .grad of
/// every parameter, so any optimizer, GradScaler (unscale_ after backward) and gradient
/// clipping see synchronized gradients. Buckets are started in a fixed order on every rank.
/// Every parameter that requires grad must get a gradient in each synchronized backward.
///
///   na::distributed::init_process_group("mpi");
///   auto ddp = std::make_shared<na::distributed::DistributedDataParallel>(model);
///   optim::SGD opt(ddp->parameters(), ...);
///   auto loss = loss_fn(ddp->forward(x_local), y_local);
///   opt.zero_grad(); loss.backward(); opt.step();
///   { auto guard = ddp->no_sync(); loss2.backward(); }   // accumulate locally, no all-reduce
class DistributedDataParallel : public nn::Module {
 public:
  explicit DistributedDataParallel(std::shared_ptr<nn::Module> module, DDPOptions options = {});
  ~DistributedDataParallel() override;

  /// Broadcasts buffers (when broadcast_buffers) and runs the wrapped module's forward. Modules
  /// with another forward signature are called through module() after sync_buffers().
  Tensor forward(const Tensor& x) override;
  const std::shared_ptr<nn::Module>& module() const { return module_; }
  /// Copies rank 0's buffers to every rank.
  void sync_buffers();

  /// While the returned guard lives, backward only accumulates local gradients; the first
  /// backward after it averages the accumulated sums (torch's no_sync()).
  class NoSyncGuard {
   public:
    explicit NoSyncGuard(DistributedDataParallel& ddp);
    ~NoSyncGuard();
    NoSyncGuard(const NoSyncGuard&) = delete;
    NoSyncGuard& operator=(const NoSyncGuard&) = delete;

   private:
    DistributedDataParallel& ddp_;
    bool prev_;
  };
  [[nodiscard]] NoSyncGuard no_sync() { return NoSyncGuard(*this); }

  /// Number of gradient buckets and the parameter indices (into module()->parameters()) of each.
  std::vector<std::vector<size_t>> bucket_assignment() const;

  /// Seconds the last synchronized backward spent blocked at its end waiting for its
  /// all-reduces: the part of communication that backward did not hide.
  double last_wait_seconds() const;

  struct Reducer;  // internal

 private:
  std::shared_ptr<nn::Module> module_;
  DDPOptions options_;
  std::shared_ptr<Reducer> reducer_;
};

}  // namespace neural_arch::distributed
