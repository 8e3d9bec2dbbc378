#!/usr/bin/env python3
"""Reads a Bitscape project (*.bsproj.h5) with h5py and prints the model, the calibration
settings and, for one module, its statistics and its Hessian (rebuilt from the packed upper
triangle). It shows that the schema in docs/project-format.md is plain HDF5.
Run: python3 tools/read_project.py PROJECT [MODULE]   (needs `pip install h5py numpy`)"""
import json
import sys

import h5py
import numpy as np


def hessian(group):
    """The full symmetric n x n matrix of a /calibration/hessians/<key> group, or None."""
    n = int(group.attrs["n"])
    if "upper" not in group:
        return None
    H = np.zeros((n, n), dtype=np.float32)
    H[np.triu_indices(n)] = group["upper"][:]  # packed by rows: the order of triu_indices
    return H + np.triu(H, 1).T


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    with h5py.File(sys.argv[1], "r") as f:
        if f.attrs.get("format") != "bitscape-project":
            sys.exit(f"{sys.argv[1]}: not a Bitscape project")
        print(f"format_version {f.attrs['format_version']}, written by Bitscape "
              f"{f.attrs['bitscape_version']}, created {f.attrs['created']}")

        if "model" in f:
            m = f["model"]
            config = json.loads(m.attrs["config_json"])
            print(f"model {m.attrs['path']} ({config.get('model_type', '?')}), "
                  f"fingerprint {m.attrs['fingerprint'][:16]}..., "
                  f"other params {m.attrs['other_params']}")
            names = m["module_names"].asstr()[:] if "module_names" in m else []
            shapes = m["module_shapes"][:] if "module_shapes" in m else []
            for name, (out_f, in_f) in zip(names, shapes):
                print(f"  {name}: {out_f} x {in_f}")

        if "calibration" not in f:
            print("no calibration")
            return
        c = f["calibration"]
        keys = ["corpus", "corpus_sha256", "samples", "seqlen", "seed", "mode", "hessians",
                "device", "dtype", "seconds", "created"]
        print("calibration: " + ", ".join(f"{k}={c.attrs[k]}" for k in keys))
        if "window_starts" in c:
            print(f"  window_starts {c['window_starts'][:].tolist()}")
        order = c["module_order"].asstr()[:].tolist() if "module_order" in c else []
        print(f"  {len(order)} modules calibrated, in execution order: {order[:4]}...")
        if not order:
            return

        name = sys.argv[2] if len(sys.argv) > 2 else order[0]
        g = c["modules"][name]
        print(f"module {name}: {g.attrs['out_features']} x {g.attrs['in_features']}, "
              f"tokens {g.attrs['tokens']}, weight kurtosis {g.attrs['weight_kurtosis']:.4g}")
        for ds in sorted(g):  # absent datasets were empty vectors
            v = g[ds][:]
            print(f"  {ds}[{v.size}]: mean {v.mean():.6g}, max {v.max():.6g}")
        key = g.attrs["hessian"]
        if key and key not in c["hessians"]:
            print(f"  Hessian {key}: not stored in this project")
        elif key:
            h = c["hessians"][key]
            H = hessian(h)
            shared = ", ".join(h.attrs.get("modules", []))
            if H is None:
                print(f"  Hessian {key} (diagonal only, shared by {shared}): "
                      f"n {h.attrs['n']}, trace {h['diag'][:].sum(dtype=np.float64):.6f}")
            else:
                print(f"  Hessian {key} (shared by {shared}): shape {H.shape}, "
                      f"trace {np.trace(H, dtype=np.float64):.6f}, "
                      f"symmetric {bool(np.array_equal(H, H.T))}, tokens {h.attrs['tokens']}")


if __name__ == "__main__":
    main()
