"""Tests of the ``actseg`` command line (``actseg eval``, ``actseg warmup``), in-process and as a subprocess.

Expected numbers are never computed with the code under test: the shipped example's numbers are
literals (the table is the one documented in docs/cli.md and examples/data/basicmotions/README.md),
and the synthetic folders' numbers are computed by hand in the comments of ``HAND``.
"""

from __future__ import annotations

import ast
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

import actseg
from actseg.cli import main
from actseg.io import read_split, write_label_file

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "data" / "basicmotions"
MAPPING = {"background": 0, "take": 1, "pour": 2}
TITLES = ["videos", "Acc", "Acc(fg)", "Edit", "F1@10", "F1@25", "F1@50"]
KEYS = ["accuracy", "accuracy_foreground", "edit", "f1@10", "f1@25", "f1@50"]


def _example_args(*extra: str) -> list[str]:
    return [
        "eval",
        "--ground-truth",
        str(EXAMPLE / "groundTruth"),
        "--predictions",
        str(EXAMPLE / "predictions"),
        "--mapping",
        str(EXAMPLE / "mapping.txt"),
        *extra,
    ]


def _table_row(out: str) -> dict[str, str]:
    lines = out.strip().splitlines()
    titles = lines[-2].split()
    values = lines[-1].split()
    assert values[0] == "dataset"
    return dict(zip(titles, values[1:]))


def _same(json_value, number: float) -> bool:
    if math.isnan(number):
        return json_value is None
    return json_value == pytest.approx(number, abs=1e-12)


def _make_folders(tmp_path: Path, videos: dict[str, tuple[list[int], list[int]]], pred_suffix: str = ""):
    """Write a tiny MS-TCN dataset: ``{video: (ground truth ids, predicted ids)}``."""
    mapping_file = tmp_path / "mapping.txt"
    mapping_file.write_text("".join(f"{i} {name}\n" for name, i in MAPPING.items()))
    for video, (target, pred) in videos.items():
        write_label_file(tmp_path / "gt" / f"{video}.txt", target, MAPPING, layout="ground_truth")
        write_label_file(tmp_path / "pred" / f"{video}{pred_suffix}", pred, MAPPING)
    return tmp_path / "gt", tmp_path / "pred", mapping_file


def _synthetic_args(gt: Path, pred: Path, mapping: Path, *extra: str) -> list[str]:
    return ["eval", "--ground-truth", str(gt), "--predictions", str(pred), "--mapping", str(mapping), *extra]


SYNTHETIC = {
    "v1": ([0, 0, 1, 1, 1, 2, 2, 0], [0, 1, 1, 1, 1, 2, 0, 0]),
    "v2": ([1, 1, 1, 2, 2, 2], [1, 1, 2, 2, 2, 2]),
    "v3": ([2, 2, 0, 0, 1], [2, 2, 2, 0, 1]),
}

# Two videos whose numbers are computed by hand (ms-tcn protocol, background = 0, segments half-open):
# w1 gt   0 0 1 1 1 1 2 2 2 2   take [2,6), pour [6,10)
#    pred 0 1 1 2 1 1 2 2 0 0   take [1,3), pour [3,4), take [4,6), pour [6,8)
#    Acc 6/10; fg frames 2..9: 5/8 right; Edit: [take, pour] vs [take, pour, take, pour], distance 2 -> 50;
#    IoUs in prediction order 1/5, 0, 2/4, 2/4 -> @10: tp 2 fp 2 (take already hit), @25 and @50: tp 2 fp 2;
#    P 1/2, R 1, F1 2/3 at every overlap.
# w2 gt   1 1 1 1 0 2 2 2 2 2   take [0,4), pour [5,10)
#    pred 1 1 0 0 0 0 0 0 2 2   take [0,2), pour [8,10)
#    Acc 5/10; fg 4/9; Edit 100; IoUs 2/4, 2/5 -> @10, @25: tp 2 (F1 1); @50: tp 1 fp 1 fn 1 (F1 1/2).
# dataset: Acc 11/20, Acc(fg) 9/17, Edit (50 + 100) / 2, F1 pooled: @10 and @25 tp 4 fp 2 fn 0 -> P 2/3,
# R 1, F1 0.8; @50 tp 3 fp 3 fn 1 -> P 1/2, R 3/4, F1 0.6.
HAND = {
    "w1": ([0, 0, 1, 1, 1, 1, 2, 2, 2, 2], [0, 1, 1, 2, 1, 1, 2, 2, 0, 0]),
    "w2": ([1, 1, 1, 1, 0, 2, 2, 2, 2, 2], [1, 1, 0, 0, 0, 0, 0, 0, 2, 2]),
}
HAND_DATASET = {"accuracy": 55.0, "accuracy_foreground": 100 * 9 / 17, "edit": 75.0,
                "f1@10": 80.0, "f1@25": 80.0, "f1@50": 60.0}
HAND_VIDEOS = {
    "w1": {"accuracy": 60.0, "accuracy_foreground": 62.5, "edit": 50.0,
           "f1@10": 200 / 3, "f1@25": 200 / 3, "f1@50": 200 / 3},
    "w2": {"accuracy": 50.0, "accuracy_foreground": 100 * 4 / 9, "edit": 100.0,
           "f1@10": 100.0, "f1@25": 100.0, "f1@50": 50.0},
}

# The shipped example (8 videos, background Standing): the numbers documented in docs/cli.md and
# examples/data/basicmotions/README.md, at full precision (recorded once; they must never move).
SHIPPED_ROW = ["8", "89.80", "88.90", "29.84", "37.04", "32.10", "27.16"]
SHIPPED = {
    "mstcn": {"accuracy": 89.8, "accuracy_foreground": 88.9, "edit": 29.843338274044797,
              "f1@10": 37.03703703703704, "f1@25": 32.098765432098766, "f1@50": 27.160493827160494},
    "asrf": {"accuracy": 89.8, "accuracy_foreground": 88.9, "edit": 29.843338274044797,
             "f1@10": 37.03703401920463, "f1@25": 32.098762414266396, "f1@50": 27.16049080932818},
    "fact": {"accuracy": 89.8, "accuracy_foreground": 88.9, "edit": 29.843338274044797,
             "f1@10": 37.036730683709166, "f1@25": 32.09845968881227, "f1@50": 27.160188694052945},
    "mtlera": {"accuracy": 89.90833333333333, "accuracy_foreground": 88.9, "edit": 29.843338274044797,
               "f1@10": 42.9156223893066, "f1@25": 39.3937969924812, "f1@50": 34.60578529657477},
}
SHIPPED["asformer"] = SHIPPED["mstcn"]  # no segment of the example ends where "T - 1" would change it
SHIPPED_VIDEOS_MSTCN = {  # per video: accuracy, accuracy_foreground, edit, f1@10, f1@25, f1@50
    "basicmotions_01": (87.25, 79.5, 12.5, 200 / 9, 200 / 9, 100 / 9),
    "basicmotions_02": (92.0, 92.5, 40.0, 400 / 7, 400 / 7, 400 / 7),
    "basicmotions_03": (83.5, 83.5, 20.0, 100 / 3, 250 / 9, 200 / 9),
    "basicmotions_04": (86.6, 86.6, 500 / 23, 250 / 7, 150 / 7, 150 / 7),
    "basicmotions_05": (95.25, 96.5, 200 / 3, 80.0, 80.0, 80.0),
    "basicmotions_06": (284 / 3, 284 / 3, 50.0, 200 / 3, 200 / 3, 500 / 9),
    "basicmotions_07": (90.4, 85.5, 100 / 11, 50 / 3, 25 / 3, 25 / 3),
    "basicmotions_08": (89.6, 272 / 3, 18.75, 600 / 19, 600 / 19, 400 / 19),
}


# ---------------------------------------------------------------------------------- shipped example


def test_eval_shipped_example_prints_table(capsys):
    assert main(_example_args("--background", "Standing")) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.strip().splitlines()
    assert len(lines) == 3
    assert lines[0] == "protocol: mstcn   background: Standing"
    assert lines[1].split() == TITLES
    assert len(lines[1]) == len(lines[2])  # fixed width: columns aligned
    assert lines[2].split() == ["dataset", *SHIPPED_ROW]
    # the exact text documented in docs/cli.md
    assert lines[2] == "dataset       8   89.80    88.90   29.84   37.04   32.10   27.16"


@pytest.mark.parametrize("protocol", ["mstcn", "asformer", "asrf", "fact", "mtlera"])
def test_eval_shipped_example_json_has_documented_numbers(tmp_path, capsys, protocol):
    out = tmp_path / "result.json"
    args = _example_args("--background", "Standing", "--protocol", protocol, "--json", str(out))
    assert main(args) == 0
    capsys.readouterr()
    report = json.loads(out.read_text())
    assert report["protocol"] == protocol
    assert report["background"] == ["Standing"]
    assert report["overlaps"] == [0.1, 0.25, 0.5]
    assert report["actseg_version"] == actseg.__version__
    assert report["dataset"] == pytest.approx(SHIPPED[protocol], rel=1e-12, abs=1e-12)
    assert list(report["videos"]) == read_split(EXAMPLE / "splits" / "test.split1.bundle")
    if protocol == "mstcn":
        for video, values in SHIPPED_VIDEOS_MSTCN.items():
            assert report["videos"][video] == pytest.approx(dict(zip(KEYS, values)), rel=1e-12, abs=1e-12)


def test_eval_with_split_equals_all_files(capsys):
    assert main(_example_args("--background", "Standing")) == 0
    everything = capsys.readouterr().out
    assert (
        main(_example_args("--background", "Standing", "--split", str(EXAMPLE / "splits/test.split1.bundle")))
        == 0
    )
    assert capsys.readouterr().out == everything


def test_eval_without_background(capsys):
    assert main(_example_args()) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert "background: (none)" in header


# ---------------------------------------------------------------------------------- synthetic folders


@pytest.mark.parametrize("pred_suffix", ["", ".txt"])
def test_eval_hand_computed_numbers_both_prediction_names(tmp_path, capsys, pred_suffix):
    gt, pred, mapping = _make_folders(tmp_path, HAND, pred_suffix)
    out = tmp_path / "r.json"
    assert main(_synthetic_args(gt, pred, mapping, "--background", "background", "--json", str(out))) == 0
    row = _table_row(capsys.readouterr().out)
    assert [row[title] for title in TITLES] == ["2", "55.00", "52.94", "75.00", "80.00", "80.00", "60.00"]
    report = json.loads(out.read_text())
    assert report["dataset"] == pytest.approx(HAND_DATASET, rel=1e-12)
    assert report["videos"] == {video: pytest.approx(values, rel=1e-12) for video, values in HAND_VIDEOS.items()}


@pytest.mark.parametrize("ids", [(0, 1, 2), (7, 3, 5), (10**15, 1, 2**62), (2**63 - 1, 0, 2**40)])
def test_eval_numbers_and_memory_do_not_depend_on_class_ids(tmp_path, capsys, ids):
    # regression: an id of 10**15 in mapping.txt ended in a MemoryError traceback (memory grew with the id)
    gt, pred, mapping = _make_folders(tmp_path, HAND)
    mapping.write_text("".join(f"{i} {name}\n" for i, name in zip(ids, MAPPING)))
    out = tmp_path / "r.json"
    assert main(_synthetic_args(gt, pred, mapping, "--background", "background", "--json", str(out))) == 0
    assert capsys.readouterr().err == ""
    assert json.loads(out.read_text())["dataset"] == pytest.approx(HAND_DATASET, rel=1e-12)


def test_eval_split_subset_ignores_other_predictions(tmp_path, capsys):
    gt, pred, mapping = _make_folders(tmp_path, SYNTHETIC)
    bundle = tmp_path / "test.split1.bundle"
    bundle.write_text("v2.txt\n")
    out = tmp_path / "r.json"
    assert main(_synthetic_args(gt, pred, mapping, "--split", str(bundle), "--json", str(out))) == 0
    assert _table_row(capsys.readouterr().out)["videos"] == "1"
    assert list(json.loads(out.read_text())["videos"]) == ["v2"]


def test_eval_json_writes_nan_as_null(tmp_path, capsys):
    # fg:    gt 0 1 1 2, pred 0 1 2 2: Acc 3/4, fg 2/3, Edit 100, take IoU 1/2 and pour IoU 1/2 -> F1 100
    # allbg: gt = pred = 0 0 0: Acc 100, no foreground frame (fg NaN), no segment: Edit 0/0 = NaN, F1 0
    # dataset (ms-tcn): Acc 6/7, fg 2/3, Edit = mean of per-video = NaN, F1 pooled tp 2 fp 0 fn 0 = 100
    videos = {"fg": ([0, 1, 1, 2], [0, 1, 2, 2]), "allbg": ([0, 0, 0], [0, 0, 0])}
    gt, pred, mapping = _make_folders(tmp_path, videos)
    out = tmp_path / "r.json"
    assert main(_synthetic_args(gt, pred, mapping, "--background", "background", "--json", str(out))) == 0
    assert "nan" in capsys.readouterr().out.split()
    text = out.read_text()
    assert "NaN" not in text
    report = json.loads(text)
    assert report["videos"]["allbg"] == {"accuracy": 100.0, "accuracy_foreground": None, "edit": None,
                                         "f1@10": 0.0, "f1@25": 0.0, "f1@50": 0.0}
    assert report["videos"]["fg"] == pytest.approx(
        {"accuracy": 75.0, "accuracy_foreground": 200 / 3, "edit": 100.0, "f1@10": 100.0, "f1@25": 100.0,
         "f1@50": 100.0}, rel=1e-12)
    assert report["dataset"]["edit"] is None
    assert {k: v for k, v in report["dataset"].items() if k != "edit"} == pytest.approx(
        {"accuracy": 600 / 7, "accuracy_foreground": 200 / 3, "f1@10": 100.0, "f1@25": 100.0, "f1@50": 100.0},
        rel=1e-12)


# ---------------------------------------------------------------------------------- errors


def _error(capsys, args) -> str:
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Traceback" not in captured.err
    return captured.err


def test_error_missing_prediction(tmp_path, capsys):
    gt, pred, mapping = _make_folders(tmp_path, SYNTHETIC)
    (pred / "v2").unlink()
    err = _error(capsys, _synthetic_args(gt, pred, mapping))
    assert err.startswith("actseg eval: error: missing prediction file")
    assert str(pred / "v2") in err


def test_error_extra_prediction(tmp_path, capsys):
    gt, pred, mapping = _make_folders(tmp_path, SYNTHETIC)
    write_label_file(pred / "v9", [0, 1], MAPPING)
    err = _error(capsys, _synthetic_args(gt, pred, mapping))
    assert err.startswith("actseg eval: error: prediction file")
    assert str(pred / "v9") in err and str(gt / "v9.txt") in err


def test_error_unknown_label(tmp_path, capsys):
    gt, pred, mapping = _make_folders(tmp_path, SYNTHETIC)
    (pred / "v3").write_text("### Frame level recognition: ###\npour pour stir background take")
    err = _error(capsys, _synthetic_args(gt, pred, mapping))
    assert err.startswith("actseg eval: error: ")
    assert f"{pred / 'v3'}: frame 2: unknown label 'stir'" in err


def test_error_length_mismatch(tmp_path, capsys):
    gt, pred, mapping = _make_folders(tmp_path, SYNTHETIC)
    write_label_file(pred / "v1", [0, 1, 1], MAPPING)
    err = _error(capsys, _synthetic_args(gt, pred, mapping))
    assert f"{pred / 'v1'}: expected 8 frame labels (as in {gt / 'v1.txt'}), got 3" in err


def test_error_bad_protocol(tmp_path, capsys):
    gt, pred, mapping = _make_folders(tmp_path, SYNTHETIC)
    err = _error(capsys, _synthetic_args(gt, pred, mapping, "--protocol", "breakfast"))
    assert "actseg eval: error: argument --protocol: invalid choice: 'breakfast'" in err


def test_error_unknown_background_names_the_option(tmp_path, capsys):
    # regression: reported as "names: unknown background class 'SIL'" (the Python argument, not the option)
    gt, pred, mapping = _make_folders(tmp_path, SYNTHETIC)
    err = _error(capsys, _synthetic_args(gt, pred, mapping, "--background", "background", "SIL"))
    assert err == "actseg eval: error: --background: unknown class name 'SIL' (known: 'background', 'take', 'pour')\n"


def test_error_json_is_a_folder_before_computing(tmp_path, capsys):
    # regression: the table was printed, then "[Errno 21] Is a directory" without naming --json
    gt, pred, mapping = _make_folders(tmp_path, SYNTHETIC)
    err = _error(capsys, _synthetic_args(gt, pred, mapping, "--json", str(tmp_path)))
    assert err == f"actseg eval: error: --json: expected a file to write, got a folder: {tmp_path}\n"


def test_error_json_missing_folder_is_not_created(tmp_path, capsys):
    # regression: --json /missing/dir/out.json silently created the folders
    gt, pred, mapping = _make_folders(tmp_path, SYNTHETIC)
    out = tmp_path / "missing" / "dir" / "out.json"
    err = _error(capsys, _synthetic_args(gt, pred, mapping, "--json", str(out)))
    expected = f"actseg eval: error: --json: expected a file in an existing folder, got no such folder: {out.parent}"
    assert err == expected + "\n"
    assert not (tmp_path / "missing").exists()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    err = _error(capsys, _synthetic_args(gt, pred, mapping, "--json", str(blocker / "out.json")))
    assert err == f"actseg eval: error: --json: expected a file in an existing folder, got a file: {blocker}\n"


def test_error_json_checked_before_reading_anything(tmp_path, capsys):
    # the output path is checked first: a bad --json is reported even when the inputs are bad too
    err = _error(capsys, _synthetic_args(tmp_path / "no_gt", tmp_path / "no_pred", tmp_path / "m.txt",
                                         "--json", str(tmp_path)))
    assert err.startswith("actseg eval: error: --json:")


def test_error_mapping_id_beyond_int64(tmp_path, capsys):
    # regression: an id of 2**63 ended in an OverflowError traceback
    gt, pred, mapping = _make_folders(tmp_path, SYNTHETIC)
    mapping.write_text(f"{2**63} background\n1 take\n2 pour\n")
    err = _error(capsys, _synthetic_args(gt, pred, mapping))
    assert err == f"actseg eval: error: {mapping}: line 1: expected a class id <= 2**63 - 1 (int64), got {2**63}\n"


def test_warning_predictions_are_the_ground_truth_folder(tmp_path, capsys):
    # regression: --predictions pointing at the ground-truth folder scored 100 without a word
    gt, _, mapping = _make_folders(tmp_path, HAND)
    assert main(_synthetic_args(gt, gt, mapping, "--background", "background")) == 0
    captured = capsys.readouterr()
    assert captured.err == (
        f"actseg eval: warning: --predictions and --ground-truth are the same folder ({gt}): "
        "the predictions are the ground truth, every score is 100\n"
    )
    assert _table_row(captured.out)["Acc"] == "100.00"


def test_warning_predictions_are_copies_of_the_ground_truth(tmp_path, capsys):
    gt, pred, mapping = _make_folders(tmp_path, HAND)
    for video in HAND:
        (pred / video).unlink()
        (pred / f"{video}.txt").write_bytes((gt / f"{video}.txt").read_bytes())
    assert main(_synthetic_args(gt, pred, mapping)) == 0
    err = capsys.readouterr().err
    assert err == (
        f"actseg eval: warning: every prediction file in {pred} is a copy of its ground-truth file: "
        "the predictions are the ground truth, every score is 100\n"
    )
    # one differing file: no warning
    write_label_file(pred / "w1.txt", HAND["w1"][1], MAPPING, layout="ground_truth")
    assert main(_synthetic_args(gt, pred, mapping)) == 0
    assert capsys.readouterr().err == ""


def test_error_split_video_without_ground_truth(tmp_path, capsys):
    gt, pred, mapping = _make_folders(tmp_path, SYNTHETIC)
    bundle = tmp_path / "s.bundle"
    bundle.write_text("v1.txt\nv7.txt\n")
    err = _error(capsys, _synthetic_args(gt, pred, mapping, "--split", str(bundle)))
    assert f"missing ground truth file {gt / 'v7.txt'}" in err


def test_error_malformed_mapping_and_missing_paths(tmp_path, capsys):
    gt, pred, mapping = _make_folders(tmp_path, SYNTHETIC)
    bad_mapping = tmp_path / "bad_mapping.txt"
    bad_mapping.write_text("0 background\n1 take away\n")
    assert f"{bad_mapping}: line 2" in _error(capsys, _synthetic_args(gt, pred, bad_mapping))
    assert "nothing.txt" in _error(capsys, _synthetic_args(gt, pred, tmp_path / "nothing.txt"))
    missing = tmp_path / "no_such_dir"
    assert f"--predictions: expected a folder, got no such folder: {missing}" in _error(
        capsys, _synthetic_args(gt, missing, mapping)
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    assert f"got none in {empty}" in _error(capsys, _synthetic_args(empty, pred, mapping))


def test_error_ambiguous_prediction(tmp_path, capsys):
    gt, pred, mapping = _make_folders(tmp_path, SYNTHETIC)
    write_label_file(pred / "v1.txt", SYNTHETIC["v1"][1], MAPPING)
    err = _error(capsys, _synthetic_args(gt, pred, mapping))
    assert "ambiguous predictions for video 'v1'" in err


def test_usage_errors_and_version(capsys):
    assert main([]) == 2
    assert "actseg: error" in capsys.readouterr().err
    assert main(["eval"]) == 2
    assert "--ground-truth" in capsys.readouterr().err
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"actseg {actseg.__version__}"


# ---------------------------------------------------------------------------------- subprocess


def test_module_entry_point_runs_in_subprocess(tmp_path):
    out = tmp_path / "r.json"
    command = [
        sys.executable,
        "-m",
        "actseg.cli",
        *_example_args("--background", "Standing", "--json", str(out)),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1].split() == TITLES
    assert json.loads(out.read_text())["background"] == ["Standing"]
    bad = subprocess.run(
        [sys.executable, "-m", "actseg.cli", *_example_args("--background", "Nope")],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith("actseg eval: error: --background: unknown class name 'Nope' (known: 'Standing'")
    assert "Traceback" not in bad.stderr


def test_python_dash_m_actseg(tmp_path):
    # regression: "python -m actseg" said "No module named actseg.__main__"
    result = subprocess.run([sys.executable, "-m", "actseg", *_example_args("--background", "Standing")],
                            capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[2].split() == ["dataset", *SHIPPED_ROW]
    usage = subprocess.run([sys.executable, "-m", "actseg", "--version"], capture_output=True, text=True,
                           check=False, timeout=300)
    assert usage.stdout.strip() == f"actseg {actseg.__version__}"


def test_warmup_command(capsys):
    assert main(["warmup"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.rsplit(None, 2)[0].strip() for line in lines]
    assert names == ["segmentation metrics", "boundary F1", "detection mAP", "NMS / Soft-NMS",
                     "peaks and refinement", "total"]
    seconds = [float(line.split()[-2]) for line in lines]
    assert all(value >= 0 for value in seconds)
    assert seconds[-1] == pytest.approx(sum(seconds[:-1]), abs=0.03)


def test_star_import_and_cheap_import():
    # regression: "from actseg import *" raised ModuleNotFoundError (``data``, ``viz`` listed but missing)
    code = (
        "import sys, actseg\n"
        "heavy = [m for m in ('numpy', 'torch', 'numba', 'scipy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "from actseg import *\n"
        "assert callable(warmup) and metrics.SegmentationMetrics and io.read_mapping\n"
        "assert callable(data.load_demo)\n"
        "print(sorted(actseg.__all__))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 0, result.stderr
    listed = set(ast.literal_eval(result.stdout))
    assert listed == {"__version__", "cli", "io", "layers", "losses", "metrics", "postprocess", "segments",
                      "targets", "warmup", "data", "viz"}
    package = Path(actseg.__file__).parent
    public = {p.stem for p in package.iterdir() if not p.name.startswith("_") and (p.suffix == ".py" or p.is_dir())}
    assert public <= listed  # every public submodule is listed
