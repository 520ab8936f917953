"""Regenerate ``tests/data/boundary/{tapos,gebd_challenge,gebd_k400_frames}.json`` with the official GEBD code.

Not part of actseg and not run by the tests. The reference (StanLei52/GEBD@5f7e722, files
``Challenge_eval_Code/eval.py``, ``eval/eval_GEBD_TAPOS.ipynb``, ``eval/eval_GEBD_k400.ipynb``, unmodified)
is checked out into a scratch folder outside the repository, e.g.::

    for f in Challenge_eval_Code/eval.py eval/eval_GEBD_TAPOS.ipynb eval/eval_GEBD_k400.ipynb; do
        mkdir -p $R/gebd/$(dirname $f); git -C <GEBD clone> show 5f7e722:$f > $R/gebd/$f
    done
    python tests/data/boundary/generate_gebd.py --reference $R/gebd --out tests/data/boundary/

Each case is run in a fresh temporary directory laid out as the script / notebook expects (the pickles
and JSON it opens by relative path), the code is executed as it is (only the documented textual
substitutions, below), and the numbers are read from its namespace:

* ``Challenge_eval_Code/eval.py``: ``PATH_TO_GT_FILES.pkl`` / ``PATH_TO_OUTPUT_FILES.pkl`` in the working
  directory; the line ``threshold = 0.05`` is replaced by each threshold (it evaluates one per run).
* TAPOS notebook, code cells 0-3: ``../data/export/tapos_annotation_timestamps_myfps.json`` and
  ``../data/exp_TAPOS/detect_seg/<video>_<shot>.pkl``; the absolute-distance variant (no public code)
  replaces the list of ``d`` by ``[5, 10, ..., 50]`` and ``d*(ins_end-ins_start+1)`` by ``d``.
* k400 notebook, code cells 0-2: ``../data/export/k400_mr345_val_min_change_duration0.3.pkl`` and
  ``../data/exp_k400/detect_seg/<video>.pkl``.

The case inputs are read from the committed files (``--inputs``, default: the output folder); every
expected value is recomputed. The files are written in the committed compact layout, so an unchanged
reference gives byte-identical files.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import pickle
import sys
import tempfile
from pathlib import Path

import numpy as np

FILES = ("tapos", "gebd_challenge", "gebd_k400_frames")
RELATIVE = "[0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5]"


def _replace_once(text, old, new):
    assert text.count(old) == 1, f"reference changed: {old!r} is not found exactly once"
    return text.replace(old, new)


def _notebook_code(path: Path, cells):
    notebook = json.loads(path.read_text())
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    return "\n".join("".join(code[i]["source"]) for i in cells)


def _run(code, filename, workdir: Path):
    """Execute reference code with ``workdir`` as the working directory; return its namespace."""
    namespace = {"__name__": "__main__"}
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(code, filename, "exec"), namespace)
    finally:
        os.chdir(cwd)
    return namespace


def _dump(path: Path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def _floats(values):
    return [float(v) for v in values]


# --------------------------------------------------------------------------- TAPOS notebook
def tapos(root: Path, stored):
    path = root / "eval" / "eval_GEBD_TAPOS.ipynb"
    relative = _notebook_code(path, range(4))
    absolute = _replace_once(relative, RELATIVE, repr([int(d) for d in stored["thresholds_absolute"]]))
    absolute = _replace_once(absolute, "d*(ins_end-ins_start+1)", "d")
    assert stored["downsample"] == 3 and stored["thresholds_relative"] == json.loads(RELATIVE)
    for case in stored["cases"]:
        for key, code in (("relative", relative), ("absolute", absolute)):
            with tempfile.TemporaryDirectory() as tmp:
                tmp = Path(tmp)
                annotations = {}
                for ins in case["instances"]:
                    frames = ins["substages"]
                    annotations.setdefault(ins["video"], {})[ins["shot"]] = {
                        "subset": ins["subset"], "substages": frames, "substages_myframeidx": frames,
                        "substages_timestamps": [f / 30.0 for f in frames], "myfps": 30.0}
                    if ins["pred_offsets"] is not None:
                        _dump(tmp / "data" / "exp_TAPOS" / "detect_seg" / f"{ins['video']}_{ins['shot']}.pkl",
                              {"bdy_idx_list_smt": ins["pred_offsets"]})
                export = tmp / "data" / "export"
                export.mkdir(parents=True)
                (export / "tapos_annotation_timestamps_myfps.json").write_text(json.dumps(annotations))
                (tmp / "data" / "exp_TAPOS").mkdir(exist_ok=True)
                (tmp / "eval").mkdir()
                ns = _run(code, str(path), tmp / "eval")
            case[key] = {"rec": _floats(ns["list_rec"]), "prec": _floats(ns["list_prec"]),
                         "f1": _floats(ns["list_f1"])}
    return stored


# --------------------------------------------------------------------------- Kinetics-GEBD challenge script
def gebd_challenge(root: Path, stored):
    path = root / "Challenge_eval_Code" / "eval.py"
    source = path.read_text()
    for case in stored["cases"]:
        expected = {}
        for threshold in stored["thresholds"]:
            code = source  # threshold 0.05 runs the file unmodified
            if threshold != 0.05:
                code = _replace_once(source, "threshold = 0.05", f"threshold = {threshold!r}")
            with tempfile.TemporaryDirectory() as tmp:
                tmp = Path(tmp)
                _dump(tmp / "PATH_TO_GT_FILES.pkl", case["gt"])
                _dump(tmp / "PATH_TO_OUTPUT_FILES.pkl", case["pred"])
                ns = _run(code, str(path), tmp)
            expected[str(threshold)] = {k: float(ns[k]) for k in ("tp_all", "num_pos_all", "num_det_all", "rec",
                                                                  "prec", "f1")}
        case["expected"] = expected
    return stored


# --------------------------------------------------------------------------- Kinetics-GEBD k400 notebook
def gebd_k400(root: Path, stored):
    path = root / "eval" / "eval_GEBD_k400.ipynb"
    code = _notebook_code(path, range(3))
    assert stored["downsample"] == 3 and stored["thresholds"] == json.loads(RELATIVE)
    for case in stored["cases"]:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            _dump(tmp / "data" / "export" / "k400_mr345_val_min_change_duration0.3.pkl", case["gt"])
            for vid, offsets in case["pred_offsets"].items():
                _dump(tmp / "data" / "exp_k400" / "detect_seg" / f"{vid}.pkl", {"bdy_idx_list_smt": offsets})
            (tmp / "data" / "exp_k400" / "detect_seg").mkdir(parents=True, exist_ok=True)
            (tmp / "eval").mkdir()
            ns = _run(code, str(path), tmp / "eval")
        case["expected"] = {"rec": _floats(ns["list_rec"]), "prec": _floats(ns["list_prec"]),
                            "f1": _floats(ns["list_f1"])}
    return stored


BUILDERS = {"tapos": tapos, "gebd_challenge": gebd_challenge, "gebd_k400_frames": gebd_k400}


def main(argv=None):
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, required=True, help="checkout of StanLei52/GEBD@5f7e722")
    parser.add_argument("--out", type=Path, default=here, help="output folder")
    parser.add_argument("--inputs", type=Path, default=None, help="folder of the files whose inputs are re-run")
    parser.add_argument("files", nargs="*", default=list(FILES), help=f"any of {FILES} (default: all)")
    args = parser.parse_args(argv)
    root = args.reference.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.files:
        stored = json.loads(((args.inputs or args.out) / f"{name}.json").read_text())
        with np.errstate(all="ignore"):
            result = BUILDERS[name](root, stored)
        (args.out / f"{name}.json").write_text(json.dumps(result, separators=(",", ":")))
        print(f"wrote {args.out / name}.json ({len(result['cases'])} cases)", file=sys.stderr)


if __name__ == "__main__":
    main()
