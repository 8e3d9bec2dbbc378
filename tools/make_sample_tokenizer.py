#!/usr/bin/env python3
"""Builds sample_data/model/tokenizer.json: a Llama-3-style byte-level BPE tokenizer for the
sample model, and the reference ids the C++ tokenizer is tested against.

Same normalizer (none), pre-tokenizer (Split with the Llama-3 regex, Isolated, then
ByteLevel(use_regex=false)), BPE options (ignore_merges=true), decoder (ByteLevel) and
post-processor (ByteLevel + TemplateProcessing "<|begin_of_text|> $A") as the real Llama-3
tokenizer.json. Vocabulary: exactly 4096 ids, the 4094 learned on sample_data/train.txt by the
`tokenizers` BPE trainer (256 byte symbols first) followed by the special tokens
<|begin_of_text|> (bos, 4094) and <|end_of_text|> (eos, 4095).

Also writes tests/fixtures/tokenizers/sample_test_ids.i32: the ids of the whole of
sample_data/test.txt (add_special_tokens=False) as little-endian int32.

Usage (needs `pip install tokenizers`):  python3 tools/make_sample_tokenizer.py [REPO_ROOT]
"""
import json
import struct
import sys
from pathlib import Path

from tokenizers import Tokenizer, models, pre_tokenizers, trainers

ROOT = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1])
VOCAB_SIZE = 4096
SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>"]
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def main():
    pre = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": LLAMA3_PATTERN}, "behavior": "Isolated",
         "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
    spec = json.loads(Tokenizer(models.BPE(ignore_merges=True)).to_str())
    spec["pre_tokenizer"] = pre
    tok = Tokenizer.from_str(json.dumps(spec))
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE - len(SPECIALS), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train([str(ROOT / "sample_data" / "train.txt")], trainer)
    model = json.loads(tok.to_str())["model"]
    n = len(model["vocab"])
    if n != VOCAB_SIZE - len(SPECIALS):
        raise SystemExit(f"trainer produced {n} tokens, expected {VOCAB_SIZE - len(SPECIALS)}")
    bos = n
    spec = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": n + i, "content": s, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}
                         for i, s in enumerate(SPECIALS)],
        "normalizer": None,
        "pre_tokenizer": pre,
        "post_processor": {"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False,
             "use_regex": True},
            {"type": "TemplateProcessing",
             "single": [{"SpecialToken": {"id": SPECIALS[0], "type_id": 0}},
                        {"Sequence": {"id": "A", "type_id": 0}}],
             "pair": [{"SpecialToken": {"id": SPECIALS[0], "type_id": 0}},
                      {"Sequence": {"id": "A", "type_id": 0}},
                      {"SpecialToken": {"id": SPECIALS[0], "type_id": 1}},
                      {"Sequence": {"id": "B", "type_id": 1}}],
             "special_tokens": {SPECIALS[0]: {"id": SPECIALS[0], "ids": [bos],
                                              "tokens": [SPECIALS[0]]}}}]},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": model,
    }
    out = ROOT / "sample_data" / "model" / "tokenizer.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(spec, ensure_ascii=False, indent=1), encoding="utf-8")
    tok = Tokenizer.from_file(str(out))
    assert tok.get_vocab_size(with_added_tokens=True) == VOCAB_SIZE

    test = (ROOT / "sample_data" / "test.txt").read_text(encoding="utf-8")
    ids = tok.encode(test, add_special_tokens=False).ids
    fixture = ROOT / "tests" / "fixtures" / "tokenizers" / "sample_test_ids.i32"
    fixture.write_bytes(struct.pack(f"<{len(ids)}i", *ids))
    train = (ROOT / "sample_data" / "train.txt").read_text(encoding="utf-8")
    train_ids = tok.encode(train, add_special_tokens=False).ids
    print(f"{out}: {out.stat().st_size} bytes, vocab {tok.get_vocab_size(True)}")
    print(f"test.txt: {len(test)} characters -> {len(ids)} tokens "
          f"({len(ids) / len(test):.4f} tokens/character); {fixture.name}: "
          f"{fixture.stat().st_size} bytes")
    print(f"train.txt: {len(train)} characters -> {len(train_ids)} tokens "
          f"({len(train_ids) / len(train):.4f} tokens/character)")


if __name__ == "__main__":
    main()
