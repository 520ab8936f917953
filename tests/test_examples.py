"""The example scripts run (short settings)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


@pytest.mark.skipif(not (DATA / "BasicMotions_TRAIN.ts").is_file(), reason="needs ../shared/data (BasicMotions)")
@pytest.mark.parametrize("model", ["mstcn++", "asformer"])
def test_train_basicmotions_runs(model):
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "train_basicmotions.py"), "--model", model,
                          "--epochs", "1", "--source", str(DATA)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "f1@50" in out.stdout


def test_make_eval_example_without_data_says_what_it_needs(tmp_path):
    # regression: without the .ts files the script ended in a FileNotFoundError traceback
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "make_eval_example.py"), "--source",
                          str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert out.stderr.startswith(f"make_eval_example.py: error: --source {tmp_path / 'nowhere'}: missing "
                                 "BasicMotions_TRAIN.ts and BasicMotions_TEST.ts.")
    assert "UEA multivariate archive" in out.stderr and "examples/data/basicmotions/" in out.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(not (DATA / "BasicMotions_TRAIN.ts").is_file(), reason="needs ../shared/data (BasicMotions)")
def test_make_eval_example_regenerates_the_shipped_files(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "make_eval_example.py"), "--source", str(DATA),
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    shipped = ROOT / "examples" / "data" / "basicmotions"
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert len(written) == 18  # mapping, 8 ground-truth files, 8 predictions, 1 split
    for path in written:
        assert (tmp_path / path).read_bytes() == (shipped / path).read_bytes(), path


def test_license_is_mit_as_pyproject_says():
    # regression: pyproject.toml said MIT, but the repository (and so the wheel) had no LICENSE file
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n\nCopyright (c) 2026 actseg developers\n")
    assert "THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND" in text
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'license = { text = "MIT" }' in pyproject and "License :: OSI Approved :: MIT License" in pyproject


# --- issue 13 §3: examples/interact.py and examples/transparser.py (helper exb) ----------------------------------

def _run_quick(script: str, *extra: str, processes: int = 1) -> dict:
    """Run ``examples/<script> --quick`` (under ``torchrun --standalone`` for ``processes > 1``) and return its
    ``METRICS {json}`` line as a dict."""
    import json
    import os

    env = dict(os.environ, OMP_NUM_THREADS="1")  # one thread: far faster than two on a shared CPU
    launch = [sys.executable] + (["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
                                 if processes > 1 else [])
    out = subprocess.run([*launch, str(ROOT / "examples" / script), "--quick", *extra], capture_output=True,
                         text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if line.startswith("METRICS ")]
    assert len(lines) == 1, out.stdout
    return json.loads(lines[0][len("METRICS "):])


def test_transparser_quick_beats_the_uniform_split():
    m = _run_quick("transparser.py")
    assert set(m) == {"f1", "precision", "recall", "f1@0.05", "f1@0.1", "f1@0.5", "f1_abs", "precision_abs",
                      "recall_abs", "uniform_f1", "uniform_f1_abs"}
    assert all(0.0 <= v <= 1.0 for v in m.values())  # boundary F1 is a fraction (TAPOS protocol)
    # the parser beats cutting every instance into equal parts, with relative and absolute tolerances
    assert m["f1"] > m["uniform_f1"] + 0.03 and m["f1_abs"] > m["uniform_f1_abs"] + 0.03
    assert m["f1"] > 0.75


def test_interact_quick_beats_the_majority_class():
    m = _run_quick("interact.py")
    keys = ("accuracy", "edit", "f1@10", "f1@25", "f1@50")
    assert set(m) == {p + k for p in ("", "raw_", "majority_") for k in keys}
    assert all(0.0 <= v <= 100.0 for v in m.values())  # TAS metrics are percentages
    assert m["accuracy"] > m["majority_accuracy"] + 15
    assert m["edit"] > m["majority_edit"] + 15 and m["f1@25"] > m["majority_f1@25"] + 15


def _example(name: str):
    """Import ``examples/<name>.py`` as a module (its folder on ``sys.path`` for ``_common``/``_synthetic``)."""
    import importlib

    sys.path.insert(0, str(ROOT / "examples"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(ROOT / "examples"))


def test_transparser_generator_is_deterministic_and_its_annotation_consistent():
    import numpy as np

    tp = _example("transparser")
    gen = tp.SubActionGenerator(3)
    first, again = gen.instances(20, seed=7), tp.SubActionGenerator(3).instances(20, seed=7)
    assert all(np.array_equal(a.features, b.features) and a.substages == b.substages for a, b in zip(first, again))
    assert not np.array_equal(first[0].features, gen.instances(1, seed=8)[0].features)
    counts = set()
    for ins in first:
        t = ins.features.shape[1]
        assert ins.features.shape[0] == 32 and ins.features.dtype == np.float32 and ins.scale == 1.0
        starts = np.flatnonzero(np.diff(ins.segment_ids)) + 1  # where the sub-action index changes
        assert ins.substages == [0, *starts.tolist(), t - 1]
        assert np.array_equal(ins.segment_ids, np.repeat(np.arange(len(starts) + 1), np.diff([0, *starts, t])))
        lengths = np.diff([0, *starts, t])
        assert lengths.min() >= 6 and lengths.max() <= 36
        prefix, _, suffix = gen.scripts[ins.action]  # prefix, a two-type cycle repeated 1–3 times, suffix
        assert len(starts) + 1 - len(prefix) - len(suffix) in (2, 4, 6)
        counts.add(len(starts) + 1)
    assert len(counts) >= 3  # instances of one generator have different numbers of sub-actions


def test_transparser_reads_the_tapos_layout(tmp_path, capsys):
    import json

    import numpy as np

    tp = _example("transparser")
    table = {"vidA": {"s1_0_0_4_0": {"action": "vault", "substages": [0, 10, 25, 39], "total_frames": 40,
                                      "subset": "train"},
                      "s2_4_0_9_0": {"action": "beam", "substages": [0, 7, 29], "total_frames": 30,
                                     "subset": "val"}},
             "vidB": {"s1_0_0_2_0": {"action": "vault", "substages": [0, 5, 19], "total_frames": 20,
                                     "subset": "train"}}}
    (tmp_path / "tapos_annotation.json").write_text(json.dumps(table))
    (tmp_path / "features").mkdir()
    np.save(tmp_path / "features" / "vidA_s1_0_0_4_0.npy", np.ones((3, 20), np.float32))   # stride 2
    np.save(tmp_path / "features" / "vidA_s2_4_0_9_0.npy", np.zeros((3, 30), np.float32))  # every frame
    train, classes = tp.read_tapos(tmp_path, "train")
    assert classes == {"beam": 0, "vault": 1}
    assert "1 train instances have no features" in capsys.readouterr().err  # vidB has no feature file
    (ins,) = train
    assert ins.name == "vidA_s1_0_0_4_0" and ins.action == 1 and ins.scale == 2.0 and ins.substages == [0, 10, 25, 39]
    # sub-actions start at round(10 / 2) = 5 and round(25 / 2) = 12 (half to even) feature frames
    assert ins.segment_ids.tolist() == [0] * 5 + [1] * 7 + [2] * 8
    (val,) = tp.read_tapos(tmp_path, "val", classes)[0]
    assert val.action == 0 and val.scale == 1.0 and val.segment_ids.tolist() == [0] * 7 + [1] * 23
    with pytest.raises(SystemExit, match=r"missing tapos_annotation\.json"):
        tp.read_tapos(tmp_path / "features", "train")


def test_interact_skeleton_coordinates_by_hand():
    import numpy as np

    ia = _example("interact")
    kp = np.zeros((2, 17, 2), np.float32)
    kp[:, :, 0] = np.arange(17)                   # x = joint index, but the shoulders above the hips:
    kp[:, [5, 6], 0] = 11, 12
    kp[:, [5, 6], 1], kp[:, [11, 12], 1] = 100, 140  # shoulders 40 pixels above the hips (y down)
    kp[1, :, 0] += 8                              # the body moves 8 pixels right in frame 1
    kp[0, 3] = np.nan                             # a missing joint
    x = ia.skeleton_coordinates(kp)
    assert x.shape == (2, 2, 17) and x.dtype == np.float32
    # centre: the mean hip over the video (x = 11.5 + 4, y = 140); unit: the torso (40 pixels); y up
    assert np.allclose(x[0, 0, 11], (11 - 15.5) / 40) and np.allclose(x[0, 1, 11], (11 + 8 - 15.5) / 40)
    assert np.allclose(x[1, :, 5], 1.0) and np.allclose(x[1, :, 11], 0.0)
    assert x[:, 0, 3].tolist() == [0.0, 0.0]      # missing joint -> 0


def test_interact_reads_skeletons_from_an_mstcn_folder(tmp_path):
    import numpy as np

    ia = _example("interact")
    for d in ("features", "groundTruth", "splits"):
        (tmp_path / d).mkdir()
    (tmp_path / "mapping.txt").write_text("0 idle\n1 jump\n")
    (tmp_path / "splits" / "train.split1.bundle").write_text("a.txt\n")
    (tmp_path / "splits" / "test.split1.bundle").write_text("b.txt\n")
    rng = np.random.default_rng(0)
    skeleton = {}
    for name, t in (("a", 5), ("b", 4)):
        skeleton[name] = rng.normal(size=(t, 19, 3)).astype(np.float32)   # (T, V, C) as MCFS stores it
        np.save(tmp_path / "features" / f"{name}.npy", np.transpose(skeleton[name], (2, 1, 0)).reshape(3 * 19, t))
        (tmp_path / "groundTruth" / f"{name}.txt").write_text("idle\n" * 2 + "jump\n" * (t - 2))
    train, test = (ia.FolderVideos(tmp_path, split, 1, ia.LAYOUTS["lara-19"]) for split in ("train", "test"))
    assert len(train) == len(test) == 1 and [train[0].video_id, test[0].video_id] == ["a", "b"]
    assert np.array_equal(train[0].inputs, skeleton["a"].transpose(2, 0, 1))  # (C, T, V)
    assert np.array_equal(test[0].inputs, skeleton["b"].transpose(2, 0, 1))
    assert train[0].labels.tolist() == [0, 0, 1, 1, 1] and [y.tolist() for y in test.labels()] == [[0, 0, 1, 1]]
    with pytest.raises(SystemExit, match=r"57 feature rows are not C·V for V = 25"):
        ia.FolderVideos(tmp_path, "train", 1, ia.LAYOUTS["ntu-25"])
    features = ia.FolderVideos(tmp_path, "train", 1, None)  # frame features: (C, T) as stored
    assert features[0].inputs.shape == (57, 5)


@pytest.mark.parametrize("script", ["transparser.py", "interact.py"])
def test_two_processes_report_the_single_process_metrics(script):
    # DDP (gloo on CPU): each rank trains on its share of every global batch (global-count loss normalisation)
    # and evaluates its share of the videos; the metric accumulators gather, so the numbers are the same
    one = _run_quick(script, "--epochs", "2")
    two = _run_quick(script, "--epochs", "2", processes=2)
    assert two.keys() == one.keys()
    assert all(abs(two[k] - one[k]) <= 1e-9 for k in one), (one, two)
