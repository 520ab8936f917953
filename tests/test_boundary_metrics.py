"""Boundary F1 (TAPOS relative/absolute, Kinetics-GEBD, ASRF BoundaryScoreMeter): reference vectors, properties, DDP.

Reference vectors under ``tests/data/boundary/`` were produced by running the official code (see the
README there). Counts must match exactly, scores to 1e-12 (float64 scripts).
"""

from __future__ import annotations

import json
import math
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from actseg.metrics._boundary import (
    ABSOLUTE_THRESHOLDS,
    BOUNDARY_PROTOCOLS,
    RELATIVE_THRESHOLDS,
    BoundaryF1,
    boundary_f1,
)

DATA = Path(__file__).parent / "data" / "boundary"


def _load(name):
    return json.loads((DATA / name).read_text())


def _close(actual, expected, tol=1e-12):
    return math.isclose(actual, expected, rel_tol=0, abs_tol=tol)


# ----------------------------------------------------------------------------------------------
# reference vectors


TAPOS = _load("tapos.json")
GEBD = _load("gebd_challenge.json")
K400 = _load("gebd_k400_frames.json")
METER = _load("asrf_boundary_meter.json")


def test_reference_files_are_large_enough():
    assert len(TAPOS["cases"]) >= 30
    assert len(GEBD["cases"]) >= 30
    assert len(K400["cases"]) >= 30
    assert len(METER["cases"]) >= 30
    assert tuple(TAPOS["thresholds_relative"]) == RELATIVE_THRESHOLDS
    assert tuple(TAPOS["thresholds_absolute"]) == ABSOLUTE_THRESHOLDS


def _tapos_metric(case, protocol):
    metric = BoundaryF1(protocol=protocol)
    for ins in case["instances"]:
        if ins["subset"] != "val":
            continue  # the notebook evaluates the validation instances only
        sub = ins["substages"]
        start, end = sub[0], sub[-1]
        offsets = ins["pred_offsets"] or []  # a missing prediction file: every boundary is a miss
        pred = [o * TAPOS["downsample"] + start for o in offsets]
        metric.update(pred, sub[1:-1], start=start, end=end, video_ids=f"{ins['video']}_{ins['shot']}")
    return metric


@pytest.mark.parametrize("case", TAPOS["cases"], ids=[c["name"] for c in TAPOS["cases"]])
@pytest.mark.parametrize(("protocol", "key"), [("tapos", "relative"), ("tapos_absolute", "absolute")])
def test_tapos_matches_notebook(case, protocol, key):
    expected = case[key]
    metric = _tapos_metric(case, protocol)
    if metric.num_videos + metric.num_skipped == 0:
        # no validation instance at all: the notebook prints rec 1, prec 0, F1 0; actseg warns and gives NaN
        assert expected == {"rec": [1] * 10, "prec": [0] * 10, "f1": [0] * 10}
        with pytest.warns(UserWarning, match="before any update"):
            assert math.isnan(metric.compute()["f1"])
        return
    out = metric.compute()
    thresholds = RELATIVE_THRESHOLDS if key == "relative" else ABSOLUTE_THRESHOLDS
    for i, d in enumerate(thresholds):
        for name, ref in (("recall", "rec"), ("precision", "prec"), ("f1", "f1")):
            assert _close(out[f"{name}@{d:g}"], expected[ref][i]), (name, d)
    for name, ref in (("recall", "rec"), ("precision", "prec"), ("f1", "f1")):
        assert _close(out[name], float(np.mean(expected[ref])))


def _gebd_metric(case, thresholds=RELATIVE_THRESHOLDS):
    metric = BoundaryF1(protocol="gebd", thresholds=thresholds)
    for vid, gt in case["gt"].items():
        metric.update(case["pred"].get(vid, []), gt["substages_timestamps"], duration=gt["video_duration"],
                      consistency=gt["f1_consis_avg"], video_ids=vid)
    return metric


@pytest.mark.parametrize("case", GEBD["cases"], ids=[c["name"] for c in GEBD["cases"]])
def test_gebd_matches_challenge_eval(case):
    metric = _gebd_metric(case)
    out = metric.compute()
    counts = metric.counts()
    for i, d in enumerate(RELATIVE_THRESHOLDS):
        expected = case["expected"][repr(d)]
        assert "error" not in expected
        assert counts["tp"][i] == expected["tp_all"]
        assert counts["num_pos"][i] == expected["num_pos_all"]
        assert counts["num_det"][i] == expected["num_det_all"]
        assert _close(out[f"recall@{d:g}"], expected["rec"])
        assert _close(out[f"precision@{d:g}"], expected["prec"])
        assert _close(out[f"f1@{d:g}"], expected["f1"])


@pytest.mark.parametrize("case", K400["cases"], ids=[c["name"] for c in K400["cases"]])
def test_gebd_frames_matches_k400_notebook(case):
    # the notebook variant: frame indices, tolerance d * num_frames, videos without a file skipped
    metric = BoundaryF1(protocol="gebd")
    for vid, gt in case["gt"].items():
        if vid not in case["pred_offsets"]:
            continue
        pred = [o * K400["downsample"] for o in case["pred_offsets"][vid]]
        metric.update(pred, gt["substages_myframeidx"], start=0, end=gt["num_frames"] - 1,
                      consistency=gt["f1_consis_avg"], video_ids=vid)
    out = metric.compute()
    expected = case["expected"]
    for i, d in enumerate(RELATIVE_THRESHOLDS):
        assert _close(out[f"recall@{d:g}"], expected["rec"][i])
        assert _close(out[f"precision@{d:g}"], expected["prec"][i])
        assert _close(out[f"f1@{d:g}"], expected["f1"][i])


@pytest.mark.parametrize("case", METER["cases"], ids=[c["name"] for c in METER["cases"]])
def test_asrf_matches_boundary_score_meter(case):
    metric = BoundaryF1(protocol="asrf", thresholds=(case["tolerance"],), boundary_threshold=case["boundary_threshold"])
    for batch in case["batches"]:
        metric.update(np.asarray(batch["preds"], dtype=np.float32), np.asarray(batch["gts"], dtype=np.float32),
                      mask=np.asarray(batch["masks"]))
    expected = case["expected"]
    assert "error" not in expected
    counts = metric.counts()
    assert counts["tp"][0] == expected["tp"]
    assert counts["num_det"][0] - counts["tp"][0] == expected["fp"]
    assert counts["num_pos"][0] - counts["tp"][0] == expected["fn"]
    assert counts["frames"] == expected["n_frames"]
    out = metric.compute()
    for key in ("accuracy", "precision", "recall", "f1"):
        assert _close(out[key], expected[key]), key
        assert out[key] == out[f"{key}@{case['tolerance']}"]


# ----------------------------------------------------------------------------------------------
# boundary_f1 (one video)


def test_boundary_f1_relative_and_absolute():
    m = boundary_f1([10, 31, 70], [12, 30, 50], tolerance=0.05, relative_to=100)
    assert (m.tp, m.num_pos, m.num_det, m.rater) == (2, 3, 3, 0)
    assert m.f1 == pytest.approx(2 / 3)
    m = boundary_f1([10, 31, 70], [12, 30, 50], tolerance=[1, 2, 20])
    assert m.tp.tolist() == [1, 2, 3]
    assert m.recall.tolist() == pytest.approx([1 / 3, 2 / 3, 1.0])


def test_boundary_f1_greedy_gt_is_not_optimal_and_order_matters():
    # GT 10 takes prediction 12 (tied with 8, first in order), leaving 8 too far from GT 14;
    # an optimal matching would pair 10-8 and 14-12
    assert boundary_f1([12, 8], [10, 14], tolerance=2).tp == 1
    # equal distances: the first prediction in the given order is taken
    assert boundary_f1([13, 7], [10, 16], tolerance=3).tp == 1
    assert boundary_f1([7, 13], [10, 16], tolerance=3).tp == 2


def test_boundary_f1_greedy_pred_counts_hit_gt_as_nearest():
    # ASRF: the second prediction's nearest GT is already hit -> false positive, no fallback to GT 20
    m = boundary_f1([10, 11], [10, 20], tolerance=10, matching="greedy_pred")
    assert (m.tp, m.num_det, m.num_pos) == (1, 2, 2)
    m = boundary_f1([10, 11], [10, 20], tolerance=10, matching="greedy_gt")
    assert m.tp == 2


def test_boundary_f1_edge_cases():
    m = boundary_f1([], [5, 9], tolerance=3)
    assert (m.tp, m.num_pos, m.num_det, m.precision, m.recall, m.f1) == (0, 2, 0, 0.0, 0.0, 0.0)
    m = boundary_f1([4], [], tolerance=3)
    assert (m.tp, m.num_pos, m.num_det, m.precision, m.recall, m.f1) == (0, 0, 1, 0.0, 1.0, 0.0)
    m = boundary_f1([], [], tolerance=3)
    assert (m.recall, m.precision, m.f1) == (1.0, 0.0, 0.0)
    m = boundary_f1([-1, 5, 11], [5], tolerance=0, valid_range=(0, 10))
    assert (m.tp, m.num_det) == (1, 1)


def test_boundary_f1_raters_best_first_on_ties():
    m = boundary_f1([2.0, 6.0], [[2.0, 9.0], [2.0, 6.0], [2.0, 6.0]], tolerance=0.1)
    assert (m.rater, m.tp, m.num_pos) == (1, 2, 2)
    m = boundary_f1([], [[1.0, 2.0, 3.0], [1.0]], tolerance=0.1)  # no prediction: the first rater's misses
    assert (m.rater, m.tp, m.num_pos) == (0, 0, 3)
    m = boundary_f1([5], np.array([[5, 9], [1, 2]]), tolerance=[0, 10])
    assert m.rater.tolist() == [0, 0]


def test_boundary_f1_accepts_tensors():
    m = boundary_f1(torch.tensor([10.0, 20.0]), torch.tensor([11, 19]), tolerance=1)
    assert m.tp == 2


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"pred_boundaries": [1, float("nan")]}, ValueError, "pred_boundaries: expected finite"),
        ({"pred_boundaries": [[1, 2]]}, ValueError, "pred_boundaries: expected a 1-D"),
        ({"pred_boundaries": [True]}, TypeError, r"pred_boundaries: expected a real \(integer or floating\) dtype"),
        ({"gt_boundaries": [1, [2]]}, TypeError, "gt_boundaries: expected boundary positions or one sequence"),
        ({"gt_boundaries": "abc"}, TypeError, "gt_boundaries: expected a numpy array"),
        ({"tolerance": -1}, ValueError, "tolerance: expected a finite number >= 0, got -1"),
        ({"tolerance": []}, ValueError, "tolerance: expected at least one"),
        ({"relative_to": 0}, ValueError, "relative_to: expected a finite number > 0"),
        ({"matching": "hungarian"}, ValueError, "matching: expected one of"),
        ({"valid_range": (5, 1)}, ValueError, "valid_range: expected start <= end"),
        ({"valid_range": 3}, TypeError, "valid_range: expected a pair"),
    ],
)
def test_boundary_f1_bad_input(kwargs, error, match):
    args = {"pred_boundaries": [1, 2], "gt_boundaries": [1, 3], "tolerance": 1} | kwargs
    with pytest.raises(error, match=match):
        boundary_f1(**args)


# ----------------------------------------------------------------------------------------------
# accumulator behaviour


def test_tapos_skips_instances_without_internal_boundary():
    m = BoundaryF1(protocol="tapos")
    m.update([5], [], start=0, end=9)
    assert m.num_videos == 0 and m.num_skipped == 1
    out = m.compute()  # nothing evaluated: the notebook's rec = 1, prec = 0, F1 = 0
    assert (out["recall"], out["precision"], out["f1"]) == (1.0, 0.0, 0.0)


def test_gebd_consistency_threshold_is_strict():
    m = BoundaryF1(protocol="gebd")
    m.update([1.0], [1.0], duration=5.0, consistency=0.29999)
    m.update([1.0], [1.0], duration=5.0, consistency=0.3)
    assert (m.num_videos, m.num_skipped) == (1, 1)


def test_compute_before_update_warns():
    with pytest.warns(UserWarning, match="before any update"):
        out = BoundaryF1(protocol="asrf").compute()
    assert math.isnan(out["f1"]) and math.isnan(out["accuracy@5"])


def test_override_tolerance_mode_picks_matching_thresholds():
    m = BoundaryF1(protocol="tapos", tolerance_mode="absolute")
    assert tuple(m.thresholds.tolist()) == ABSOLUTE_THRESHOLDS
    m.update([12], [10])  # absolute: no range needed
    assert m.compute()["f1@5"] == 1.0
    assert "BoundaryF1(protocol='tapos'" in repr(m)


def test_asrf_padded_batch_equals_videos_one_by_one():
    rng = np.random.default_rng(0)
    pred = rng.normal(size=(3, 1, 50)).astype(np.float32)
    gt = (rng.random((3, 1, 50)) > 0.8).astype(np.float32)
    lengths = [50, 31, 7]
    mask = np.arange(50)[None, None] < np.array(lengths)[:, None, None]
    batch = BoundaryF1(protocol="asrf")
    batch.update(pred, gt, mask=mask, video_ids=["a", "b", "c"])
    single = BoundaryF1(protocol="asrf")
    for i, n in enumerate(lengths):
        single.update(torch.from_numpy(pred[i, 0, :n]), torch.from_numpy(gt[i, 0, :n]), video_ids="abc"[i])
    assert batch.compute() == single.compute()
    assert [v["tp"] for v in batch.per_video()] == [v["tp"] for v in single.per_video()]


def test_merge_equals_single_accumulator():
    rng = np.random.default_rng(1)
    videos = [(np.sort(rng.uniform(0, 10, 4)), [np.sort(rng.uniform(0, 10, 3)) for _ in range(2)]) for _ in range(6)]
    whole, a, b = (BoundaryF1(protocol="gebd") for _ in range(3))
    for i, (p, g) in enumerate(videos):
        whole.update(p, g, duration=10.0, video_ids=i)
        (a if i % 2 else b).update(p, g, duration=10.0, video_ids=i)
    assert a.merge(b).compute() == whole.compute()
    with pytest.raises(ValueError, match="other: expected the configuration"):
        a.merge(BoundaryF1(protocol="tapos"))
    with pytest.raises(TypeError, match="other: expected a BoundaryF1"):
        a.merge(object())


@pytest.mark.parametrize(
    ("protocol", "call", "error", "match"),
    [
        ("tapos", lambda m: m.update([1], [2]), ValueError, "a relative tolerance needs the instance range"),
        ("tapos", lambda m: m.update([1], [2], start=0), ValueError, "start/end: expected both or neither"),
        ("tapos", lambda m: m.update([1], [2], start=5, end=1), ValueError, "end: expected end >= start"),
        ("gebd", lambda m: m.update([1], [2], duration=0), ValueError, "duration: expected a finite number > 0"),
        ("gebd", lambda m: m.update([1], [2], duration=3, start=0, end=2), ValueError, "either duration or"),
        ("gebd", lambda m: m.update([1], np.zeros((0, 3)), duration=3), ValueError,
         "target: expected at least one rater"),
        ("tapos", lambda m: m.update([1], [2], start=0, end=9, mask=[True]), ValueError, "mask: only used"),
        ("tapos", lambda m: m.update([1], [2], start=0, end=9, video_ids=["a"]), TypeError, "video_ids: expected one"),
        ("asrf", lambda m: m.update(np.zeros(5), np.zeros(6)), ValueError, "target: expected the shape of pred"),
        ("asrf", lambda m: m.update(np.zeros((2, 5)), np.zeros((2, 5)), mask=np.zeros((2, 5), bool)), ValueError,
         "mask: expected at least one valid frame"),
        ("asrf", lambda m: m.update(np.zeros((2, 5)), np.zeros((2, 5)), mask=np.ones((2, 5))), TypeError,
         "mask: expected dtype bool"),
        ("asrf", lambda m: m.update(np.full(5, np.nan), np.zeros(5)), ValueError, "pred: expected finite values"),
        ("asrf", lambda m: m.update(np.zeros((2, 3, 5)), np.zeros((2, 3, 5))), ValueError, r"pred: expected shape"),
        ("asrf", lambda m: m.update(np.zeros(5), np.zeros(5), start=0, end=4), ValueError, "not used by"),
        ("asrf", lambda m: m.update(np.zeros((2, 5)), np.zeros((2, 5)), video_ids=["a"]), ValueError,
         "video_ids: expected 2 ids"),
    ],
)
def test_update_bad_input(protocol, call, error, match):
    with pytest.raises(error, match=match):
        call(BoundaryF1(protocol=protocol))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"protocol": "tapos2"}, ValueError, "protocol: expected one of"),
        ({"tolerance_mode": "frames"}, ValueError, "tolerance_mode: expected one of"),
        ({"matching": "optimal"}, ValueError, "matching: expected one of"),
        ({"thresholds": [0.1, 0.1]}, ValueError, "thresholds: expected distinct"),
        ({"thresholds": [-0.1]}, ValueError, "thresholds: expected values >= 0, got -0.1 at index 0"),
        ({"boundary_threshold": "0.5"}, TypeError, "boundary_threshold: expected a real number"),
    ],
)
def test_constructor_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        BoundaryF1(**kwargs)


# ----------------------------------------------------------------------------------------------
# properties


positions = st.lists(st.integers(0, 500), min_size=0, max_size=12, unique=True)


@settings(max_examples=60, deadline=None)
@given(gt=positions, order=st.randoms(use_true_random=False), tolerance=st.floats(0, 20))
def test_exact_boundaries_give_f1_one(gt, order, tolerance):
    pred = list(gt)
    order.shuffle(pred)
    for matching in ("greedy_gt", "greedy_pred"):
        m = boundary_f1(pred, gt, tolerance=tolerance, matching=matching)
        assert m.tp == len(gt)
        assert m.f1 == (1.0 if gt else 0.0)  # no boundary at all: recall 1, precision 0 (the scripts' rules)
    if gt:
        metric = BoundaryF1(protocol="tapos")
        metric.update(pred, gt, start=0, end=500)
        assert metric.compute()["f1"] == 1.0


@settings(max_examples=60, deadline=None)
@given(pred=positions, gt=positions)
def test_counts_are_bounded_and_monotone_in_tolerance(pred, gt):
    tol = [0, 1, 3, 10, 30, 100]
    for matching in ("greedy_gt", "greedy_pred"):
        m = boundary_f1(pred, gt, tolerance=tol, matching=matching)
        assert (m.tp <= np.minimum(m.num_pos, m.num_det)).all()
        assert ((m.f1 >= 0) & (m.f1 <= 1)).all()
    m = boundary_f1(pred, gt, tolerance=tol)
    assert (np.diff(m.tp) >= 0).all()  # greedy GT-order matching never loses a hit when d grows


@settings(max_examples=40, deadline=None)
@given(videos=st.lists(st.tuples(positions, positions), min_size=1, max_size=6), seed=st.integers(0, 100))
def test_video_order_does_not_matter(videos, seed):
    a, b = BoundaryF1(protocol="tapos_absolute"), BoundaryF1(protocol="tapos_absolute")
    for p, g in videos:
        a.update(p, g)
    for i in np.random.default_rng(seed).permutation(len(videos)):
        b.update(*videos[i])
    assert a.compute() == b.compute()


# ----------------------------------------------------------------------------------------------
# torch.distributed: two ranks give the single-process numbers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dist_videos():
    rng = np.random.default_rng(5)
    out = []
    for i in range(7):
        dur = float(rng.uniform(3, 10))
        out.append({"id": f"v{i}", "pred": np.sort(rng.uniform(0, dur, 5)).tolist(),
                    "raters": [np.sort(rng.uniform(0, dur, 3)).tolist() for _ in range(3)],
                    "duration": dur, "consistency": float(rng.uniform(0.2, 1.0))})
    return out


def _dist_tracks():
    rng = np.random.default_rng(6)
    return rng.normal(size=(5, 40)).astype(np.float32), (rng.random((5, 40)) > 0.8).astype(np.float32)


def _worker(rank, world_size, port, out_path):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    try:
        shards = [[0, 2, 4, 6], [1, 3, 5, 0]]  # uneven, video 0 repeated as DistributedSampler padding
        videos = _dist_videos()
        gebd = BoundaryF1(protocol="gebd")
        for i in shards[rank]:
            v = videos[i]
            gebd.update(v["pred"], v["raters"], duration=v["duration"], consistency=v["consistency"],
                        video_ids=v["id"])
        pred, gt = _dist_tracks()
        asrf = BoundaryF1(protocol="asrf")
        rows = [[0, 1, 2], [3, 4, 0]][rank]
        asrf.update(pred[rows], gt[rows], video_ids=[f"t{i}" for i in rows])
        results = {"gebd": gebd.compute(), "asrf": asrf.compute(), "videos": len(gebd.per_video())}
        if rank == 0:
            Path(out_path).write_text(json.dumps(results))
    finally:
        dist.destroy_process_group()


@pytest.mark.dist
def test_two_ranks_equal_one_process(tmp_path):
    import torch.multiprocessing as mp

    out_path = tmp_path / "ddp.json"
    mp.spawn(_worker, args=(2, _free_port(), str(out_path)), nprocs=2, join=True)
    ddp = json.loads(out_path.read_text())
    gebd = BoundaryF1(protocol="gebd")
    for v in _dist_videos():
        gebd.update(v["pred"], v["raters"], duration=v["duration"], consistency=v["consistency"], video_ids=v["id"])
    pred, gt = _dist_tracks()
    asrf = BoundaryF1(protocol="asrf")
    asrf.update(pred, gt, video_ids=[f"t{i}" for i in range(5)])
    assert ddp["gebd"] == gebd.compute()
    assert ddp["asrf"] == asrf.compute()
    assert ddp["videos"] == gebd.num_videos


def test_protocol_names():
    assert BOUNDARY_PROTOCOLS == ("tapos", "tapos_absolute", "gebd", "asrf")


# ----------------------------------------------------------------------------------------------
# the input boundary (actseg._checks): numpy scalars, public names in messages


def test_numpy_scalars_are_numbers():
    a = boundary_f1([10, 31, 70], [12, 30, 50], tolerance=np.int64(5), relative_to=np.float32(1.0),
                    valid_range=(np.int32(0), np.float64(99)))
    b = boundary_f1([10, 31, 70], [12, 30, 50], tolerance=5, relative_to=1.0, valid_range=(0, 99))
    assert a == b and a.tp == 2
    m = BoundaryF1(protocol="gebd", boundary_threshold=np.float32(0.5), consistency_threshold=np.float64(0.3))
    m.update([1.0], [1.0], duration=np.float32(5.0), consistency=np.float64(0.5), video_ids=np.int64(3))
    assert m.compute()["f1"] == 1.0 and m.per_video()[0]["video"] == 3


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"tolerance": [1, float("nan")]}, ValueError, "tolerance: expected finite values, got nan at index 1"),
        ({"tolerance": [1, -1]}, ValueError, "tolerance: expected values >= 0, got -1.0 at index 1"),
        ({"tolerance": float("inf")}, ValueError, "tolerance: expected a finite number >= 0, got inf"),
        ({"tolerance": "1"}, TypeError, "tolerance: expected a numpy array"),
        ({"valid_range": (float("nan"), 3)}, ValueError, r"valid_range\[0\]: expected a finite number"),
        ({"valid_range": (0, 1, 2)}, TypeError, "valid_range: expected a pair"),
        ({"relative_to": True}, TypeError, "relative_to: expected a real number, got bool"),
        ({"gt_boundaries": np.array([[1.0, np.inf]])}, ValueError, "gt_boundaries: expected finite values"),
        ({"pred_boundaries": torch.zeros(2, device="meta")}, TypeError, "pred_boundaries: expected a tensor with"),
    ],
)
def test_boundary_f1_bad_input_names_the_argument(kwargs, error, match):
    args = {"pred_boundaries": [1, 2], "gt_boundaries": [1, 3], "tolerance": 1} | kwargs
    with pytest.raises(error, match=match):
        boundary_f1(**args)


def test_update_scalars_name_the_argument():
    m = BoundaryF1(protocol="gebd")
    with pytest.raises(TypeError, match="consistency: expected a real number, got str"):
        m.update([1.0], [1.0], duration=5.0, consistency="high")
    with pytest.raises(ValueError, match="duration: expected a finite number > 0, got nan"):
        m.update([1.0], [1.0], duration=float("nan"))
    with pytest.raises(TypeError, match="video_ids: expected one id"):
        m.update([1.0], [1.0], duration=5.0, video_ids=True)
