"""Tests of ``actseg demo`` (src/actseg/_demo.py and its subcommand in actseg.cli).

Short runs (one epoch, one thread) check the report's structure, its internal consistency (dataset
numbers against per-video rows, counts against the data), the plot and determinism; the pieces are
checked on hand-computable inputs; bad options end with one exact line on stderr and exit code 2.
The quality bar (the model beats the logistic regression by > 20 F1@50 points on both data sets with
the default settings) takes minutes: it runs when ``ACTSEG_DEMO_QUALITY=1``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from actseg import _demo
from actseg.cli import main

KEYS = {"accuracy", "accuracy_foreground", "edit", "f1@10", "f1@25", "f1@50"}
SHORT = ["--epochs", "1", "--threads", "1", "--no-progress"]


def _run(out: Path, *extra: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["demo", *SHORT, "--out", str(out), *extra])
    return code, stdout.getvalue(), stderr.getvalue()


@pytest.fixture(scope="module")
def short_runs(tmp_path_factory):
    """Two one-epoch runs with the same seed (determinism) on the default data set."""
    runs = []
    for name in ("a", "b"):
        out = tmp_path_factory.mktemp(name)
        code, stdout, stderr = _run(out)
        runs.append((out, code, stdout, stderr))
    return runs


def test_short_run_report(short_runs):
    out, code, stdout, stderr = short_runs[0]
    assert code == 0, stderr
    assert stderr == ""  # no progress bar (not a terminal, --no-progress), no warning
    report = json.loads((out / "report.json").read_text())
    assert set(report) == {"config", "seed", "versions", "data", "methods", "metrics", "videos", "training",
                           "timings_s", "files"}
    config = report["config"]
    assert (config["model"], config["dataset"], config["epochs"], config["device"], config["threads"]) == (
        "mstcn++", "basicmotions", 1, "cpu", 1)
    assert config["protocol"] == "mstcn" and config["overlaps"] == [0.1, 0.25, 0.5]
    assert report["seed"] == 0 and set(report["versions"]) >= {"actseg", "torch", "numpy", "python"}
    data = report["data"]
    assert (data["train_videos"], data["test_videos"], data["channels"]) == (30, 15, 6)
    assert data["class_names"] == ["Standing", "Running", "Walking", "Badminton"]
    assert len(report["training"]["loss"]) == 1 and report["training"]["loss"][0] > 0
    assert set(report["metrics"]) == set(_demo.METHODS) == set(report["videos"])
    from actseg.data import load_demo

    test = load_demo("basicmotions", "test")
    lengths = dict(zip(test.video_ids, test.lengths.tolist()))
    for method in _demo.METHODS:
        metrics, videos = report["metrics"][method], report["videos"][method]
        assert set(metrics) == KEYS
        assert all(0 <= value <= 100 for value in metrics.values())
        assert set(videos) == set(lengths)
        # pooled frame accuracy = the frame-weighted mean of the per-video accuracies; edit = their mean
        pooled = sum(videos[v]["accuracy"] * lengths[v] for v in lengths) / sum(lengths.values())
        assert metrics["accuracy"] == pytest.approx(pooled, abs=1e-4)
        assert metrics["edit"] == pytest.approx(np.mean([videos[v]["edit"] for v in lengths]), abs=1e-4)
        assert metrics["accuracy_foreground"] == metrics["accuracy"]  # no background class
    assert set(report["timings_s"]) >= {"load_data", "fit_baseline", "train_model", "evaluate", "total"}
    # the printed table: one row per method, the numbers of the report
    lines = stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("method"))
    assert lines[header].split()[1:] == ["Acc", "Edit", "F1@10", "F1@25", "F1@50"]
    for line, method in zip(lines[header + 1: header + 4], _demo.METHODS):
        assert line.startswith(report["methods"][method])
        cells = [float(x) for x in line[len(report["methods"][method]):].split()]
        expected = [report["metrics"][method][k] for k, _ in _demo.COLUMNS]
        assert cells == pytest.approx(expected, abs=0.005 + 1e-9)


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="needs matplotlib")
def test_short_run_writes_png(short_runs):
    out = short_runs[0][0]
    assert (out / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "report.json").read_text())["files"]["timeline"] == "timeline.png"


def test_two_runs_same_seed_same_numbers(short_runs):
    (out_a, *_), (out_b, *_) = short_runs
    a, b = (json.loads((out / "report.json").read_text()) for out in (out_a, out_b))
    for key in ("metrics", "videos", "training", "config", "data"):
        if key == "config":
            a[key].pop("out"), b[key].pop("out")
        assert a[key] == b[key], key


def test_other_seed_other_training(short_runs, tmp_path):
    code, _, stderr = _run(tmp_path, "--seed", "1", "--dataset", "gunpoint")
    assert code == 0, stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["seed"] == 1 and report["data"]["class_names"] == ["Gun-Draw", "Point"]
    assert report["data"]["channels"] == 1 and report["data"]["test_videos"] == 16


# -- the pieces, on hand-computable inputs ------------------------------------------------------------


def test_standardize_ignores_padding():
    features = torch.tensor([[[1.0, 3.0, 99.0]], [[5.0, 0.0, 0.0]]])  # (N=2, C=1, T=3); 99 is padding
    mask = torch.tensor([[True, True, False], [True, False, False]])
    standardize = _demo.Standardize.fit(features, mask)
    assert standardize.mean.tolist() == [3.0]  # mean of 1, 3, 5
    assert standardize.std.tolist() == [2.0]  # unbiased std of 1, 3, 5
    assert standardize(features, mask).tolist() == [[[-1.0, 0.0, 0.0]], [[1.0, 0.0, 0.0]]]


def test_logistic_regression_reaches_the_optimum():
    # two classes separated along channel 0: the optimum of CE + l2 |W|^2 has a zero gradient
    x = torch.tensor([[[-2.0, -1.0, 1.0, 2.0, 0.0], [0.5, -0.5, 0.5, -0.5, 0.0]]])
    labels = torch.tensor([[0, 0, 1, 1, -100]])
    mask = labels != -100
    split = _demo.Split(x, labels, mask, ["v"])
    model, loss = _demo.fit_logistic_regression(split, 2, l2=1e-2)
    assert model(x).argmax(1)[mask].tolist() == [0, 0, 1, 1]
    weight, bias = (p.detach().clone().requires_grad_(True) for p in (model.linear.weight, model.linear.bias))
    frames = x[0, :, :4].T
    objective = torch.nn.functional.cross_entropy(frames @ weight[:, :, 0].T + bias, labels[0, :4])
    objective = objective + 1e-2 * weight.pow(2).sum()
    objective.backward()
    assert float(objective.detach()) == pytest.approx(loss, abs=1e-6)
    assert weight.grad.abs().max() < 1e-4 and bias.grad.abs().max() < 1e-4
    # softmax ignores a vector added to every class row, the L2 penalty does not: the rows sum to zero
    w = model.linear.weight[:, :, 0].detach()
    assert w.sum(0).abs().max() < 1e-4 and w[1, 0] > 0


def test_boundary_targets_and_pos_weight(monkeypatch):
    labels = torch.tensor([[0, 0, 0, 1, 1, 1, -100, -100], [2, 2, 2, 2, 2, 0, 0, 0]])
    mask = labels != -100
    monkeypatch.setattr(_demo, "BOUNDARY_SIGMA", None)  # ASRF's hard labels: the start frame of each change
    assert _demo.boundary_target(labels, mask).tolist() == [[0, 0, 0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1, 0, 0]]
    split = _demo.Split(torch.zeros(2, 1, 8), labels, mask, ["a", "b"])
    assert _demo.boundary_pos_weight(split) == pytest.approx((14 - 2) / 2)
    monkeypatch.setattr(_demo, "BOUNDARY_SIGMA", 1.0)  # Gaussian: exp(-1/2) one frame away
    smooth = _demo.boundary_target(labels, mask)
    assert smooth[0, 2:5].tolist() == pytest.approx([np.exp(-0.5), 1.0, np.exp(-0.5)])
    assert smooth[0, 6:].tolist() == [0.0, 0.0]


def test_model_shapes_and_padding():
    torch.manual_seed(0)
    for name in _demo.MODELS:
        net = _demo.build_model(name, 3, 4).eval()
        x = torch.randn(2, 3, 40)
        mask = torch.ones(2, 40, dtype=torch.bool)
        mask[1, 25:] = False
        stages, boundary = net(x, mask)
        assert stages.shape[1:] == (2, 4, 40) and boundary.shape == (2, 40)
        alone_stages, alone_boundary = net(x[1:, :, :25], mask[1:, :25])
        torch.testing.assert_close(stages[:, 1, :, :25], alone_stages[:, 0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(boundary[1, :25], alone_boundary[0], atol=1e-5, rtol=1e-5)


def test_format_table():
    metrics = {"logistic_regression": {"accuracy": 50.0, "edit": 3.14159, "f1@10": 1.0, "f1@25": 0.5, "f1@50": 0.0},
               "model": {"accuracy": 99.999, "edit": None, "f1@10": 100.0, "f1@25": 100.0, "f1@50": 95.5}}
    titles = {"logistic_regression": "LR", "model": "MS-TCN++"}
    assert _demo.format_table(metrics, titles).splitlines() == [
        "method       Acc    Edit   F1@10   F1@25   F1@50",
        "LR         50.00    3.14    1.00    0.50    0.00",
        "MS-TCN++  100.00     nan  100.00  100.00   95.50",
    ]


def test_plot_note_without_matplotlib(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails as when not installed
    split = _demo.Split(torch.zeros(1, 1, 4), torch.zeros(1, 4, dtype=torch.long), torch.ones(1, 4, dtype=torch.bool),
                        ["v"])
    note = _demo.write_plot(tmp_path / "t.png", split, {}, {}, ["a"], 1.0)
    assert note == "matplotlib is not installed (pip install 'actseg-blocks[viz]'): no timeline plot"
    assert not (tmp_path / "t.png").exists()


def test_progress_bar(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # the built-in bar
    bar = _demo.Progress(4, "training", enabled=True)
    bar(1, 2.5)
    bar(4, 0.25)
    bar.close()
    err = capsys.readouterr().err
    assert "\rtraining [#####...............] 1/4 loss 2.500" in err
    assert "\rtraining [####################] 4/4 loss 0.250" in err
    silent = _demo.Progress(4, "training", enabled=False)
    silent(1, 1.0)
    silent.close()
    assert capsys.readouterr().err == ""
    assert not _demo.progress_enabled(True)  # pytest captures stdout: not a terminal


def test_deterministic_restores_global_state():
    before = (torch.are_deterministic_algorithms_enabled(), torch.get_num_threads())
    with _demo.deterministic(0, torch.device("cpu"), threads=1):
        assert torch.are_deterministic_algorithms_enabled() and torch.get_num_threads() == 1
    assert (torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()) == before


# -- bad options: one line on stderr, exit code 2 -----------------------------------------------------

BAD = [
    (["--device", "tpu"], "--device: expected one of auto, cpu, cuda, got 'tpu'"),
    (["--model", "mstcn"], "--model: expected one of mstcn++, asformer, got 'mstcn'"),
    (["--dataset", "gun"], "--dataset: expected one of basicmotions, gunpoint, got 'gun'"),
    (["--epochs", "0"], "--epochs: expected an integer in [1, 100000], got '0'"),
    (["--epochs", "1.5"], "--epochs: expected an integer in [1, 100000], got '1.5'"),
    (["--epochs", "ten"], "--epochs: expected an integer in [1, 100000], got 'ten'"),
    (["--seed", "-1"], "--seed: expected an integer in [0, 9223372036854775807], got '-1'"),
    (["--threads", "0"], "--threads: expected an integer in [1, 1024], got '0'"),
]


@pytest.mark.parametrize(("args", "message"), BAD)
def test_bad_options(args, message, tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["demo", "--out", str(out), *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"actseg demo: error: {message}\n"
    assert not out.exists()  # nothing is written before the options are checked


def test_out_is_a_file(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["demo", "--out", str(target)]) == 2
    expected = f"actseg demo: error: --out: expected a folder (created when missing), got a file: {target}\n"
    assert capsys.readouterr().err == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_missing_in_a_subprocess(tmp_path):
    result = subprocess.run([sys.executable, "-m", "actseg", "demo", "--device", "cuda", "--out", str(tmp_path / "o")],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(Path(_demo.__file__).parents[1])})
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == ("actseg demo: error: --device: expected a device this machine has, got 'cuda' "
                             "(torch.cuda.is_available() is False)\n")


# -- the quality bar (minutes; ACTSEG_DEMO_QUALITY=1) -------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("ACTSEG_DEMO_QUALITY") != "1", reason="set ACTSEG_DEMO_QUALITY=1 (minutes)")
@pytest.mark.parametrize("dataset", _demo.DATASETS)
def test_default_model_beats_logistic_regression(dataset, tmp_path):
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        assert main(["demo", "--dataset", dataset, "--out", str(tmp_path), "--no-progress"]) == 0
    metrics = json.loads((tmp_path / "report.json").read_text())["metrics"]
    for method in ("model", "model_refined"):
        assert metrics[method]["f1@50"] - metrics["logistic_regression"]["f1@50"] > 20
