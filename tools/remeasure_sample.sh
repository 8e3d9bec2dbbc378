#!/bin/bash
# Re-measures every figure that depends on the sample model, in the order the README gives
# them, after the model or its corpus changed (see sample_data/README.md). Each script writes
# its own results file; this one only runs them and says how long each took.
#
# Needs the build (build/app/bitscape-cli, build/bench/*) and the optional Python tooling:
#   pip install torch transformers tokenizers safetensors matplotlib
# Usage: tools/remeasure_sample.sh [THREADS]      (2 on the development machine)
# Not re-measured here: bench/results/eval_cuda.md and bench/results/cuda/ (they need a GPU:
# bench/gpu_check.sh), the GUI latency bench and the screenshots (docs/workbench.md).
set -euo pipefail
cd "$(dirname "$0")/.."
T="${1:-2}"
step() {
  local t0=$SECONDS
  echo "== $*" >&2
  "$@"
  echo "== $1 ${2:-}: $((SECONDS - t0)) s" >&2
}
step python3 tools/rtn_sensitivity_check.py
step python3 tools/unigram_baseline.py
step build/app/bitscape-cli eval --model sample_data/model --data sample_data/test.txt --seqlen 256 --threads "$T"
step python3 bench/quantizer_table.py --threads "$T"
step python3 bench/bench_sensitivity.py --threads "$T"
step python3 bench/bench_search.py --threads "$T"
step python3 bench/bench_eval.py --threads "$T" --seqlen 256 --windows 32 --windows-1b 4
step python3 bench/bench_gptq.py --threads "$T"
