// Internal: the MPI backend of ProcessGroup (created by init_process_group("mpi")).
// mpi.h stays inside process_group_mpi.cpp, so nothing else is compiled against MPI.
#pragma once
#include <chrono>
#include <memory>

#include "neural_arch/distributed/process_group.hpp"

namespace neural_arch::distributed::detail {

class ProcessGroupMPI : public ProcessGroup {
 public:
  /// Initializes MPI (MPI_THREAD_MULTIPLE requested, SERIALIZED required) unless the program
  /// already did, and starts the communication thread.
  explicit ProcessGroupMPI(std::chrono::milliseconds timeout);
  ~ProcessGroupMPI() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend_name() const override { return "mpi"; }
  std::chrono::milliseconds timeout() const override;
  void set_timeout(std::chrono::milliseconds timeout) override;

  WorkPtr barrier() override;
  WorkPtr all_reduce(const Tensor& tensor, ReduceOp op) override;
  WorkPtr broadcast(const Tensor& tensor, int root) override;
  WorkPtr all_gather(const Tensor& output, const Tensor& input) override;
  WorkPtr reduce_scatter(const Tensor& output, const Tensor& input, ReduceOp op) override;

 private:
  struct State;
  std::unique_ptr<State> state_;
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace neural_arch::distributed::detail
