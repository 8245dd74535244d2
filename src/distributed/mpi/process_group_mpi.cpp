// The MPI backend: every collective runs as the MPI library's own blocking collective
// (MPI_Allreduce, MPI_Bcast, MPI_Allgather, MPI_Reduce_scatter_block) on one communication
// thread, on a duplicate of MPI_COMM_WORLD. A blocking call on its own thread gets the
// library's tuned algorithms and progresses without polling, while the caller (autograd,
// DistributedDataParallel) keeps computing. Before the data, each collective exchanges a small
// metadata record (op, dtype, shape, root) with MPI_Allgather, so ranks that disagree all throw
// instead of pairing mismatched buffers.
#include "distributed/mpi/process_group_mpi.hpp"

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "distributed/comm_queue.hpp"
#include "neural_arch/autograd.hpp"

namespace neural_arch::distributed::detail {

namespace {

void check_mpi(int rc, const char* op, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  neural_arch::detail::throw_error(op, call, " failed: ", std::string(msg, static_cast<size_t>(len)));
}

MPI_Datatype mpi_type(DType t) {
  switch (t) {
    case DType::f32: return MPI_FLOAT;
    case DType::f64: return MPI_DOUBLE;
    case DType::i32: return MPI_INT32_T;
    case DType::i64: return MPI_INT64_T;
    default: return MPI_DATATYPE_NULL;
  }
}

MPI_Op mpi_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum:
    case ReduceOp::avg: return MPI_SUM;
    case ReduceOp::max: return MPI_MAX;
    case ReduceOp::min: return MPI_MIN;
  }
  return MPI_SUM;
}

// What every rank must agree on before a collective moves data.
constexpr int kMaxDims = 8;
struct Meta {
  int64_t kind = 0, op = 0, root = 0, dtype = 0, ndim = 0, numel = 0;
  int64_t dims[kMaxDims] = {};
};
constexpr int kMetaWords = sizeof(Meta) / sizeof(int64_t);

Meta make_meta(int kind, int op, int root, const Tensor& t) {
  Meta m;
  m.kind = kind;
  m.op = op;
  m.root = root;
  if (!t.defined()) return m;
  m.dtype = static_cast<int64_t>(t.dtype());
  m.ndim = t.dim();
  m.numel = t.numel();
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (d < kMaxDims)
      m.dims[d] = t.size(d);
    else
      m.dims[kMaxDims - 1] *= t.size(d);  // deeper shapes still compare by numel
  }
  return m;
}

std::string meta_str(const Meta& m) {
  std::ostringstream os;
  os << dtype_name(static_cast<DType>(m.dtype)) << " (";
  for (int64_t d = 0; d < m.ndim && d < kMaxDims; ++d) os << (d ? "," : "") << m.dims[d];
  os << ")";
  if (m.kind == 2) os << " root " << m.root;
  if (m.kind == 1 || m.kind == 4) os << " op " << reduce_op_name(static_cast<ReduceOp>(m.op));
  return os.str();
}

const char* kind_name(int64_t k) {
  static const char* names[] = {"barrier", "all_reduce", "broadcast", "all_gather", "reduce_scatter"};
  return k >= 0 && k < 5 ? names[k] : "unknown collective";
}

// A contiguous buffer the MPI call reads and writes: the tensor itself when it already has an
// MPI type and is contiguous, else an f32 (for f16/bf16) or same-dtype contiguous copy that
// finish() copies back.
struct Staged {
  Tensor user;
  Tensor buf;
  bool copy_back = false;
};

Staged stage(const Tensor& t, const char* op) {
  NA_CHECK(t.defined(), op, "the tensor is undefined");
  NA_CHECK(t.dtype() != DType::u8 && t.dtype() != DType::boolean, op, "dtype ", dtype_name(t.dtype()),
           " is not supported (floating dtypes, int32 and int64 are)");
  NA_CHECK(t.numel() <= INT_MAX, op, "tensors of more than ", INT_MAX, " elements are not supported (got ",
           t.numel(), ")");
  NoGradGuard no_grad;
  Staged s{t, t, false};
  const bool narrow = t.dtype() == DType::f16 || t.dtype() == DType::bf16;
  if (narrow) {
    s.buf = t.to(DType::f32).contiguous();
    if (s.buf.is_same(t)) s.buf = s.buf.clone();
    s.copy_back = true;
  } else if (!t.is_contiguous()) {
    s.buf = t.contiguous();
    s.copy_back = true;
  }
  return s;
}

}  // namespace

struct ProcessGroupMPI::State {
  MPI_Comm comm = MPI_COMM_NULL;
  bool owns_mpi = false;
  std::unique_ptr<CommQueue> queue;
};

ProcessGroupMPI::ProcessGroupMPI(std::chrono::milliseconds timeout) : state_(std::make_unique<State>()) {
  // Open MPI: a blocking call waiting for a peer polls; yielding in that loop lets the compute
  // threads have the core (measured on a loaded 2-core machine: a 2-rank Fashion-MNIST epoch
  // 45-53 s without, 27 s with). An explicit setting (mpirun --mca, environment) wins.
  setenv("OMPI_MCA_mpi_yield_when_idle", "1", /*overwrite=*/0);
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  NA_CHECK(!finalized, "init_process_group",
           "MPI has been finalized (by destroy_process_group or the program) and cannot start again");
  int provided = 0;
  if (!initialized) {
    check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided), "init_process_group",
              "MPI_Init_thread");
    state_->owns_mpi = true;
  } else {
    MPI_Query_thread(&provided);
  }
  // Only the communication thread calls MPI after this, one call at a time: SERIALIZED suffices.
  if (provided < MPI_THREAD_SERIALIZED) {
    if (state_->owns_mpi) MPI_Finalize();
    neural_arch::detail::throw_error("init_process_group", "the MPI library offers thread level ", provided,
                                     "; the mpi backend needs MPI_THREAD_SERIALIZED or better");
  }
  MPI_Comm_dup(MPI_COMM_WORLD, &state_->comm);
  // Errors come back as codes (turned into Error) instead of aborting the job.
  MPI_Comm_set_errhandler(state_->comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(state_->comm, &rank_);
  MPI_Comm_size(state_->comm, &size_);
  std::ostringstream who;
  who << "rank " << rank_ << " of " << size_;
  state_->queue = std::make_unique<CommQueue>(who.str(), timeout);
}

ProcessGroupMPI::~ProcessGroupMPI() {
  if (!state_->queue->shutdown()) {
    // A collective is stuck (a peer died): MPI cannot be shut down cleanly. Leak the queue
    // whose thread is still inside MPI, and leave finalizing to the process's end.
    (void)state_->queue.release();
    return;
  }
  MPI_Comm_free(&state_->comm);
  if (state_->owns_mpi) MPI_Finalize();
}

std::chrono::milliseconds ProcessGroupMPI::timeout() const { return state_->queue->timeout(); }
void ProcessGroupMPI::set_timeout(std::chrono::milliseconds t) { state_->queue->set_timeout(t); }

// Exchanges metadata and throws on every rank when any rank's differs from rank 0's.
static void agree(MPI_Comm comm, int size, const Meta& mine) {
  std::vector<Meta> all(static_cast<size_t>(size));
  check_mpi(MPI_Allgather(&mine, kMetaWords, MPI_INT64_T, all.data(), kMetaWords, MPI_INT64_T, comm),
            kind_name(mine.kind), "MPI_Allgather (metadata)");
  bool same = true;
  for (const Meta& m : all) same = same && std::memcmp(&m, &all[0], sizeof(Meta)) == 0;
  if (same) return;
  std::ostringstream os;
  for (int r = 0; r < size; ++r) {
    const Meta& m = all[static_cast<size_t>(r)];
    os << (r ? "; " : "") << "rank " << r << ": " << kind_name(m.kind);
    if (m.kind != 0) os << " " << meta_str(m);
  }
  neural_arch::detail::throw_error(kind_name(mine.kind),
                                   "the ranks called different collectives or passed tensors of "
                                   "different dtype/shape: ",
                                   os.str());
}

WorkPtr ProcessGroupMPI::barrier() {
  MPI_Comm comm = state_->comm;
  const int n = size_;
  return state_->queue->enqueue("barrier", [comm, n] {
    agree(comm, n, make_meta(0, 0, 0, Tensor()));
    check_mpi(MPI_Barrier(comm), "barrier", "MPI_Barrier");
  });
}

WorkPtr ProcessGroupMPI::all_reduce(const Tensor& tensor, ReduceOp op) {
  Staged s = stage(tensor, "all_reduce");
  NA_CHECK(op != ReduceOp::avg || is_floating(tensor.dtype()), "all_reduce",
           "avg needs a floating dtype, got ", dtype_name(tensor.dtype()));
  MPI_Comm comm = state_->comm;
  const int n = size_;
  Meta meta = make_meta(1, static_cast<int>(op), 0, tensor);
  auto job = [comm, n, meta, buf = s.buf, op] {
    agree(comm, n, meta);
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, buf.raw_data(), static_cast<int>(buf.numel()),
                            mpi_type(buf.dtype()), mpi_op(op), comm),
              "all_reduce", "MPI_Allreduce");
  };
  auto finish = [s, op, n]() mutable {
    NoGradGuard no_grad;
    if (op == ReduceOp::avg) s.buf.div_(n);
    if (s.copy_back) s.user.copy_(s.buf);
  };
  return state_->queue->enqueue("all_reduce", job, finish);
}

WorkPtr ProcessGroupMPI::broadcast(const Tensor& tensor, int root) {
  NA_CHECK(root >= 0 && root < size_, "broadcast", "root ", root, " is not a rank of a group of size ",
           size_);
  Staged s = stage(tensor, "broadcast");
  MPI_Comm comm = state_->comm;
  const int n = size_;
  Meta meta = make_meta(2, 0, root, tensor);
  auto job = [comm, n, meta, buf = s.buf, root] {
    agree(comm, n, meta);
    check_mpi(MPI_Bcast(buf.raw_data(), static_cast<int>(buf.numel()), mpi_type(buf.dtype()), root, comm),
              "broadcast", "MPI_Bcast");
  };
  auto finish = [s]() mutable {
    NoGradGuard no_grad;
    if (s.copy_back) s.user.copy_(s.buf);
  };
  return state_->queue->enqueue("broadcast", job, finish);
}

WorkPtr ProcessGroupMPI::all_gather(const Tensor& output, const Tensor& input) {
  NA_CHECK(output.defined() && input.defined(), "all_gather", "undefined tensor");
  NA_CHECK(output.dtype() == input.dtype(), "all_gather", "output dtype ", dtype_name(output.dtype()),
           " differs from input dtype ", dtype_name(input.dtype()));
  NA_CHECK(input.dim() >= 1 && output.dim() == input.dim() && output.size(0) == size_ * input.size(0) &&
               std::equal(output.shape().begin() + 1, output.shape().end(), input.shape().begin() + 1),
           "all_gather", "output of shape ", shape_str(output.shape()), " cannot hold ", size_,
           " inputs of shape ", shape_str(input.shape()), " stacked along dim 0");
  Staged in = stage(input, "all_gather");
  Staged out = stage(output, "all_gather");
  MPI_Comm comm = state_->comm;
  const int n = size_;
  Meta meta = make_meta(3, 0, 0, input);
  auto job = [comm, n, meta, ib = in.buf, ob = out.buf] {
    agree(comm, n, meta);
    const int count = static_cast<int>(ib.numel());
    check_mpi(MPI_Allgather(ib.raw_data(), count, mpi_type(ib.dtype()), ob.raw_data(), count,
                            mpi_type(ob.dtype()), comm),
              "all_gather", "MPI_Allgather");
  };
  auto finish = [out]() mutable {
    NoGradGuard no_grad;
    if (out.copy_back) out.user.copy_(out.buf);
  };
  return state_->queue->enqueue("all_gather", job, finish);
}

WorkPtr ProcessGroupMPI::reduce_scatter(const Tensor& output, const Tensor& input, ReduceOp op) {
  NA_CHECK(output.defined() && input.defined(), "reduce_scatter", "undefined tensor");
  NA_CHECK(output.dtype() == input.dtype(), "reduce_scatter", "output dtype ", dtype_name(output.dtype()),
           " differs from input dtype ", dtype_name(input.dtype()));
  NA_CHECK(op != ReduceOp::avg || is_floating(input.dtype()), "reduce_scatter",
           "avg needs a floating dtype, got ", dtype_name(input.dtype()));
  NA_CHECK(output.dim() >= 1 && input.dim() == output.dim() && input.size(0) == size_ * output.size(0) &&
               std::equal(output.shape().begin() + 1, output.shape().end(), input.shape().begin() + 1),
           "reduce_scatter", "input of shape ", shape_str(input.shape()), " is not ", size_,
           " blocks of the output's shape ", shape_str(output.shape()), " along dim 0");
  Staged in = stage(input, "reduce_scatter");
  Staged out = stage(output, "reduce_scatter");
  MPI_Comm comm = state_->comm;
  const int n = size_;
  Meta meta = make_meta(4, static_cast<int>(op), 0, input);
  auto job = [comm, n, meta, ib = in.buf, ob = out.buf, op] {
    agree(comm, n, meta);
    check_mpi(MPI_Reduce_scatter_block(ib.raw_data(), ob.raw_data(), static_cast<int>(ob.numel()),
                                       mpi_type(ib.dtype()), mpi_op(op), comm),
              "reduce_scatter", "MPI_Reduce_scatter_block");
  };
  auto finish = [out, op, n]() mutable {
    NoGradGuard no_grad;
    if (op == ReduceOp::avg) out.buf.div_(n);
    if (out.copy_back) out.user.copy_(out.buf);
  };
  return state_->queue->enqueue("reduce_scatter", job, finish);
}

}  // namespace neural_arch::distributed::detail
