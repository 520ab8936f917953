"""Regenerate the ASRF reference outputs in ``tests/data/boundary/asrf_*.json`` with the official code.

Not part of actseg and not run by the tests. The reference (yiskw713/asrf@9623f1e, files ``libs/metric.py``,
``libs/postprocess.py``, ``libs/transformer.py``, unmodified) is checked out into a scratch folder outside
the repository, e.g.::

    for f in libs/metric.py libs/postprocess.py libs/transformer.py; do
        mkdir -p $R/asrf/libs; git -C <asrf clone> show 9623f1e:$f > $R/asrf/$f
    done
    python tests/data/boundary/generate_asrf.py --reference $R/asrf --out tests/data/boundary/

The case inputs are read from the committed files (``--inputs``, default: the output folder): the seeded
construction that made them was not kept, so the stored inputs are the ground truth and every expected
value is recomputed from them with the reference code. The files are written in the committed compact
layout (inputs carried over as parsed, float32 results as their shortest float32 decimals), so an
unchanged reference gives byte-identical files.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import torch

FILES = ("asrf_argrelmax", "asrf_boundary_meter", "asrf_refinement", "asrf_relabeling", "asrf_smoothing")


def load_reference(root: Path):
    """Import ``libs.metric``, ``libs.postprocess``, ``libs.transformer`` from the checkout, as they are."""
    if "pandas" not in sys.modules:  # metric.py imports pandas for its CSV writer only
        sys.modules["pandas"] = types.ModuleType("pandas")
    package = types.ModuleType("libs")
    package.__path__ = [str(root / "libs")]
    sys.modules["libs"] = package
    metric = importlib.import_module("libs.metric")
    postprocess = importlib.import_module("libs.postprocess")
    transformer = importlib.import_module("libs.transformer")
    return metric, postprocess, transformer


def _error(exc):
    return {"error": f"{type(exc).__name__}: {exc}"}


def _f32(values):
    """Nested lists of the shortest decimals that round-trip through float32."""
    if np.ndim(values):
        return [_f32(v) for v in values]
    return float(str(np.float32(values)))


def _call(fn):
    try:
        return fn()
    except Exception as exc:  # what the reference raises is part of the record
        return exc


# --------------------------------------------------------------------------- one file each
def argrelmax_cases(ref, cases):
    metric = ref[0]
    for case in cases:
        x = np.asarray(case["x"], dtype=case["dtype"])
        case["expected"] = [int(i) for i in metric.argrelmax(x.copy(), case["threshold"])]
    return cases


def meter_cases(ref, cases):
    metric = ref[0]
    for case in cases:
        meter = metric.BoundaryScoreMeter(case["tolerance"], case["boundary_threshold"])
        for batch in case["batches"]:
            meter.update(np.asarray(batch["preds"], dtype=np.float32), np.asarray(batch["gts"], dtype=np.float32),
                         np.asarray(batch["masks"], dtype=bool))
        scores = _call(meter.get_scores)
        if isinstance(scores, Exception):
            expected = _error(scores)
        else:
            acc, precision, recall, f1 = scores
            expected = {"accuracy": float(acc), "precision": float(precision), "recall": float(recall), "f1": float(f1)}
        for key in ("tp", "fp", "fn", "n_frames", "n_correct"):
            expected[key] = float(getattr(meter, key))
        case["expected"] = expected
    return cases


def _preds(result):
    return _error(result) if isinstance(result, Exception) else {"preds": result.tolist()}


def refinement_cases(ref, cases):
    postprocess = ref[1]
    for case in cases:
        outputs = np.asarray(case["outputs"], dtype=case["outputs_dtype"])
        boundaries = np.asarray(case["boundaries"], dtype=np.float32)
        masks = np.asarray(case["masks"], dtype=bool)

        def run(o, b, m, th=case["boundary_th"]):
            processor = postprocess.PostProcessor("refinement_with_boundary", boundary_th=th)
            return _call(lambda: processor(o, boundaries=b, masks=m))

        case["expected"] = _preds(run(outputs, boundaries, masks))
        if len(outputs) > 1:  # each video alone, without its padding
            alone = [(outputs[i : i + 1][..., m[0]], boundaries[i : i + 1][..., m[0]], masks[i : i + 1][..., m[0]])
                     for i, m in enumerate(masks)]
            case["per_video"] = [_preds(run(*video)) for video in alone]
        else:
            case["per_video"] = None
    return cases


def relabeling_cases(ref, cases):
    postprocess = ref[1]
    for case in cases:
        processor = postprocess.PostProcessor("relabeling", theta_t=case["theta_t"])
        labels = np.asarray(case["labels"], dtype=np.int64)
        case["expected"] = _preds(_call(lambda: processor(labels)))  # noqa: B023 (called at once)
    return cases


def smoothing_cases(ref, cases):
    postprocess, transformer = ref[1], ref[2]
    for case in cases:
        outputs = np.asarray(case["outputs"], dtype=np.float32)
        processor = postprocess.PostProcessor("smoothing", kernel_size=case["kernel_size"])
        case["expected"] = _preds(_call(lambda: processor(outputs)))  # noqa: B023
        if len(outputs) > 1:
            case["per_video"] = [_preds(_call(lambda: processor(outputs[i : i + 1])))  # noqa: B023
                                 for i in range(len(outputs))]
        else:
            case["per_video"] = None
        sigma = case["filter"]["sigma"]
        gaussian = transformer.GaussianSmoothing(case["kernel_size"], sigma)
        probs = processor._convert2probability(outputs)
        smoothed = _call(lambda: gaussian(torch.Tensor(probs)).numpy())  # noqa: B023
        if isinstance(smoothed, Exception):
            case["filter"] = {"sigma": sigma, **_error(smoothed)}
        else:
            case["filter"] = {"sigma": sigma, "smoothed": _f32(smoothed)}
    return cases


BUILDERS = {"asrf_argrelmax": argrelmax_cases, "asrf_boundary_meter": meter_cases,
            "asrf_refinement": refinement_cases, "asrf_relabeling": relabeling_cases,
            "asrf_smoothing": smoothing_cases}


def main(argv=None):
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, required=True, help="checkout of yiskw713/asrf@9623f1e")
    parser.add_argument("--out", type=Path, default=here, help="output folder")
    parser.add_argument("--inputs", type=Path, default=None, help="folder of the files whose inputs are re-run")
    parser.add_argument("files", nargs="*", default=list(FILES), help=f"any of {FILES} (default: all)")
    args = parser.parse_args(argv)
    ref = load_reference(args.reference.resolve())
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.files:
        stored = json.loads(((args.inputs or args.out) / f"{name}.json").read_text())
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            stored["cases"] = BUILDERS[name](ref, stored["cases"])
        (args.out / f"{name}.json").write_text(json.dumps(stored, separators=(",", ":")))
        print(f"wrote {args.out / name}.json ({len(stored['cases'])} cases)", file=sys.stderr)


if __name__ == "__main__":
    main()
