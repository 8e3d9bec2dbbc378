#!/usr/bin/env python3
"""Peak memory of calibration: runs bench program bitscape_bench_calibration_memory on the
sample model and on a randomly initialised 1B-shaped Llama (16 blocks, hidden 2048, MLP 5632,
vocab 32000, saved once in bfloat16 under --work), with the weights memory-mapped as
`bitscape-cli calibrate` keeps them and, for contrast, copied into memory. Writes
bench/results/calibration_memory.md and .json.

Usage: python3 bench/bench_calibration_memory.py [--bench build/bench/bitscape_bench_calibration_memory]
           [--work /tmp/bitscape-bench] [--threads 2]
"""
import argparse
import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(bench, args, out):
    subprocess.run([bench] + args + ["--json", str(out)], check=True)
    return json.loads(out.read_text())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", default=str(ROOT / "build/bench/bitscape_bench_calibration_memory"))
    ap.add_argument("--work", default="/tmp/bitscape-bench")
    ap.add_argument("--threads", default="2")
    a = ap.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    t = ["--threads", a.threads]
    runs = [
        ("sample model, mapped", run(a.bench, ["--model", str(ROOT / "sample_data/model"), "--samples", "128", "--seqlen", "256"] + t, work / "sample.json")),
        ("1B-shaped, mapped", run(a.bench, ["--make-1b", str(work / "llama-1b"), "--samples", "16", "--seqlen", "256"] + t, work / "mapped.json")),
        ("1B-shaped, copied (for contrast)", run(a.bench, ["--model", str(work / "llama-1b"), "--samples", "16", "--seqlen", "256", "--copy"] + t, work / "copied.json")),
    ]
    mb = lambda b: f"{b / 1e6:,.0f}"
    lines = ["# Peak memory of calibration", "",
             "Command: `python3 bench/bench_calibration_memory.py`. Calibration as `bitscape-cli calibrate` "
             "runs it (full Hessians, statistics of every module), while a thread samples "
             "/proc/self/status every 10 ms. *Anonymous* memory is what the process allocates; "
             "*mapped file pages* are the memory-mapped checkpoint, which the kernel can drop at any "
             "time. The estimate is one block's weights in fp32 + that block's Hessians (accumulators "
             "and their packed upper triangles) + the hidden states in and out; a batch of 2048 "
             "tokens adds its forward temporaries (attention scores, MLP activations).", "",
             "| run | tokens | model files MB | one block + H + activations MB (estimate) | peak anonymous MB | peak mapped file pages MB | seconds |",
             "|---|---|---|---|---|---|---|"]
    for name, j in runs:
        lines.append(f"| {name} | {j['samples']} x {j['seqlen']} | {mb(j['model_file_bytes'])} | "
                     f"{mb(j['one_block_estimate_bytes'])} | {mb(j['peak_anonymous_bytes'])} | "
                     f"{mb(j['peak_file_bytes'])} | {j['seconds']:.1f} |")
    (ROOT / "bench/results/calibration_memory.md").write_text("\n".join(lines) + "\n")
    (ROOT / "bench/results/calibration_memory.json").write_text(json.dumps(dict(runs), indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
