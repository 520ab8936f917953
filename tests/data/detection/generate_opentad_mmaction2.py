"""Generate ``opentad_mmaction2_reference.json``: OpenTAD's ``mAP`` and mmaction2's ``ActivityNetLocalization``
run on the inputs of ``tal_reference.json`` plus the extra cases below.

This is actseg's own script; the evaluators are NOT part of actseg. It loads them, unmodified, from
checkouts in a scratch folder outside the repository::

    SCRATCH/OpenTAD     git clone https://github.com/sming256/OpenTAD    (checkout 3dd7b03)
    SCRATCH/mmaction2   git clone https://github.com/open-mmlab/mmaction2 (checkout 4d6c934)

and needs numpy and pandas (OpenTAD). ``mmengine`` (only its ``Registry`` decorator and its logger are
used by the two files) is replaced by in-memory stubs. Run from the repository root::

    python tests/data/detection/generate_opentad_mmaction2.py SCRATCH

Every case is evaluated twice in fresh processes: ``baseline`` with
``NPY_DISABLE_CPU_FEATURES=X86_V3,X86_V4,AVX512_ICL,AVX512_SPR`` (NumPy's own quicksort, an insertion
sort for <= 16 elements, i.e. the stable order: equal values come out of ``argsort()[::-1]`` by index
descending) and ``native`` (this CPU's SIMD sort). ``expected`` is the baseline run; cases whose
native result differs are listed in ``meta.native_differs`` and keep it under ``native``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
BASELINE_ENV = {"NPY_DISABLE_CPU_FEATURES": "X86_V3,X86_V4,AVX512_ICL,AVX512_SPR"}
COMMITS = {"opentad": "sming256/OpenTAD@3dd7b03", "mmaction2": "open-mmlab/mmaction2@4d6c934"}


# ----------------------------------------------------------------------------------------------
# extra cases (inputs only; the format of tal_reference.json)


def _video(vid, gt, pred):
    return {"id": vid, "gt": gt, "pred": pred}


def extra_cases() -> list[dict]:
    rng = np.random.default_rng(2026)
    cases = [
        # float64 tIoU 0.7 / 0.65 / 0.95 >= threshold, float32 tIoU < threshold (mmaction2 stores float32)
        {"name": "f32_tiou_at_thumos_threshold", "tags": ["float32"], "thresholds": "thumos",
         "videos": [_video("v0", [[0.0, 10.0, 0], [20.0, 30.0, 0]], [[0.0, 7.0, 0, 0.9], [20.0, 23.0, 0, 0.8]])]},
        {"name": "f32_tiou_at_anet_threshold", "tags": ["float32"], "thresholds": "activitynet",
         "videos": [_video("v0", [[0.0, 20.0, 0], [30.0, 50.0, 1], [60.0, 80.0, 1]],
                           [[0.0, 13.0, 0, 0.9], [30.0, 49.0, 1, 0.8], [60.0, 75.0, 1, 0.7]])]},
        # tIoU 5/15 and 5/15.0000001: distinct in float64, equal in float32; the choice changes the AP
        {"name": "f32_tiou_tie_changes_match", "tags": ["float32", "tiou_ties", "ties"], "thresholds": "thumos",
         "videos": [_video("v0", [[0.0, 10.0, 0], [10.0, 20.0000001, 0]],
                           [[5.0, 15.0, 0, 0.9], [12.0, 20.0, 0, 0.8]])]},
        # more than 16 equal scores: mmaction2's stable sort is deterministic, the others are not
        {"name": "score_ties_many_stable", "tags": ["ties", "large_ties"], "thresholds": "thumos",
         "videos": [_video(f"v{i}", [[10.0 * j, 10.0 * j + 8.0, 0] for j in range(2)],
                           [[10.0 * j + float(rng.integers(0, 3)), 10.0 * j + 8.0 + float(rng.integers(0, 3)), 0, 0.5]
                            for j in range(5)]) for i in range(4)]},
        # OpenTAD keeps short instances (it drops only end - start <= 0); ActionFormer drops < 1e-3
        {"name": "short_duplicate_gt", "tags": ["dedupe"], "thresholds": "actionformer",
         "videos": [_video("v0", [[0.0, 0.0005, 0], [0.0001, 0.0006, 0], [5.0, 6.0, 0], [5.0004, 6.0, 0]],
                           [[5.0, 6.0, 0, 0.9], [0.0, 0.0005, 0, 0.8], [5.0, 6.0, 0, 0.7]])]},
    ]
    for k in range(6):  # random float times, unique scores
        n_vid, n_cls = int(rng.integers(2, 8)), int(rng.integers(1, 5))
        videos = []
        for i in range(n_vid):
            gt = []
            for _ in range(int(rng.integers(0, 6))):
                s = float(rng.uniform(0, 100))
                gt.append([s, s + float(rng.uniform(0.5, 30)), int(rng.integers(0, n_cls))])
            pred = []
            for _ in range(int(rng.integers(0, 12))):
                s = float(rng.uniform(0, 100))
                pred.append([s, s + float(rng.uniform(0.5, 30)), int(rng.integers(0, n_cls)),
                             float(rng.uniform(0, 1))])
            videos.append(_video(f"vid{i:02d}", gt, pred))
        if not any(v["gt"] for v in videos):
            videos[0]["gt"] = [[0.0, 5.0, 0]]
        labels = {r[2] for v in videos for r in v["gt"]}
        for v in videos:  # no foreign labels here: those are covered by the tal cases
            v["pred"] = [r for r in v["pred"] if r[2] in labels]
        cases.append({"name": f"random_float_{k}", "tags": [], "thresholds": ["thumos", "activitynet"][k % 2],
                      "videos": videos})
    return cases


# ----------------------------------------------------------------------------------------------
# loading the evaluators (worker side)


def _stub_mmengine() -> None:
    class Registry:
        def __init__(self, *args, **kwargs):
            pass

        def register_module(self, *args, **kwargs):
            return lambda cls: cls

    class MMLogger:
        @staticmethod
        def get_current_instance():
            return None

    mm = types.ModuleType("mmengine")
    reg = types.ModuleType("mmengine.registry")
    reg.Registry = Registry
    log = types.ModuleType("mmengine.logging")
    log.MMLogger = MMLogger
    log.print_log = lambda *a, **k: None
    mm.registry, mm.logging = reg, log
    sys.modules.update({"mmengine": mm, "mmengine.registry": reg, "mmengine.logging": log})


def _load(package: str, folder: Path, module: str) -> types.ModuleType:
    """Import ``folder/module.py`` as ``package.module`` without running the package's ``__init__``."""
    parts = package.split(".")
    for i in range(1, len(parts) + 1):
        name = ".".join(parts[:i])
        if name not in sys.modules:
            pkg = types.ModuleType(name)
            pkg.__path__ = [str(folder)] if i == len(parts) else []
            sys.modules[name] = pkg
    spec = importlib.util.spec_from_file_location(f"{package}.{module}", folder / f"{module}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def _label(c: int) -> str:
    return f"c{c:03d}"


def _result(ap: np.ndarray, class_order: list[int], **extra) -> dict:
    """AP columns re-ordered from the evaluator's class order to sorted class ids."""
    ap = np.asarray(ap, dtype=np.float64).reshape(ap.shape[0], -1)
    perm = np.argsort(class_order, kind="stable")
    m_ap = ap.mean(axis=1)
    return {"ap": ap[:, perm].tolist(), "mAP": m_ap.tolist(), "average_mAP": float(m_ap.mean()),
            "class_order": class_order, **extra}


def run_opentad(mod, case: dict, thresholds: np.ndarray, tmp: Path) -> dict:
    database, results = {}, {}
    for v in case["videos"]:
        if v["gt"] is not None:
            database[v["id"]] = {"subset": "validation", "annotations": [
                {"segment": [r[0], r[1]], "label": _label(r[2])} for r in v["gt"]]}
        if v["pred"] is not None:
            results[v["id"]] = [{"segment": [r[0], r[1]], "label": _label(r[2]), "score": r[3]} for r in v["pred"]]
    gt_file = tmp / "opentad_gt.json"
    gt_file.write_text(json.dumps({"database": database}))
    try:
        ev = mod.mAP(str(gt_file), {"results": results}, "validation", thresholds, top_k=[1, 5], thread=1)
        ev.evaluate()
    except Exception as exc:  # the reference's outcome is stored
        return {"error": f"{type(exc).__name__}: {exc}"}
    order = [int(name[1:]) for name in ev.activity_index]
    recall = np.asarray(ev.mRecall, dtype=np.float64)
    return _result(ev.ap, order, recall=recall.tolist(), top_k=[1, 5])


def run_mmaction2(mod, case: dict, thresholds: np.ndarray, tmp: Path) -> dict:
    gt, results = {}, {}
    for v in case["videos"]:
        if v["gt"] is not None:  # mmaction2 strips the first two characters ("v_") of ground-truth ids
            gt["v_" + v["id"]] = {"annotations": [{"segment": [r[0], r[1]], "label": _label(r[2])} for r in v["gt"]]}
        if v["pred"] is not None:
            results[v["id"]] = [{"segment": [r[0], r[1]], "label": _label(r[2]), "score": r[3]} for r in v["pred"]]
    gt_file, pred_file = tmp / "mm_gt.json", tmp / "mm_pred.json"
    gt_file.write_text(json.dumps(gt))
    pred_file.write_text(json.dumps({"results": results}))
    try:
        ev = mod.ActivityNetLocalization(str(gt_file), str(pred_file), tiou_thresholds=thresholds)
        ev.evaluate()
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc!s}"}
    order = [int(name[1:]) for name in ev.activity_index]
    return _result(ev.ap, order)


def worker(scratch: Path, cases_file: Path, out_file: Path) -> None:
    import warnings

    warnings.simplefilter("ignore")
    _stub_mmengine()
    opentad = _load("opentad.evaluations", scratch / "OpenTAD" / "opentad" / "evaluations", "mAP")
    mm = _load("mmaction.evaluation.functional", scratch / "mmaction2" / "mmaction" / "evaluation" / "functional",
               "eval_detection")
    payload = json.loads(cases_file.read_text())
    named = {k: np.array(v) for k, v in payload["thresholds"].items()}
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for case in payload["cases"]:
            thr = named[case["thresholds"]]
            out[case["name"]] = {"opentad": run_opentad(opentad, case, thr, Path(tmp)),
                                 "mmaction2": run_mmaction2(mm, case, thr, Path(tmp))}
    out_file.write_text(json.dumps(out))


# ----------------------------------------------------------------------------------------------
# driver


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("scratch", type=Path, help="folder holding the OpenTAD and mmaction2 checkouts")
    p.add_argument("--out", type=Path, default=HERE / "opentad_mmaction2_reference.json")
    p.add_argument("--_worker", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    scratch = args.scratch.resolve()
    if args._worker:
        worker(scratch, *args._worker)
        return
    tal = json.loads((HERE / "tal_reference.json").read_text())
    thresholds = tal["meta"]["thresholds"]
    cases = [{k: c[k] for k in ("name", "tags", "thresholds", "videos")} for c in tal["cases"]]
    for c in cases:
        c["source"] = "tal_reference.json"
    cases += extra_cases()
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        cases_file = Path(tmp) / "cases.json"
        cases_file.write_text(json.dumps({"thresholds": thresholds, "cases": cases}))
        for run, env in (("baseline", BASELINE_ENV), ("native", {})):
            out = Path(tmp) / f"{run}.json"
            subprocess.run([sys.executable, __file__, str(scratch), "--_worker", str(cases_file), str(out)],
                           env={**os.environ, **env}, check=True)
            runs[run] = json.loads(out.read_text())
    differs = []
    for c in cases:
        c["expected"] = runs["baseline"][c["name"]]
        native = {k: v for k, v in runs["native"][c["name"]].items()
                  if json.dumps(v, sort_keys=True) != json.dumps(c["expected"][k], sort_keys=True)}
        if native:
            c["native"] = native
            differs.append(c["name"])
    import pandas

    meta = {
        "generator": "tests/data/detection/generate_opentad_mmaction2.py",
        "references": {
            "opentad": f"{COMMITS['opentad']} opentad/evaluations/mAP.py class mAP (+ builder.py "
                       "remove_duplicate_annotations), subset='validation', top_k=[1, 5], thread=1; "
                       "mmengine.registry stubbed",
            "mmaction2": f"{COMMITS['mmaction2']} mmaction/evaluation/functional/eval_detection.py "
                         "ActivityNetLocalization (+ accuracy.py pairwise_temporal_iou, "
                         "interpolated_precision_recall); "
                         "mmengine.logging stubbed; ground-truth ids written as 'v_' + id",
        },
        "versions": {"python": sys.version.split()[0], "numpy": np.__version__, "pandas": pandas.__version__},
        "tie_rule": "expected = run with NPY_DISABLE_CPU_FEATURES=" + BASELINE_ENV["NPY_DISABLE_CPU_FEATURES"]
                    + " (stable order for <= 16 elements); 'native' holds a differing result of the default run",
        "native_differs": differs,
        "thresholds": thresholds,
        "labels": "integer class ids, written to the JSON files as names 'c%03d'; AP columns in sorted id order",
    }
    args.out.write_text(json.dumps({"meta": meta, "cases": cases}, indent=None) + "\n")
    print(f"{len(cases)} cases written to {args.out}; native differs: {differs}")


if __name__ == "__main__":
    main()
