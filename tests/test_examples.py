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
    intact = skeleton_videos(1, seed=1)[0]  # the same video, nothing dropped
    np.testing.assert_array_equal(d.keypoints[~missing], intact.keypoints[~missing])
    np.testing.assert_array_equal(d.labels, intact.labels)
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


# --- the paper examples: rtk.py, gsmt.py, skeleton_heatmaps.py ---

def _run_example(args, tmp_path, *, nproc=1, timeout=600):
    """Run an example (``nproc`` > 1: under torch.distributed.run, gloo on CPU); return its METRICS dict."""
    import json
    import os

    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    prefix = [sys.executable] if nproc == 1 else [sys.executable, "-m", "torch.distributed.run",
                                                  f"--nproc_per_node={nproc}", "--standalone"]
    out = subprocess.run([*prefix, str(EXAMPLES / args[0]), *args[1:], "--device", "cpu"], capture_output=True,
                         text=True, timeout=timeout, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    lines = [line for line in out.stdout.splitlines() if line.startswith("METRICS ")]
    assert len(lines) == 1, out.stdout[-3000:]  # printed once, by rank 0
    return json.loads(lines[0][len("METRICS "):]), out.stdout


EXPECTED_KEYS = {
    "rtk.py": {"accuracy", "edit", "f1@10", "f1@25", "f1@50", "framewise_accuracy", "framewise_edit",
               "framewise_f1@50", "unrefined_accuracy", "unrefined_edit", "unrefined_f1@50"},
    "gsmt.py": {"mAP@0.5", "mAP@0.75", "mAP@0.95", "average_mAP"},
    "skeleton_heatmaps.py": {"accuracy", "edit", "f1@10", "f1@25", "f1@50"},
}


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(EXPECTED_KEYS))
def test_paper_example_quick_runs_and_reports_its_metrics(script, tmp_path):
    import json

    import torch

    metrics, stdout = _run_example([script, "--quick", "--out", str(tmp_path / "out")], tmp_path)
    assert EXPECTED_KEYS[script] <= set(metrics)
    scale = 1.0 if script == "gsmt.py" else 100.0  # mAP is a fraction, TAS metrics are percentages
    assert all(0.0 <= v <= scale for v in metrics.values()), metrics
    written = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert {k: round(v, 6) for k, v in written.items()} == metrics
    assert torch.load(tmp_path / "out" / "checkpoint.pt", weights_only=True)  # a non-empty state_dict
    assert "1 process(es) on cpu" in stdout


@pytest.mark.slow
@pytest.mark.dist
def test_rtk_two_processes_report_the_single_process_metrics(tmp_path):
    # the same checkpoint evaluated by one process and by two gloo ranks (each video decoded once, the
    # accumulators gather): equal dataset metrics, and equal to those of the run that trained it
    trained, _ = _run_example(["rtk.py", "--quick", "--out", str(tmp_path / "one")], tmp_path)
    checkpoint = str(tmp_path / "one" / "checkpoint.pt")
    single, _ = _run_example(["rtk.py", "--quick", "--epochs", "0", "--checkpoint", checkpoint], tmp_path)
    double, stdout = _run_example(["rtk.py", "--quick", "--epochs", "0", "--checkpoint", checkpoint], tmp_path,
                                  nproc=2)
    assert "2 process(es) on cpu" in stdout
    assert double == single == trained


def _import_example(name):
    import importlib

    return importlib.import_module(name)


def test_rtk_loss_terms_are_keypoint_loss_on_one_process():
    import torch

    from actseg.losses import KeypointLoss

    rtk = _import_example("rtk")
    g = torch.Generator().manual_seed(0)
    labels = torch.tensor([[0] * 30 + [2] * 40 + [1] * 30, [3] * 50 + [0] * 30 + [-100] * 20])
    mask = labels != -100
    out = torch.randn(3, 2, 4 + 2, 100, generator=g, requires_grad=True)  # 3 stages, K = 4 classes
    target = rtk.targets(labels, mask, 33.0)
    terms = rtk.loss_terms(out, target, mask, 4)
    ours = sum(w * s / c for w, (s, c) in zip((100.0, 1.0, 100.0), terms.values()))
    reference = KeypointLoss()
    category, action, boundary = rtk.heads(out, 4)
    expected = sum(reference(action[s], category[s], boundary[s], target["action"], target["categories"],
                             target["boundary"], mask) for s in range(3))
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)
    assert int(terms["category"][1]) == 180  # category_region="segment": every valid frame


def test_rtk_decode_reassembles_watershed_peaks():
    import numpy as np
    import torch

    rtk = _import_example("rtk")
    t = torch.arange(60.0)
    out = torch.full((2 + 2, 60), -8.0)  # K = 2
    out[0, :30], out[1, 30:] = 8.0, 8.0  # categories: class 0, then class 1
    out[2] = 6.0 - ((t - 15) % 30 - 0) ** 2 / 20.0  # action peaks at 15 and 45
    out[3] = -8.0
    out[3, 30] = 8.0  # one boundary at 30
    np.testing.assert_array_equal(rtk.decode(out, 2), np.r_[np.zeros(30, int), np.ones(30, int)])
    out[2] = -8.0  # no action point: the most likely class everywhere
    assert (rtk.decode(out, 2) == 0).all() or (rtk.decode(out, 2) == 1).all()


def _rtk_heads(length=60):
    import torch

    t = torch.arange(float(length))
    out = torch.full((2 + 2, length), -8.0)  # K = 2: class 0, then class 1; action peaks at 15 and 45
    out[0, :30], out[1, 30:] = 8.0, 8.0
    out[2] = 6.0 - ((t - 15) % 30) ** 2 / 20.0
    out[3] = -8.0
    out[3, 30] = 8.0
    return out


def test_rtk_refinement_terms_are_computed_and_decrease():
    import torch

    from actseg.layers import KeypointRefinement

    rtk = _import_example("rtk")
    torch.manual_seed(0)
    out = _rtk_heads()[None].repeat(2, 1, 1)  # (B, K + 2, T)
    labels = torch.tensor([[0] * 30 + [1] * 30, [0] * 20 + [1] * 30 + [-100] * 10])
    mask = labels != -100
    features = torch.randn(2, 8, 60)
    head = KeypointRefinement(8, 2, hidden_channels=16)
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-2)
    history = []
    for _ in range(30):
        terms = rtk.refinement_terms(head, features, out, labels, mask, 2, region=10.0,
                                     generator=torch.Generator().manual_seed(0), offsets=True)
        loss = sum(s / c for s, c in terms.values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append({k: float(s.detach() / c) for k, (s, c) in terms.items()})
    # two segments per video: M = 2K + 1 = 5 ground-truth points, 2 of them action points (re-classified)
    assert set(terms) == {"perm", "reclass", "offset"}
    assert int(terms["perm"][1]) == 10 and int(terms["reclass"][1]) == 4
    for key in ("perm", "reclass", "offset"):
        assert history[-1][key] < 0.5 * history[0][key], (key, history[0], history[-1])
    assert all(v >= 0 for v in history[-1].values())


def test_rtk_refined_decode_is_a_segmentation_with_the_heads_classes():
    import numpy as np
    import torch

    from actseg.layers import KeypointRefinement, RefinedKeypoints

    rtk = _import_example("rtk")
    out = _rtk_heads()
    features = torch.randn(8, 60, generator=torch.Generator().manual_seed(0))
    head = KeypointRefinement(8, 2, hidden_channels=16).eval()
    expected = np.r_[np.zeros(30, int), np.ones(30, int)]
    np.testing.assert_array_equal(rtk.decode(out, 2), expected)  # without the refinement
    with torch.no_grad():
        head.classifier.weight.zero_()
        head.classifier.bias.copy_(torch.tensor([0.0, 5.0]))  # the head re-classifies every candidate as 1
        refined = rtk.decode(out, 2, features, head)
        np.testing.assert_array_equal(refined, np.ones(60, int))  # Eq. (6d): the two points merge
        head.classifier.bias.copy_(torch.tensor([5.0, 0.0]))
        assert (rtk.decode(out, 2, features, head) == 0).all()

    class Fixed(torch.nn.Module):  # nodes (15, action), (30, boundary), (45, action): classes 1, -, 0; +3 frames
        def forward(self, feat1, A1, n1):
            assert feat1.shape == (1, 3, 8) and n1.tolist() == [3]
            logits = torch.tensor([[[0.0, 5.0], [0.0, 0.0], [5.0, 0.0]]])
            return RefinedKeypoints(None, logits, torch.full((1, 3), 3.2), feat1)

    labels = rtk.decode(out, 2, features, Fixed(), offsets=True)
    np.testing.assert_array_equal(labels, np.r_[np.ones(33, int), np.zeros(27, int)])  # boundary 30 -> 33
    np.testing.assert_array_equal(rtk.decode(out, 2, features, Fixed()), np.r_[np.ones(30, int), np.zeros(30, int)])


def test_gsmt_loss_terms_match_the_paper_losses_and_the_mask_layout():
    import torch

    from actseg.losses import GlobalMaskLoss, focal_loss, hard_negative_bce_loss
    from actseg.segments import Segments
    from actseg.targets import segments_to_global_masks

    gsmt = _import_example("gsmt")
    masks, classes = segments_to_global_masks([Segments([0, 12], [5, 20], [1, 0]), Segments([3], [9], [2])], 20,
                                              num_classes=3)
    g = torch.Generator().manual_seed(1)
    cls, reg, logits = (torch.randn(2, 4, 20, generator=g), torch.randn(2, 4, 20, generator=g),
                        torch.randn(2, 20, 20, generator=g))
    terms = gsmt.loss_terms(cls, reg, logits, classes, masks)
    torch.testing.assert_close(terms["mask"][0] / terms["mask"][1], GlobalMaskLoss()(logits, masks))
    assert int(terms["mask"][1]) == 13 + 6  # foreground snippets (rows with a non-empty mask)
    expected = 0.4 * focal_loss(cls, classes) + 0.6 * hard_negative_bce_loss(
        reg, torch.nn.functional.one_hot(classes, 4).transpose(1, 2).float(), num_negatives=1)
    torch.testing.assert_close(terms["class"][0] / terms["class"][1], expected)
    # layout: H_b's output channel is time, its position the snippet; the model hands out row t = snippet t
    model = gsmt.GSMT(5, 3, 20, channels=16, num_layers=1)
    x = torch.randn(1, 5, 20)
    _, _, rows = model(x)
    e = model.project(x).transpose(1, 2) + model.position
    for layer in model.encoder:
        e = layer(e)
    columns = model.mask_head(e.transpose(1, 2))[0]  # (time k, snippet t): the paper's M
    torch.testing.assert_close(rows[0], columns.T)


def test_skeleton_loss_terms_are_the_multistage_loss_and_any_encoder_plugs_in():
    import torch

    from actseg.losses import MultiStageLoss

    sk = _import_example("skeleton_heatmaps")
    g = torch.Generator().manual_seed(2)
    labels = torch.tensor([[0] * 6 + [2] * 6, [1] * 9 + [-100] * 3])
    mask = labels != -100
    out = torch.randn(3, 2, 3, 12, generator=g)
    terms = sk.loss_terms(out, labels, mask)
    torch.testing.assert_close(sum(s / c for s, c in terms.values()), MultiStageLoss()(out, labels, mask))
    # a user's per-frame encoder with a (N, D, 1, 1) output; frozen encoders get no gradient
    encoder = torch.nn.Sequential(torch.nn.Conv2d(3, 7, 5, stride=4), torch.nn.AdaptiveMaxPool2d(1))
    model = sk.build_model(6, encoder=encoder, size=28, freeze_encoder=True, num_layers_pg=3, num_layers_r=2,
                           num_refinement=1)
    heatmaps = torch.rand(2, 12, 3, 28, 28)
    logits = model(heatmaps, mask)
    assert logits.shape == (2, 2, 6, 12) and model.tcn(torch.randn(1, 7, 5)).shape == (2, 1, 6, 5)  # D = 7
    logits.sum().backward()
    assert all(p.grad is None for p in encoder.parameters())
    # padded frames never reach the encoder: changing them changes nothing (eval mode: no dropout)
    model.eval()
    heatmaps2 = heatmaps.clone()
    heatmaps2[1, 9:] = 5.0
    torch.testing.assert_close(model(heatmaps2, mask), model(heatmaps, mask))
    heatmaps2[1, :9] += 1.0
    assert not torch.allclose(model(heatmaps2, mask)[:, 1], model(heatmaps, mask)[:, 1])


def _mstcn_folder(root, videos, class_names):
    """Write an MS-TCN folder: ``videos`` = {split: [(name, features (C, T), labels (T,))]}."""
    import numpy as np

    for sub in ("splits", "groundTruth", "features"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "mapping.txt").write_text("".join(f"{i} {n}\n" for i, n in enumerate(class_names)))
    for split, items in videos.items():
        (root / "splits" / f"{split}.split1.bundle").write_text("".join(f"{name}.txt\n" for name, _, _ in items))
        for name, features, labels in items:
            np.save(root / "features" / f"{name}.npy", features.astype(np.float32))
            (root / "groundTruth" / f"{name}.txt").write_text("".join(f"{class_names[i]}\n" for i in labels))


@pytest.mark.slow
def test_paper_examples_read_the_real_dataset_layouts(tmp_path):
    import json

    import numpy as np
    from _synthetic import ACTIONS, skeleton_videos

    rng = np.random.default_rng(0)
    # RTK: the MS-TCN layout of GTEA / 50Salads / Breakfast (features (C, T), one class name per frame)
    def video(n):
        labels = np.repeat(rng.permutation(3), n // 3)
        return rng.normal(size=(8, labels.shape[0])) + labels, labels
    tas = {split: [(f"{split}{i}", *video(60)) for i in range(n)] for split, n in (("train", 4), ("test", 2))}
    _mstcn_folder(tmp_path / "tas", tas, ["a", "b", "c"])
    metrics, stdout = _run_example(["rtk.py", "--quick", "--epochs", "1", "--data", str(tmp_path / "tas")], tmp_path)
    assert "4 training / 2 test videos, 3 classes" in stdout and "f1@50" in metrics
    # the 2D-skeleton example: the MS-TCN layout with (3V, T) skeletons, rows x, y, confidence per joint
    skeletons = {}
    for split, seed in (("train", 0), ("test", 1)):
        skeletons[split] = [(v.video_id, np.concatenate([v.keypoints, v.confidence[..., None]], -1)
                             .transpose(1, 2, 0).reshape(51, -1), v.labels)
                            for v in skeleton_videos(3, seed=seed, segments=(2, 3), segment_frames=(20, 30))]
    _mstcn_folder(tmp_path / "skeleton", skeletons, list(ACTIONS))
    metrics, stdout = _run_example(["skeleton_heatmaps.py", "--quick", "--epochs", "1", "--data",
                                    str(tmp_path / "skeleton"), "--drop-limb-prob", "0.5"], tmp_path)
    assert "3 training videos" in stdout and "3 test videos, 6 classes" in stdout and "edit" in metrics
    # GSMT: an ActivityNet JSON (seconds) with features/<video>.npy (C, T)
    (tmp_path / "anet" / "features").mkdir(parents=True)
    database = {}
    for i in range(6):
        name, subset = f"v{i}", "training" if i < 4 else "validation"
        database[name] = {"subset": subset, "duration": 30.0, "annotations": [
            {"segment": [2.0 + i, 12.0 + i], "label": "Run"}, {"segment": [18.0, 27.5], "label": "Jump"}]}
        np.save(tmp_path / "anet" / "features" / f"{name}.npy", rng.normal(size=(8, 48)).astype(np.float32))
    (tmp_path / "anet" / "gt.json").write_text(json.dumps({"database": database}))
    metrics, stdout = _run_example(["gsmt.py", "--quick", "--epochs", "1", "--data", str(tmp_path / "anet"),
                                    "--annotations", "gt.json"], tmp_path)
    assert "4 training / 2 test videos, 2 classes" in stdout and "average_mAP" in metrics


def test_skeleton_encoder_weights_are_an_exported_module_or_a_small_cnn_state_dict(tmp_path):
    import torch

    sk = _import_example("skeleton_heatmaps")
    cnn = sk.small_cnn()
    torch.save(cnn.state_dict(), tmp_path / "state.pt")
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 5, 3), torch.nn.AdaptiveAvgPool2d(1))
    frames = torch.export.Dim("frames", min=1)
    program = torch.export.export(module, (torch.ones(2, 3, 56, 56),), dynamic_shapes=({0: frames},))
    torch.export.save(program, tmp_path / "encoder.pt2")
    encoder, state = sk.load_encoder(tmp_path / "encoder.pt2")
    x = torch.rand(7, 3, 56, 56)
    assert state is None
    torch.testing.assert_close(encoder(x), module(x))
    model = sk.build_model(6, encoder=encoder, num_layers_pg=3, num_layers_r=2, num_refinement=1)
    assert model(torch.rand(1, 4, 3, 56, 56), torch.ones(1, 4, dtype=torch.bool)).shape == (2, 1, 6, 4)
    assert not model.eval().tcn.training and model.train().tcn.training  # train/eval pass the exported encoder
    encoder, state = sk.load_encoder(tmp_path / "state.pt")
    assert encoder is None and all(torch.equal(state[k], v) for k, v in cnn.state_dict().items())
    assert cnn(torch.ones(2, 3, 56, 56)).shape == (2, 512)  # 32 channels on a 4 x 4 grid


# --- issue 13 §3: examples/interact.py and examples/transparser.py ---

@pytest.mark.slow
def test_transparser_quick_beats_the_uniform_split(tmp_path):
    m, stdout = _run_example(["transparser.py", "--quick"], tmp_path)
    assert set(m) == {"f1", "precision", "recall", "f1@0.05", "f1@0.1", "f1@0.5", "f1_abs", "precision_abs",
                      "recall_abs", "uniform_f1", "uniform_f1_abs"}
    assert all(0.0 <= v <= 1.0 for v in m.values())  # boundary F1 is a fraction (TAPOS protocol)
    # the parser beats cutting every instance into equal parts, with relative and absolute tolerances
    assert m["f1"] > m["uniform_f1"] + 0.03 and m["f1_abs"] > m["uniform_f1_abs"] + 0.03
    assert m["f1"] > 0.85
    assert "160 training / 80 test instances" in stdout and "1 process(es) on cpu" in stdout


@pytest.mark.slow
def test_interact_quick_beats_the_majority_class(tmp_path):
    m, stdout = _run_example(["interact.py", "--quick"], tmp_path)
    keys = ("accuracy", "edit", "f1@10", "f1@25", "f1@50")
    assert set(m) == {p + k for p in ("", "raw_", "majority_") for k in keys}
    assert all(0.0 <= v <= 100.0 for v in m.values())  # TAS metrics are percentages
    assert m["accuracy"] > m["majority_accuracy"] + 15
    assert m["edit"] > m["majority_edit"] + 15 and m["f1@25"] > m["majority_f1@25"] + 15
    assert "32 training / 16 test videos" in stdout


@pytest.mark.slow
@pytest.mark.dist
@pytest.mark.parametrize("script", ["transparser.py", "interact.py"])
def test_two_processes_train_and_report_like_one(script, tmp_path):
    # DDP (gloo on CPU): each rank trains on its share of every global batch (losses divided by global counts,
    # interact.py's no_sync backward per video) and evaluates its share of the videos; the accumulators gather,
    # so training and evaluation give the single-process numbers
    one, _ = _run_example([script, "--quick", "--epochs", "2"], tmp_path)
    two, stdout = _run_example([script, "--quick", "--epochs", "2"], tmp_path, nproc=2)
    assert "2 process(es) on cpu" in stdout
    assert two.keys() == one.keys()
    assert all(abs(two[k] - one[k]) <= 1e-9 for k in one), (one, two)


def test_transparser_generator_is_deterministic_and_its_annotation_consistent():
    import doctest

    import numpy as np

    tp = _import_example("transparser")
    assert doctest.testmod(tp).attempted >= 3 and doctest.testmod(tp).failed == 0  # the docstring example
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

    tp = _import_example("transparser")
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

    ia = _import_example("interact")
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

    ia = _import_example("interact")
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


@pytest.mark.parametrize(("script", "args", "message"), [
    ("rtk", ["--data", "{missing}"], "error: --data {missing}: no such folder"),
    ("gsmt", ["--data", "{missing}"], "error: --data {missing}: no such folder"),
    ("skeleton_heatmaps", ["--data", "{missing}"], "error: --data {missing}: no such folder"),
    ("rtk", ["--checkpoint", "{missing}"], "error: --checkpoint {missing}: no such file"),
    ("skeleton_heatmaps", ["--encoder-weights", "{missing}"], "error: --encoder-weights {missing}: no such file"),
    ("rtk", ["--sample-rate", "0"], "error: --sample-rate must be >= 1"),
    ("gsmt", ["--snippets", "0"], "error: --snippets must be >= 1"),
])
def test_examples_refuse_bad_arguments_in_one_line(script, args, message, tmp_path):
    missing = str(tmp_path / "missing")
    with pytest.raises(SystemExit) as exc:
        _import_example(script).main([a.format(missing=missing) for a in args])
    assert exc.value.code == message.format(missing=missing)
