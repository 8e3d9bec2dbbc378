#!/usr/bin/env python3
"""Evaluation speed, side by side: `bitscape-cli eval` versus the same forward in PyTorch eager
(transformers, attn_implementation="eager") on the same weights, windows and thread count.

Models: the bundled sample model, and a randomly initialised 1B-shaped Llama (16 blocks, hidden
2048, intermediate 5632, 32 heads, 8 KV heads, vocab 32000) that this script saves once under
--work. Both sides tokenize the same corpus with the same tokenizer.json, cut the same windows,
and time only the scoring loop (windows -> logits -> NLL). Results go to bench/results/.

Needs (optional tooling, not the build): pip install torch transformers tokenizers safetensors
Usage: python3 bench/bench_eval.py [--cli build/app/bitscape-cli] [--threads 2] [--seqlen 256]
"""
import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

ROOT = Path(__file__).resolve().parent.parent


def make_1b(path: Path, tokenizer_json: Path):
    if (path / "config.json").exists():
        return
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=32000, hidden_size=2048, intermediate_size=5632,
                      num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8,
                      max_position_embeddings=4096, rms_norm_eps=1e-5, tie_word_embeddings=False,
                      bos_token_id=0, eos_token_id=1)
    model = LlamaForCausalLM(cfg).float()
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path, safe_serialization=True)
    (path / "tokenizer.json").write_bytes(tokenizer_json.read_bytes())


def reference(model_dir: Path, data: Path, seqlen: int, windows: int, threads: int):
    torch.set_num_threads(threads)
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    ids = tok.encode(data.read_text(encoding="utf-8"), add_special_tokens=True).ids
    n = min(len(ids) // seqlen, windows) if windows > 0 else len(ids) // seqlen
    x = torch.tensor(ids[: n * seqlen], dtype=torch.long).view(n, seqlen)
    model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    total = 0.0
    with torch.inference_mode():
        model(x[:1])  # warm-up, as bitscape's first window also pays one-off costs
        t0 = time.perf_counter()
        for w in range(n):
            logits = model(x[w : w + 1]).logits[0, :-1].float()
            logp = torch.log_softmax(logits, -1)
            total -= logp.gather(1, x[w, 1:].unsqueeze(1)).sum().item()
        seconds = time.perf_counter() - t0
    return {"ppl": math.exp(total / (n * (seqlen - 1))), "seconds": seconds, "windows": n,
            "tokens_per_second": n * seqlen / seconds}


def bitscape(cli: Path, model_dir: Path, data: Path, seqlen: int, windows: int, threads: int):
    out = subprocess.run([str(cli), "eval", "--model", str(model_dir), "--data", str(data),
                          "--seqlen", str(seqlen), "--max-windows", str(windows),
                          "--threads", str(threads), "--json", "--quiet"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", default=str(ROOT / "build/app/bitscape-cli"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--seqlen", type=int, default=256)
    ap.add_argument("--windows", type=int, default=8)
    ap.add_argument("--windows-1b", type=int, default=2)
    ap.add_argument("--work", default="/tmp/bitscape-bench")
    args = ap.parse_args()
    data = ROOT / "sample_data/test.txt"
    sample = ROOT / "sample_data/model"
    big = Path(args.work) / "llama-1b-random"
    make_1b(big, sample / "tokenizer.json")
    rows = []
    for name, d, w in [("sample model", sample, args.windows), ("1B-shaped Llama (random)", big, args.windows_1b)]:
        b = bitscape(Path(args.cli), d, data, args.seqlen, w, args.threads)
        r = reference(d, data, args.seqlen, w, args.threads)
        rows.append({"model": name, "windows": w, "seqlen": args.seqlen, "threads": args.threads,
                     "bitscape_tokens_per_second": b["tokens_per_second"],
                     "pytorch_eager_tokens_per_second": r["tokens_per_second"],
                     "speedup": b["tokens_per_second"] / r["tokens_per_second"],
                     "bitscape_ppl": b["ppl"], "pytorch_ppl": r["ppl"]})
        print(json.dumps(rows[-1]), flush=True)
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"
    out = ROOT / "bench/results/eval_speed.md"
    with out.open("w") as f:
        f.write(f"# eval speed: bitscape-cli vs PyTorch eager\n\nmachine: {machine}\n")
        f.write("command: python3 bench/bench_eval.py " + " ".join(sys.argv[1:]) + "\n")
        f.write("Bitscape: Debian LibTorch 1.13 + OpenBLAS (pthread), OMP_WAIT_POLICY=PASSIVE; PyTorch: pip wheel defaults\n\n")
        f.write("| model | windows x seqlen | threads | Bitscape tok/s | PyTorch eager tok/s | speedup | ppl (Bitscape / PyTorch) |\n|---|---|---|---|---|---|---|\n")
        for r in rows:
            f.write(f"| {r['model']} | {r['windows']} x {r['seqlen']} | {r['threads']} | {r['bitscape_tokens_per_second']:.0f} | "
                    f"{r['pytorch_eager_tokens_per_second']:.0f} | {r['speedup']:.2f}x | {r['bitscape_ppl']:.4f} / {r['pytorch_ppl']:.4f} |\n")
    (ROOT / "bench/results/eval_speed.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
