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


# --- examples/_common.py and examples/_synthetic.py (the shared example infrastructure) ---

EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(EXAMPLES))

DDP_WORKER = r'''
import sys, torch, numpy as np
sys.path.insert(0, sys.argv[1])
import _common
from actseg.metrics import SegmentationMetrics

args = _common.parser("t", epochs=1, quick_epochs=1, batch_size=3).parse_args(["--device", "cpu"])
ctx = _common.setup(args)
rng = np.random.default_rng(5)
lengths = [9, 4, 7, 12, 5, 8, 6]                               # 7 videos: global batches of 3, 3 and 1
videos = [(torch.from_numpy(rng.normal(size=(3, n))).float(), torch.from_numpy(rng.integers(0, 4, n)))
          for n in lengths]
model = torch.nn.Conv1d(3, 4, 3, padding=1)
reference = torch.nn.Conv1d(3, 4, 3, padding=1)
reference.load_state_dict(model.state_dict())
ddp = _common.wrap(model, ctx)
ce = torch.nn.functional.cross_entropy
checked = 0
for epoch in range(2):
    single = _common.global_batches(len(videos), _common.Context(0, 1, 0, ctx.device, args), epoch)
    for (mine, weight), (everything, _) in zip(_common.global_batches(len(videos), ctx, epoch), single):
        ddp.zero_grad()
        local_sum = sum(ce(ddp(videos[i][0][None]), videos[i][1][None], reduction="sum") for i in mine)
        count = sum(lengths[i] for i in mine)
        _common.distributed_loss(local_sum, count, ctx, weight).backward()
        reference.zero_grad()
        x = torch.cat([videos[i][0] for i in everything], 1)[None]       # no padding: frames side by side
        y = torch.cat([videos[i][1] for i in everything])[None]
        total = sum(ce(reference(videos[i][0][None]), videos[i][1][None], reduction="sum") for i in everything)
        (total / sum(lengths[i] for i in everything)).backward()
        for p, q in zip(model.parameters(), reference.parameters()):
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-6)
        checked += 1
metric = SegmentationMetrics(protocol="mstcn", background=())
with torch.no_grad():
    for i in _common.shard(len(videos), ctx):
        metric.update(model(videos[i][0][None]), videos[i][1][None], video_ids=[f"v{i}"])
    result = metric.compute()
single = SegmentationMetrics(protocol="mstcn", background=())
with torch.no_grad():
    for i in range(len(videos)):
        single.update(model(videos[i][0][None]), videos[i][1][None], video_ids=[f"v{i}"])
assert result == single.compute(), (result, single.compute())
_common.print_metrics(result, ctx)
ctx.print(f"OK rank0 checked {checked} batches, world {ctx.world_size}")
_common.finish(ddp, result, ctx)
'''


@pytest.mark.dist
def test_common_two_ranks_give_the_single_process_gradient_and_metrics(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(DDP_WORKER)
    env = {**__import__("os").environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
                          str(script), str(EXAMPLES)], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "OK rank0 checked 6 batches, world 2" in out.stdout  # 2 epochs x (3 + 3 + 1 videos), rank 1 idle once
    assert out.stdout.count("METRICS ") == 1  # rank 0 prints, rank 1 does not


def test_common_batches_split_each_global_batch_between_ranks():
    import argparse

    import _common
    import torch

    args = argparse.Namespace(seed=3, batch_size=4)
    ranks = [_common.global_batches(10, _common.Context(r, 3, r, torch.device("cpu"), args), 0) for r in range(3)]
    single = _common.global_batches(10, _common.Context(0, 1, 0, torch.device("cpu"), args), 0)
    assert [len(b) for b, _ in single] == [4, 4, 2]
    assert sorted(i for b, _ in single for i in b) == list(range(10))
    for g, (batch, weight) in enumerate(single):
        assert weight == 1.0
        shares = [ranks[r][g] for r in range(3)]
        assert [share for share, w in shares if w] == [batch[r::3] for r in range(3) if batch[r::3]]
    assert ranks[2][2] == (single[2][0][:1], 0.0)  # the short last batch: rank 2 runs one item at weight 0
    assert _common.global_batches(10, _common.Context(0, 1, 0, torch.device("cpu"), args), 1) != single
    assert [_common.shard(5, _common.Context(r, 2, r, torch.device("cpu"), args)) for r in range(2)] == [[0, 2, 4],
                                                                                                          [1, 3]]


def test_synthetic_skeletons_are_seeded_labelled_coco17_sequences():
    import numpy as np
    from _synthetic import ACTIONS, COCO_EDGES, collate_skeletons, gcn_input, skeleton_videos

    a, b, c = skeleton_videos(3, seed=4), skeleton_videos(3, seed=4), skeleton_videos(3, seed=5)
    assert all(np.array_equal(x.keypoints, y.keypoints) and np.array_equal(x.labels, y.labels) for x, y in zip(a, b))
    assert not np.array_equal(a[0].keypoints[:10], c[0].keypoints[:10])
    for v in a:
        assert v.keypoints.shape == (v.labels.shape[0], 17, 2) and v.confidence.shape == (v.labels.shape[0], 17)
        change = np.flatnonzero(np.diff(v.labels)) + 1
        runs = np.diff(np.r_[0, change, v.labels.shape[0]])
        assert 3 <= len(runs) <= 6 and runs.min() >= 30 and runs.max() <= 70  # segments=(3, 6), (30, 70) frames
        assert set(v.labels.tolist()) <= set(range(len(ACTIONS)))
        assert ((v.confidence >= 0.7) & (v.confidence <= 1)).all() and np.isfinite(v.keypoints).all()
        ankle = v.keypoints[v.labels != 4][:, [15, 16], 1].max(1)   # y down: the lower ankle is on the ground
        assert np.ptp(ankle) < 8  # pixels (noise ~1 px); jumping jacks hop
    # bones: a tree over the 17 joints (16 edges, each joint reachable from the nose)
    parents = dict(COCO_EDGES)
    assert len(parents) == 16 and all(_root(j, parents) == 0 for j in range(17))
    # the robustness test of the 2D-skeleton paper: p = 1 drops exactly one limb (3 joints) in every frame
    d = skeleton_videos(1, seed=1, drop_limb_prob=1.0)[0]
    missing = np.isnan(d.keypoints).any(-1)
    assert (missing.sum(1) == 3).all() and (missing == (d.confidence == 0)).all()
    assert {tuple(np.flatnonzero(m)) for m in missing} <= {(5, 7, 9), (6, 8, 10), (11, 13, 15), (12, 14, 16)}
    g = gcn_input(d, channels=3)
    assert g.shape == (3, d.labels.shape[0], 17) and np.isfinite(g).all() and (g[:, missing] == 0).all()
    full = gcn_input(a[0], channels=2)
    np.testing.assert_allclose(full[:, :, [11, 12]].mean(-1), 0, atol=1e-5)  # centred on the mid-hip
    batch = collate_skeletons(a)
    t = max(v.labels.shape[0] for v in a)
    assert batch["keypoints"].shape == (3, t, 17, 2) and batch["labels"].shape == (3, t)
    assert (batch["labels"][~batch["mask"]] == -100).all() and (batch["confidence"][~batch["mask"]] == 0).all()
    assert batch["mask"].sum(1).tolist() == [v.labels.shape[0] for v in a]


def _root(joint, parents):
    while joint in parents:
        joint = parents[joint]
    return joint
