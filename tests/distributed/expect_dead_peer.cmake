# Runs DistFailure.DeadPeer on 2 ranks (rank 1 exits at once) and passes when the job ends
# within 90 s with a non-zero status and says why: either Open MPI's report of the rank that
# exited without finalizing, or rank 0's timeout Error.
execute_process(
  COMMAND ${MPIEXEC} ${NP_FLAG} 2 ${PROGRAM} --gtest_filter=DistFailure.DeadPeer
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 90)
set(all "${out}${err}")
message("${all}")
if(rc MATCHES "timeout|Process terminated due to timeout")
  message(FATAL_ERROR "the job with a dead rank did not end within 90 s (result: ${rc})")
endif()
if(rc EQUAL 0)
  message(FATAL_ERROR "the job with a dead rank exited with status 0")
endif()
if(NOT all MATCHES "without calling \"?finalize|exited on signal|non-zero status|raised the timeout Error")
  message(FATAL_ERROR "the job ended (status ${rc}) without saying that a rank died")
endif()
message("dead peer: the job ended with status ${rc}")
