#!/usr/bin/env python3
"""GPTQ speed, side by side: Bitscape's C++ GPTQ versus the reference GPTQ in PyTorch.

What it does
    1. Builds GPTQ inputs and writes them to safetensors files (`<name>.W`, `<name>.H`) under
       --work (a temporary folder unless given):
       * sample.safetensors: the 42 linear modules of the sample model (sample_data/model, fp32)
         with their Hessians H = 2/N sum_n X_n^T X_n, kept as a running mean exactly as GPTQ's
         add_batch does (N counts calibration sequences), from forward hooks while the model
         reads 128 random windows of 256 tokens of sample_data/train.txt (the whole file
         tokenized once with tokenizer.json, add_special_tokens=True; window starts
         random.randint(0, len - 256 - 1) after random.seed(0), as GPTQ's datautils do). Modules
         that read the same input share H (q/k/v_proj, gate/up_proj).
       * big.safetensors: two synthetic modules [out, in] = [4096, 4096] and [4096, 11008]
         (in = 11008 as a Llama-7B down_proj), W ~ N(0, 0.02^2) with heavy-ish tails, and
         H = X^T X / N from N = 2048 correlated inputs (low-rank plus diagonal, a few
         high-variance channels), generated in chunks.
    2. Times the reference GPTQ (tests/fixtures/quant/make_gptq_fixture.py gptq_fasterquant:
       the authors' fasterquant, IST-DASLab/gptq, with the one Bitscape change that scales are
       rounded to fp16; 4-bit, group 128, blocksize 128, percdamp 0.01, no act_order) per
       module with torch.set_num_threads(--threads): only fasterquant is timed (H is cloned
       before the clock starts), best of --repeat (sample model) / --repeat-big (big ones).
    3. Runs the Bitscape bench program (--bitscape-bench), once per input file:
         bitscape_bench_gptq --inputs FILE --out RESULTS.safetensors --json TIMINGS.json
                             --threads T --bits 4 --group 128 --repeat R
       which writes `<name>.Q` (float32) per module and
       {"modules": [{"name", "seconds" (best), "all_seconds"}], "threads": T}.
       When the program is missing, Bitscape's column says "not built".
    4. Compares per module: max |Q_bitscape - Q_reference| and the layer objective
       tr(dW H dW^T), dW = W - Q, of both.
    5. Writes bench/results/gptq_speed.md (and gptq_speed.json): machine, command, versions,
       one row per module group (sample model total over 42 modules; 4096x4096; 4096x11008)
       and the per-module rows.

Needs (optional tooling, not the build): pip install torch transformers tokenizers safetensors
Usage: python3 bench/bench_gptq.py [--threads 2] [--repeat 3] [--repeat-big 1] [--no-big]
           [--bitscape-bench build/bench/bitscape_bench_gptq] [--work DIR]
"""
import argparse
import importlib.util
import json
import os
import platform
import random
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
BITS, GROUP, BLOCKSIZE, PERCDAMP = 4, 128, 128, 0.01


def load_reference():
    path = ROOT / "tests/fixtures/quant/make_gptq_fixture.py"
    spec = importlib.util.spec_from_file_location("make_gptq_fixture", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------------------------
# 1. inputs


class HessianAccumulator:
    """GPTQ's add_batch: H kept as the running mean of 2 x x^T over calibration sequences."""

    def __init__(self, columns):
        self.H = torch.zeros(columns, columns)
        self.nsamples = 0

    def add_batch(self, inp):
        if inp.dim() == 2:
            inp = inp.unsqueeze(0)
        batch = inp.shape[0]
        inp = inp.reshape(-1, inp.shape[-1]).t().float()
        self.H *= self.nsamples / (self.nsamples + batch)
        self.nsamples += batch
        inp = (2 / self.nsamples) ** 0.5 * inp
        self.H += inp.matmul(inp.t())


def sample_model_inputs(model_dir, data, nsamples, seqlen, seed):
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM

    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    ids = tok.encode(data.read_text(encoding="utf-8"), add_special_tokens=True).ids
    random.seed(seed)
    windows = []
    for _ in range(nsamples):
        i = random.randint(0, len(ids) - seqlen - 1)
        windows.append(torch.tensor(ids[i:i + seqlen], dtype=torch.long))

    model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32).eval()
    linears = {name: m for name, m in model.named_modules()
               if isinstance(m, torch.nn.Linear) and ".layers." in name}
    # One accumulator per distinct input: q/k/v read the attention input, gate/up the MLP input.
    readers = {"k_proj": "q_proj", "v_proj": "q_proj", "up_proj": "gate_proj"}
    accumulators, hooks = {}, []
    for name, module in linears.items():
        if name.rsplit(".", 1)[1] in readers:
            continue
        acc = accumulators[name] = HessianAccumulator(module.in_features)
        hooks.append(module.register_forward_hook(
            lambda _m, inp, _out, acc=acc: acc.add_batch(inp[0].detach())))
    with torch.inference_mode():
        for window in windows:  # one sequence per forward, as GPTQ's llama.py feeds them
            model(window.unsqueeze(0))
    for h in hooks:
        h.remove()

    modules = {}
    for name, module in linears.items():
        prefix, leaf = name.rsplit(".", 1)
        source = f"{prefix}.{readers[leaf]}" if leaf in readers else name
        modules[name] = (module.weight.detach().float().contiguous(),
                         accumulators[source].H)
    return modules, len(ids)


def synthetic_module(out_features, in_features, n, seed, chunk=256, rank=256):
    """W with heavy-ish tails; H = X^T X / N from correlated X = Z B + E D, built in chunks."""
    g = torch.Generator().manual_seed(seed)
    W = 0.02 * torch.randn(out_features, in_features, generator=g)
    W *= 1 + 3 * (torch.rand(out_features, in_features, generator=g) < 0.02).float()
    B = torch.randn(rank, in_features, generator=g) / rank ** 0.5
    D = 0.5 + torch.rand(in_features, generator=g)
    D[torch.randperm(in_features, generator=g)[:16]] *= 10
    H = torch.zeros(in_features, in_features)
    for start in range(0, n, chunk):
        rows = min(chunk, n - start)
        X = torch.randn(rows, rank, generator=g) @ B
        X += torch.randn(rows, in_features, generator=g) * D
        H.addmm_(X.t(), X)
    H /= n
    return W.contiguous(), H


def write_inputs(path, modules):
    from safetensors.torch import save_file

    tensors = {}
    for name, (W, H) in modules.items():
        tensors[f"{name}.W"] = W
        tensors[f"{name}.H"] = H.clone()  # shared H is stored once per module
    save_file(tensors, str(path))


# ---------------------------------------------------------------------------------------------
# 2.-4. timing and comparison


def time_reference(reference, W, H, repeat):
    best, Q = float("inf"), None
    for _ in range(repeat):
        H_copy = H.clone()  # fasterquant consumes its H; the copy is not timed
        t0 = time.perf_counter()
        Q = reference.gptq_fasterquant(W, H_copy, bits=BITS, groupsize=GROUP,
                                       blocksize=BLOCKSIZE, percdamp=PERCDAMP, clone_H=False)
        best = min(best, time.perf_counter() - t0)
    return best, Q


def layer_objective(W, Q, H):
    """tr(dW H dW^T), dW = W - Q: the product in float32, the sum in float64."""
    dW = W - Q
    return float((dW.matmul(H) * dW).sum(dtype=torch.float64))


def run_bitscape(program, inputs, work, tag, threads, repeat):
    out, timings = work / f"{tag}_bitscape_Q.safetensors", work / f"{tag}_bitscape.json"
    cmd = [str(program), "--inputs", str(inputs), "--out", str(out), "--json", str(timings),
           "--threads", str(threads), "--bits", str(BITS), "--group", str(GROUP),
           "--repeat", str(repeat)]
    print("running", " ".join(shlex.quote(c) for c in cmd), flush=True)
    subprocess.run(cmd, check=True)
    from safetensors.torch import load_file

    result = json.loads(timings.read_text())
    seconds = {m["name"]: m["seconds"] for m in result["modules"]}
    return seconds, load_file(str(out))


# ---------------------------------------------------------------------------------------------
# 5. report


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average():
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def git_commit():
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                check=True, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain",
                                "--untracked-files=no"],
                               check=True, capture_output=True, text=True).stdout.strip()
        return commit + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def group_row(label, rows, bitscape_status):
    ref = sum(r["reference_seconds"] for r in rows)
    have_b = all(r["bitscape_seconds"] is not None for r in rows)
    bs = sum(r["bitscape_seconds"] for r in rows) if have_b else None
    diff = max(r["max_abs_diff"] for r in rows) if have_b else None
    obj_r = sum(r["objective_reference"] for r in rows)
    obj_b = sum(r["objective_bitscape"] for r in rows) if have_b else None
    return {"group": label, "modules": len(rows), "reference_seconds": ref,
            "bitscape_seconds": bs, "speedup": ref / bs if bs else None,
            "max_abs_diff": diff, "objective_reference": obj_r, "objective_bitscape": obj_b,
            "bitscape": bitscape_status if not have_b else "ok"}


def write_report(path, args, groups, modules, info):
    lines = [
        "# GPTQ speed: Bitscape (C++) vs the reference GPTQ (PyTorch)",
        "",
        f"machine: {info['cpu']}, {info['cores']} cores ({platform.machine()}), "
        f"{args.threads} threads",
        f"command: {info['command']}",
        f"versions: torch {torch.__version__}, Python {platform.python_version()}, "
        f"Bitscape {info['commit']}",
        f"Bitscape bench: {info['bitscape_program']} ({info['bitscape_status']})",
        f"load average (1/5/15 min) at start: {info['load_start']}, at end: {info['load_end']} "
        "(other work on the machine slows both sides)",
        "",
        f"GPTQ {BITS}-bit, group {GROUP}, blocksize {BLOCKSIZE}, percdamp {PERCDAMP}, no "
        "act_order, scales rounded to fp16. Reference: the authors' fasterquant "
        "(tests/fixtures/quant/make_gptq_fixture.py). Seconds: quantization only (no Hessian "
        f"construction), best of {args.repeat} (sample model) / {args.repeat_big} (big "
        "modules), summed over the group. Objective: tr(dW H dW^T), dW = W - Q, summed over "
        "the group. Max |dQ|: max over the group of |Q_bitscape - Q_reference|.",
        "",
        "| modules | reference s | Bitscape s | speed-up | max abs diff Q | objective reference "
        "| objective Bitscape |",
        "|---|---|---|---|---|---|---|",
    ]
    for g in groups:
        bs = fmt(g["bitscape_seconds"], ".3f") if g["bitscape_seconds"] is not None \
            else g["bitscape"]
        lines.append(
            f"| {g['group']} | {g['reference_seconds']:.3f} | {bs} | "
            f"{fmt(g['speedup'], '.2f') + 'x' if g['speedup'] else '-'} | "
            f"{fmt(g['max_abs_diff'], '.3g')} | {g['objective_reference']:.6g} | "
            f"{fmt(g['objective_bitscape'], '.6g')} |")
    lines += ["", "Inputs: " + info["inputs"], "", "## Per module", "",
              "| module | shape | reference s | Bitscape s | max abs diff Q | objective reference "
              "| objective Bitscape |",
              "|---|---|---|---|---|---|---|"]
    for m in modules:
        lines.append(
            f"| {m['name']} | {m['shape'][0]}x{m['shape'][1]} | {m['reference_seconds']:.4f} | "
            f"{fmt(m['bitscape_seconds'], '.4f')} | {fmt(m['max_abs_diff'], '.3g')} | "
            f"{m['objective_reference']:.6g} | {fmt(m['objective_bitscape'], '.6g')} |")
    path.write_text("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=str(ROOT / "sample_data/model"))
    ap.add_argument("--data", default=str(ROOT / "sample_data/train.txt"))
    ap.add_argument("--bitscape-bench", default=str(ROOT / "build/bench/bitscape_bench_gptq"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3, help="best of R, sample-model modules")
    ap.add_argument("--repeat-big", type=int, default=1, help="best of R, synthetic modules")
    ap.add_argument("--nsamples", type=int, default=128)
    ap.add_argument("--seqlen", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--big-n", type=int, default=2048, help="inputs behind each synthetic H")
    ap.add_argument("--no-big", action="store_true", help="sample model only")
    ap.add_argument("--work", default=None, help="folder for the input/result files "
                                                 "(default: a temporary one, removed)")
    ap.add_argument("--out", default=str(ROOT / "bench/results/gptq_speed.md"))
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    load_start = load_average()
    reference = load_reference()
    tmp = None
    if args.work:
        work = Path(args.work)
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bitscape-bench-gptq-")
        work = Path(tmp.name)

    t0 = time.perf_counter()
    sample, n_tokens = sample_model_inputs(Path(args.model), Path(args.data), args.nsamples,
                                           args.seqlen, args.seed)
    print(f"sample model: {len(sample)} modules, Hessians from {args.nsamples} x {args.seqlen} "
          f"tokens ({time.perf_counter() - t0:.1f} s)", flush=True)
    sets = [("sample", sample, args.repeat)]
    if not args.no_big:
        t0 = time.perf_counter()
        big = {"synthetic.4096x4096": synthetic_module(4096, 4096, args.big_n, seed=1),
               "synthetic.4096x11008": synthetic_module(4096, 11008, args.big_n, seed=2)}
        print(f"synthetic modules built ({time.perf_counter() - t0:.1f} s)", flush=True)
        sets.append(("big", big, args.repeat_big))
    files = {}
    for tag, modules, _ in sets:
        files[tag] = work / f"{tag}.safetensors"
        write_inputs(files[tag], modules)

    program = Path(args.bitscape_bench)
    status = "ok" if program.is_file() and os.access(program, os.X_OK) else "not built"
    rows = []
    for tag, modules, repeat in sets:
        b_seconds, b_q = {}, {}
        if status == "ok":
            try:
                b_seconds, b_q = run_bitscape(program, files[tag], work, tag, args.threads,
                                              repeat)
            except (subprocess.CalledProcessError, OSError, ValueError, KeyError) as e:
                status = f"failed: {e}"
                print(status, file=sys.stderr)
        for name, (W, H) in modules.items():
            seconds, Q = time_reference(reference, W, H, repeat)
            row = {"set": tag, "name": name, "shape": list(W.shape),
                   "reference_seconds": seconds, "bitscape_seconds": b_seconds.get(name),
                   "objective_reference": layer_objective(W, Q, H),
                   "max_abs_diff": None, "objective_bitscape": None}
            Qb = b_q.get(f"{name}.Q")
            if Qb is not None:
                row["max_abs_diff"] = float((Qb.float() - Q).abs().max())
                row["objective_bitscape"] = layer_objective(W, Qb.float(), H)
            rows.append(row)
            print(f"{name:40s} {W.shape[0]:5d}x{W.shape[1]:<5d} reference {seconds:8.3f} s"
                  + (f"  bitscape {row['bitscape_seconds']:8.3f} s  max|dQ| "
                     f"{row['max_abs_diff']:.3g}" if row["bitscape_seconds"] is not None
                     and row["max_abs_diff"] is not None else ""), flush=True)

    groups = [group_row(f"sample model ({len(sample)} modules)",
                        [r for r in rows if r["set"] == "sample"], status)]
    for name in ("synthetic.4096x4096", "synthetic.4096x11008"):
        picked = [r for r in rows if r["name"] == name]
        if picked:
            groups.append(group_row(name.split(".", 1)[1], picked, status))
    info = {
        "cpu": cpu_model(), "cores": os.cpu_count(), "commit": git_commit(),
        "command": "python3 " + " ".join(shlex.quote(a) for a in sys.argv),
        "bitscape_program": os.path.relpath(program, ROOT) if program.is_absolute() and
        str(program).startswith(str(ROOT)) else str(program),
        "bitscape_status": status,
        "load_start": load_start, "load_end": load_average(),
        "inputs": f"sample model Hessians from {args.nsamples} windows x {args.seqlen} tokens "
                  f"of {os.path.relpath(args.data, ROOT)} ({n_tokens} tokens, seed {args.seed})"
                  + ("" if args.no_big else f"; synthetic H from N = {args.big_n} correlated "
                     "inputs"),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_report(out, args, groups, rows, info)
    out.with_suffix(".json").write_text(json.dumps(
        {"machine": info, "threads": args.threads, "bits": BITS, "group": GROUP,
         "groups": groups, "modules": rows}, indent=1) + "\n")
    print(f"wrote {out} and {out.with_suffix('.json')}")
    for g in groups:
        print(f"{g['group']:28s} reference {g['reference_seconds']:8.3f} s  bitscape "
              f"{fmt(g['bitscape_seconds'], '.3f') if g['bitscape_seconds'] is not None else g['bitscape']}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
