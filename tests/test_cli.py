"""Tests of the ``actseg`` command line (``actseg eval``), run in-process and as a subprocess."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import actseg
from actseg.cli import main
from actseg.io import read_label_file, read_mapping, read_split, write_label_file
from actseg.metrics import SegmentationMetrics

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


def _direct(gt_dir: Path, pred_dir: Path, mapping_file: Path, videos, **kwargs) -> SegmentationMetrics:
    """The accumulator fed directly, as a user would without the command line."""
    mapping = read_mapping(mapping_file)
    metrics = SegmentationMetrics(**kwargs)
    for video in videos:
        pred_file = pred_dir / video if (pred_dir / video).exists() else pred_dir / f"{video}.txt"
        metrics.update(
            read_label_file(pred_file, mapping),
            read_label_file(gt_dir / f"{video}.txt", mapping),
            video_ids=video,
        )
    return metrics


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


# ---------------------------------------------------------------------------------- shipped example


def test_eval_shipped_example_prints_table(capsys):
    assert main(_example_args("--background", "Standing")) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.strip().splitlines()
    assert len(lines) == 3
    assert "protocol: mstcn" in lines[0] and "background: Standing" in lines[0]
    assert lines[1].split() == TITLES
    assert len(lines[1]) == len(lines[2])  # fixed width: columns aligned
    videos = read_split(EXAMPLE / "splits" / "test.split1.bundle")
    direct = _direct(
        EXAMPLE / "groundTruth", EXAMPLE / "predictions", EXAMPLE / "mapping.txt", videos, background=(0,)
    ).compute()
    row = _table_row(captured.out)
    assert row["videos"] == "8"
    for title, key in zip(TITLES[1:], KEYS):
        assert row[title] == f"{direct[key]:.2f}"


@pytest.mark.parametrize("protocol", ["mstcn", "asformer", "asrf", "fact", "mtlera"])
def test_eval_shipped_example_json_matches_direct_metrics(tmp_path, capsys, protocol):
    out = tmp_path / "reports" / "result.json"
    args = _example_args("--background", "Standing", "--protocol", protocol, "--json", str(out))
    assert main(args) == 0
    capsys.readouterr()
    report = json.loads(out.read_text())
    videos = read_split(EXAMPLE / "splits" / "test.split1.bundle")
    metrics = _direct(
        EXAMPLE / "groundTruth",
        EXAMPLE / "predictions",
        EXAMPLE / "mapping.txt",
        videos,
        background=(0,),
        protocol=protocol,
    )
    assert report["protocol"] == protocol
    assert report["background"] == ["Standing"]
    assert report["overlaps"] == [0.1, 0.25, 0.5]
    assert report["actseg_version"] == actseg.__version__
    dataset = metrics.compute()
    assert set(report["dataset"]) == set(dataset)
    assert all(_same(report["dataset"][key], value) for key, value in dataset.items())
    assert list(report["videos"]) == videos
    for row in metrics.per_video():
        entry = report["videos"][row["video"]]
        assert all(_same(entry[key], row[key]) for key in KEYS)


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
def test_eval_synthetic_both_prediction_names(tmp_path, capsys, pred_suffix):
    gt, pred, mapping = _make_folders(tmp_path, SYNTHETIC, pred_suffix)
    out = tmp_path / "r.json"
    assert main(_synthetic_args(gt, pred, mapping, "--background", "background", "--json", str(out))) == 0
    metrics = SegmentationMetrics(background=(0,))
    for target, prediction in SYNTHETIC.values():
        metrics.update(np.array(prediction), np.array(target))
    expected = metrics.compute()
    row = _table_row(capsys.readouterr().out)
    assert row["videos"] == "3"
    report = json.loads(out.read_text())
    assert all(_same(report["dataset"][key], value) for key, value in expected.items())
    assert list(report["videos"]) == ["v1", "v2", "v3"]


def test_eval_split_subset_ignores_other_predictions(tmp_path, capsys):
    gt, pred, mapping = _make_folders(tmp_path, SYNTHETIC)
    bundle = tmp_path / "test.split1.bundle"
    bundle.write_text("v2.txt\n")
    out = tmp_path / "r.json"
    assert main(_synthetic_args(gt, pred, mapping, "--split", str(bundle), "--json", str(out))) == 0
    assert _table_row(capsys.readouterr().out)["videos"] == "1"
    assert list(json.loads(out.read_text())["videos"]) == ["v2"]


def test_eval_json_writes_nan_as_null(tmp_path, capsys):
    # one all-background video: the ms-tcn Edit of that video is 0/0 = NaN
    videos = {"fg": ([0, 1, 1, 2], [0, 1, 2, 2]), "allbg": ([0, 0, 0], [0, 0, 0])}
    gt, pred, mapping = _make_folders(tmp_path, videos)
    out = tmp_path / "r.json"
    assert main(_synthetic_args(gt, pred, mapping, "--background", "background", "--json", str(out))) == 0
    capsys.readouterr()
    text = out.read_text()
    assert "NaN" not in text
    report = json.loads(text)
    assert report["videos"]["allbg"]["edit"] is None
    metrics = SegmentationMetrics(background=(0,))
    for video in ("allbg", "fg"):
        target, prediction = videos[video]
        metrics.update(np.array(prediction), np.array(target), video_ids=video)
    for row in metrics.per_video():
        assert all(_same(report["videos"][row["video"]][key], row[key]) for key in KEYS)
    assert all(_same(report["dataset"][key], value) for key, value in metrics.compute().items())


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


def test_error_unknown_background(tmp_path, capsys):
    gt, pred, mapping = _make_folders(tmp_path, SYNTHETIC)
    err = _error(capsys, _synthetic_args(gt, pred, mapping, "--background", "SIL"))
    assert "unknown background class 'SIL'" in err and "'background'" in err


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
    assert bad.stderr.startswith("actseg eval: error: names: unknown background class 'Nope'")
    assert "Traceback" not in bad.stderr
