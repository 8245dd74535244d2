#!/usr/bin/env bash
# The project's main job: installs dependencies, builds (Release, examples on) in build/ and
# runs the main program: examples/train_fashion_mnist (a CNN on Fashion-MNIST; --model mlp for the MLP).
# Arguments are passed to the program. NA_JOBS sets build parallelism (default 2).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs=${NA_JOBS:-2}
main_example=train_fashion_mnist

echo "======== dependencies ========"
bash scripts/install_deps.sh --data

echo "======== build (build/, Release) ========"
# Same build directory and options as scripts/test.sh, so neither rebuilds the other's work;
# only the library and the main program are built here.
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DNA_BUILD_EXAMPLES=ON
cmake --build build -j"$jobs" --target "example_${main_example}"

echo "======== run examples/${main_example} ========"
exec "build/examples/${main_example}" "$@"
