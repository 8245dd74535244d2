// The main of na_dist_tests, run by CTest under mpirun with several ranks: every rank runs every
// case, and collectives pair up across ranks. The group's timeout (NA_DIST_TIMEOUT_S, 120 s by
// default here) turns a case that desynchronizes the ranks into an error instead of a hang.
#include <gtest/gtest.h>

#include <cstdlib>

#include "neural_arch/distributed/process_group.hpp"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  setenv("NA_DIST_TIMEOUT_S", "120", /*overwrite=*/0);
  neural_arch::distributed::init_process_group("mpi");
  // Only rank 0 prints the per-case lines; every rank still reports its own failures.
  if (neural_arch::distributed::get_rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  const int rc = RUN_ALL_TESTS();
  neural_arch::distributed::destroy_process_group();
  return rc;
}
