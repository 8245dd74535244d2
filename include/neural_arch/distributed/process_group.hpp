// Process groups and collectives (torch.distributed's c10d shape): a ProcessGroup interface
// whose collectives return Work handles, one implementation per backend (src/distributed/mpi/
// today; an NCCL backend would be another subclass), and free functions acting on the default
// group that init_process_group() creates.
#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "neural_arch/tensor.hpp"

namespace neural_arch::distributed {

/// The reduction of all_reduce / reduce_scatter. avg is sum divided by the world size.
/// f16 and bf16 tensors are reduced in f32 and rounded once at the end.
enum class ReduceOp { sum, avg, max, min };
const char* reduce_op_name(ReduceOp op);

/// A collective in flight. wait() blocks until it has finished on this rank and its result is
/// in the output tensors, or throws neural_arch::Error: the ranks disagreed on the tensors'
/// metadata, the backend failed, or the group's timeout passed (a peer that died or never
/// called the same collective). After a timeout the group is broken: every later collective
/// throws at once, and the process should end (see ProcessGroup::timeout()).
class Work {
 public:
  virtual ~Work() = default;
  /// True once the collective has finished (successfully or not); never blocks.
  virtual bool is_completed() = 0;
  /// Blocks until done (bounded by the group's timeout); throws the collective's error.
  virtual void wait() = 0;
};
using WorkPtr = std::shared_ptr<Work>;

/// Collectives over a fixed set of ranks. Every rank must issue the same collectives in the
/// same order with tensors of the same dtype and shape (metadata is exchanged first, so a
/// mismatch is an Error on every rank, not a hang). Tensors may be any floating dtype and any
/// layout; results are written in place (into `tensor` or `output`). A collective issued
/// asynchronously runs on the backend's communication thread while the caller goes on; the
/// tensors must not be touched until wait() returns.
class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend_name() const = 0;

  /// How long wait() waits for a collective before it throws and breaks the group.
  virtual std::chrono::milliseconds timeout() const = 0;
  virtual void set_timeout(std::chrono::milliseconds timeout) = 0;

  virtual WorkPtr barrier() = 0;
  /// tensor <- op over every rank's tensor.
  virtual WorkPtr all_reduce(const Tensor& tensor, ReduceOp op) = 0;
  /// tensor <- root's tensor.
  virtual WorkPtr broadcast(const Tensor& tensor, int root) = 0;
  /// output (shape (size()*d0, d1, ...)) <- the ranks' inputs (shape (d0, d1, ...)) stacked
  /// along dim 0 in rank order (torch's all_gather_into_tensor).
  virtual WorkPtr all_gather(const Tensor& output, const Tensor& input) = 0;
  /// output (shape (d0, ...)) <- op over the ranks' inputs (shape (size()*d0, ...)), block
  /// rank() of the result (torch's reduce_scatter_tensor).
  virtual WorkPtr reduce_scatter(const Tensor& output, const Tensor& input, ReduceOp op) = 0;
};

/// Options of init_process_group. The timeout defaults to NA_DIST_TIMEOUT_S seconds when that
/// variable is set, else 30 minutes (PyTorch's default).
struct InitOptions {
  std::chrono::milliseconds timeout{0};  // 0: the default above
};

/// Creates the default group. backend "mpi": rank and world size come from the MPI launcher
/// (mpirun -np N prog); a program started without mpirun is a group of one. Throws Error for
/// an unknown backend, one not built in, or when a default group exists already.
void init_process_group(const std::string& backend = "mpi", InitOptions options = {});
/// Ends the default group (waits for its pending collectives; MPI is finalized if this
/// library initialized it). Calling it without a group does nothing.
void destroy_process_group();
bool is_initialized();
/// The default group; throws Error when init_process_group has not been called.
ProcessGroup& default_group();
/// The rank of this process / number of processes in the default group.
int get_rank();
int get_world_size();

/// Collectives on the default group: synchronous unless async_op, which returns the Work
/// (synchronous calls return nullptr after waiting).
WorkPtr barrier(bool async_op = false);
WorkPtr all_reduce(const Tensor& tensor, ReduceOp op = ReduceOp::sum, bool async_op = false);
WorkPtr broadcast(const Tensor& tensor, int root = 0, bool async_op = false);
WorkPtr all_gather(const Tensor& output, const Tensor& input, bool async_op = false);
/// Vector form: returns size() tensors, element r being rank r's input.
std::vector<Tensor> all_gather(const Tensor& input);
WorkPtr reduce_scatter(const Tensor& output, const Tensor& input, ReduceOp op = ReduceOp::sum,
                       bool async_op = false);

}  // namespace neural_arch::distributed
