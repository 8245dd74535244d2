#!/usr/bin/env bash
# The project's main job: installs dependencies, builds (Release, examples on) in build/ and
# runs the main program. For now that is examples/quickstart; the training job replaces it.
# Arguments are passed to the program. NA_JOBS sets build parallelism (default 2).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs=${NA_JOBS:-2}
main_example=quickstart

echo "======== dependencies ========"
bash scripts/install_deps.sh

echo "======== build (build/, Release) ========"
# Same build directory and options as scripts/test.sh, so neither rebuilds the other's work;
# only the library and the main program are built here.
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DNA_BUILD_EXAMPLES=ON
cmake --build build -j"$jobs" --target "example_${main_example}"

echo "======== run examples/${main_example} ========"
exec "build/examples/${main_example}" "$@"
