#!/bin/bash
# The GPU-server recipe of the README, run as one check on a machine with an NVIDIA GPU and
# PyTorch 2.x (no Qt, no HDF5): builds core + CLI against PyTorch's LibTorch, then
#   - doctor;
#   - sample model eval on CPU and CUDA (fp32, bf16) against PyTorch on CUDA, and an
#     8B-shaped model resident and streamed (bench/bench_cuda.py);
#   - GPTQ 3-bit quantization with calibration on CUDA against the same on the CPU;
#   - the per-step costs of a search on this machine's CPU (bitscape_bench_search_costs).
# DEPS may name a prefix holding nlohmann_json and PCRE2 (include/, lib/, share/cmake/) where the
# machine has no packages for them. Results go to $OUT (default /tmp/bitscape-gpu-check).
set -u
OUT=${OUT:-/tmp/bitscape-gpu-check}
DEPS=${DEPS:-}
CHECKS=${CHECKS:-"eval gptq costs"}  # which of the three checks to run
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
SITE=$(python3 -c 'import site; print(site.getsitepackages()[0])')
NVLIBS=$(find "$SITE/nvidia" -maxdepth 3 -type d -name lib 2>/dev/null | tr '\n' ':')$SITE/torch/lib
TORCH_PREFIX=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'
g++ --version | head -1; cmake --version | head -1

t0=$(date +%s)
cmake -S . -B build-cuda -G Ninja -DBITSCAPE_GUI=OFF -DBITSCAPE_TESTS=OFF -DBITSCAPE_WERROR=OFF \
  -DCMAKE_PREFIX_PATH="$TORCH_PREFIX;$DEPS" \
  -DCMAKE_EXE_LINKER_FLAGS="$(echo "$NVLIBS" | tr ':' '\n' | sed 's/^/-Wl,-rpath-link,/' | tr '\n' ' ')" \
  > "$OUT/cmake.txt" 2>&1 || { tail -40 "$OUT/cmake.txt"; exit 1; }
grep -E "Bitscape|CUDA" "$OUT/cmake.txt" | head
ninja -C build-cuda bitscape-cli bitscape_bench_search_costs > "$OUT/build.txt" 2>&1 \
  || { grep -B2 -A12 -m3 "error" "$OUT/build.txt"; exit 1; }
echo "build: $(( $(date +%s) - t0 )) s"
export LD_LIBRARY_PATH=$NVLIBS
CLI=build-cuda/app/bitscape-cli
$CLI doctor

if [[ $CHECKS == *eval* ]]; then
echo "== eval: sample and 8B-shaped, Bitscape vs PyTorch on CUDA"
PYTHONUNBUFFERED=1 timeout 300 python3 bench/bench_cuda.py --cli $CLI --out "$OUT"
fi

if [[ $CHECKS == *gptq* ]]; then
echo "== GPTQ 3-bit, calibration on CUDA vs CPU"
for dev in cuda cpu; do
  timeout 120 $CLI eval --model sample_data/model --data sample_data/test.txt --bits 3 --method gptq \
    --calib-data sample_data/train.txt --samples 32 --device $dev --threads 16 --json --quiet \
    > "$OUT/gptq3_$dev.json" && python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print(sys.argv[2], 'ppl', j['ppl'], 'seconds', j['seconds'])" "$OUT/gptq3_$dev.json" $dev
done
fi

if [[ $CHECKS == *costs* ]]; then
echo "== search per-step costs on this CPU"
timeout 150 build-cuda/bench/bitscape_bench_search_costs --threads 16 --device cuda --json "$OUT/search_costs_gpu_host.json"
fi
echo "total: $(( $(date +%s) - t0 )) s"
