#!/usr/bin/env bash
# Fuzzes every reader of outside data with libFuzzer (Debian's clang), AddressSanitizer and
# UndefinedBehaviorSanitizer, from the seed corpora in tests/fuzz/corpus/.
#
#   scripts/fuzz.sh [--runs N] [--minutes M] [--jobs J] [TARGET ...]
#   scripts/fuzz.sh --report [TARGET ...]   (the table again, from the last run's logs)
#
# Each target runs until N executions (default 1,000,000) or M minutes (default 30), whichever
# comes first; J targets run at once (default: the number of cores). A crash, a leak, a timeout
# (10 s per input) or an out-of-memory (4 GiB) stops that target and leaves the input in
# build-fuzz/artifacts/TARGET/; commit it to tests/fuzz/regressions/TARGET/ with the fix (the
# replay test runs it in ctest from then on). The table of executions and findings is written to
# tests/fuzz/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=1000000
minutes=30
jobs=$(nproc)
targets=()
report_only=0
while (($#)); do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --minutes) minutes=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --report) report_only=1; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done

build=${BITSCAPE_FUZZ_BUILD:-build-fuzz}
if ((${#targets[@]} == 0)); then
  for f in tests/fuzz/fuzz_*.cpp; do n=$(basename "$f" .cpp); targets+=("${n#fuzz_}"); done
fi

# The table: executions, time, and what each run found.
report() {
out=tests/fuzz/results.md
{
  echo "# Fuzzing results"
  echo
  echo "\`scripts/fuzz.sh --runs $runs --minutes $minutes\` on $(date -u +%Y-%m-%d), $(nproc) cores,"
  echo "$(clang --version | head -1); libFuzzer with ASan + UBSan (leaks on)."
  echo
  echo "A finding is a crash, leak, timeout or out-of-memory of the fuzzed process itself. The"
  echo "project reader reads each file in a child process first (libhdf5 1.10.8 crashes on some"
  echo "damaged files); what the library did there is counted as *contained*: the child died or"
  echo "was ended, and the reader reported an error."
  echo
  echo "| target | executions | seconds | exec/s | corpus | findings | contained in the child |"
  echo "|---|---|---|---|---|---|---|"
  for t in "${targets[@]}"; do
    log="$build/fuzz_$t.log"
    # (grep finds nothing in some logs: `|| true` keeps set -o pipefail from ending the table)
    execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}' | tail -1 || true)
    secs=$(cat "$build/fuzz_$t.seconds" 2>/dev/null || echo 0)
    corpus=$(ls "$build/corpus/$t" | wc -l)
    # The fuzzed process ran to its end ("Done N runs") unless it found something; then the
    # last report in the log is its own.
    if grep -q '^Done [0-9]* runs' "$log"; then
      finding="none"
    else
      finding=$(grep -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$log" | tail -1 || true)
      [[ -z "$finding" ]] && finding="stopped: see $log"
    fi
    contained=$(grep -o 'contained in the child: .*' "$log" | tail -1 | sed 's/contained in the child: //' || true)
    [[ -z "$contained" ]] && contained="-"
    rate=$(( ${execs:-0} / (secs > 0 ? secs : 1) ))
    echo "| $t | ${execs:-?} | ${secs:-?} | $rate | $corpus | $finding | $contained |"
  done
} >"$out"
cat "$out"
}

if ((report_only)); then report; exit 0; fi

scripts/setup.sh --no-gui
missing=()
for p in clang libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [[ $(id -u) != 0 ]] && SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

flags="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=undefined"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_C_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DBITSCAPE_GUI=OFF -DBITSCAPE_BENCH=OFF -DBITSCAPE_WERROR=OFF -DBITSCAPE_FUZZ=ON >/dev/null
cmake --build "$build" --target $(printf 'fuzz_%s ' "${targets[@]}")

export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:abort_on_error=1
export LSAN_OPTIONS=suppressions=$PWD/tests/sanitizers/lsan.supp
export XDG_CACHE_HOME=$PWD/$build/cache  # the list of checked projects, not the user's
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
export BITSCAPE_CHECK_TIMEOUT=5  # a project check that loops is ended before libFuzzer's 10 s
run_target() {
  local t=$1 work="$build/corpus/$1" art="$build/artifacts/$1/"
  rm -rf "$art"
  mkdir -p "$work" "$art"
  local t0=$(date +%s)
  local dict=""
  case "$t" in config|safetensors|safetensors_index|allocation|corpus|tokenizer) dict="-dict=tests/fuzz/json.dict" ;; esac
  "$build/tests/fuzz_$t" "$work" "tests/fuzz/corpus/$t" -runs="$runs" $dict \
    -max_total_time=$((minutes * 60)) -timeout=10 -rss_limit_mb=4096 -malloc_limit_mb=4096 \
    -print_final_stats=1 -artifact_prefix="$art" >"$build/fuzz_$t.log" 2>&1 || true
  echo $(( $(date +%s) - t0 )) >"$build/fuzz_$t.seconds"
  echo "fuzz_$t done"
}
export -f run_target
export build runs minutes
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_target {}'

report
