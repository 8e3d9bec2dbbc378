#!/usr/bin/env python3
"""Builds sample_data/{train,validation,test}.txt: public-domain English prose shipped by
Debian 12 packages, from three sources.

- The King James Version of the Bible (`bible-kjv` + `bible-kjv-text`, dumped with `bible`):
  one document per chapter, its verses joined with spaces.
- Jane Austen's six novels (`r-cran-janeaustenr`, read with `Rscript`): one document per
  chapter, its paragraphs on lines of their own (the printed line breaks joined with spaces,
  runs of spaces made one).
- C. H. Spurgeon's *The Treasury of David* (`sword-comm-tdavid`, read with `diatheke`):
  commentary on the Psalms, 1869-1885, with the older writers it quotes; the OSIS markup is
  dropped, and consecutive paragraphs are grouped into documents of at least 2,000 characters.

Documents are separated by a blank line. Within each source, document k (0-based, in the
source's order) goes to test when k % 40 == 10, to validation when k % 40 == 30, else to
train; the three sources follow each other in the order above.

Usage: sudo apt-get install bible-kjv r-cran-janeaustenr diatheke sword-comm-tdavid
       python3 tools/make_corpus.py [OUT_DIR]
"""
import html
import re
import subprocess
import sys
from pathlib import Path


def run(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def kjv():
    verse = re.compile(r"^([1-3]?[A-Za-z]+)(\d+):(\d+) (.*)$")
    chapters = []  # [(book, chapter), [verses]]
    for line in run(["bible", "-f", "Gen1:1-Rev22:21"]).splitlines():
        m = verse.match(line)
        if not m:
            raise SystemExit(f"unexpected line from bible: {line!r}")
        key = (m.group(1), int(m.group(2)))
        if not chapters or chapters[-1][0] != key:
            chapters.append((key, []))
        chapters[-1][1].append(m.group(4).strip())
    return [" ".join(verses) for _, verses in chapters]


def austen():
    # One line per printed line of text, a tab between the book and the text.
    script = ("library(janeaustenr); b <- austen_books(); "
              "writeLines(paste(as.character(b$book), b$text, sep='\\t'))")
    docs, paragraph, book = [], [], None
    chapter = re.compile(r"^(CHAPTER|Chapter) [0-9IVXLC]+\.?$")

    def end_paragraph():
        if paragraph:
            docs[-1].append(" ".join(paragraph))
            paragraph.clear()

    for line in run(["Rscript", "-e", script]).splitlines():
        name, _, text = line.partition("\t")
        text = re.sub(r" {2,}", " ", text.strip())  # the e-texts' two spaces after a full stop
        if name != book or chapter.match(text):
            end_paragraph()
            book = name
            docs.append([])
            if chapter.match(text):
                continue
        if not text:
            end_paragraph()
        else:
            paragraph.append(text)
    end_paragraph()
    # Front matter before each book's first chapter (title, volume headings) is dropped.
    return ["\n".join(d) for d in docs if sum(len(p) for p in d) > 2000]


def treasury_of_david():
    raw = run(["diatheke", "-b", "TDavid", "-f", "plaintext", "-k", "Ps"])
    # diatheke prints the entry of each verse; a psalm's commentary is one entry repeated for
    # its verses: keep each distinct entry once, in order.
    parts = re.split(r"^Psalms \d+:\d+: ", raw, flags=re.M)
    seen, paragraphs = set(), []
    for entry in parts[1:]:
        if entry in seen:
            continue
        seen.add(entry)
        # Paragraph and title boundaries become line breaks; inline markup is dropped.
        text = re.sub(r'<div [^>]*type="x-p"[^>]*/>|</?title[^>]*>|<chapter[^>]*/>', "\n", entry)
        text = html.unescape(re.sub(r"<[^>]+>", "", text))
        for p in text.split("\n"):
            p = re.sub(r"\s+", " ", p).strip()
            if p:
                paragraphs.append(p)
    docs, current = [], []
    for p in paragraphs:
        current.append(p)
        if sum(len(q) for q in current) >= 2000:
            docs.append("\n".join(current))
            current = []
    if current:
        docs.append("\n".join(current))
    return docs


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "sample_data")
    splits = {"train": [], "validation": [], "test": []}
    for name, docs in [("kjv", kjv()), ("austen", austen()), ("tdavid", treasury_of_david())]:
        counts = {"train": 0, "validation": 0, "test": 0}
        for k, doc in enumerate(docs):
            split = "test" if k % 40 == 10 else "validation" if k % 40 == 30 else "train"
            splits[split].append(doc)
            counts[split] += 1
        print(f"{name}: {len(docs)} documents, {sum(len(d) for d in docs)} characters, {counts}")
    out.mkdir(parents=True, exist_ok=True)
    for name, docs in splits.items():
        (out / f"{name}.txt").write_text("\n\n".join(docs) + "\n", encoding="utf-8")
        print(f"{name}: {len(docs)} documents, {sum(len(d) for d in docs)} characters")


main()
