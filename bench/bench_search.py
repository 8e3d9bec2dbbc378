#!/usr/bin/env python3
"""The four searches on the sample model, side by side: calibrates sample_data/model on train.txt,
measures the sensitivity curves (for dp), runs `bitscape-cli search` with each method (dp, amq,
automixq, cmpq) on 16 windows of validation.txt with its defaults, and records every point,
the fronts and the search times. Then, as the papers do, quantizes the AMQ allocations chosen at
3.0 and 3.25 average bits with GPTQ and evaluates them on test.txt next to uniform GPTQ
allocations of the same size (2-bit at group 32, 3-bit at group 128). Writes bench/results/search.md and
.json and the plot docs/images/pareto-sample.png (needs matplotlib; optional tooling).

Usage: python3 bench/bench_search.py [--cli build/app/bitscape-cli] [--threads 2]
"""
import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
METHODS = ["dp", "amq", "automixq", "cmpq"]


def lines(out):
    points, summary = [], None
    for l in out.splitlines():
        j = json.loads(l)
        if j.get("kind") == "search_point":
            points.append(j)
        elif j.get("kind") == "summary":
            summary = j
    return points, summary


def evaluate(cli, threads, extra):
    out = subprocess.run([cli, "eval", "--quiet", "--json", "--model", str(ROOT / "sample_data/model"),
                          "--data", str(ROOT / "sample_data/test.txt"), "--threads", threads,
                          "--calib-data", str(ROOT / "sample_data/train.txt")] + extra,
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def best_within(points, method, bits):
    """The point of `method` with the lowest KL among those within `bits` average bits, or None."""
    c = [p for p in points if p["method"] == method and p["average_bits"] <= bits + 1e-9 and p["kl"] is not None]
    return min(c, key=lambda p: p["kl"]) if c else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", default=str(ROOT / "build/app/bitscape-cli"))
    ap.add_argument("--threads", default="2")
    ap.add_argument("--plot-only", action="store_true", help="redraw the plot from bench/results/search.json")
    a = ap.parse_args()
    if a.plot_only:
        plot(json.loads((ROOT / "bench/results/search.json").read_text())["runs"])
        return
    work = Path(tempfile.mkdtemp(prefix="bitscape-search-"))
    project = str(work / "sample.bsproj.h5")
    subprocess.run([a.cli, "calibrate", "--quiet", "--model", str(ROOT / "sample_data/model"),
                    "--data", str(ROOT / "sample_data/train.txt"), "--threads", a.threads,
                    "--out", project], check=True, capture_output=True)
    t0 = time.time()
    subprocess.run([a.cli, "sensitivity", "--quiet", "--project", project, "--eval-data",
                    str(ROOT / "sample_data/validation.txt"), "--bits", "2,3,4", "--metrics", "obs",
                    "--trace-samples", "0", "--threads", a.threads], check=True, capture_output=True)
    sensitivity_s = time.time() - t0
    runs = {}
    for m in METHODS:
        t0 = time.time()
        cmd = [a.cli, "search", "--quiet", "--json", "--project", project, "--method", m,
               "--eval-data", str(ROOT / "sample_data/validation.txt"), "--threads", a.threads]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        points, summary = lines(out)
        runs[m] = {"seconds": time.time() - t0, "points": points, "summary": summary}
        print(f"{m}: {len(points)} points in {runs[m]['seconds']:.0f} s", flush=True)

    # AMQ's choices at 3.0 and 3.25 bits, quantized with GPTQ, against uniform GPTQ of that size
    # (2-bit g32 and 3-bit g128). Not at 2.5 bits: AMQ's pruning pins the most sensitive
    # modules at 4 bits, so its front may start above 2.5 bits.
    finals = []
    modules = json.loads(subprocess.run([a.cli, "show", "--json", "--project", project], check=True,
                                        capture_output=True, text=True).stdout)["modules"]
    unquantized = evaluate(a.cli, a.threads, [])["ppl"]
    for budget, bits, group in (("3.0", 2, 32), ("3.25", 3, 128)):
        # The best AMQ point within the budget (by KL), as an allocation quantized with GPTQ.
        best = best_within(runs["amq"]["points"], "amq", float(budget))
        if best is None:
            print(f"amq has no point within {budget} bits", flush=True)
            continue
        alloc = work / f"amq-{budget}.alloc.json"
        alloc.write_text(json.dumps({"format": "bitscape-allocation", "version": 1,
                                     "name": f"AMQ at {budget} bits, GPTQ",
                                     "modules": {m: {"bits": [2, 3, 4][g], "group_size": 128,
                                                     "quantizer": "gptq"}
                                                 for m, g in zip(modules, best["genes"])}}))
        searched = evaluate(a.cli, a.threads, ["--alloc", str(alloc)])
        uniform = evaluate(a.cli, a.threads, ["--bits", str(bits), "--group", str(group), "--method", "gptq"])
        finals.append({"budget": budget, "searched": searched["ppl"],
                       "searched_bits": searched["quantization"]["average_bits"],
                       "uniform": uniform["ppl"], "uniform_bits": uniform["quantization"]["average_bits"],
                       "uniform_label": f"{bits}-bit g{group}"})
        print(finals[-1], flush=True)

    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    L = ["# The four searches on the sample model", "",
         f"Machine: {cpu}, {a.threads} threads; Bitscape {commit}. Command: `python3 bench/bench_search.py`.",
         "", "Candidates measured on 16 windows x 256 tokens of validation.txt against the unquantized "
         "model (mean KL per token). dp reads a sensitivity run (RTN at 2/3/4 bits, measured in "
         f"{sensitivity_s:.0f} s, not included below); amq searches with HQQ at 2/3/4 bits; automixq "
         "with RTN over 4-bit, 2-bit and the four 2/4-bit protection strategies (half the output "
         "channels at 4 bits); cmpq measures CMPQ's allocation at each budget.", "",
         "| method | points | search time | KL at <= 2.5 bits | KL at <= 3.0 bits | uniform of the same size (2-bit g64 / g32) |",
         "|---|---|---|---|---|---|"]
    for m in METHODS:
        pts = runs[m]["points"]
        def uni(bits_value):
            c = [p for p in pts if p["method"] == "uniform" and abs(p["average_bits"] - bits_value) < 1e-6]
            return c[0] if c else None
        b25, b30 = best_within(pts, m, 2.5), best_within(pts, m, 3.0)
        u25, u30 = uni(2.5), uni(3.0)
        fmt = lambda p: "-" if p is None else f"{p['kl']:.5f} ({p['average_bits']:.3f} b)"
        L.append(f"| {m} | {len(pts)} | {runs[m]['seconds']:.0f} s | {fmt(b25)} | {fmt(b30)} | "
                 f"{fmt(u25)} / {fmt(u30)} |")
    L += ["", "AMQ's allocations at 3.0 and 3.25 bits, quantized with GPTQ (calibration: 128 x 256 tokens "
          "of train.txt), against uniform GPTQ of the same size; test perplexity on test.txt "
          f"(unquantized: {unquantized:.3f}):", "",
          "| budget | AMQ + GPTQ | uniform GPTQ |", "|---|---|---|"]
    for f in finals:
        L.append(f"| {f['budget']} bits | {f['searched']:.3f} ({f['searched_bits']:.3f} b) | "
                 f"{f['uniform']:.3f} ({f['uniform_label']}, {f['uniform_bits']:.3f} b) |")
    (ROOT / "bench/results/search.md").write_text("\n".join(L) + "\n")
    (ROOT / "bench/results/search.json").write_text(json.dumps(
        {"sensitivity_seconds": sensitivity_s, "unquantized_ppl": unquantized, "runs": {m: {"seconds": r["seconds"], "points": r["points"]}
                                                        for m, r in runs.items()}, "finals": finals}, indent=1) + "\n")
    print("\n".join(L))
    plot(runs)


def plot(runs):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot")
        return
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    colors = {"dp": "tab:blue", "amq": "tab:orange", "automixq": "tab:green", "cmpq": "tab:red"}
    for m in METHODS:
        pts = [p for p in runs[m]["points"] if p["method"] == m and p["kl"] is not None]
        ax.scatter([p["average_bits"] for p in pts], [p["kl"] for p in pts], s=6, alpha=0.25, color=colors[m])
        front, best = [], float("inf")
        for p in sorted(pts, key=lambda p: (p["average_bits"], p["kl"])):
            if p["kl"] < best:
                front.append(p)
                best = p["kl"]
        ax.step([p["average_bits"] for p in front], [p["kl"] for p in front], where="post", color=colors[m],
                label=f"{m} ({runs[m]['seconds']:.0f} s)")
    uni = [p for p in runs["amq"]["points"] if p["method"] == "uniform"]
    ax.scatter([p["average_bits"] for p in uni], [p["kl"] for p in uni], marker="x", color="black",
               label="uniform HQQ (2/3/4/8 bits; 2/3 bits at g64, g32)")
    uni = [p for p in runs["dp"]["points"] if p["method"] == "uniform"]
    ax.scatter([p["average_bits"] for p in uni], [p["kl"] for p in uni], marker="+", color="gray",
               label="uniform RTN")
    ax.set_yscale("log")
    ax.set_xlim(2.1, 4.6)
    shown = [p["kl"] for r in runs.values() for p in r["points"]
             if p["kl"] is not None and p["kl"] > 0 and 2.1 <= p["average_bits"] <= 4.6]
    ax.set_ylim(min(shown) / 1.3, max(shown) * 1.3)
    ax.set_xlabel("average bits (with scales, zeros, codebooks)")
    ax.set_ylabel("mean KL to the unquantized model (nats/token)")
    ax.set_title("Sample model: Pareto fronts of the four searches")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(ROOT / "docs/images/pareto-sample.png")
    print("wrote docs/images/pareto-sample.png")


if __name__ == "__main__":
    main()
