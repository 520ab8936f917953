"""Regenerate the reference outputs of ``tests/data/tas_reference.json`` with the official code.

Not part of actseg and not run by the tests: it needs the reference repositories, which are never
copied into this repository. Check them out (unmodified; recipe in tests/data/README.md) into a scratch
folder outside the repo::

    R=/tmp/scratch-actseg
    git -C <ms-tcn clone>   show 33ed91c:eval.py > $R/ms-tcn/eval.py
    git -C <ASFormer clone> show e1bbe4f:eval.py > $R/asformer/eval.py
    git -C <asrf clone>     show 9623f1e:libs/metric.py > $R/asrf/libs/metric.py
    git -C <FACT clone>     show dba2399:utils/evaluate.py > $R/fact/utils/evaluate.py   # and utils/utils.py
    git -C <MTL-ERA clone>  show 0153eb9:util/metrics.py > $R/mtlera/util/metrics.py     # and util/utils.py

then::

    python tests/data/generate_tas_reference.py --reference $R --out tests/data/tas_reference.json

The case inputs (``background``, ``videos``) and ``meta`` are read from the committed file (``--inputs``,
default: the output path): the random construction of the original inputs was not recorded, so the
inputs are the ground truth and every output is recomputed from them with the reference code. The file
is written in the committed layout (one case per line), so an unchanged reference gives a byte-identical
file. How each reference is called is described in the file's ``meta.notes`` and in tests/data/README.md.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import json
import os
import sys
import tempfile
import types
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np

IGNORE = -100
OVERLAPS = (0.1, 0.25, 0.5)


# --------------------------------------------------------------------------- loading the references
def _stub(name, **attrs):
    """An empty module standing in for an import the evaluated functions never use (plots, CSV)."""
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules.setdefault(name, module)
    return sys.modules[name]


def _package(name, folder):
    package = types.ModuleType(name)
    package.__path__ = [str(folder)]
    sys.modules[name] = package
    return package


def _module_from_file(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_references(root: Path):
    np.float = float  # the references use the alias removed in NumPy 1.24
    matplotlib = _stub("matplotlib")
    matplotlib.pyplot = _stub("matplotlib.pyplot")
    matplotlib.pylab = _stub("matplotlib.pylab", rcParams={})
    matplotlib.patches = _stub("matplotlib.patches")
    _stub("seaborn")
    _stub("cv2")
    _stub("pandas")  # asrf imports it for its CSV writer only
    sklearn = _stub("sklearn")
    sklearn.metrics = _stub("sklearn.metrics")  # MTL-ERA: used by macro_accuracy only

    refs = {}
    # ms-tcn eval.py is Python 2 (print statements in main()): its text up to `def main():` is executed.
    path = root / "ms-tcn" / "eval.py"
    text = path.read_text()
    namespace = {"__name__": "mstcn_eval"}
    exec(compile(text[: text.index("def main():")], str(path), "exec"), namespace)
    refs["mstcn"] = types.SimpleNamespace(**namespace)
    refs["asformer"] = _module_from_file("asformer_eval", root / "asformer" / "eval.py")
    refs["asrf"] = _module_from_file("asrf_metric", root / "asrf" / "libs" / "metric.py")
    _package("fact_utils", root / "fact" / "utils")
    fact = importlib.import_module("fact_utils.evaluate")
    fact.parse_label = importlib.import_module("fact_utils.utils").parse_label
    refs["fact"] = fact
    _package("util", root / "mtlera" / "util")
    mtlera = importlib.import_module("util.metrics")
    utils = importlib.import_module("util.utils")
    original = utils.segment_labels
    # the documented patch: the "+1" that the comment in segment_labels says was lost
    source = inspect.getsource(original)
    bug = "(np.nonzero(np.diff(Yi))[0]).tolist()"
    assert source.count(bug) == 1, "MTL-ERA segment_labels changed"
    patched_ns = dict(utils.__dict__)
    exec(source.replace(bug, "(np.nonzero(np.diff(Yi))[0] + 1).tolist()"), patched_ns)
    refs["mtlera"] = (mtlera, utils, original, patched_ns["segment_labels"])
    return refs


def _error(exc):
    return {"error": f"{type(exc).__name__}: {exc}"}


def _ints(values):
    return [int(v) for v in values]


# --------------------------------------------------------------------------- one protocol each
def run_mstcn_like(ref, case, videos):
    """ms-tcn main() aggregation, with the module's own functions (ASFormer: the same, see run_asformer)."""
    bg = [str(b) for b in case["background"]]
    out, failed = [], None
    correct_all = total_all = 0
    edit_all = 0
    tp_all, fp_all, fn_all = np.zeros(3), np.zeros(3), np.zeros(3)
    for pred, target in videos:
        recog = [str(v) for v in pred]
        gt = [str(v) for v in target]
        try:
            correct = total = 0
            for i in range(len(gt)):
                total += 1
                if gt[i] == recog[i]:
                    correct += 1
            edit = ref.edit_score(recog, gt, bg_class=bg)
            stats = [ref.f_score(recog, gt, o, bg_class=bg) for o in OVERLAPS]
        except Exception as exc:  # the reference raised: stored as such
            out.append(_error(exc))
            failed = failed or _error(exc)
            continue
        tp, fp, fn = zip(*stats)
        out.append({"correct": correct, "total": total, "edit": float(edit),
                    "tp": _ints(tp), "fp": _ints(fp), "fn": _ints(fn)})
        correct_all += correct
        total_all += total
        edit_all += edit
        tp_all += tp
        fp_all += fp
        fn_all += fn
    if failed:
        return {"videos": out, "dataset": failed}
    f1s = []
    for s in range(len(OVERLAPS)):
        precision = tp_all[s] / float(tp_all[s] + fp_all[s])
        recall = tp_all[s] / float(tp_all[s] + fn_all[s])
        f1 = 2.0 * (precision * recall) / (precision + recall)
        f1s.append(float(np.nan_to_num(f1) * 100))
    dataset = {"accuracy": 100 * float(correct_all) / total_all,
               "edit": float((1.0 * edit_all) / len(videos)), "f1": f1s}
    return {"videos": out, "dataset": dataset}


def _write_mstcn_layout(videos, names, ids):
    """data/case/{groundTruth,splits,mapping.txt} and results/case/split_1 as the MS-TCN scripts read them."""
    data = Path("data") / "case"
    (data / "groundTruth").mkdir(parents=True)
    (data / "splits").mkdir()
    results = Path("results") / "case" / "split_1"
    results.mkdir(parents=True)
    (data / "mapping.txt").write_text("".join(f"{i} {names.get(i, str(i))}\n" for i in ids))
    bundle = ""
    for k, (pred, target) in enumerate(videos):
        vid = f"video{k:03d}"
        bundle += f"{vid}.txt\n"
        (data / "groundTruth" / f"{vid}.txt").write_text("".join(f"{names.get(v, str(v))}\n" for v in target))
        (results / vid).write_text("### Frame level recognition: ###\n" + " ".join(names.get(v, str(v)) for v in pred))
    (data / "splits" / "test.split1.bundle").write_text(bundle)


def run_asformer(ref, case, videos):
    """Per-video values with its functions; the dataset with the real func_eval on MS-TCN-layout files."""
    result = run_mstcn_like(ref, case, videos)
    if len(case["background"]) > 1:  # func_eval hard-codes bg_class=["background"]: one name only
        result["dataset_source"] = "replicated"
        return result
    names = dict.fromkeys(case["background"], "background")
    ids = sorted({int(v) for pred, target in videos for v in (*pred, *target)} | set(case["background"]))
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            _write_mstcn_layout(videos, names, ids)
            acc, edit, f1s = ref.func_eval("case", "./results/case/split_1/", "./data/case/splits/test.split1.bundle")
            result["dataset"] = {"accuracy": float(acc), "edit": float(edit), "f1": [float(f) for f in f1s]}
        except Exception as exc:
            result["dataset"] = _error(exc)
        finally:
            os.chdir(cwd)
    result["dataset_source"] = "func_eval"
    return result


def run_asrf(ref, case, videos_with_ignored):
    ids = [int(v) for pred, target in videos_with_ignored for v in (*pred, *target) if v != IGNORE]
    max_id = max([*ids, *case["background"]])
    id2class = {i: ("background" if i in case["background"] else str(i)) for i in range(max_id + 1)}
    out, failed = [], None
    dataset_meter = ref.ScoreMeter(id2class, iou_thresholds=OVERLAPS, ignore_index=IGNORE)
    for pred, target in videos_with_ignored:
        meter = ref.ScoreMeter(id2class, iou_thresholds=OVERLAPS, ignore_index=IGNORE)
        try:
            meter.update(pred[None], target[None])
        except Exception as exc:
            out.append(_error(exc))
            failed = failed or _error(exc)
            continue
        out.append({"correct": int(meter.n_correct), "total": int(meter.n_frames), "edit": float(meter.edit_score),
                    "tp": _ints(meter.tp), "fp": _ints(meter.fp), "fn": _ints(meter.fn)})
    try:
        for pred, target in videos_with_ignored:
            dataset_meter.update(pred[None], target[None])
        acc, edit, f1s = dataset_meter.get_scores()
        dataset = {"accuracy": float(acc), "edit": float(edit), "f1": [float(f) for f in f1s]}
    except Exception as exc:
        dataset = _error(exc)
    return {"videos": out, "dataset": failed or dataset}


def run_fact(ref, case, videos):
    bg = list(case["background"])
    out, failed = [], None
    checker = ref.Checkpoint(0, bg_class=bg)
    for pred, target in videos:
        try:
            edit = checker._per_video_metrics(target, pred)["Edit"]
            pred_segs, gt_segs = ref.parse_label(pred), ref.parse_label(target)
            stats = [ref.f_score(pred_segs, gt_segs, o, bg_class=bg) for o in OVERLAPS]
        except Exception as exc:
            out.append(_error(exc))
            failed = failed or _error(exc)
            continue
        tp, fp, fn = zip(*stats)
        out.append({"edit": float(edit), "tp": _ints(tp), "fp": _ints(fp), "fn": _ints(fn)})
    ckpt = ref.Checkpoint(0, bg_class=bg)
    ckpt.add_videos([ref.Video(f"video{k:03d}", gt_label=target, pred=pred) for k, (pred, target) in enumerate(videos)])
    try:
        m = ckpt.compute_metrics()
        dataset = {"accuracy": float(m["AccB"]), "accuracy_foreground": float(m["Acc"]), "edit": float(m["Edit"]),
                   "f1": [float(m[f"F1@{o:0.2f}"]) for o in OVERLAPS]}
    except Exception as exc:
        dataset = _error(exc)
    return {"videos": out, "dataset": failed or dataset}


def run_mtlera(refs, case, videos, patched):
    metrics, utils, original, fixed = refs
    if len(case["background"]) > 1:
        return None
    utils.segment_labels = fixed if patched else original
    bg = case["background"][0] if case["background"] else None
    ids = [int(v) for pred, target in videos for v in (*pred, *target)]
    n_classes = max([*ids, *case["background"]]) + 1

    def scores(P, Y):
        acc = metrics.accuracy(P, Y)
        edit = metrics.edit_score(P, Y, bg_class=bg)
        f1 = [metrics.overlap_f1(P, Y, n_classes=n_classes, bg_class=bg, overlap=o) for o in OVERLAPS]
        return {"accuracy": float(acc), "edit": float(edit), "f1": [float(f) for f in f1]}

    out, failed = [], None
    for pred, target in videos:
        try:
            out.append(scores([pred], [target]))
        except Exception as exc:
            out.append(_error(exc))
            failed = failed or _error(exc)
    if failed:
        return {"videos": out, "dataset": failed}
    try:
        dataset = scores([p for p, _ in videos], [t for _, t in videos])
    except Exception as exc:
        dataset = _error(exc)
    return {"videos": out, "dataset": dataset}


def run_case(refs, case):
    raw = [(np.asarray(v["pred"], dtype=np.int64), np.asarray(v["target"], dtype=np.int64)) for v in case["videos"]]
    kept = [(p[t != IGNORE], t[t != IGNORE]) for p, t in raw]
    results = OrderedDict()
    results["mstcn"] = run_mstcn_like(refs["mstcn"], case, kept)
    results["asformer"] = run_asformer(refs["asformer"], case, kept)
    results["asrf"] = run_asrf(refs["asrf"], case, raw)
    results["fact"] = run_fact(refs["fact"], case, kept)
    results["mtlera"] = run_mtlera(refs["mtlera"], case, kept, patched=True)
    results["mtlera_original"] = run_mtlera(refs["mtlera"], case, kept, patched=False)
    return {"name": case["name"], "background": case["background"], "videos": case["videos"], "results": results}


def write(path: Path, meta, overlaps, cases):
    lines = ['{"meta": ' + json.dumps(meta) + ",", ' "overlaps": ' + json.dumps(overlaps) + ",", ' "cases": [']
    lines.append(",\n".join(json.dumps(case) for case in cases))
    path.write_text("\n".join(lines) + "\n]}\n")


def main(argv=None):
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, required=True,
                        help="folder holding ms-tcn/, asformer/, asrf/, fact/, mtlera/ checked out at the commits")
    parser.add_argument("--out", type=Path, default=here / "tas_reference.json")
    parser.add_argument("--inputs", type=Path, default=None, help="file whose case inputs are re-run (default: --out)")
    args = parser.parse_args(argv)
    stored = json.loads((args.inputs or args.out).read_text())
    assert tuple(stored["overlaps"]) == OVERLAPS and stored["meta"]["ignore_index"] == IGNORE
    refs = load_references(args.reference.resolve())
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # 0/0 in the references is part of what is recorded
        cases = [run_case(refs, case) for case in stored["cases"]]
    out = args.out if args.out.suffix == ".json" else args.out / "tas_reference.json"
    write(out, stored["meta"], stored["overlaps"], cases)
    print(f"wrote {out} ({len(cases)} cases)", file=sys.stderr)


if __name__ == "__main__":
    main()
