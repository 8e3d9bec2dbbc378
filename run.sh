#!/usr/bin/env bash
# Installs what is missing, builds, and opens the workbench on the bundled sample model.
# Without a display it runs the headless pipeline on the sample model and prints its results.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
build=${BITSCAPE_BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)"
if [[ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" && -x "$build/app/bitscape" ]]; then
  exec "$build/app/bitscape" --model sample_data/model "$@"
fi
cli="$build/app/bitscape-cli"
echo "== bitscape-cli doctor"
"$cli" doctor
echo
echo "== bitscape-cli inspect --model sample_data/model"
"$cli" inspect --model sample_data/model
echo
echo "== bitscape-cli eval --model sample_data/model --data sample_data/test.txt --seqlen 256"
"$cli" eval --model sample_data/model --data sample_data/test.txt --seqlen 256
echo
project=${TMPDIR:-/tmp}/bitscape-sample.bsproj.h5
echo "== bitscape-cli calibrate --model sample_data/model --data sample_data/train.txt --out $project"
"$cli" calibrate --model sample_data/model --data sample_data/train.txt --out "$project"
echo
echo "== bitscape-cli eval --model sample_data/model --data sample_data/test.txt --bits 3 --method gptq --project $project"
"$cli" eval --model sample_data/model --data sample_data/test.txt --bits 3 --method gptq --project "$project"
