#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite (ctest).
set -euo pipefail
cd "$(dirname "$0")"
gui=ON; setup_args=()
if [[ "${BITSCAPE_GUI:-ON}" == "OFF" ]]; then gui=OFF; setup_args=(--no-gui); fi
scripts/setup.sh "${setup_args[@]}"
build=${BITSCAPE_BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBITSCAPE_GUI=$gui
cmake --build "$build" -j "$(nproc)"
export QT_QPA_PLATFORM=offscreen
# LibTorch's OpenMP threads spin otherwise (README, "BLAS and threads").
export OMP_WAIT_POLICY=PASSIVE
ctest --test-dir "$build" --output-on-failure -j "$(nproc)"
