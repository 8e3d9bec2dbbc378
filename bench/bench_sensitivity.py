#!/usr/bin/env python3
"""Sensitivity of the sample model, end to end, and the time it takes: calibrates
sample_data/model on train.txt (128 x 256 tokens), runs `bitscape-cli sensitivity` with its
defaults plus the Fisher map (every module at 2/3/4/8 bits with RTN g128, 32 held-out windows of
validation.txt, Fisher and Hutchinson traces on 8 calibration windows), and times the saliency
maps of one large module (14336 x 8192) with bench program bitscape_bench_saliency. Writes
bench/results/sensitivity.md and .json: the timings, every module's curve, and the rank
correlation of each cheap proxy with the measured perplexity increase and KL.

Usage: python3 bench/bench_sensitivity.py [--cli build/app/bitscape-cli] [--threads 2]
"""
import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", default=str(ROOT / "build/app/bitscape-cli"))
    ap.add_argument("--saliency-bench", default=str(ROOT / "build/bench/bitscape_bench_saliency"))
    ap.add_argument("--threads", default="2")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bitscape-sensitivity-"))
    project = work / "sample.bsproj.h5"
    t0 = time.time()
    subprocess.run([a.cli, "calibrate", "--quiet", "--model", str(ROOT / "sample_data/model"),
                    "--data", str(ROOT / "sample_data/train.txt"), "--threads", a.threads,
                    "--out", str(project)], check=True)
    calibrate_s = time.time() - t0
    cmd = [a.cli, "sensitivity", "--quiet", "--json", "--project", str(project), "--eval-data",
           str(ROOT / "sample_data/validation.txt"), "--metrics", "obs,tammp,act,diag,fisher",
           "--threads", a.threads]
    t0 = time.time()
    run = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    sensitivity_s = time.time() - t0
    saliency = None
    if Path(a.saliency_bench).exists():
        subprocess.run([a.saliency_bench, "--threads", a.threads, "--json", str(work / "sal.json")],
                       check=True, capture_output=True)
        saliency = json.loads((work / "sal.json").read_text())

    bits = run["bits"]
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    L = ["# Sensitivity of the sample model", "",
         f"Machine: {cpu}, {a.threads} threads; Bitscape {commit}. Command: `python3 bench/bench_sensitivity.py`.",
         "",
         f"- calibrate (128 x 256 tokens of train.txt): {calibrate_s:.1f} s",
         f"- sensitivity (42 modules x {len(bits)} bit options, RTN g128, {run['eval_windows']} windows x "
         f"{run['seqlen']} tokens of validation.txt; saliency maps obs/tammp/act/diag/fisher; Fisher and "
         f"16 Hutchinson samples on 8 calibration windows): **{sensitivity_s:.1f} s** "
         f"(the run reports {run['seconds']:.1f} s)",
         f"- baseline perplexity on those windows: {run['baseline_ppl']:.4f}", ""]
    if saliency:
        L.append(f"Saliency of one {saliency['out']} x {saliency['in']} module (full map, then its "
                 "column/row/group sums and 128 x 128 pooled maps), seconds:")
        L.append("")
        L.append("| metric | map | summary |")
        L.append("|---|---|---|")
        for m, v in saliency["metrics"].items():
            L.append(f"| {m} | {v['map_seconds']:.2f} | {v['summary_seconds']:.2f} |")
        L.append("")
    L.append("Spearman rank correlation of each proxy with the measured curves over the 42 modules:")
    L.append("")
    L.append("| proxy | " + " | ".join(f"vs ppl increase, {b}-bit" for b in bits) + " | " +
             " | ".join(f"vs KL, {b}-bit" for b in bits) + " |")
    L.append("|---|" + "---|" * (2 * len(bits)))
    by = {}
    for c in run["correlations"]:
        by.setdefault(c["proxy"], {})[c["against"]] = c["spearman"]
    fmt = lambda x: "-" if x is None else f"{x:.3f}"
    for proxy, v in by.items():
        L.append(f"| {proxy} | " + " | ".join(fmt(x) for x in v.get("delta_ppl", [None] * len(bits))) +
                 " | " + " | ".join(fmt(x) for x in v.get("kl", [None] * len(bits))) + " |")
    L.append("")
    L.append("Every module's curve: perplexity increase and KL (nats per token) with only that module quantized.")
    L.append("")
    L.append("| module | " + " | ".join(f"dppl {b}b" for b in bits) + " | " + " | ".join(f"KL {b}b" for b in bits) +
             " | Hessian trace |")
    L.append("|---|" + "---|" * (2 * len(bits) + 1))
    for m in run["modules"]:
        tr = m["hessian_trace"]
        L.append(f"| {m['module'].replace('model.layers.', '')} | " +
                 " | ".join(f"{x:+.4f}" for x in m["delta_ppl"]) + " | " +
                 " | ".join(f"{x:.5f}" for x in m["kl"]) + f" | {'-' if tr is None else f'{tr:.3g}'} |")
    (ROOT / "bench/results/sensitivity.md").write_text("\n".join(L) + "\n")
    (ROOT / "bench/results/sensitivity.json").write_text(json.dumps(
        {"calibrate_seconds": calibrate_s, "sensitivity_seconds": sensitivity_s, "run": run,
         "saliency": saliency}, indent=1) + "\n")
    print("\n".join(L[:12]))


if __name__ == "__main__":
    main()
