#!/usr/bin/env bash
# Installs what Bitscape needs from Debian's packages (only what is missing).
# Usage: scripts/setup.sh [--no-gui]
set -euo pipefail
gui=1
[[ "${1:-}" == "--no-gui" ]] && gui=0
pkgs=(cmake ninja-build g++ pkg-config ccache
      libtorch-dev libopenblas0-pthread
      nlohmann-json3-dev libpcre2-dev libhdf5-dev libgtest-dev)
if [[ $gui == 1 ]]; then
  pkgs+=(qt6-base-dev qt6-svg-dev libqcustomplot-dev libgl-dev)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  [[ $(id -u) != 0 ]] && SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# LibTorch calls the system BLAS: make sure the optimised OpenBLAS is the active alternative
# (reference BLAS is ~50x slower; see README "BLAS").
blas=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || true)
if [[ "$blas" != *openblas* ]]; then
  echo "setup: WARNING: libblas.so.3 resolves to '$blas', not OpenBLAS" >&2
fi
