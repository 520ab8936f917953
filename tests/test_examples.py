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
