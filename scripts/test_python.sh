#!/usr/bin/env bash
# Builds the Python extension inside an existing CMake build tree (the library is not compiled
# again) and runs pytest on tests/python against it, without installing anything:
#
#   scripts/test_python.sh [build-dir] [pytest arguments...]     (build-dir defaults to build)
#
# The virtual environment (<build-dir>/venv) is created on first use from Debian's python3 with
# --system-site-packages, so numpy, pytest and torch (the in-process reference) are Debian's
# (scripts/install_deps.sh installs them); nanobind and scikit-build-core come from PyPI.
# Exits with pytest's status; pytest's status 5 (no tests collected) is a failure too.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=${1:-build}
shift || true
venv=$PWD/$build/venv
if [[ ! -x $venv/bin/python ]]; then
  # Debian's interpreter explicitly: a python3 earlier on PATH (pyenv, conda) lacks Debian's packages.
  /usr/bin/python3 -m venv --system-site-packages "$venv"
fi
if ! "$venv/bin/python" -c "import nanobind, scikit_build_core" 2>/dev/null; then
  "$venv/bin/python" -m pip install --quiet "nanobind==3.1.0" "scikit-build-core>=0.10"
fi
cmake -S . -B "$build" -DNA_BUILD_PYTHON=ON "-DPython_EXECUTABLE=$venv/bin/python" >/dev/null
cmake --build "$build" -j"${NA_JOBS:-2}" --target _C na_python_package na_python_stubs
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
PYTHONPATH=$PWD/$build/python "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/python "$@"
