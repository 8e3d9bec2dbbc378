#!/usr/bin/env python3
"""Checks that the sample model is a useful quantization demo: test perplexity after plain
round-to-nearest (asymmetric, per output row, group 128) of every block linear module, at
8/4/3/2 bits, with the eval protocol of `bitscape-cli eval` (seqlen 256). An independent
PyTorch computation (transformers), so it also cross-checks Bitscape's unquantized figure.

Usage: python3 tools/rtn_sensitivity_check.py   (needs: pip install torch transformers tokenizers)"""
import math
from pathlib import Path

import torch
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM

root = Path(__file__).resolve().parent.parent
model_dir = root / "sample_data/model"
seqlen = 256
tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
ids = tok.encode((root / "sample_data/test.txt").read_text(encoding="utf-8"), add_special_tokens=True).ids
n = len(ids) // seqlen
x = torch.tensor(ids[: n * seqlen]).view(n, seqlen)


def ppl(model):
    total = 0.0
    with torch.inference_mode():
        for w in range(0, n, 16):
            b = x[w:w + 16]
            logp = torch.log_softmax(model(b).logits[:, :-1].float(), -1)
            total -= logp.gather(2, b[:, 1:].unsqueeze(2)).sum().item()
    return math.exp(total / (n * (seqlen - 1)))


def rtn(w, bits, group=128):
    rows, cols = w.shape
    g = w.reshape(rows, cols // group, group)
    lo, hi = g.amin(-1, keepdim=True), g.amax(-1, keepdim=True)
    scale = (hi - lo).clamp(min=1e-8) / (2 ** bits - 1)
    zero = torch.round(-lo / scale)
    q = torch.clamp(torch.round(g / scale) + zero, 0, 2 ** bits - 1)
    return ((q - zero) * scale).reshape(rows, cols)


torch.set_num_threads(2)
base = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32).eval()
print(f"fp32: {ppl(base):.3f}")
for bits in (8, 4, 3, 2):
    m = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32).eval()
    with torch.no_grad():
        for name, mod in m.named_modules():
            if name.startswith("model.layers.") and isinstance(mod, torch.nn.Linear):
                mod.weight.copy_(rtn(mod.weight, bits))
    print(f"RTN {bits}-bit g128: {ppl(m):.3f}")
