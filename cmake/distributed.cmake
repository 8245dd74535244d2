# neural_arch_distributed (neural_arch::distributed): process groups, DistributedDataParallel and
# DistributedSampler, a library of its own on top of neural_arch so that the core library and
# its users never link MPI. Sources: src/distributed/ (backends in one folder each, e.g. mpi/).
# Included from the top-level CMakeLists.txt when NA_DISTRIBUTED is ON (the default);
# scripts/install_deps.sh installs Debian's Open MPI, so a missing MPI is a configuration error.
find_package(MPI COMPONENTS CXX)
if(NOT MPI_CXX_FOUND)
  message(FATAL_ERROR "NA_DISTRIBUTED is ON but no MPI was found: install libopenmpi-dev and "
                      "openmpi-bin (scripts/install_deps.sh does), or configure with -DNA_DISTRIBUTED=OFF")
endif()
file(GLOB_RECURSE NA_DISTRIBUTED_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/distributed/*.cpp)
add_library(neural_arch_distributed ${NA_DISTRIBUTED_SOURCES})
add_library(neural_arch::distributed ALIAS neural_arch_distributed)
target_include_directories(neural_arch_distributed PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(neural_arch_distributed PUBLIC neural_arch PRIVATE MPI::MPI_CXX)
target_compile_options(neural_arch_distributed PRIVATE -Wall -Wextra)

# How the tests, examples and benchmarks start N ranks: loopback-only transports (shared memory
# between ranks, no network interface other than lo), oversubscription allowed (more ranks than
# cores on CI), and root allowed (CI runs as root). Open MPI reads these from the environment.
set(NA_MPI_ENV
    OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
    OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_oob_tcp_if_include=lo
    OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_pml=ob1 OMPI_MCA_osc=pt2pt)
