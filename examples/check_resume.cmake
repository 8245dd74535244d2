# ctest check that the main job's --resume continues exactly: an uninterrupted 2-epoch run
# and the same run stopped in the middle of epoch 2 (--stop-after) and resumed must end with
# byte-identical checkpoints (model, optimizer, scheduler, RNG and data position).
#   cmake -DEXE=<train_fashion_mnist> -DOUT=<dir> [-DLAUNCHER=<mpiexec;-n;2> -DEXTRA=<--distributed>]
#         -P check_resume.cmake
# LAUNCHER starts each run (e.g. on 2 MPI ranks) and EXTRA adds arguments (later ones win).
if(NOT EXISTS /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz AND NOT DEFINED ENV{NA_FASHION_MNIST_DIR})
  message("SKIP: Debian's dataset-fashion-mnist is not installed (scripts/install_deps.sh --data)")
  return()
endif()
file(REMOVE_RECURSE ${OUT})
set(common --model mlp --epochs 2 --limit-train 2048 --batch-size 128 --threads 2)
function(run)
  execute_process(COMMAND ${LAUNCHER} ${EXE} ${common} ${EXTRA} ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${EXE} ${ARGN} failed (${rc}):\n${out}\n${err}")
  endif()
endfunction()
run(--out ${OUT}/full)
run(--out ${OUT}/split --stop-after 21)  # 16 steps per epoch: stops at batch 5 of epoch 2
run(--out ${OUT}/split --resume ${OUT}/split/checkpoint.safetensors)
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${OUT}/full/checkpoint.safetensors
                        ${OUT}/split/checkpoint.safetensors RESULT_VARIABLE same)
if(NOT same EQUAL 0)
  message(FATAL_ERROR "resumed run's checkpoint differs from the uninterrupted run's")
endif()
message("resumed run matches the uninterrupted run byte for byte")
