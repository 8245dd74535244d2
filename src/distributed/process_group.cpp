// The default process group and the free collectives acting on it.
#include "neural_arch/distributed/process_group.hpp"

#include <cstdlib>
#include <mutex>

#include "distributed/mpi/process_group_mpi.hpp"
#include "neural_arch/ops.hpp"

namespace neural_arch::distributed {

namespace {
std::mutex group_mu;
std::unique_ptr<ProcessGroup>& group_slot() {
  static std::unique_ptr<ProcessGroup> group;
  return group;
}

std::chrono::milliseconds default_timeout() {
  if (const char* env = std::getenv("NA_DIST_TIMEOUT_S")) {
    char* end = nullptr;
    const double s = std::strtod(env, &end);
    NA_CHECK(end != env && *end == '\0' && s > 0, "init_process_group",
             "NA_DIST_TIMEOUT_S must be a positive number of seconds, got '", env, "'");
    return std::chrono::milliseconds(static_cast<int64_t>(s * 1000.0));
  }
  return std::chrono::minutes(30);
}

WorkPtr finish(WorkPtr w, bool async_op) {
  if (async_op) return w;
  w->wait();
  return nullptr;
}
}  // namespace

const char* reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return "sum";
    case ReduceOp::avg: return "avg";
    case ReduceOp::max: return "max";
    case ReduceOp::min: return "min";
  }
  return "?";
}

void init_process_group(const std::string& backend, InitOptions options) {
  std::lock_guard<std::mutex> lock(group_mu);
  NA_CHECK(!group_slot(), "init_process_group", "the default process group is already initialized");
  const auto timeout = options.timeout.count() > 0 ? options.timeout : default_timeout();
  if (backend == "mpi") {
    group_slot() = std::make_unique<detail::ProcessGroupMPI>(timeout);
    return;
  }
  neural_arch::detail::throw_error("init_process_group", "unknown backend '", backend,
                                   "'; this build has: mpi (nccl would be the GPU backend)");
}

void destroy_process_group() {
  std::lock_guard<std::mutex> lock(group_mu);
  group_slot().reset();
}

bool is_initialized() {
  std::lock_guard<std::mutex> lock(group_mu);
  return group_slot() != nullptr;
}

ProcessGroup& default_group() {
  std::lock_guard<std::mutex> lock(group_mu);
  NA_CHECK(group_slot() != nullptr, "distributed",
           "the default process group is not initialized; call init_process_group first");
  return *group_slot();
}

int get_rank() { return default_group().rank(); }
int get_world_size() { return default_group().size(); }

WorkPtr barrier(bool async_op) { return finish(default_group().barrier(), async_op); }
WorkPtr all_reduce(const Tensor& tensor, ReduceOp op, bool async_op) {
  return finish(default_group().all_reduce(tensor, op), async_op);
}
WorkPtr broadcast(const Tensor& tensor, int root, bool async_op) {
  return finish(default_group().broadcast(tensor, root), async_op);
}
WorkPtr all_gather(const Tensor& output, const Tensor& input, bool async_op) {
  return finish(default_group().all_gather(output, input), async_op);
}
std::vector<Tensor> all_gather(const Tensor& input) {
  NA_CHECK(input.defined(), "all_gather", "undefined tensor");
  const int n = get_world_size();
  Tensor x = input.dim() == 0 ? input.reshape({1}) : input;
  Shape out_shape = x.shape();
  out_shape[0] *= n;
  Tensor out = empty(out_shape, x.dtype());
  all_gather(out, x);
  return out.chunk(n, 0);
}
WorkPtr reduce_scatter(const Tensor& output, const Tensor& input, ReduceOp op, bool async_op) {
  return finish(default_group().reduce_scatter(output, input, op), async_op);
}

}  // namespace neural_arch::distributed
