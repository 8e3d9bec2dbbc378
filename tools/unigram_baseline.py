#!/usr/bin/env python3
"""Unigram baseline perplexity for sample_data/README.md: token frequencies counted on the
training split (add-one smoothing over the vocabulary), scored on the test split with the same
protocol as `bitscape-cli eval` (text tokenized once with special tokens, non-overlapping
windows of SEQLEN tokens, the first token of each window not predicted).

Usage: python3 tools/unigram_baseline.py [SEQLEN]   (needs: pip install tokenizers)"""
import math
import sys
from collections import Counter
from pathlib import Path

from tokenizers import Tokenizer

root = Path(__file__).resolve().parent.parent
seqlen = int(sys.argv[1]) if len(sys.argv) > 1 else 256
tok = Tokenizer.from_file(str(root / "sample_data/model/tokenizer.json"))
train = tok.encode((root / "sample_data/train.txt").read_text(encoding="utf-8")).ids
test = tok.encode((root / "sample_data/test.txt").read_text(encoding="utf-8"), add_special_tokens=True).ids
V = tok.get_vocab_size()
counts = Counter(train)
total = len(train)
nll, n = 0.0, 0
for w in range(len(test) // seqlen):
    for t in test[w * seqlen + 1:(w + 1) * seqlen]:
        nll -= math.log((counts[t] + 1) / (total + V))
        n += 1
print(f"unigram baseline: test ppl {math.exp(nll / n):.2f} over {n} predicted tokens (seqlen {seqlen})")
