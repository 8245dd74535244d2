// What a rank sees when a peer stops participating. Each case runs in its own mpirun (CTest
// entries DistFailure.*), never in the main run, since it leaves the group unusable.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "neural_arch/distributed/process_group.hpp"
#include "neural_arch/ops.hpp"
#include "test_util.hpp"

namespace {
namespace na = neural_arch;
namespace dist = neural_arch::distributed;
using namespace std::chrono_literals;

// A peer that is alive but late (stuck, or in another collective): rank 0 gets the timeout
// Error, the group refuses further collectives, and when the peer finally joins, the stuck
// collective completes so the process can still shut MPI down.
TEST(DistFailure, StuckPeerTimesOut) {
  dist::default_group().set_timeout(1500ms);
  na::Tensor x = na::ones({16});
  if (dist::get_rank() == 0) {
    const auto t0 = std::chrono::steady_clock::now();
    na_test::expect_error([&] { dist::all_reduce(x); },
                          {"[all_reduce] timed out after 1500 ms", "rank 0 of"});
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 60s);  // bounded, not a hang
    na_test::expect_error([&] { dist::all_reduce(x); }, {"unusable"});
    std::this_thread::sleep_for(3s);  // the peer joins meanwhile, so MPI can be finalized
  } else {
    std::this_thread::sleep_for(3s);
    dist::all_reduce(x);
  }
}

// A peer that dies. Under mpirun, Open MPI ends the whole job when a rank exits without
// MPI_Finalize; a launcher that does not would leave rank 0 to its timeout Error. The CTest
// entry checks that the job ends (non-zero) within its time limit either way.
TEST(DistFailure, DeadPeer) {
  dist::default_group().set_timeout(5s);
  if (dist::get_rank() != 0) std::_Exit(3);
  na::Tensor x = na::ones({16});
  na_test::expect_error([&] { dist::all_reduce(x); }, {"timed out"});
  std::fprintf(stderr, "rank 0: all_reduce with a dead peer raised the timeout Error\n");
}

}  // namespace
