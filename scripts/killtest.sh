#!/usr/bin/env bash
# Kills every writing command many times at random instants (SIGKILL and SIGINT) and checks what
# is left each time (tests/app/kill_test.cpp): every file old or complete and new, nothing
# partial under a final name, --resume completing the run. ctest runs 2 kills per command and
# signal; this runs many more and writes the count survived to tests/kill/results.md.
#
#   scripts/killtest.sh [KILLS]      (kills per command and signal, default 25)
set -euo pipefail
cd "$(dirname "$0")/.."
kills=${1:-25}
build=${BITSCAPE_BUILD_DIR:-build}
scripts/setup.sh
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)" --target bitscape-cli bitscape_app_tests
export OMP_WAIT_POLICY=PASSIVE
log="$build/killtest.log"
start=$(date +%s)
BITSCAPE_KILLS=$kills "$build/tests/bitscape_app_tests" --gtest_filter='Writers/KillTest.*' 2>&1 | tee "$log" |
  grep -E 'kills survived|OK|FAILED'
status=${PIPESTATUS[0]}
mkdir -p tests/kill
{
  echo "# Kill-safety results"
  echo
  echo "\`scripts/killtest.sh $kills\` on $(date -u +%Y-%m-%d), $(nproc) cores, $(( $(date +%s) - start )) s:"
  echo "each command killed $kills times with SIGKILL and $kills times with SIGINT at random instants"
  echo "of its run, on a 2-block model trained for the purpose, with earlier outputs in place."
  echo
  echo "| command | kills | survived |"
  echo "|---|---|---|"
  grep -o 'kills survived: .*' "$log" | sed -E 's/kills survived: ([^ ]+) ([0-9]+) of ([0-9]+)/| \1 | \3 | \2 |/'
} >tests/kill/results.md
cat tests/kill/results.md
exit "$status"
