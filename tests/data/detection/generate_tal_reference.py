"""Regenerate ``tests/data/detection/{tal_reference,mtlera_reference}.json`` with the official code.

Not part of actseg and not run by the tests. The references are checked out, unmodified, into a scratch
folder outside the repository::

    activitynet/Evaluation/{eval_detection.py,utils.py}   activitynet/ActivityNet@82304fa
    actionformer/libs/utils/metrics.py                    happyharrycn/actionformer_release@61ea7eb
    mtlera/util/{metrics.py,utils.py}, mtlera/val/validate_model_UW.py   BehnooshParsa/MTL-ERA@0153eb9

and, with pandas and scikit-learn installed (pandas 3.1.1, scikit-learn 1.9.1 were used)::

    python tests/data/detection/generate_tal_reference.py --reference $R --out tests/data/detection/

How each reference is run (in-memory shims only, nothing is written back):

* ActivityNet (Python 2): ``print x`` -> ``print(x)``, ``.iteritems()`` -> ``.items()``, ``import urllib2``
  dropped (only ``get_blocked_videos`` uses it; ``check_status=False``), ``np.float = float``, and the
  module's ``Parallel`` forced to ``n_jobs=1`` (it asks for one job per class, 0 without classes).
  Inputs are the official JSON files (names ``c%03d``, ``subset="validation"``).
* ActionFormer: imported as is (``np.float = float``); ground truth as a JSON file with ``label_id``,
  predictions as a DataFrame; ``ANETdetection(gt, split=None, tiou_thresholds, top_k=(1, 5),
  num_workers=1).evaluate(preds)``.
* MTL-ERA: ``util/metrics.py`` imported with matplotlib/seaborn/cv2 stubbed and ``np.float = float``;
  ``compute_class_ap`` is the function's text, taken with ``ast`` from ``val/validate_model_UW.py`` and
  executed with ``num_class = K`` (the module itself imports a training stack).

Every TAL case is run in two fresh processes: ``baseline`` (``NPY_DISABLE_CPU_FEATURES`` below: NumPy's own
quicksort, an insertion sort and so stable for <= 16 elements) gives ``expected``; ``native`` (this CPU's
default SIMD sort) is stored under ``native`` where it differs (``meta.native_differs``). The case inputs
and the rest of ``meta`` are read from the committed files (``--inputs``, default: the output folder);
every output is recomputed. The files are written in the committed layout (one JSON line), so an
unchanged reference on an AVX-512 machine gives byte-identical files.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib
import importlib.util
import io
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import types
import warnings
from collections import OrderedDict
from pathlib import Path

BASELINE = "X86_V3,X86_V4,AVX512_ICL,AVX512_SPR"
TOP_K = (1, 5)


# --------------------------------------------------------------------------- loading the references
def _stub(name, **attrs):
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules.setdefault(name, module)
    return sys.modules[name]


def _py2_to_3(text):
    """The documented in-memory shims of the Python 2 ActivityNet files (print, iteritems, urllib2)."""
    text = re.sub(r"^(\s*)print (.+)$", r"\1print(\2)", text, flags=re.M)
    text = text.replace(".iteritems()", ".items()")
    return text.replace("import urllib2\n", "")


def load_activitynet(root: Path):
    import joblib
    import numpy as np

    np.float = float
    utils = types.ModuleType("utils")
    path = root / "Evaluation" / "utils.py"
    exec(compile(_py2_to_3(path.read_text()), str(path), "exec"), utils.__dict__)
    sys.modules["utils"] = utils  # eval_detection.py does `from utils import ...`
    module = types.ModuleType("anet_eval_detection")
    path = root / "Evaluation" / "eval_detection.py"
    exec(compile(_py2_to_3(path.read_text()), str(path), "exec"), module.__dict__)
    module.Parallel = lambda n_jobs=None, **kwargs: joblib.Parallel(n_jobs=1, **kwargs)
    return module


def load_actionformer(root: Path):
    import numpy as np

    np.float = float
    path = root / "libs" / "utils" / "metrics.py"
    spec = importlib.util.spec_from_file_location("actionformer_metrics", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_mtlera(root: Path):
    import numpy as np
    from sklearn.metrics import average_precision_score

    np.float = float
    matplotlib = _stub("matplotlib")
    matplotlib.pylab = _stub("matplotlib.pylab", rcParams={})
    matplotlib.patches = _stub("matplotlib.patches")
    _stub("seaborn")
    _stub("cv2")
    package = types.ModuleType("util")
    package.__path__ = [str(root / "util")]
    sys.modules["util"] = package
    metrics = importlib.import_module("util.metrics")
    path = root / "val" / "validate_model_UW.py"
    tree = ast.parse(path.read_text())
    (node,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "compute_class_ap"]
    namespace = {"np": np, "math": math, "OrderedDict": OrderedDict,
                 "average_precision_score": average_precision_score}
    exec(compile(ast.Module(body=[node], type_ignores=[]), str(path), "exec"), namespace)
    return metrics, namespace


def _error(exc):
    return {"error": f"{type(exc).__name__}: {exc}"}


def _floats(array):
    import numpy as np

    return np.asarray(array, dtype=float).tolist()


# --------------------------------------------------------------------------- TAL: ActivityNet, ActionFormer
def _gt_labels(case):
    return {row[2] for v in case["videos"] if v["gt"] for row in v["gt"]}


def run_activitynet(anet, case, thresholds, drop_foreign=False):
    known = _gt_labels(case)
    database = {v["id"]: {"subset": "validation", "annotations": [
        {"segment": [s, e], "label": f"c{label:03d}"} for s, e, label in v["gt"]]}
        for v in case["videos"] if v["gt"] is not None}
    results = {v["id"]: [{"label": f"c{label:03d}", "segment": [s, e], "score": score}
                         for s, e, label, score in v["pred"] if not drop_foreign or label in known]
               for v in case["videos"] if v["pred"] is not None}
    with tempfile.TemporaryDirectory() as tmp:
        gt_file, pred_file = Path(tmp) / "gt.json", Path(tmp) / "pred.json"
        gt_file.write_text(json.dumps({"version": "VERSION 1.3", "taxonomy": [], "database": database}))
        pred_file.write_text(json.dumps({"version": "VERSION 1.3", "results": results, "external_data": {}}))
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                evaluator = anet.ANETdetection(str(gt_file), str(pred_file), tiou_thresholds=thresholds,
                                               subset="validation", check_status=False)
                evaluator.evaluate()
        except Exception as exc:
            return _error(exc)
    import numpy as np

    order = [int(name[1:]) for name, _ in sorted(evaluator.activity_index.items(), key=lambda kv: kv[1])]
    ap = evaluator.ap[:, np.argsort(order, kind="stable")]
    return {"ap": _floats(ap), "mAP": _floats(evaluator.mAP), "average_mAP": float(evaluator.average_mAP),
            "class_order": order}


def run_actionformer(af, case, thresholds, drop_foreign=False):
    import pandas as pd

    known = _gt_labels(case)
    database = {v["id"]: {"subset": "validation", "annotations": [
        {"segment": [s, e], "label_id": label} for s, e, label in v["gt"]]}
        for v in case["videos"] if v["gt"] is not None}
    rows = [(v["id"], float(s), float(e), int(label), float(score))
            for v in case["videos"] if v["pred"] is not None for s, e, label, score in v["pred"]
            if not drop_foreign or label in known]
    preds = pd.DataFrame({"video-id": [r[0] for r in rows], "t-start": [r[1] for r in rows],
                          "t-end": [r[2] for r in rows], "label": [r[3] for r in rows],
                          "score": [r[4] for r in rows]})
    with tempfile.TemporaryDirectory() as tmp:
        gt_file = Path(tmp) / "gt.json"
        gt_file.write_text(json.dumps({"database": database}))
        with contextlib.redirect_stdout(io.StringIO()):
            evaluator = af.ANETdetection(str(gt_file), split=None, tiou_thresholds=thresholds, top_k=TOP_K,
                                         num_workers=1)
            mAP, average_mAP, recall = evaluator.evaluate(preds, verbose=False)
    return {"ap": _floats(evaluator.ap), "mAP": _floats(mAP), "average_mAP": float(average_mAP),
            "recall": _floats(recall), "top_k": list(TOP_K), "classes": [int(c) for c in evaluator.activity_index]}


def _same(a, b):
    return json.dumps(a) == json.dumps(b)  # NaN-aware, exact


def run_tal_case(anet, af, case, thresholds):
    expected = {"activitynet": run_activitynet(anet, case, thresholds),
                "actionformer": run_actionformer(af, case, thresholds)}
    foreign = any(row[2] not in _gt_labels(case) for v in case["videos"] if v["pred"] for row in v["pred"])
    if foreign:
        expected["activitynet_ignore"] = run_activitynet(anet, case, thresholds, drop_foreign=True)
    # ActionFormer re-maps ground-truth labels to 0..n-1 and leaves the others as they are: that equals
    # dropping the foreign labels unless a foreign label is one of 0..n-1 (then it joins that class)
    known = _gt_labels(case)
    equal = not any(row[2] not in known and 0 <= row[2] < len(known)
                    for v in case["videos"] if v["pred"] for row in v["pred"])
    return {"af_equals_ignore": equal, "expected": expected}


# --------------------------------------------------------------------------- MTL-ERA
def run_mtlera_segment_case(metrics, case):
    import numpy as np

    gt = [(v["id"], row) for v in case["videos"] if v["gt"] for row in v["gt"]]
    det = [(v["id"], row) for v in case["videos"] if v["pred"] for row in v["pred"]]
    gt_files = np.array([vid for vid, _ in gt], dtype=str)
    det_files = np.array([vid for vid, _ in det], dtype=str)
    gt_labels = np.array([row[2] for _, row in gt], dtype=np.int64)
    det_labels = np.array([row[2] for _, row in det], dtype=np.int64)
    gt_intervals = np.array([row[:2] for _, row in gt], dtype=np.float64).reshape(-1, 2)
    det_intervals = np.array([row[:2] for _, row in det], dtype=np.float64).reshape(-1, 2)
    det_conf = np.array([row[3] for _, row in det], dtype=np.float64)
    args = (gt_files, det_files, gt_labels, det_labels, gt_intervals, det_intervals, det_conf)
    if case["mode"] == "midpoint":
        _, ap, mAP = metrics.midpoint_mAP(*args, bg_class=case["bg_class"])
    else:
        _, ap, mAP = metrics.IoU_mAP(*args, threshold=case["threshold"], bg_class=case["bg_class"])
    classes = [c for c in np.unique(gt_labels).tolist() if c != case["bg_class"]]
    return {"ap": [float(a) for a in ap], "mAP": float(mAP), "classes": classes}


def run_mtlera_frame_case(namespace, case):
    import numpy as np

    scores = np.concatenate([np.asarray(s, dtype=case["dtype"]).reshape(-1, case["K"]) for s in case["scores"]])
    labels = np.concatenate([np.asarray(y, dtype=np.int64) for y in case["labels"]])
    keep = labels != -100
    namespace["num_class"] = case["K"]
    result = namespace["compute_class_ap"](scores[keep], labels[keep])
    ap = [float(v) for v in result.values()]
    return {"ap": ap, "mAP": float(np.mean(ap))}


# --------------------------------------------------------------------------- processes
def worker(args):
    """One process: every TAL case (and, in the baseline process, the MTL-ERA cases)."""
    import numpy as np

    root = args.reference.resolve()
    tal = json.loads((args.inputs / "tal_reference.json").read_text())
    anet = load_activitynet(root / "activitynet")
    af = load_actionformer(root / "actionformer")
    out = {"tal": []}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for case in tal["cases"]:
            thresholds = np.array(tal["meta"]["thresholds"][case["thresholds"]])
            out["tal"].append(run_tal_case(anet, af, case, thresholds))
        if args.worker == "baseline":
            mtl = json.loads((args.inputs / "mtlera_reference.json").read_text())
            metrics, namespace = load_mtlera(root / "mtlera")
            out["segment"] = [run_mtlera_segment_case(metrics, c) for c in mtl["segment_cases"]]
            out["frame"] = [run_mtlera_frame_case(namespace, c) for c in mtl["frame_cases"]]
    args.worker_out.write_text(json.dumps(out))


def _spawn(args, mode, out_file):
    env = dict(os.environ)
    env.pop("NPY_DISABLE_CPU_FEATURES", None)
    if mode == "baseline":
        env["NPY_DISABLE_CPU_FEATURES"] = BASELINE
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", mode, "--reference", str(args.reference),
               "--inputs", str(args.inputs), "--worker-out", str(out_file)]
    subprocess.run(command, env=env, check=True)
    return json.loads(out_file.read_text())


def main(argv=None):
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, required=True,
                        help="folder holding activitynet/, actionformer/, mtlera/ checked out at the commits")
    parser.add_argument("--out", type=Path, default=here, help="output folder")
    parser.add_argument("--inputs", type=Path, default=None, help="folder of the files whose inputs are re-run")
    parser.add_argument("--worker", choices=("baseline", "native"), help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.inputs = (args.inputs or args.out).resolve()
    if args.worker:
        return worker(args)
    tal = json.loads((args.inputs / "tal_reference.json").read_text())
    mtl = json.loads((args.inputs / "mtlera_reference.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        baseline = _spawn(args, "baseline", Path(tmp) / "baseline.json")
        native = _spawn(args, "native", Path(tmp) / "native.json")
    differs = []
    for case, base, nat in zip(tal["cases"], baseline["tal"], native["tal"]):
        case["af_equals_ignore"] = base["af_equals_ignore"]
        case["expected"] = base["expected"]
        case.pop("native", None)
        if not _same(base["expected"], nat["expected"]):
            case["native"] = nat["expected"]
            differs.append(case["name"])
    tal["meta"]["native_differs"] = differs
    for case, expected in zip(mtl["segment_cases"], baseline["segment"]):
        case["expected"] = expected
    for case, expected in zip(mtl["frame_cases"], baseline["frame"]):
        case["expected"] = expected
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tal_reference.json").write_text(json.dumps(tal))
    (args.out / "mtlera_reference.json").write_text(json.dumps(mtl))
    print(f"wrote {args.out}/tal_reference.json ({len(tal['cases'])} cases, native differs: {differs}) and "
          f"mtlera_reference.json ({len(mtl['segment_cases'])} + {len(mtl['frame_cases'])} cases)", file=sys.stderr)
    return None


if __name__ == "__main__":
    main()
