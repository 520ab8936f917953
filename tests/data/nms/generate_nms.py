"""Recompute tests/data/nms/*.pt with the official NMS / Soft-NMS code.

This is our own driver script. It contains no reference code: it imports, unmodified, ActionFormer's compiled
``nms_1d_cpu`` op and ``libs/utils/nms.py``, BMN's ``post_processing.py`` (with its ``utils.py``), G-TAD's
``gtad_postprocess.py`` and TAGS' ``utils/postprocess_utils.py`` from checkouts given on the command line.

What it does, for every case of a stored file:

* It reads the inputs (``segments``, ``scores``, ``labels``) and parameters of the case from the stored file.
  The original inputs came from ``numpy.random.default_rng`` with fixed seeds that were not recorded per case,
  so they are read back instead of redrawn.
* It runs the reference on them and recomputes every output key: ``keep``/``out_scores``/``out_segments``
  (``nms_1d_cpu.softnms``; ``SoftNMSop`` with ``cls_idxs = arange(N)`` when ``max_num`` >= 0), ``keep`` and
  ``ties`` (``nms_1d_cpu.nms``; "none" without tied scores, "stable" where ``torch.sort`` ordered the tied
  scores as a stable sort does, "set" otherwise), ``out_segments``/``out_scores``/``out_labels``
  (``batched_nms``), and for the pandas functions ``out_xmin``/``out_xmax``/``out_scores``, ``pandas_order``
  (the row order of ``df.sort_values(by="score", ascending=False)``) and, for TAGS, ``keep`` (the ``label``
  column, which holds the row index).

Build the op first, as ActionFormer's README says: ``cd ACTIONFORMER/libs/utils && python setup.py build_ext
--inplace``. Then (pandas must be importable):

    python tests/data/nms/generate_nms.py --actionformer SCRATCH/actionformer_release --bmn SCRATCH/BMN \
        --gtad SCRATCH/gtad --tags SCRATCH/TAGS --out tests/data/nms            # rewrite the six files
    python tests/data/nms/generate_nms.py ... --out tests/data/nms --check      # compare, write nothing

``--check`` lists every tensor that is not bit-identical to the stored one and exits with status 1 unless every
float tensor has max |new - stored| <= ``--rtol`` * max |stored| (default 0) and all integer tensors and
strings are equal.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import hashlib
import importlib.util
import os
import sys
import types
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from compare_tree import compare  # tests/data/compare_tree.py

FILES = ("softnms", "nms", "batched_nms", "bmn", "gtad", "tags")
OUTPUTS = {"softnms": ("keep", "out_scores", "out_segments"), "nms": ("keep", "ties"),
           "batched_nms": ("out_segments", "out_scores", "out_labels"),
           "bmn": ("out_xmin", "out_xmax", "out_scores", "pandas_order"),
           "gtad": ("out_xmin", "out_xmax", "out_scores", "pandas_order"),
           "tags": ("out_xmin", "out_xmax", "out_scores", "pandas_order", "keep")}


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@contextlib.contextmanager
def chdir(path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def load(name, path, search):
    """Import the file ``path`` as module ``name`` with ``search`` first on sys.path."""
    sys.path.insert(0, str(search))
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(search))
    return module


# ------------------------------------------------------------------------------------- ActionFormer
def actionformer(root):
    utils = root / "libs" / "utils"
    sys.path.insert(0, str(utils))  # the built nms_1d_cpu*.so lives next to nms.py
    import nms_1d_cpu  # the compiled op, found through sys.path

    return nms_1d_cpu, load("actionformer_nms", utils / "nms.py", utils)


def softnms_case(case, op, nms_py):
    segs, scores = case["segments"].clone(), case["scores"].clone()
    args = (case["iou_threshold"], case["sigma"], case["min_score"], case["method"])
    if case["max_num"] < 0:
        dets = segs.new_empty((segs.size(0), 3))
        keep = op.softnms(segs, scores, dets, iou_threshold=float(args[0]), sigma=float(args[1]),
                          min_score=float(args[2]), method=int(args[3]))
        return {"keep": keep, "out_scores": dets[:len(keep), 2].clone(), "out_segments": dets[:len(keep), :2].clone()}
    out_segs, out_scores, keep = nms_py.SoftNMSop.apply(segs, scores, torch.arange(segs.shape[0]), *args,
                                                       case["max_num"])
    return {"keep": keep, "out_scores": out_scores, "out_segments": out_segs}


def nms_case(case, op):
    scores = case["scores"]
    keep = op.nms(case["segments"].clone().contiguous(), scores.clone().contiguous(),
                  iou_threshold=float(case["iou_threshold"]))
    if torch.unique(scores).numel() == scores.numel():
        ties = "none"
    else:
        unstable = scores.sort(0, descending=True)[1]
        stable = scores.sort(dim=0, descending=True, stable=True)[1]
        ties = "stable" if torch.equal(unstable, stable) else "set"
    return {"keep": keep, "ties": ties}


def batched_case(case, nms_py):
    segs, scores, labels = nms_py.batched_nms(
        case["segments"].clone(), case["scores"].clone(), case["labels"].clone(), case["iou_threshold"],
        case["min_score"], case["max_num"], use_soft_nms=case["soft"], multiclass=not case["class_agnostic"],
        sigma=case["sigma"], voting_thresh=case["voting_threshold"])
    return {"out_segments": segs, "out_scores": scores, "out_labels": labels}


# ------------------------------------------------------------------------------------------ pandas
def pandas_functions(bmn, gtad, tags):
    for name in ("joblib",):  # used only by the G-TAD/TAGS multiprocessing drivers, never called here
        stub = types.ModuleType(name)
        stub.Parallel = stub.delayed = None
        sys.modules.setdefault(name, stub)
    bmn_pp = load("bmn_post_processing", bmn / "post_processing.py", bmn)
    sys.modules.pop("utils", None)  # BMN's utils.py; TAGS has a utils/ folder
    gtad_pp = load("gtad_postprocess", gtad / "gtad_postprocess.py", gtad)
    with chdir(tags):  # postprocess_utils.py reads ./config/anet.yaml at import
        tags_pp = load("tags_postprocess_utils", tags / "utils" / "postprocess_utils.py", tags)
    return {"bmn": lambda df, p: bmn_pp.soft_nms(df, p["alpha"], p["t1"], p["t2"]),
            "gtad": lambda df, p: gtad_pp.Soft_NMS(df, p["nms_threshold"], p["max_num"]),
            "tags": lambda df, p: tags_pp.Soft_NMS(df, p["nms_threshold"], p["max_num"])}


def pandas_case(name, case, function):
    import pandas as pd

    seg, sc = case["segments"].numpy().copy(), case["scores"].numpy().copy()
    df = pd.DataFrame({"xmin": seg[:, 0], "xmax": seg[:, 1], "score": sc})
    if name == "tags":
        df["label"] = np.arange(sc.shape[0])
    order = df.sort_values(by="score", ascending=False).index.to_numpy()
    new = function(df, case["params"])
    out = {"out_xmin": torch.from_numpy(np.asarray(new["xmin"], dtype=np.float64).copy()),
           "out_xmax": torch.from_numpy(np.asarray(new["xmax"], dtype=np.float64).copy()),
           "out_scores": torch.from_numpy(np.asarray(new["score"], dtype=np.float64).copy()),
           "pandas_order": torch.from_numpy(order.astype(np.int64))}
    if name == "tags":
        out["keep"] = torch.from_numpy(np.asarray(new["label"], dtype=np.int64).copy())
    return out


# ------------------------------------------------------------------------------------------ plumbing
def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actionformer", type=Path, required=True, help="actionformer_release at 61ea7eb, op built")
    parser.add_argument("--bmn", type=Path, required=True, help="BMN-Boundary-Matching-Network at a92c1d7")
    parser.add_argument("--gtad", type=Path, required=True, help="frostinassiky/gtad at 6deb5b1")
    parser.add_argument("--tags", type=Path, required=True, help="sauradip/TAGS at 0585aa9")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    parser.add_argument("--inputs", type=Path, default=None, help="folder of the stored files (default: --out)")
    parser.add_argument("--only", choices=FILES, action="append")
    parser.add_argument("--check", action="store_true", help="compare with the stored files, write nothing")
    parser.add_argument("--rtol", type=float, default=0.0,
                        help="with --check: accept max|new - stored| <= rtol * max|stored| per tensor (default 0)")
    args = parser.parse_args()
    roots = {k: getattr(args, k).resolve() for k in ("actionformer", "bmn", "gtad", "tags")}
    op, nms_py = actionformer(roots["actionformer"])
    pandas_fns = pandas_functions(roots["bmn"], roots["gtad"], roots["tags"])
    import pandas as pd

    sources = {
        "nms_cpu.cpp": ("happyharrycn/actionformer_release@61ea7eb", "libs/utils/csrc/nms_cpu.cpp", "actionformer"),
        "nms.py": ("happyharrycn/actionformer_release@61ea7eb", "libs/utils/nms.py", "actionformer"),
        "bmn": ("JJBOY/BMN-Boundary-Matching-Network@a92c1d7", "post_processing.py", "bmn"),
        "gtad": ("frostinassiky/gtad@6deb5b1", "gtad_postprocess.py", "gtad"),
        "tags": ("sauradip/TAGS@0585aa9", "utils/postprocess_utils.py", "tags")}
    meta_sources = {k: f"{repo} {path} sha256 {sha256(roots[root] / path)}"
                    for k, (repo, path, root) in sources.items()}
    failed = False
    for name in args.only or FILES:
        stored = torch.load((args.inputs or args.out) / f"{name}.pt", weights_only=True)
        cases = []
        for case in stored["cases"]:
            if name == "softnms":
                result = softnms_case(case, op, nms_py)
            elif name == "nms":
                result = nms_case(case, op)
            elif name == "batched_nms":
                result = batched_case(case, nms_py)
            else:
                result = pandas_case(name, case, pandas_fns[name])
            cases.append({k: result.get(k, v) for k, v in case.items()})  # the stored key order
        meta = dict(copy.deepcopy(stored["meta"]), torch=str(torch.__version__), numpy=str(np.__version__),
                    pandas=str(pd.__version__), sources=meta_sources)
        if args.check:
            ours = [{k: c[k] for k in OUTPUTS[name]} for c in cases]
            theirs = [{k: c[k] for k in OUTPUTS[name]} for c in stored["cases"]]
            if len(ours) != len(theirs):
                raise SystemExit(f"{name}: {len(ours)} cases vs {len(theirs)} stored")
            exact = [d for i, (x, y) in enumerate(zip(ours, theirs))
                     for d in compare(x, y, cases[i]["name"])]
            close = [d for i, (x, y) in enumerate(zip(ours, theirs))
                     for d in compare(x, y, cases[i]["name"], args.rtol)]
            meta_diff = compare(meta_sources, stored["meta"]["sources"], "meta.sources")
            print(f"{name}: {len(cases)} cases; {len(exact)} outputs not bit-identical; "
                  f"{len(close)} outside rtol={args.rtol:g}; source files {'differ' if meta_diff else 'identical'}")
            for d in exact + meta_diff:
                print("  ", d)
            failed |= bool(close)
        else:
            torch.save({"meta": meta, "cases": cases}, args.out / f"{name}.pt")
            print(f"wrote {args.out / f'{name}.pt'} ({len(cases)} cases)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
