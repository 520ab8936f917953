"""Recompute tests/data/losses/{asrf,tags,pygmtools_permutation}.pt with the official loss code.

This is our own driver script. It contains no reference code: it imports the original modules from
checkouts given on the command line (ASRF, TAGS) and from the installed pygmtools wheel, unmodified.

What it does, for every case of a stored file:

* It takes ``name``, ``function``, ``kwargs``, ``inputs`` (and ``lengths``) from the stored file. The seeds of
  the original random construction were not recorded, so the inputs are read back instead of redrawn.
* It calls the reference function named by ``function`` on clones of those inputs, under
  ``torch.use_deterministic_algorithms(True)``, and records ``loss``, ``grads`` (d loss / d input for the
  inputs listed in ``GRAD_INPUTS``), ``error`` ("Type: message" when the reference raises) and ``warnings``
  (first line of each warning message the reference emitted, in order, without repeats).
* For ASRF it also rebuilds each padded batch with the original ``libs/dataset.py:collate_fn`` from the
  unpadded per-video pieces and checks that labels, features, boundaries and the mask equal the stored ones.

Usage (reference checkouts at the commits in the README):

    python tests/data/losses/generate_losses.py --asrf SCRATCH/asrf --tags SCRATCH/TAGS \
        --out tests/data/losses            # rewrite the three files
    python tests/data/losses/generate_losses.py --asrf SCRATCH/asrf --tags SCRATCH/TAGS \
        --out tests/data/losses --check    # recompute and compare with the stored files, write nothing

``--check`` lists every tensor that is not bit-identical to the stored one (NaN compared as equal) and exits
with status 1 unless every float tensor has max |new - stored| <= ``--rtol`` * max |stored| (default 0) and
every integer tensor, error and warning string is equal.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import hashlib
import importlib
import os
import sys
import types
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from compare_tree import compare  # tests/data/compare_tree.py

GRAD_INPUTS = {  # function name -> inputs that get requires_grad (the stored "grads" keys)
    "GaussianSimilarityTMSE": ["preds"], "TMSE": ["preds"], "ActionSegmentationLoss": ["preds"],
    "FocalLoss": ["logit"], "BoundaryRegressionLoss": ["preds"], "train": ["stage_cls", "stage_bound"],
    "top_ce_loss": ["pred_cls"], "top_lr_loss": ["pred"], "BinaryDiceLoss": ["predict"],
    "bottom_branch_loss": ["pred_action"], "top_branch_loss": ["pred_cls"],
    "redundancy_loss": ["pred_action"], "tags_loss": ["pred_cls", "pred_action"],
    "permutation_loss": ["pred_dsmat"],
}


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def stub(name, **attrs):
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules.setdefault(name, module)


@contextlib.contextmanager
def chdir(path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def run_case(case, call):
    """Run ``call(inputs)`` and fill loss/grads/error/warnings of a copy of ``case``.

    ``call`` returns the loss tensor, or a pair (value to store, tensor to differentiate or None when the
    reference already ran ``backward`` itself).
    """
    out = {}
    inputs = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in case["inputs"].items()}
    names = [n for n in GRAD_INPUTS[case["function"].split(":")[-1].split(" ")[0]] if n in inputs]
    for n in names:
        inputs[n].requires_grad_(True)
    seen = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = call(inputs)
            value, target = result if isinstance(result, tuple) else (result, result)
            if target is not None:
                target.backward()
            out.update(loss=value.detach(), grads={n: inputs[n].grad for n in names}, error=None)
        except Exception as exc:  # the reference's error is the recorded result
            out.update(loss=None, grads={}, error=f"{type(exc).__name__}: {exc}")
    for w in caught:
        line = (str(w.message).splitlines() or [""])[0][:200]  # first line, at most 200 characters
        if line not in seen:
            seen.append(line)
    out["warnings"] = seen
    return {k: out.get(k, v) for k, v in case.items()}  # the stored key order


# ---------------------------------------------------------------------------------------------- ASRF
def asrf_cases(root, stored):
    sys.path.insert(0, str(root))
    stub("pandas")
    stub("torchvision")
    stub("torchvision.transforms")
    stub("torchvision.transforms.transforms", Compose=object)
    from libs import helper, loss_fn  # the reference package, found through sys.path
    from libs.dataset import collate_fn

    def value(v, inputs):
        return inputs[v[len("<inputs['"):v.index("']>")]] if isinstance(v, str) and v.startswith("<inputs[") else v

    def build(cls, kwargs, inputs):
        return cls(**{k: value(v, inputs) for k, v in kwargs.items()})

    class StandIn(torch.nn.Module):  # returns the stored stage outputs, as libs/models/asrf.py returns lists
        def __init__(self, cls, bound):
            super().__init__()
            self.out = ([cls[s] for s in range(cls.shape[0])], [bound[s] for s in range(bound.shape[0])])

        def forward(self, x):
            return self.out

    class NoOpOptimizer:
        def zero_grad(self):
            pass

        def step(self):
            pass

    def train_step(inputs):
        sample = {k: inputs[k] for k in ("feature", "label", "boundary", "mask")}
        criterion_cls = loss_fn.ActionSegmentationLoss(
            ce=True, focal=False, tmse=False, gstmse=True, weight=inputs.get("class_weight"), ignore_index=255,
            ce_weight=1.0, focal_weight=1.0, tmse_weight=0.15, gstmse_weight=True)
        criterion_bound = loss_fn.BoundaryRegressionLoss(pos_weight=inputs["pos_weight"])
        model = StandIn(inputs["stage_cls"], inputs["stage_bound"])
        # train() runs loss.backward() itself; the stored loss is its return value losses.avg
        avg = helper.train([sample], model, criterion_cls, criterion_bound, 0.1, NoOpOptimizer(), 0, "cpu")
        return torch.tensor(avg, dtype=torch.float64), None

    def call_for(case):
        fn, kw = case["function"].split(":")[-1], case["kwargs"]
        if fn == "train":
            return train_step
        cls = {"GaussianSimilarityTMSE": loss_fn.GaussianSimilarityTMSE, "TMSE": loss_fn.TMSE,
               "ActionSegmentationLoss": loss_fn.ActionSegmentationLoss, "FocalLoss": loss_fn.FocalLoss,
               "BoundaryRegressionLoss": loss_fn.BoundaryRegressionLoss}[fn]

        def call(inputs):
            loss = build(cls, kw, inputs)
            if fn == "BoundaryRegressionLoss":
                return loss(inputs["preds"], inputs["gts"], inputs["masks"])
            if fn == "FocalLoss":
                return loss(inputs["logit"], inputs["target"])
            if fn in ("GaussianSimilarityTMSE", "ActionSegmentationLoss"):
                return loss(inputs["preds"], inputs["gts"], inputs["sim_index"])
            return loss(inputs["preds"], inputs["gts"])

        return call

    out = []
    for case in stored["cases"]:
        check_asrf_batch(case, collate_fn)
        out.append(run_case(case, call_for(case)))
    digests = [sha256(root / "libs/loss_fn" / f) for f in ("tmse.py", "__init__.py", "focal.py")]
    notes = (f"torch {torch.__version__} CPU; generated by tests/data/losses/generate_losses.py (inputs read from "
             f"the stored file); sha256 tmse.py {digests[0]}, __init__.py {digests[1]}, focal.py {digests[2]}; "
             "batches checked against the original libs/dataset.py:collate_fn; train_step cases run the original "
             "libs/helper.py:train with a stand-in model returning the stored stage outputs (leaf tensors) and a "
             "no-op optimizer; pandas/torchvision stubbed in sys.modules (imported, unused here).")
    return out, notes


def check_asrf_batch(case, collate_fn):
    """The stored padded batch equals collate_fn applied to its unpadded videos (and boundaries follow
    utils/generate_boundary_array.py: 1 at frame 0 and at every label change)."""
    lengths, inputs = case.get("lengths"), case["inputs"]
    if not lengths:
        return
    if "feature" in inputs:
        feat, label, bound, mask = inputs["feature"], inputs["label"], inputs["boundary"], inputs["mask"]
    elif "sim_index" in inputs:
        feat, label, bound, mask = inputs["sim_index"], inputs["gts"], None, None
    elif "masks" in inputs:
        feat, label, bound, mask = None, None, inputs["gts"], inputs["masks"]
    else:
        feat, label, bound, mask = None, inputs.get("gts", inputs.get("target")), None, None
    samples = []
    for i, n in enumerate(lengths):
        f = feat[i, :, :n] if feat is not None else torch.zeros(1, n)
        y = label[i, :n] if label is not None else torch.zeros(n, dtype=torch.int64)
        b = bound[i, 0, :n] if bound is not None else torch.zeros(n)
        samples.append({"feature": f, "label": y, "boundary": b, "feature_path": str(i)})
    batch = collate_fn(samples)
    checks = [("feature", feat), ("label", label), ("boundary", bound), ("mask", mask)]
    for key, stored in checks:
        if stored is not None and not torch.equal(batch[key].to(stored.dtype), stored):
            raise AssertionError(f"{case['name']}: stored {key} is not collate_fn's padding")
    if label is not None and bound is not None and "inner_ignore" not in case["name"]:
        for i, n in enumerate(lengths):
            y = label[i, :n]
            expect = torch.ones(n, dtype=bound.dtype)
            expect[1:] = (y[1:] != y[:-1]).to(bound.dtype)
            if not torch.equal(bound[i, 0, :n], expect):
                raise AssertionError(f"{case['name']}: boundary target is not generate_boundary_array's")


# ---------------------------------------------------------------------------------------------- TAGS
def tags_cases(root, stored):
    torch.Tensor.cuda = lambda self, *a, **k: self  # loss_tags.py calls .cuda() inside the losses
    with chdir(root):  # loss_tags.py reads ./config/anet.yaml at import
        sys.path.insert(0, str(root))
        lt = importlib.import_module("tags_lib.loss_tags")
    funcs = {"top_ce_loss": lambda i: lt.top_ce_loss(i["gt_cls"], i["pred_cls"]),
             "top_lr_loss": lambda i: lt.top_lr_loss(i["target"], i["pred"]),
             "BinaryDiceLoss": lambda i: lt.dice(i["predict"], i["target"]),
             "bottom_branch_loss": lambda i: lt.bottom_branch_loss(i["gt_action"], i["pred_action"]),
             "top_branch_loss": lambda i: lt.top_branch_loss(i["gt_cls"], i["pred_cls"], i["mask_gt"]),
             "redundancy_loss": lambda i: lt.redundancy_loss(i["gt_action"], i["pred_action"], i["gt_cls"],
                                                              i["pred_cls"], i["features"]),
             "tags_loss": lambda i: _total_first(lt.tags_loss(i["gt_cls"], i["pred_cls"], i["gt_action"],
                                                              i["pred_action"], i["mask_gt"], None, i["features"]))}
    out = [run_case(c, funcs[c["function"].split(":")[-1]]) for c in stored["cases"]]
    notes = (f"torch {torch.__version__} CPU; generated by tests/data/losses/generate_losses.py (inputs read from "
             f"the stored file); sha256 loss_tags.py {sha256(root / 'tags_lib/loss_tags.py')}, config/anet.yaml "
             f"{sha256(root / 'config/anet.yaml')}; torch.Tensor.cuda monkeypatched to identity; config/anet.yaml: "
             f"lambda_1={lt.lambda_1}, lambda_2={lt.lambda_2}, lambda_3={lt.lambda_3}.")
    return out, notes


def _total_first(losses):
    """tags_loss returns (total, top, bottom, redundancy): store all four, differentiate the total."""
    return torch.stack([x.detach() for x in losses]), losses[0]


# ------------------------------------------------------------------------------------------ pygmtools
def pygm_cases(stored):
    import pygmtools

    pygmtools.BACKEND = "pytorch"

    def call(case):
        kw = case["kwargs"]

        def f(i):
            return pygmtools.utils.permutation_loss(i["pred_dsmat"], i["gt_perm"], n1=i.get("n1", kw.get("n1")),
                                                    n2=i.get("n2", kw.get("n2")), backend=kw["backend"])
        return f

    out = [run_case(c, call(c)) for c in stored["cases"]]
    src = Path(pygmtools.__file__).parent / "pytorch_backend.py"
    notes = (f"torch {torch.__version__} CPU; generated by tests/data/losses/generate_losses.py (inputs read from "
             f"the stored file); pygmtools {pygmtools.__version__}; BACKEND='pytorch'; sha256 pytorch_backend.py "
             f"{sha256(src)}.")
    return out, notes


# ------------------------------------------------------------------------------------------ plumbing
def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--asrf", type=Path, help="yiskw713/asrf checkout at 9623f1e8")
    parser.add_argument("--tags", type=Path, help="sauradip/TAGS checkout at 0585aa92")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    parser.add_argument("--inputs", type=Path, default=None, help="folder of the stored files (default: --out)")
    parser.add_argument("--only", choices=["asrf", "tags", "pygmtools_permutation"], action="append")
    parser.add_argument("--check", action="store_true", help="compare with the stored files, write nothing")
    parser.add_argument("--rtol", type=float, default=0.0,
                        help="with --check: accept max|new - stored| <= rtol * max|stored| per tensor (default 0)")
    args = parser.parse_args()
    todo = args.only or ["asrf", "tags", "pygmtools_permutation"]
    for name in ("asrf", "tags"):
        if name in todo and getattr(args, name) is None:
            parser.error(f"--{name} is required to regenerate {name}.pt (or leave it out with --only)")
    torch.use_deterministic_algorithms(True)
    source = args.inputs or args.out
    failed = False
    for name in todo:
        stored = torch.load(source / f"{name}.pt", weights_only=True)
        if name == "asrf":
            cases, notes = asrf_cases(args.asrf.resolve(), stored)
        elif name == "tags":
            cases, notes = tags_cases(args.tags.resolve(), stored)
        else:
            cases, notes = pygm_cases(stored)
        data = {"meta": dict(copy.deepcopy(stored["meta"]), notes=notes), "cases": cases}
        if args.check:
            keys = ("loss", "grads", "error", "warnings")
            ours = [{k: c[k] for k in keys} for c in cases]
            theirs = [{k: c[k] for k in keys} for c in stored["cases"]]
            names = [c["name"] for c in cases]
            exact = compare(ours, theirs, name)
            close = compare(ours, theirs, name, args.rtol)
            print(f"{name}: {len(cases)} cases; {len(exact)} tensors not bit-identical; "
                  f"{len(close)} outside rtol={args.rtol:g}")
            for d in exact:
                index = int(d.split("[", 1)[1].split("]", 1)[0])
                print(f"   {names[index]}: {d.split('.', 1)[1] if '.' in d else d}")
            failed |= bool(close)
        else:
            torch.save(data, args.out / f"{name}.pt")
            print(f"wrote {args.out / f'{name}.pt'} ({len(cases)} cases)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
