#!/usr/bin/env bash
# Installs the Debian 12 packages neural_arch needs that are not installed yet.
#
#   scripts/install_deps.sh               build + test dependencies
#   scripts/install_deps.sh --bench       + libtorch (C++ PyTorch, the benchmarks' baseline) and
#                                         OpenBLAS (OpenMP build), which Debian's alternatives then
#                                         give libtorch as its BLAS instead of the netlib reference
#                                         BLAS, so its fp32 GEMM is not a straw man; NumPy (the
#                                         seed's "Standard" formulas in performance_comparison);
#                                         Google Benchmark; python3 for scripts/gen_benchmarks_md.py
#   scripts/install_deps.sh --reference   + PyTorch and NumPy for Python (tests/reference generator)
#   scripts/install_deps.sh --data        + Fashion-MNIST and fortunes (~2 MB of text, the examples' data)
#   scripts/install_deps.sh --check       only report what is missing (exit 1 if anything is)
#
# As root it installs what is missing (apt-get update first, only when something is missing).
# As another user it prints the apt-get line to run as root and exits non-zero, so a build
# never goes on with a half-installed toolchain.
set -euo pipefail

usage() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; }

# The list must build everything on a minimal Debian 12 (debootstrap --variant=minbase), which
# scripts/fresh_machine_check.sh proves. Packages whose reason is not obvious:
#   ocl-icd-opencl-dev   oneDNN's CMake config (dnnl-config.cmake) calls find_package(OpenCL)
#                        and fails without OpenCL's headers and libOpenCL.so; libdnnl-dev only
#                        Recommends it, and we install with --no-install-recommends.
#   zlib1g-dev           gzip-compressed IDX (MNIST-format) files.
#   libopenmpi-dev, openmpi-bin   Open MPI: neural_arch_distributed and its tests (mpirun).
# OpenMP comes from GCC's own libgomp (pulled in by g++), so no libomp-dev.
# The sanitizer runtimes (libasan, libubsan, libtsan) are dependencies of gcc-12 itself.
packages=(cmake g++ make libdnnl-dev ocl-icd-opencl-dev zlib1g-dev googletest libgtest-dev libgmock-dev
  libopenmpi-dev openmpi-bin)
# The Python package (NA_BUILD_PYTHON, scripts/test_python.sh): headers to build the extension,
# venv for the per-clone virtual environment (nanobind and scikit-build-core come from PyPI),
# NumPy, pytest, and PyTorch as the in-process reference of tests/python.
packages+=(python3-dev python3-venv python3-numpy python3-pytest python3-torch)
check_only=0
for arg in "$@"; do
  case "$arg" in
    --bench) packages+=(libtorch-dev libopenblas0-openmp python3-numpy libbenchmark-dev python3) ;;
    --reference) packages+=(python3-torch python3-numpy) ;;
    --data) packages+=(dataset-fashion-mnist fortunes) ;;
    --check) check_only=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "install_deps.sh: unknown option '$arg'" >&2; usage >&2; exit 2 ;;
  esac
done

missing=()
for pkg in "${packages[@]}"; do
  # dpkg-query fails for a package it has never heard of; both cases mean "not installed".
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == installed ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
  echo "install_deps.sh: all ${#packages[@]} required packages are installed"
  exit 0
fi

install_cmd=(apt-get install -y --no-install-recommends "${missing[@]}")
# Dpkg::Use-Pty=0: no progress bars (thousands of lines in a log without a terminal).
quiet_opts=(-o Dpkg::Use-Pty=0)
echo "install_deps.sh: missing packages: ${missing[*]}"
if ((check_only)); then
  echo "install with: ${install_cmd[*]}"
  exit 1
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "install_deps.sh: not root; run this as root (e.g. with sudo), then re-run:" >&2
  echo "  apt-get update && ${install_cmd[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# </dev/null: CI runs without a terminal; nothing here may wait for an answer.
apt-get update </dev/null
"${install_cmd[0]}" "${quiet_opts[@]}" "${install_cmd[@]:1}" </dev/null
echo "install_deps.sh: installed ${missing[*]}"
