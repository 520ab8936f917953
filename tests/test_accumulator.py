"""The accumulator base shared by SegmentationMetrics, BoundaryF1 and DetectionMAP (actseg.metrics._accumulator)."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from actseg.metrics import BoundaryF1, DetectionMAP, SegmentationMetrics
from actseg.metrics._accumulator import VideoAccumulator
from actseg.segments import Segments

# DetectionMAP warns when copies counted twice tie on scores (the broken-de-dup contrast below)
pytestmark = pytest.mark.filterwarnings("ignore:detection_map:UserWarning")


def _same(a, b):
    """Equal results (dicts of floats or arrays), NaN equal to NaN."""
    assert a.keys() == b.keys()
    for k in a:
        x, y = np.asarray(a[k], dtype=float), np.asarray(b[k], dtype=float)
        assert np.array_equal(x, y, equal_nan=True), k


VIDEOS = {
    "a": ([0, 1, 1, 2, 2, 0], [0, 1, 1, 1, 2, 0]),
    "b": ([3, 3, 0, 0, 1], [3, 3, 3, 0, 1]),
    "c": ([2, 2, 2, 2], [2, 2, 1, 1]),
    "d": ([0, 0, 4, 4, 4, 4], [0, 4, 4, 4, 4, 0]),
}


def _tas(ids):
    m = SegmentationMetrics(background=[0])
    for vid in ids:
        m.update(*VIDEOS[vid], video_ids=vid)
    return m


BOUNDARY = {"a": ([10, 31, 70], [12, 30, 50]), "b": ([5], [6, 40]), "c": ([], [20]), "d": ([50, 60], [55])}


def _boundary(ids):
    m = BoundaryF1(protocol="tapos")
    for vid in ids:
        m.update(*BOUNDARY[vid], start=0, end=99, video_ids=vid)
    m.update([3], [], start=0, end=9)  # skipped (no internal boundary): a counter, not a record
    return m


DET_GT = {"a": Segments([0.0], [9.0], [3]), "b": Segments([0.0, 20.0], [4.0, 30.0], [3, 1]),
          "c": Segments([5.0], [8.0], [1]), "d": Segments([1.0], [3.0], [3])}
DET_PRED = {"a": Segments([0.0], [10.0], [3], scores=[0.9]), "b": Segments([5.0, 21.0], [9.0, 29.0], [3, 1],
                                                                               scores=[0.4, 0.8]),
            "c": Segments([5.0], [7.0], [1], scores=[0.7]), "d": Segments([0.0], [3.0], [3], scores=[0.2])}


def _detection(ids):
    m = DetectionMAP(tiou_thresholds=[0.3, 0.5])
    for vid in ids:
        m.update({vid: DET_PRED[vid]}, {vid: DET_GT[vid]})
    return m


FACTORIES = {"segmentation": _tas, "boundary": _boundary, "detection": _detection}


@pytest.mark.parametrize("make", FACTORIES.values(), ids=FACTORIES.keys())
def test_all_three_share_the_base(make):
    m = make(["a"])
    assert isinstance(m, VideoAccumulator)
    assert type(m).merge is VideoAccumulator.merge and type(m).reset is VideoAccumulator.reset


@pytest.mark.parametrize("make", FACTORIES.values(), ids=FACTORIES.keys())
def test_pickle_round_trip(make):
    m = make(["a", "b", "c"])
    clone = pickle.loads(pickle.dumps(m))
    _same(clone.compute(), m.compute())
    # the clone is independent and keeps accumulating like the original
    clone.merge(make(["d"]))
    _same(clone.compute(), make(["a", "b", "c", "d"]).compute())
    assert m.num_videos == make(["a", "b", "c"]).num_videos


@pytest.mark.parametrize("make", FACTORIES.values(), ids=FACTORIES.keys())
def test_merge_disjoint_ids_equals_one_accumulator(make):
    whole = make(["a", "b", "c", "d"])
    merged = make(["a", "c"]).merge(make(["b", "d"]))
    _same(merged.compute(), whole.compute())


@pytest.mark.parametrize("make", FACTORIES.values(), ids=FACTORIES.keys())
def test_merge_overlapping_ids_counts_each_video_once(make):
    whole = make(["a", "b", "c", "d"])
    merged = make(["a", "b", "c"]).merge(make(["c", "d", "a"]))  # a and c twice (sampler padding)
    _same(merged.compute(), whole.compute())
    # and the same numbers differ from counting the copies twice (the test would see a broken de-dup)
    twice = make(["a", "b", "c", "d"])
    for vid in ("a", "c"):
        other = make([vid])
        for kind in other.RECORDS:
            other._ids[kind] = [f"{vid}-copy" for _ in other._ids[kind]]
        twice.merge(other)
    got, expected = twice.compute(), whole.compute()
    assert any(not np.array_equal(np.asarray(got[k], dtype=float), np.asarray(expected[k], dtype=float),
                                  equal_nan=True) for k in got)


def test_merge_keeps_the_first_copy_of_a_video():
    m = SegmentationMetrics()
    m.update([1, 1, 2], [1, 1, 2], video_ids="v")  # perfect
    other = SegmentationMetrics()
    other.update([2, 2, 2], [1, 1, 2], video_ids="v")  # another prediction under the same id
    assert m.merge(other).compute()["accuracy"] == 100.0
    assert other.merge(m).compute()["accuracy"] == pytest.approx(100 / 3)  # now the other copy is first


def test_anonymous_records_are_never_deduplicated():
    m = SegmentationMetrics()
    m.update([1, 1], [1, 1])
    m.update([2, 2], [1, 1])
    m.merge(pickle.loads(pickle.dumps(m)))
    assert len(m.per_video()) == 4 and m.compute()["accuracy"] == 50.0


def test_counters_are_summed_on_merge_and_reset():
    a, b = _boundary(["a"]), _boundary(["b"])
    assert (a.num_skipped, b.num_skipped) == (1, 1)
    a.merge(b)
    assert (a.num_videos, a.num_skipped) == (2, 2)
    a.reset()
    assert (a.num_videos, a.num_skipped) == (0, 0)


@pytest.mark.parametrize("make", FACTORIES.values(), ids=FACTORIES.keys())
def test_reset_forgets_everything(make):
    m = make(["a", "b"])
    m.reset()
    assert m.num_videos == 0
    with pytest.warns(UserWarning, match="before any update"):
        out = m.compute()
    assert all(np.isnan(np.asarray(v, dtype=float)).all() for v in out.values())
    m.merge(make(["c"]))  # usable again after reset
    _same(m.compute(), make(["c"]).compute())


@pytest.mark.parametrize("make", FACTORIES.values(), ids=FACTORIES.keys())
def test_merge_rejects_other_classes_and_configurations(make):
    m = make(["a"])
    with pytest.raises(TypeError, match=f"other: expected a {type(m).__name__}, got object"):
        m.merge(object())
    others = [f(["a"]) for f in FACTORIES.values() if f is not make]
    for other in others:
        with pytest.raises(TypeError, match="other: expected a"):
            m.merge(other)


def test_merge_rejects_a_different_configuration():
    with pytest.raises(ValueError, match="other: expected the configuration"):
        SegmentationMetrics(ignore_index=[-100, 7]).merge(SegmentationMetrics())
    with pytest.raises(ValueError, match="other: expected the configuration"):
        DetectionMAP(tiou_thresholds=[0.5]).merge(DetectionMAP(tiou_thresholds=[0.3]))


def test_merge_with_itself_counts_each_video_once():
    m = _tas(["a", "b"])
    expected = m.compute()
    assert math.isclose(m.merge(m).compute()["accuracy"], expected["accuracy"])
    assert len(m.per_video()) == 2
