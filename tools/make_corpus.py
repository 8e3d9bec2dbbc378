#!/usr/bin/env python3
"""Builds sample_data/{train,validation,test}.txt from the King James Version of the Bible as
shipped by Debian's `bible-kjv` + `bible-kjv-text` packages (public domain text).

Each chapter is one document (its verses joined with spaces into one paragraph); documents are
separated by a blank line. Chapter k (0-based, in canonical order) goes to test when
k % 20 == 10, to validation when k % 20 == 15, else to train.

Usage: sudo apt-get install bible-kjv && python3 tools/make_corpus.py [OUT_DIR]
"""
import re
import subprocess
import sys
from pathlib import Path

out = Path(sys.argv[1] if len(sys.argv) > 1 else "sample_data")
raw = subprocess.run(["bible", "-f", "Gen1:1-Rev22:21"], check=True, capture_output=True,
                     text=True).stdout
verse = re.compile(r"^([1-3]?[A-Za-z]+)(\d+):(\d+) (.*)$")
chapters = []  # [(book, chapter, [verses])]
for line in raw.splitlines():
    m = verse.match(line)
    if not m:
        raise SystemExit(f"unexpected line: {line!r}")
    key = (m.group(1), int(m.group(2)))
    if not chapters or chapters[-1][0] != key:
        chapters.append((key, []))
    chapters[-1][1].append(m.group(4).strip())
splits = {"train": [], "validation": [], "test": []}
for k, (_, verses) in enumerate(chapters):
    split = "test" if k % 20 == 10 else "validation" if k % 20 == 15 else "train"
    splits[split].append(" ".join(verses))
out.mkdir(parents=True, exist_ok=True)
for name, docs in splits.items():
    (out / f"{name}.txt").write_text("\n\n".join(docs) + "\n", encoding="utf-8")
    print(f"{name}: {len(docs)} chapters, {sum(len(d) for d in docs)} characters")
