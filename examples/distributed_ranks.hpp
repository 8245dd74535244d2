// The --distributed start of the training examples: the MPI process group, output from rank 0
// only, and the global batch split evenly across the ranks.
#pragma once
#include <cstdint>
#include <cstdio>
#include <neural_arch/error.hpp>
#ifdef NA_HAVE_DISTRIBUTED
#include <neural_arch/distributed.hpp>
#endif

struct Ranks {
  int rank = 0, world = 1;
  int64_t local_batch = 0;  // this rank's share of the global batch
};

// One rank of one process unless `distributed`; then init_process_group("mpi"), and stdout of
// every rank but 0 goes to /dev/null. Throws neural_arch::Error when the build has no
// distributed library or global_batch does not split evenly.
inline Ranks start_ranks(bool distributed, int64_t global_batch, const char* program) {
  Ranks r;
  if (distributed) {
#ifdef NA_HAVE_DISTRIBUTED
    neural_arch::distributed::init_process_group("mpi");
    r.rank = neural_arch::distributed::get_rank();
    r.world = neural_arch::distributed::get_world_size();
    if (r.rank != 0)
      NA_CHECK(std::freopen("/dev/null", "w", stdout) != nullptr, program, "cannot silence stdout");
#else
    neural_arch::detail::throw_error(program, "--distributed needs a build with NA_DISTRIBUTED (MPI)");
#endif
  }
  NA_CHECK(global_batch % r.world == 0, program, "--batch-size ", global_batch,
           " does not split evenly across ", r.world, " ranks");
  r.local_batch = global_batch / r.world;
  return r;
}
