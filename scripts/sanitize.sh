#!/usr/bin/env bash
# Builds Bitscape with sanitizers and runs the suites under them.
#
#   scripts/sanitize.sh [asan] [tsan]      (default: both)
#
# asan: core, CLI and tests with AddressSanitizer + UndefinedBehaviorSanitizer (leaks included),
#       in build-asan/; runs the core suite, the CLI suite (every CLI the tests start is the
#       instrumented one) and the fuzz targets' replay. CI runs this (.ci/run).
# tsan: core, widgets, CLI, workbench and tests with ThreadSanitizer, in build-tsan/; runs the
#       job, cancel and runner tests and the workbench tests that drive jobs.
# Third-party libraries are not instrumented; tests/sanitizers/*.supp lists what is suppressed
# in them and why. The result of each suite is appended to build-*/sanitize.log.
set -euo pipefail
cd "$(dirname "$0")/.."
modes=("$@")
((${#modes[@]})) || modes=(asan tsan)
jobs=$(nproc)
supp="$PWD/tests/sanitizers"

configure() {  # build-dir, flags, gui
  cmake -S . -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS="$2" -DCMAKE_C_FLAGS="$2" -DCMAKE_EXE_LINKER_FLAGS="$2" \
    -DCMAKE_SHARED_LINKER_FLAGS="$2" -DBITSCAPE_GUI="$3" -DBITSCAPE_BENCH=OFF >/dev/null
}

for mode in "${modes[@]}"; do
  case "$mode" in
    asan)
      scripts/setup.sh --no-gui
      build=${BITSCAPE_ASAN_BUILD:-build-asan}
      configure "$build" "-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" OFF
      cmake --build "$build" -j "$jobs" --target bitscape-cli bitscape_core_tests bitscape_app_tests bitscape_fuzz_replay
      export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_odr_violation=0:check_initialization_order=1"
      export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
      export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$supp/ubsan.supp"
      export OMP_WAIT_POLICY=PASSIVE
      start=$(date +%s)
      ctest --test-dir "$build" --output-on-failure -j "$jobs" --timeout 1200 \
        -E '^Writers/KillTest' 2>&1 | tee "$build/ctest.log" | tail -5
      status=${PIPESTATUS[0]}
      echo "$(date -u +%FT%TZ) asan+ubsan: $(grep -o '[0-9]*% tests passed.*' "$build/ctest.log") in $(( $(date +%s) - start )) s" | tee -a "$build/sanitize.log"
      ((status == 0)) || exit "$status"
      ;;
    tsan)
      scripts/setup.sh
      build=${BITSCAPE_TSAN_BUILD:-build-tsan}
      configure "$build" "-O1 -g -fno-omit-frame-pointer -fsanitize=thread" ON
      cmake --build "$build" -j "$jobs" --target bitscape-cli bitscape_core_tests bitscape_widgets_tests bitscape_gui_tests
      export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$supp/tsan.supp"
      # One OpenMP and one OpenBLAS thread: neither library is instrumented, their barriers
      # look like races to TSan.
      export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE QT_QPA_PLATFORM=offscreen
      # The workbench's waits for jobs, stretched: the guided demo's calibration alone takes more
      # than its 5 minutes under TSan on 2 cores.
      export BITSCAPE_TEST_TIMEOUT_SCALE=6
      start=$(date +%s)
      ctest --test-dir "$build" --output-on-failure -j "$jobs" --timeout 3600 \
        -R 'JobRunner|JobsPanel|CancelToken|Progress|Workbench|SensitivityPanel|PerplexityPanel|SearchEvaluator' \
        2>&1 | tee "$build/ctest.log" | tail -5
      status=${PIPESTATUS[0]}
      echo "$(date -u +%FT%TZ) tsan: $(grep -o '[0-9]*% tests passed.*' "$build/ctest.log") in $(( $(date +%s) - start )) s" | tee -a "$build/sanitize.log"
      ((status == 0)) || exit "$status"
      ;;
    *) echo "unknown mode $mode (asan, tsan)" >&2; exit 1 ;;
  esac
done
