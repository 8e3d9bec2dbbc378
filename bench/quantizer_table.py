#!/usr/bin/env python3
"""Test perplexity of the sample model for every quantizer at 8/4/3/2 bits (group 128), next to
the unquantized model: the README's quantizer table. Runs `bitscape-cli eval` (papers' protocol,
sample_data/test.txt, seqlen 256, all windows) once per cell.

Calibration (GPTQ, AWQ, k-means): 128 windows of 256 tokens from sample_data/train.txt, seed 0,
drawn inside the command. Each method is calibrated as its authors' code does it: GPTQ measures
every block on the outputs of the already-quantized blocks (its sequential mode); AWQ and
SqueezeLLM-style k-means measure every block on full-precision inputs (--no-sequential).
CMPQ (`--cmpq B`, Algorithm 1: k-means per input channel with 2/3/4 bits chosen by activation
norm for an average of B code bits, 0.45% + 0.05% fp16 outliers) is run at B = 4, 3, 2.
RTN and HQQ need no data. "bits" is the average with overhead (scales, zeros, codebooks).

Usage: python3 bench/quantizer_table.py [--cli build/app/bitscape-cli] [--threads 2]
Writes bench/results/quantizer_table.md and .json.
"""
import argparse
import json
import platform
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
METHODS = ["rtn", "gptq", "hqq", "awq", "kmeans", "cmpq"]
BITS = [8, 4, 3, 2]


def run(cli, extra, threads):
    cmd = [cli, "eval", "--model", str(ROOT / "sample_data/model"), "--data",
           str(ROOT / "sample_data/test.txt"), "--seqlen", "256", "--threads", str(threads),
           "--json", "--quiet"] + extra
    t0 = time.time()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    j = json.loads(out)
    j["wall_seconds"] = time.time() - t0
    return j


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", default=str(ROOT / "build/app/bitscape-cli"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    calib = ["--calib-data", str(ROOT / "sample_data/train.txt"), "--samples", "128",
             "--calib-seqlen", "256", "--seed", "0"]
    results = {"fp32": run(args.cli, [], args.threads)}
    print(f"fp32: {results['fp32']['ppl']:.3f}", flush=True)
    for m in METHODS:
        for b in BITS:
            if m == "cmpq":  # CMPQ's Algorithm 1 takes budgets between 2 and 4 code bits
                if b > 4:
                    continue
                extra = ["--cmpq", str(b)]
            else:
                extra = ["--bits", str(b), "--group", "128", "--method", m]
            if m in ("gptq", "awq", "kmeans", "cmpq"):
                extra += calib
            if m in ("awq", "kmeans", "cmpq"):
                extra += ["--no-sequential"]
            r = run(args.cli, extra, args.threads)
            results[f"{m}-{b}"] = r
            print(f"{m} {b}-bit: ppl {r['ppl']:.3f}, {r['quantization']['average_bits']:.3f} bits, "
                  f"quantized in {r['quantization']['seconds']:.1f} s", flush=True)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    lines = [
        "# Quantizers on the sample model",
        "",
        f"Machine: {cpu}, {args.threads} threads; Bitscape {commit}; {platform.platform()}.",
        f"Command: `python3 bench/quantizer_table.py --threads {args.threads}`.",
        "",
        f"Test perplexity (sample_data/test.txt, seqlen 256, {results['fp32']['windows']} windows, "
        f"{results['fp32']['tokens']:,} predicted tokens) "
        "after quantizing every block linear module (42 modules) uniformly, group 128. Bits are "
        "the average with overhead (fp16 scale and zero per group of 128 = +0.25; k-means: a "
        "codebook of 2^b fp16 centroids per row; CMPQ: a codebook per input channel, its fp16 "
        "outliers and a class map).",
        "",
        f"Unquantized (fp32): **{results['fp32']['ppl']:.3f}**",
        "",
        "| method | " + " | ".join(f"{b}-bit" for b in BITS) + " |",
        "|---|" + "---|" * len(BITS),
    ]
    def cell(key, fmt):
        return fmt(results[key]) if key in results else "-"
    for m in METHODS:
        cells = [cell(f"{m}-{b}", lambda r: f"{r['ppl']:.3f} ({r['quantization']['average_bits']:.2f} b)")
                 for b in BITS]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines += ["", "Quantization time (seconds, including calibration where used):", "",
              "| method | " + " | ".join(f"{b}-bit" for b in BITS) + " |", "|---|" + "---|" * len(BITS)]
    for m in METHODS:
        lines.append(f"| {m} | " + " | ".join(
            cell(f"{m}-{b}", lambda r: f"{r['quantization']['seconds']:.1f}") for b in BITS) + " |")
    out = ROOT / "bench/results/quantizer_table.md"
    out.write_text("\n".join(lines) + "\n")
    for r in results.values():
        r.pop("window_nll", None)
    (ROOT / "bench/results/quantizer_table.json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
