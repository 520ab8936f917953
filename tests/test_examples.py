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
