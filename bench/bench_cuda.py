#!/usr/bin/env python3
"""`bitscape-cli eval --device cuda` against PyTorch (transformers, its default SDPA attention)
on the same GPU, weights, windows and dtype; and CPU against CUDA results of Bitscape itself.

Models: the bundled sample model (fp32 and bf16) and a randomly initialised model with the
shapes of Llama-3-8B (32 blocks, hidden 4096, intermediate 14336, 32 heads, 8 KV heads, vocab
128256), made on the GPU by transformers and saved once under --work. Both sides tokenize
sample_data/test.txt with the same tokenizer.json and cut the same windows; both time only the
scoring loop (windows -> logits -> NLL). PyTorch's time follows a warm-up window; Bitscape's
`eval` has none (its first window pays CUDA's one-off costs: context, cuBLAS handles, lazily
loaded kernels), so its steady rate is measured as the difference of two runs with n1 and n2
windows: (n2 - n1) * seqlen / (t2 - t1), the "marginal" rate; both raw runs are recorded.

The 8B figures are the per-candidate cost of a search on an 8B model (bench/results/search_plan.md).

Needs (optional tooling, not the build): torch with CUDA, transformers, tokenizers, safetensors.
Usage: python3 bench/bench_cuda.py --cli build-cuda/app/bitscape-cli [--out bench/results]
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "sample_data/test.txt"
SAMPLE = ROOT / "sample_data/model"
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def windows_of(model_dir: Path, seqlen: int, windows: int):
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    ids = tok.encode(DATA.read_text(encoding="utf-8"), add_special_tokens=True).ids
    n = min(len(ids) // seqlen, windows) if windows > 0 else len(ids) // seqlen
    return torch.tensor(ids[: n * seqlen], dtype=torch.long).view(n, seqlen)


def score(model, x: torch.Tensor, batch: int):
    """NLL of each window; the time covers the scoring loop only (after one warm-up batch)."""
    x = x.cuda()
    total = 0.0
    with torch.inference_mode():
        model(x[:1])
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for w in range(0, x.shape[0], batch):
            xb = x[w : w + batch]
            logits = model(xb).logits[:, :-1].float()
            logp = torch.log_softmax(logits, -1)
            total -= logp.gather(2, xb[:, 1:].unsqueeze(2)).sum().item()
        torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
    n, t = x.shape
    return {"ppl": math.exp(total / (n * (t - 1))), "seconds": seconds,
            "tokens_per_second": n * t / seconds}


def bitscape(cli: str, model_dir: Path, seqlen: int, windows: int, device: str, dtype: str,
             extra=()):
    cmd = [cli, "eval", "--model", str(model_dir), "--data", str(DATA), "--seqlen", str(seqlen),
           "--max-windows", str(windows), "--device", device, "--dtype", dtype, "--json",
           "--quiet", *extra]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    r["wall_seconds"] = time.perf_counter() - t0
    return r


def make_8b(path: Path):
    if (path / "config.json").exists():
        return
    cfg = LlamaConfig(vocab_size=128256, hidden_size=4096, intermediate_size=14336,
                      num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                      max_position_embeddings=8192, rope_theta=500000.0, rms_norm_eps=1e-5,
                      tie_word_embeddings=False, bos_token_id=0, eos_token_id=1)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    with torch.device("cuda"):
        model = LlamaForCausalLM(cfg).to(torch.bfloat16)
    model.save_pretrained(path)
    (path / "tokenizer.json").write_bytes((SAMPLE / "tokenizer.json").read_bytes())
    print(f"made {path} in {time.perf_counter() - t0:.1f} s", flush=True)
    del model
    torch.cuda.empty_cache()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--work", default="/tmp/bitscape-cuda")
    ap.add_argument("--out", default=str(ROOT / "bench/results"))
    ap.add_argument("--windows-8b", type=int, default=16)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []

    def record(row):
        rows.append(row)
        print(json.dumps(row), flush=True)
        (out / "eval_cuda.json").write_text(json.dumps(
            {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "rows": rows},
            indent=1))

    def marginal(a, b):
        return (b["windows"] - a["windows"]) * b["seqlen"] / (b["seconds"] - a["seconds"])

    # 1. The sample model: Bitscape on CPU and CUDA, and PyTorch on CUDA, all windows.
    seqlen = 256
    x = windows_of(SAMPLE, seqlen, 0)
    for dtype in ("fp32", "bf16"):
        cpu = bitscape(args.cli, SAMPLE, seqlen, 0, "cpu", dtype, ["--threads", "16"])
        gpu = bitscape(args.cli, SAMPLE, seqlen, 0, "cuda", dtype)
        gpu_few = bitscape(args.cli, SAMPLE, seqlen, 24, "cuda", dtype)
        model = AutoModelForCausalLM.from_pretrained(SAMPLE, dtype=DTYPES[dtype]).cuda().eval()
        ref = score(model, x, 2048 // seqlen)
        del model
        record({"model": "sample", "dtype": dtype, "windows": x.shape[0], "seqlen": seqlen,
                "bitscape_cpu_ppl": cpu["ppl"], "bitscape_cuda_ppl": gpu["ppl"],
                "pytorch_cuda_ppl": ref["ppl"],
                "bitscape_cuda_tokens_per_second": gpu["tokens_per_second"],
                "bitscape_cuda_marginal_tokens_per_second": marginal(gpu_few, gpu),
                "pytorch_cuda_tokens_per_second": ref["tokens_per_second"],
                "bitscape_cpu16_tokens_per_second": cpu["tokens_per_second"]})

    # 2. An 8B-shaped model in bf16: resident on the GPU, and streamed block by block.
    big = Path(args.work) / "llama3-8b-shaped"
    make_8b(big)
    seqlen = 2048
    x = windows_of(big, seqlen, args.windows_8b)
    gpu = bitscape(args.cli, big, seqlen, args.windows_8b, "cuda", "bf16", ["--gpu-memory", "100"])
    gpu_few = bitscape(args.cli, big, seqlen, 4, "cuda", "bf16", ["--gpu-memory", "100"])
    stream = bitscape(args.cli, big, seqlen, 2, "cuda", "bf16")
    torch.cuda.empty_cache()
    model = AutoModelForCausalLM.from_pretrained(big, dtype=torch.bfloat16, device_map="cuda").eval()
    ref = score(model, x, 1)
    del model
    torch.cuda.empty_cache()
    record({"model": "llama3-8b-shaped (random)", "dtype": "bf16", "windows": x.shape[0],
            "seqlen": seqlen, "bitscape_cuda_ppl": gpu["ppl"], "pytorch_cuda_ppl": ref["ppl"],
            "bitscape_cuda_tokens_per_second": gpu["tokens_per_second"],
            "bitscape_cuda_seconds": gpu["seconds"],
            "bitscape_cuda_marginal_tokens_per_second": marginal(gpu_few, gpu),
            "bitscape_cuda_streamed_tokens_per_second": stream["tokens_per_second"],
            "bitscape_cuda_streamed_ppl": stream["ppl"],
            "bitscape_wall_seconds_with_load": gpu["wall_seconds"],
            "pytorch_cuda_tokens_per_second": ref["tokens_per_second"],
            "pytorch_cuda_seconds": ref["seconds"]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
