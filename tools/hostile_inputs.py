#!/usr/bin/env python3
"""Feeds bitscape-cli hostile inputs, as a new user downloading files from the internet may meet
them, and tabulates what happened (issue 14's figure "hostile inputs tried and their outcome").

Each case is a broken copy of a real input (the sample model's config.json, safetensors and
tokenizer.json, an allocation, a corpus, a calibrated project) or a hostile option, run through
the command that reads it. Outcomes:
  refused   exit 1 or 2 with one line naming the problem     (expected for hostile input)
  accepted  exit 0                                            (expected only for benign cases)
  crash     a signal or exit 3 (internal error)
  hang      still running after the timeout
A case that expects a refusal and is accepted is a *silent accept*.

Run: python3 tools/hostile_inputs.py [--cli build/app/bitscape-cli] [--out tests/hostile/results.md]
Needs numpy, safetensors and h5py (pip install numpy safetensors h5py).
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
from safetensors.numpy import load_file, save_file

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data" / "model"
TEST = ROOT / "sample_data" / "test.txt"
TRAIN = ROOT / "sample_data" / "train.txt"
DEEP = "[" * 100000 + "]" * 100000


class Runner:
    def __init__(self, cli, work, timeout):
        self.cli, self.work, self.timeout = cli, Path(work), timeout
        self.rows = []
        self.n = 0

    def fresh(self, name):
        self.n += 1
        d = self.work / f"{self.n:03d}-{name}"
        d.mkdir(parents=True)
        return d

    def model_copy(self, d):
        m = d / "model"
        shutil.copytree(SAMPLE, m)
        return m

    def run(self, category, name, args, expect="refused"):
        env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", XDG_CACHE_HOME=str(self.work / "cache"))
        t0 = time.time()
        try:
            p = subprocess.run([self.cli] + [str(a) for a in args], capture_output=True, text=True,
                               timeout=self.timeout, env=env, errors="replace")
            code, err = p.returncode, p.stderr.strip()
            if code in (1, 2):
                outcome = "refused"
            elif code == 0:
                outcome = "accepted"
            else:
                outcome = "crash"
        except subprocess.TimeoutExpired:
            code, err, outcome = None, "", "hang"
        seconds = time.time() - t0
        last = err.splitlines()[-1] if err else ""
        ok = outcome == expect or (expect == "either" and outcome in ("refused", "accepted"))
        self.rows.append(dict(category=category, name=name, outcome=outcome, expect=expect, ok=ok,
                              code=code, seconds=seconds, message=last[:300]))
        mark = "ok " if ok else "BAD"
        print(f"{mark} {category:12s} {name:45s} {outcome:9s} {seconds:6.1f}s  {last[:110]}", flush=True)


def write_json(path, obj):
    Path(path).write_text(json.dumps(obj))


def config_cases(r):
    base = json.loads((SAMPLE / "config.json").read_text())
    values = {"missing": None, "null": "null", "zero": 0, "negative": -1, "2^31": 2 ** 31,
              "2^63": 2 ** 63, "1e300": 1e300, "string": "256", "list": [256], "object": {"a": 1},
              "true": True, "fraction": 256.5}
    for key in ["vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                "num_attention_heads", "num_key_value_heads", "max_position_embeddings",
                "rope_theta", "rms_norm_eps", "head_dim"]:
        for label, v in values.items():
            if key in ("rope_theta", "rms_norm_eps") and label in ("fraction",):
                continue
            c = dict(base)
            if v is None:
                if key in ("num_key_value_heads", "max_position_embeddings", "rope_theta",
                           "rms_norm_eps", "head_dim"):
                    continue  # optional: their defaults are fine
                del c[key]
            elif v == "null":
                if key != "vocab_size":
                    continue
                c[key] = None
            else:
                c[key] = v
            d = r.fresh("config")
            m = r.model_copy(d)
            write_json(m / "config.json", c)
            # A large rope_theta only weakens RoPE's rotation, and an rms_norm_eps of 0 or more
            # than usual only changes the normalisation: unusual, finite, not wrong to accept.
            benign = (key == "rope_theta" and label in ("2^31", "2^63", "1e300")) or \
                     (key == "rms_norm_eps" and label in ("zero", "2^31", "2^63", "1e300"))
            r.run("config.json", f"{key} = {label}", ["eval", "--quiet", "--model", m, "--data", TEST,
                                                       "--max-windows", "1", "--seqlen", "32"],
                  expect="either" if benign else "refused")
    for label, text in [("not JSON", "{hidden_size: 256"), ("empty", ""), ("binary", "\x00\xff\x10"),
                        ("array", "[]"), ("nested 100k", DEEP),
                        ("duplicate key", (SAMPLE / "config.json").read_text().replace(
                            '"hidden_size": 256,', '"hidden_size": 256, "hidden_size": 128,')),
                        ("unsupported architecture", json.dumps(dict(base, architectures=["GPT2LMHeadModel"]))),
                        ("unknown rope type", json.dumps(dict(base, rope_scaling={"rope_type": "yarn", "factor": 2}))),
                        ("hidden_act gelu", json.dumps(dict(base, hidden_act="gelu"))),
                        ("layer_types disagree", json.dumps(dict(base, layer_types=["sliding_attention"] * 6)))]:
        d = r.fresh("config")
        m = r.model_copy(d)
        (m / "config.json").write_text(text)
        r.run("config.json", label, ["inspect", "--model", m])
    d = r.fresh("config")
    m = r.model_copy(d)
    with open(m / "config.json", "ab") as f:
        f.truncate(20 << 20)
    r.run("config.json", "20 MB file", ["inspect", "--model", m])
    d = r.fresh("config")
    m = r.model_copy(d)
    os.remove(m / "config.json")
    os.mkdir(m / "config.json")
    r.run("config.json", "a directory", ["inspect", "--model", m])
    d = r.fresh("config")
    m = r.model_copy(d)
    c = dict(base)
    c["unknown_field"] = {"x": [1, 2]}
    write_json(m / "config.json", c)
    r.run("config.json", "extra unknown field (benign)", ["inspect", "--model", m], expect="accepted")


def safetensors_bytes(tensors, header_edit=None, raw_header=None):
    """A safetensors file from numpy arrays, with an optional edit of its header."""
    header, data, off = {"__metadata__": {"format": "pt"}}, b"", 0
    for name, a in tensors.items():
        b = a.tobytes()
        dtype = {np.float32: "F32", np.float16: "F16", np.int32: "I32"}[a.dtype.type]
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        data += b
        off += len(b)
    if header_edit:
        header_edit(header)
    h = raw_header if raw_header is not None else json.dumps(header)
    return struct.pack("<Q", len(h.encode())) + h.encode() + data


def safetensors_cases(r):
    tensors = load_file(str(SAMPLE / "model.safetensors"))
    size = (SAMPLE / "model.safetensors").stat().st_size
    eval_args = lambda m: ["eval", "--quiet", "--model", m, "--data", TEST, "--max-windows", "1", "--seqlen", "32"]

    def case(label, make, expect="refused", command=eval_args):
        d = r.fresh("safetensors")
        m = r.model_copy(d)
        make(m)
        r.run("safetensors", label, command(m), expect)

    raw = (SAMPLE / "model.safetensors").read_bytes()
    for cut in [0, 4, 8, 100, 5000, size // 2, size - 1]:
        case(f"truncated at {cut} bytes", lambda m, cut=cut: (m / "model.safetensors").write_bytes(raw[:cut]))
    case("header length 2^63", lambda m: (m / "model.safetensors").write_bytes(struct.pack("<Q", 2 ** 63) + raw[8:]))
    case("header length past the end", lambda m: (m / "model.safetensors").write_bytes(struct.pack("<Q", size) + raw[8:]))
    case("header not JSON", lambda m: (m / "model.safetensors").write_bytes(
        safetensors_bytes({"a": np.zeros(1, np.float32)}, raw_header="{not json")))
    case("header nested 100k", lambda m: (m / "model.safetensors").write_bytes(
        safetensors_bytes({}, raw_header='{"a": ' + DEEP + "}")))

    def edit(f):
        return lambda m: (m / "model.safetensors").write_bytes(safetensors_bytes(tensors, f))
    name = "model.layers.0.mlp.up_proj.weight"
    case("unknown dtype", edit(lambda h: h[name].update(dtype="F8_E4M3")))
    case("shape larger than data", edit(lambda h: h[name].update(shape=[768, 257])))
    case("negative shape", edit(lambda h: h[name].update(shape=[-768, -256])))
    case("shape product overflows", edit(lambda h: h[name].update(shape=[2 ** 40, 2 ** 40])))
    case("offsets reversed", edit(lambda h: h[name].update(data_offsets=h[name]["data_offsets"][::-1])))
    case("offsets beyond the data", edit(lambda h: h[name].update(
        data_offsets=[h[name]["data_offsets"][0] + 2 ** 40, h[name]["data_offsets"][1] + 2 ** 40])))
    other = "model.layers.0.mlp.gate_proj.weight"
    case("overlapping offsets", edit(lambda h: h[other].update(data_offsets=h[name]["data_offsets"])))
    case("offsets as strings", edit(lambda h: h[name].update(data_offsets=["0", "4"])))
    case("metadata not strings", edit(lambda h: h.update(__metadata__={"format": 1})))
    dup = safetensors_bytes(tensors)
    hlen = struct.unpack("<Q", dup[:8])[0]
    header = dup[8:8 + hlen].decode()
    first = header.index('"' + name + '"')
    entry_end = header.index("}", first) + 1
    entry = header[first:entry_end]
    dup_header = header[:-1] + ", " + entry + "}"
    case("duplicated tensor name", lambda m: (m / "model.safetensors").write_bytes(
        struct.pack("<Q", len(dup_header)) + dup_header.encode() + dup[8 + hlen:]))

    def with_tensor(label, fn, expect="refused"):
        def make(m):
            t = dict(tensors)
            fn(t)
            save_file(t, str(m / "model.safetensors"), metadata={"format": "pt"})
        case(label, make, expect)
    with_tensor("missing tensor", lambda t: t.pop("model.layers.5.mlp.down_proj.weight"))
    with_tensor("wrong shape", lambda t: t.update({name: np.zeros((768, 128), np.float32)}))
    with_tensor("int32 weight", lambda t: t.update({name: np.ones((768, 256), np.int32)}))
    for label, v in [("NaN weight", np.nan), ("Inf weight", np.inf), ("3e38 weights", 3e38)]:
        def f(t, v=v):
            w = t[name].copy()
            w[0, 0] = v
            w[5, 7] = -v if v == 3e38 else v
            t[name] = w
        with_tensor(label, f)
    with_tensor("float16 weights (benign)", lambda t: t.update({k: v.astype(np.float16) for k, v in t.items()}),
                expect="accepted")
    with_tensor("extra tensor (benign)", lambda t: t.update({"extra.weight": np.zeros(4, np.float32)}),
                expect="accepted")

    def untied(m):
        c = json.loads((m / "config.json").read_text())
        c["tie_word_embeddings"] = False
        write_json(m / "config.json", c)
    case("untied head missing", untied)

    def sharded(index, files=()):
        def make(m):
            os.rename(m / "model.safetensors", m / "model-00001-of-00001.safetensors")
            (m / "model.safetensors.index.json").write_text(index if isinstance(index, str) else json.dumps(index))
        return make
    wm = {k: "model-00001-of-00001.safetensors" for k in tensors}
    case("sharded (benign)", sharded({"weight_map": wm}), expect="accepted")
    case("shard missing", sharded({"weight_map": dict(wm, **{name: "model-00002-of-00002.safetensors"})}))
    case("shard path ../", sharded({"weight_map": dict(wm, **{name: "../../etc/passwd"})}))
    case("shard absolute path", sharded({"weight_map": dict(wm, **{name: "/etc/passwd"})}))
    case("index not JSON", sharded("{weight_map"))
    case("index nested 100k", sharded('{"weight_map": ' + DEEP + "}"))
    case("index lists absent tensor", sharded({"weight_map": dict(wm, **{"ghost.weight": "model-00001-of-00001.safetensors"})}))


def tokenizer_cases(r):
    base = json.loads((SAMPLE / "tokenizer.json").read_text())
    eval_args = lambda m: ["eval", "--quiet", "--model", m, "--data", TEST, "--max-windows", "1", "--seqlen", "32"]

    def case(label, tok, expect="refused", text=None):
        d = r.fresh("tokenizer")
        m = r.model_copy(d)
        (m / "tokenizer.json").write_text(tok if isinstance(tok, str) else json.dumps(tok))
        args = eval_args(m)
        if text is not None:
            (d / "text.txt").write_text(text)
            args[args.index(TEST)] = d / "text.txt"
        r.run("tokenizer.json", label, args, expect)

    def edited(f):
        t = json.loads(json.dumps(base))
        f(t)
        return t
    case("not JSON", "{model")
    case("empty", "")
    case("nested 100k", '{"model": {"merges": ' + DEEP + "}}")
    case("no model", edited(lambda t: t.pop("model")))
    case("unknown model type", edited(lambda t: t["model"].update(type="Unigram")))
    case("vocab not an object", edited(lambda t: t["model"].update(vocab=[1, 2])))
    first = next(iter(base["model"]["vocab"]))
    for label, v in [("negative", -1), ("2^31", 2 ** 31), ("float 7e86", 7e86), ("string", "5"), ("null", None)]:
        case(f"vocab id {label}", edited(lambda t, v=v: t["model"]["vocab"].update({first: v})))
    case("vocab id used twice", edited(lambda t: t["model"]["vocab"].update({first: t["model"]["vocab"][list(t["model"]["vocab"])[1]]})))
    case("vocab id beyond the model", edited(lambda t: t["model"]["vocab"].update({first: 9000})))
    case("merge of unknown tokens", edited(lambda t: t["model"]["merges"].insert(0, "zzzq qqqz")))
    case("merge not a pair", edited(lambda t: t["model"]["merges"].insert(0, [1, 2, 3])))
    case("regex does not compile", edited(lambda t: t["pre_tokenizer"]["pretokenizers"][0]["pattern"].update(Regex="(unclosed")))
    case("catastrophic regex", edited(lambda t: t["pre_tokenizer"]["pretokenizers"][0]["pattern"].update(
        Regex="(a|aa)+(a|aa)+$|\\s+|.")), text=("a" * 40 + "b ") * 400)
    case("unknown pre-tokenizer", edited(lambda t: t["pre_tokenizer"].update(type="Whitespace")))
    case("added token id negative", edited(lambda t: t["added_tokens"][0].update(id=-5)))
    case("added token empty", edited(lambda t: t["added_tokens"][0].update(content="")))
    case("special token unknown in template", edited(
        lambda t: t["post_processor"]["processors"][1]["single"][0]["SpecialToken"].update(id="<nope>")))
    case("template ids 2^40", edited(lambda t: t["post_processor"]["processors"][1]["special_tokens"]["<|begin_of_text|>"].update(ids=[2 ** 40])))
    case("dropout (unsupported)", edited(lambda t: t["model"].update(dropout=0.1)))
    case("extra field (benign)", edited(lambda t: t.update(truncation={"max_length": 5})), expect="accepted")


def allocation_cases(r):
    d0 = r.fresh("allocation")
    ok = {"format": "bitscape-allocation", "version": 1, "default": {"bits": 4, "group_size": 128}}

    def case(label, doc, expect="refused"):
        d = r.fresh("allocation")
        p = d / "a.alloc.json"
        p.write_text(doc if isinstance(doc, str) else json.dumps(doc))
        r.run("allocation", label, ["eval", "--quiet", "--model", SAMPLE, "--data", TEST, "--max-windows", "1",
                                    "--seqlen", "32", "--alloc", p, "--method", "rtn"], expect)
    case("valid (benign)", ok, expect="accepted")
    case("not JSON", "{format")
    case("nested 100k", '{"format": "bitscape-allocation", "version": 1, "default": {"bits": ' + DEEP + "}}")
    case("wrong format name", dict(ok, format="other"))
    case("future version", dict(ok, version=99))
    for label, bits in [("1", 1), ("9", 9), ("-1", -1), ("2^63", 2 ** 63), ("1e300", 1e300), ("4.5", 4.5),
                        ("string", "4"), ("null", None), ("list", [4]), ("nested", json.loads("[" * 50 + "]" * 50))]:
        case(f"bits {label}", dict(ok, default={"bits": bits}))
    for label, g in [("0", 0), ("7", 7), ("-5", -5), ("2^40", 2 ** 40), ("string", "128")]:
        case(f"group_size {label}", dict(ok, default={"bits": 4, "group_size": g}))
    case("unknown quantizer", dict(ok, default={"bits": 4, "quantizer": "magic"}))
    case("unknown module", dict(ok, modules={"model.layers.99.mlp.up_proj": {"bits": 4}}))
    case("unknown field", dict(ok, default={"bits": 4, "bitz": 3}))
    case("duplicate key", '{"format": "bitscape-allocation", "version": 1, "default": {"bits": 4, "bits": 2}}')
    case("class fraction 2", dict(ok, default={"bits": 4, "channels": {"classes": [{"bits": 8, "select": "top", "fraction": 2}]}}))
    case("class indices out of range", dict(ok, default={"bits": 4, "channels": {"classes": [{"bits": 8, "indices": [0, 99999]}]}}))
    case("class indices negative", dict(ok, default={"bits": 4, "channels": {"classes": [{"bits": 8, "indices": [-1]}]}}))
    case("outlier fraction -1", dict(ok, default={"bits": 4, "outliers": {"activation_fraction": -1}}))
    case("glob matching nothing", dict(ok, rules=[{"match": "nothing.*", "bits": 2}]))
    case("comment of 1 MB (benign)", dict(ok, comment="x" * (1 << 20)), expect="accepted")
    case("bits at 16 (benign)", dict(ok, default={"bits": 16}), expect="accepted")
    case("empty file", "")
    p = d0 / "dir.alloc.json"
    p.mkdir()
    r.run("allocation", "a directory", ["eval", "--quiet", "--model", SAMPLE, "--data", TEST, "--alloc", p])


def corpus_cases(r):
    def case(label, content, suffix=".txt", expect="refused", path=None):
        d = r.fresh("corpus")
        p = path or d / ("c" + suffix)
        if path is None:
            p.write_bytes(content if isinstance(content, bytes) else content.encode())
        r.run("corpus", label, ["eval", "--quiet", "--model", SAMPLE, "--data", p, "--seqlen", "32", "--max-windows", "1"], expect)
    text = TEST.read_text()[:20000]
    case("empty", "")
    case("whitespace only", " \n\t\n")
    case("invalid UTF-8", text[:1000].encode() + b"\xff\xfe\xc3")
    case("shorter than one window", "a few words")
    case("JSONL malformed line", '{"text": "a"}\n{text: b}\n', ".jsonl")
    case("JSONL without text", '{"body": "a"}\n', ".jsonl")
    case("JSONL text not a string", '{"text": 5}\n', ".jsonl")
    case("JSONL nested 100k", '{"text": ' + DEEP + "}\n", ".jsonl")
    case("JSONL (benign)", "\n".join(json.dumps({"text": text[i:i + 2000]}) for i in range(0, 20000, 2000)), ".jsonl", "accepted")
    case("NUL bytes (benign)", text.replace(" ", "\x00", 50), expect="accepted")
    case("a device", None, path=Path("/dev/zero"))
    case("a directory", None, path=ROOT / "sample_data")
    case("missing file", None, path=Path("/nonexistent/corpus.txt"))


def project_cases(r):
    d0 = r.fresh("project-base")
    base = d0 / "base.bsproj.h5"
    subprocess.run([r.cli, "calibrate", "--quiet", "--model", SAMPLE, "--data", TRAIN, "--samples", "4",
                    "--seqlen", "32", "--out", base], check=True, capture_output=True,
                   env=dict(os.environ, XDG_CACHE_HOME=str(r.work / "cache")))
    subprocess.run([r.cli, "sensitivity", "--quiet", "--project", base, "--bits", "2,4", "--metrics", "obs",
                    "--eval-windows", "2", "--seqlen", "32", "--trace-samples", "0", "--gradient-windows", "1"],
                   check=True, capture_output=True, env=dict(os.environ, XDG_CACHE_HOME=str(r.work / "cache")))
    module = "model.layers.0.mlp.up_proj"
    cmds = {
        "show": lambda p: ["show", "--project", p],
        "search dp": lambda p: ["search", "--quiet", "--project", p, "--method", "dp", "--budget", "3",
                                "--eval-windows", "1", "--seqlen", "32"],
        "gptq eval": lambda p: ["eval", "--quiet", "--model", SAMPLE, "--data", TEST, "--max-windows", "1",
                                "--seqlen", "32", "--bits", "3", "--method", "gptq", "--project", p],
    }

    def case(label, edit, command="show", expect="refused", raw=None):
        d = r.fresh("project")
        p = d / "p.bsproj.h5"
        if raw is not None:
            p.write_bytes(raw)
        else:
            shutil.copy(base, p)
            with h5py.File(p, "r+") as f:
                edit(f)
        r.run("project", f"{label} ({command})", cmds[command](p), expect)
    data = base.read_bytes()
    case("not HDF5", None, raw=b"hello")
    case("empty", None, raw=b"")
    case("truncated", None, raw=data[: len(data) // 2])
    for k, off in enumerate([600, 5000, len(data) // 3, len(data) // 2 + 17, len(data) - 5000]):
        flipped = bytearray(data)
        flipped[off] ^= 0xFF
        case(f"byte flipped at {off}", None, raw=bytes(flipped), expect="either")
    case("no format attribute", lambda f: f.attrs.__delitem__("format"))
    case("newer format version", lambda f: f.attrs.__setitem__("format_version", np.int64(99)))
    def hess(f):
        key = [k for k in f["calibration/hessians"] if "mlp.gate_proj+up_proj" in k][0]
        return f["calibration/hessians"][key]
    def nan_hessian(f):
        u = hess(f)["upper"]
        a = u[...]
        a[3] = np.nan
        del hess(f)["upper"]
        hess(f)["upper"] = a
    case("NaN Hessian", nan_hessian, "gptq eval")
    case("Hessian size 2^40", lambda f: hess(f).attrs.__setitem__("n", np.int64(2 ** 40)), "gptq eval")
    case("Hessian upper too short", lambda f: (hess(f).__delitem__("upper"), hess(f).__setitem__("upper", np.ones(5, np.float32))), "gptq eval")
    stats = lambda f: f["calibration/modules"][f"model.layers.0.mlp.up_proj"]
    case("in_features negative", lambda f: stats(f).attrs.__setitem__("in_features", np.int64(-3)))
    case("in_features a string", lambda f: stats(f).attrs.__setitem__("in_features", "768"))
    case("Inf statistics", lambda f: (stats(f).__delitem__("act_l2"), stats(f).__setitem__("act_l2", np.full(256, np.inf, np.float32))))
    case("samples 2^40", lambda f: f["calibration"].attrs.__setitem__("samples", np.int64(2 ** 40)), "gptq eval")
    case("seqlen negative", lambda f: f["calibration"].attrs.__setitem__("seqlen", np.int64(-5)), "gptq eval")
    run = lambda f: f["sensitivity/run1"]
    case("run bits malformed", lambda f: run(f).attrs.__setitem__("bits", "2,x"))
    case("run seqlen NaN", lambda f: run(f).attrs.__setitem__("seqlen", np.nan))
    curve = lambda f: f[f"sensitivity/run1/modules/{module}/curve"]
    def curve_edit(name, values):
        return lambda f: (curve(f).__delitem__(name), curve(f).__setitem__(name, np.array(values, np.float32)))
    case("curve KL -inf", curve_edit("kl", [-np.inf, 0.01]), "search dp")
    case("curve KL NaN (not measured: benign)", curve_edit("kl", [np.nan, 0.01]), "show", "accepted")
    case("curve shorter than bits", curve_edit("kl", [0.1]), "search dp")
    sal = lambda f: f[f"sensitivity/run1/modules/{module}/saliency/obs"]
    case("pooled map wrong size", lambda f: (sal(f).__delitem__("pooled_max"), sal(f).__setitem__("pooled_max", np.ones(7, np.float32))))
    case("saliency rows 2^40", lambda f: sal(f).attrs.__setitem__("rows", np.int64(2 ** 40)))
    case("module shapes absurd", lambda f: f["model/module_shapes"].__setitem__(0, np.array([2 ** 40, -1])))
    case("string attribute of 1M elements", lambda f: (f.attrs.__delitem__("format"),
                                                       f.attrs.create("format", ["bitscape-project"] * 1000000)))
    d = r.fresh("project")
    r.run("project", "a directory (show)", ["show", "--project", d])
    r.run("project", "a device (show)", ["show", "--project", "/dev/zero"])


def option_cases(r):
    def case(label, args, expect="refused"):
        r.run("options", label, args, expect)
    e = ["eval", "--quiet", "--model", SAMPLE, "--data", TEST]
    case("eval --seqlen -5", e + ["--seqlen", "-5"])
    case("eval --seqlen 1", e + ["--seqlen", "1"])
    case("eval --max-windows -1", e + ["--max-windows", "-1"])
    case("eval --seqlen abc", e + ["--seqlen", "abc"])
    case("eval --seqlen 1e3", e + ["--seqlen", "1e3"])
    case("eval --seqlen 2^70", e + ["--seqlen", str(2 ** 70)])
    case("eval --threads -2", e + ["--threads", "-2", "--max-windows", "1"])
    case("eval --gpu-memory nan", e + ["--gpu-memory", "nan", "--max-windows", "1"])
    case("eval --dtype fp8", e + ["--dtype", "fp8", "--max-windows", "1"])
    case("eval --device tpu", e + ["--device", "tpu", "--max-windows", "1"])
    case("eval --device cuda (no GPU)", e + ["--device", "cuda", "--max-windows", "1"])
    case("eval --seqlen 300 beyond context (warns)", e + ["--seqlen", "300", "--max-windows", "1"], "accepted")
    case("eval --bits 1", e + ["--bits", "1", "--max-windows", "1", "--seqlen", "32"])
    case("eval --bits 4 --group 7", e + ["--bits", "4", "--group", "7", "--max-windows", "1", "--seqlen", "32"])
    case("eval --bits 4 --method magic", e + ["--bits", "4", "--method", "magic", "--max-windows", "1"])
    c = ["calibrate", "--quiet", "--model", SAMPLE, "--data", TRAIN]
    out = r.fresh("options") / "p.bsproj.h5"
    case("calibrate --seqlen -5", c + ["--seqlen", "-5", "--out", out])
    case("calibrate --samples 0", c + ["--samples", "0", "--out", out])
    case("calibrate --samples 10^12", c + ["--samples", str(10 ** 12), "--seqlen", "32", "--out", out])
    case("calibrate --hessians half", c + ["--hessians", "half", "--out", out])
    case("calibrate --out a directory", c + ["--out", ROOT / "sample_data"])
    case("calibrate --out the corpus", c + ["--samples", "2", "--seqlen", "32", "--out", TEST])
    s = ["search", "--quiet", "--project", out, "--method", "dp"]
    for b in ["nan", "inf", "-1", "0", "1e9"]:
        case(f"search --budget {b}", s + ["--budget", b])
    case("search --budgets 2:4:0", s + ["--budgets", "2:4:0"])
    case("search --budgets 2:4:1e-9", s + ["--budgets", "2:4:0.000000001"])
    case("search --method magic", ["search", "--project", out, "--method", "magic"])
    d = r.fresh("options")
    (d / "q").mkdir()
    (d / "q" / "keep.txt").write_text("keep")
    q = ["quantize", "--quiet", "--model", SAMPLE, "--bits", "4", "--method", "rtn"]
    case("quantize --out a foreign folder --force", q + ["--out", d / "q", "--force"])
    case("quantize --out the model's parent --force", q + ["--out", SAMPLE.parent, "--force"])
    case("quantize --out a file --force", q + ["--out", TEST, "--force"])
    case("quantize --out the model", q + ["--out", SAMPLE, "--force"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", default=str(ROOT / "build" / "app" / "bitscape-cli"))
    ap.add_argument("--out", default=str(ROOT / "tests" / "hostile" / "results.md"))
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--only", help="run one group: config, safetensors, tokenizer, allocation, corpus, project, option")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="bitscape-hostile-")
    r = Runner(a.cli, work, a.timeout)
    t0 = time.time()
    for cases in [config_cases, safetensors_cases, tokenizer_cases, allocation_cases, corpus_cases,
                  project_cases, option_cases]:
        if a.only and not cases.__name__.startswith(a.only):
            continue
        cases(r)
    # The inputs must survive being tried: nothing under sample_data/ changed.
    intact = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "sample_data"],
                            capture_output=True, text=True).stdout.strip() == ""
    rows = r.rows
    cats = []
    for row in rows:
        if row["category"] not in cats:
            cats.append(row["category"])
    lines = ["# Hostile inputs", "",
             f"`python3 tools/hostile_inputs.py` on {time.strftime('%Y-%m-%d')}: {len(rows)} hostile inputs "
             f"and options, each run through the command that reads it ({time.time() - t0:.0f} s). "
             "A refusal is exit 1 or 2 with one line naming the file and the problem; *benign* cases "
             "are variations a reader must accept.", "",
             "| input | cases | refused | accepted (benign) | crash | hang | silent accept |",
             "|---|---|---|---|---|---|---|"]
    for c in cats:
        rs = [x for x in rows if x["category"] == c]
        count = lambda o: sum(1 for x in rs if x["outcome"] == o)
        silent = sum(1 for x in rs if x["outcome"] == "accepted" and x["expect"] == "refused")
        lines.append(f"| {c} | {len(rs)} | {count('refused')} | {count('accepted')} | {count('crash')} | "
                     f"{count('hang')} | {silent} |")
    bad = [x for x in rows if not x["ok"]]
    lines += ["", f"Inputs under sample_data/ unchanged afterwards: {'yes' if intact else 'NO'}.", ""]
    if bad:
        lines += ["Cases that did not end as expected:", ""]
        lines += [f"- {x['category']}: {x['name']}: {x['outcome']} (expected {x['expect']}) {x['message']}" for x in bad]
    else:
        lines += ["Every case ended as expected: zero crashes, zero hangs, zero silent accepts."]
    lines += ["", "## Every case", "", "| input | case | outcome | message |", "|---|---|---|---|"]
    for x in rows:
        msg = x["message"].replace("|", "\\|").replace(str(work), "…")
        lines.append(f"| {x['category']} | {x['name']} | {x['outcome']} | {msg[:160]} |")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text("\n".join(lines) + "\n")
    print(f"{len(rows)} cases, {len(bad)} not as expected; table in {a.out}")
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if bad or not intact else 0)


if __name__ == "__main__":
    main()
