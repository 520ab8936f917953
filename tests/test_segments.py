from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from actseg.segments import Segments, labels_to_segments, segment_iou, segments_to_labels

label_lists = st.lists(st.integers(0, 4), min_size=1, max_size=60)


def _loop_runs(labels, background=()):
    """A readable per-frame reference for run extraction."""
    out, start = [], 0
    for t in range(1, len(labels) + 1):
        if t == len(labels) or labels[t] != labels[t - 1]:
            if labels[t - 1] not in background:
                out.append((start, t, labels[t - 1]))
            start = t
    return out


class TestSegments:
    def test_fields_and_dtypes(self):
        seg = Segments([0, 5], [5, 9], [2, 1], scores=[0.5, 0.25])
        assert seg.starts.dtype == np.int64 and seg.labels.dtype == np.int64
        assert seg.scores.dtype == np.float64
        assert len(seg) == 2
        assert seg.lengths.tolist() == [5, 4]
        assert seg.to_array().tolist() == [[0, 5], [5, 9]]

    def test_float_boundaries_for_localization(self):
        seg = Segments(np.array([0.5, 2.0]), np.array([1.5, 3.25]), [0, 0])
        assert seg.starts.dtype == np.float64

    def test_mixed_int_float_become_float(self):
        seg = Segments([0, 1], [0.5, 2.5], [0, 1])
        assert seg.starts.dtype == np.float64 and seg.ends.dtype == np.float64

    def test_accepts_tensors(self):
        seg = Segments(torch.tensor([0, 3]), torch.tensor([3, 4]), torch.tensor([1, 2]))
        assert seg.ends.tolist() == [3, 4]

    def test_indexing_returns_segments(self):
        seg = Segments([0, 5, 9], [5, 9, 12], [2, 1, 2], scores=[0.1, 0.2, 0.3])
        assert seg[1] == Segments([5], [9], [1], scores=[0.2])
        assert seg[-1].labels.tolist() == [2]
        assert len(seg[seg.labels == 2]) == 2
        assert seg[1:].starts.tolist() == [5, 9]
        with pytest.raises(IndexError):
            seg[3]

    def test_empty(self):
        empty = Segments.empty()
        assert len(empty) == 0
        assert Segments.empty(scores=True).scores.shape == (0,)
        assert Segments.empty(dtype=np.float64).starts.dtype == np.float64
        assert Segments([], [], []).starts.dtype == np.int64

    def test_repr(self):
        assert "label=2" in repr(Segments([0], [5], [2]))

    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"starts": [0, 1], "ends": [2], "labels": [0, 0]}, ValueError, "ends: expected length 2"),
            ({"starts": [0], "ends": [2], "labels": [0, 1]}, ValueError, "labels: expected length 1"),
            ({"starts": [3], "ends": [3], "labels": [0]}, ValueError, "end > start"),
            ({"starts": [0], "ends": [2], "labels": [0.5]}, TypeError, "labels: expected an integer dtype"),
            ({"starts": [[0]], "ends": [[2]], "labels": [0]}, ValueError, "starts: expected a 1-D array"),
            ({"starts": [0.0], "ends": [np.nan], "labels": [0]}, ValueError, "ends: expected finite values, got nan"),
            ({"starts": [0], "ends": [2], "labels": [0], "scores": [0.1, 0.2]}, ValueError, "scores: expected shape"),
            ({"starts": [0], "ends": [2], "labels": [0], "scores": [np.nan]}, ValueError, "scores: expected finite"),
            ({"starts": "ab", "ends": [2], "labels": [0]}, TypeError, "starts"),
        ],
    )
    def test_validation(self, kwargs, error, match):
        with pytest.raises(error, match=match):
            Segments(**kwargs)


class TestLabelsToSegments:
    def test_example(self):
        seg = labels_to_segments([0, 0, 3, 3, 3, 0, 1], background=[0])
        assert seg.starts.tolist() == [2, 6]
        assert seg.ends.tolist() == [5, 7]
        assert seg.labels.tolist() == [3, 1]

    def test_single_frame_and_all_background(self):
        assert labels_to_segments([4]).ends.tolist() == [1]
        assert len(labels_to_segments([0, 0, 0], background={0})) == 0

    def test_tensor_input(self):
        seg = labels_to_segments(torch.tensor([1, 1, 2]))
        assert seg.labels.tolist() == [1, 2]

    @given(labels=label_lists, background=st.sets(st.integers(0, 4), max_size=2))
    def test_matches_loop_reference(self, labels, background):
        seg = labels_to_segments(labels, background=background)
        assert list(zip(seg.starts.tolist(), seg.ends.tolist(), seg.labels.tolist())) == _loop_runs(labels, background)

    @given(labels=label_lists)
    def test_round_trip(self, labels):
        seg = labels_to_segments(labels)
        assert segments_to_labels(seg, len(labels)).tolist() == labels

    def test_bad_input(self):
        with pytest.raises(ValueError, match="labels: expected a non-empty"):
            labels_to_segments([])
        with pytest.raises(TypeError, match="labels: expected an integer dtype"):
            labels_to_segments([0.5, 1.0])
        with pytest.raises(ValueError, match="labels: expected a 1-D"):
            labels_to_segments([[0, 1]])
        with pytest.raises(TypeError, match="background"):
            labels_to_segments([0, 1], background="SIL")


class TestSegmentsToLabels:
    def test_fill_and_order(self):
        seg = Segments([1, 4], [3, 6], [7, 8])
        assert segments_to_labels(seg, 7, fill=0).tolist() == [0, 7, 7, 0, 8, 8, 0]

    def test_overlap_later_wins(self):
        seg = Segments([0, 2], [5, 4], [1, 2])
        assert segments_to_labels(seg, 6).tolist() == [1, 1, 2, 2, 1, -1]
        seg = Segments([2, 0], [4, 5], [2, 1])
        assert segments_to_labels(seg, 5).tolist() == [1, 1, 1, 1, 1]

    @given(st.lists(st.tuples(st.integers(0, 30), st.integers(1, 10), st.integers(0, 5)), max_size=8))
    def test_matches_painting_loop(self, rows):
        starts = [s for s, _, _ in rows]
        ends = [s + n for s, n, _ in rows]
        labels = [lab for _, _, lab in rows]
        expected = np.full(40, -1)
        for s, e, lab in zip(starts, ends, labels):
            expected[s:e] = lab
        assert segments_to_labels(Segments(starts, ends, labels), 40).tolist() == expected.tolist()

    def test_errors(self):
        with pytest.raises(ValueError, match="inside"):
            segments_to_labels(Segments([0], [5], [1]), 4)
        with pytest.raises(TypeError, match="integer frame"):
            segments_to_labels(Segments([0.0], [1.5], [1]), 4)
        with pytest.raises(TypeError, match="segments: expected a Segments"):
            segments_to_labels(np.zeros((1, 2)), 4)
        with pytest.raises(ValueError, match="length: expected an integer >= 0"):
            segments_to_labels(Segments([0], [1], [1]), -1)
        with pytest.raises(TypeError, match="fill: expected an integer, got float"):
            segments_to_labels(Segments([0], [1], [1]), 4, fill=0.5)
        assert segments_to_labels(Segments([0], [1], [1]), np.int64(3), fill=np.int32(-1)).tolist() == [1, -1, -1]


class TestSegmentIoU:
    def test_values(self):
        iou = segment_iou(np.array([[0, 10]]), np.array([[5, 15], [10, 20], [0, 10], [2, 4]]))
        np.testing.assert_allclose(iou, [[1 / 3, 0.0, 1.0, 0.2]])

    def test_segments_and_shapes(self):
        a = Segments([0, 5], [5, 9], [0, 1])
        assert segment_iou(a, a).shape == (2, 2)
        assert segment_iou(np.zeros((0, 2)), np.array([[0, 1]])).shape == (0, 1)

    def test_torch(self):
        a = torch.tensor([[0.0, 10.0]], dtype=torch.float64)
        out = segment_iou(a, torch.tensor([[5.0, 15.0]], dtype=torch.float64))
        assert out.dtype == torch.float64
        assert torch.allclose(out, torch.tensor([[1 / 3]], dtype=torch.float64))
        assert segment_iou(torch.tensor([[0, 4]]), torch.tensor([[2, 6]])).dtype == torch.float32

    def test_empty_segments_give_zero(self):
        assert segment_iou(np.array([[3, 3]]), np.array([[3, 3]])).tolist() == [[0.0]]

    @given(st.lists(st.tuples(st.integers(0, 50), st.integers(1, 20)), min_size=1, max_size=6),
           st.lists(st.tuples(st.integers(0, 50), st.integers(1, 20)), min_size=1, max_size=6))
    @settings(max_examples=50)
    def test_symmetric_bounded_and_matches_torch(self, a, b):
        a = np.array([[s, s + n] for s, n in a])
        b = np.array([[s, s + n] for s, n in b])
        iou = segment_iou(a, b)
        np.testing.assert_allclose(iou, segment_iou(b, a).T)
        assert np.all((iou >= 0) & (iou <= 1))
        np.testing.assert_allclose(segment_iou(torch.from_numpy(a).double(), torch.from_numpy(b).double()).numpy(), iou)

    def test_errors(self):
        with pytest.raises(ValueError, match="a: expected shape"):
            segment_iou(np.zeros((2, 3)), np.zeros((1, 2)))
        with pytest.raises(ValueError, match="end >= start"):
            segment_iou(np.array([[5, 1]]), np.array([[0, 1]]))
        with pytest.raises(TypeError, match="both tensors"):
            segment_iou(torch.zeros(1, 2), np.zeros((1, 2)))

    @pytest.mark.parametrize("bad", [
        np.array([[0.0, 10.0], [np.nan, 5.0]]), np.array([[0.0, np.nan]]), np.array([[0.0, np.inf]]),
        torch.tensor([[0.0, 10.0], [float("nan"), 5.0]]),
    ])
    def test_nan_rows_are_rejected(self, bad):
        """Regression (issue 10): a NaN row silently gave IoU 0."""
        other = torch.tensor([[0.0, 5.0]]) if isinstance(bad, torch.Tensor) else np.array([[0.0, 5.0]])
        with pytest.raises(ValueError, match="a: expected finite values"):
            segment_iou(bad, other)
        with pytest.raises(ValueError, match="b: expected finite values"):
            segment_iou(other, bad)

    @pytest.mark.parametrize(("bad", "dtype"), [
        (np.array([[False, True]]), "bool"), (np.array([[0, 1 + 2j]]), "complex"),
        (np.array([[0, 1]], dtype=object), "object"), (torch.tensor([[False, True]]), "torch.bool"),
        (torch.tensor([[0, 1 + 2j]]), "torch.complex"),
    ])
    def test_non_real_dtypes_are_rejected(self, bad, dtype):
        """Regression (issue 10): bool/complex/object arrays were accepted."""
        other = torch.tensor([[0.0, 5.0]]) if isinstance(bad, torch.Tensor) else np.array([[0.0, 5.0]])
        with pytest.raises(TypeError, match=f"a: expected a real .*{dtype}"):
            segment_iou(bad, other)


def test_segment_iou_on_meta_tensors_infers_the_shape():
    out = segment_iou(torch.zeros(3, 2, device="meta"), torch.zeros(5, 2, device="meta"))
    assert out.is_meta and out.shape == (3, 5)


def test_segments_reject_infinite_boundaries_and_scores():
    with pytest.raises(ValueError, match="ends: expected finite values, got inf"):
        Segments([0.0], [np.inf], [0])
    assert Segments([0.0], [1.0], [0], scores=[-np.inf]).scores.tolist() == [-np.inf]  # the metrics decide
    with pytest.raises(ValueError, match="scores: expected finite values, got NaN at index 1"):
        Segments([0.0, 1.0], [1.0, 2.0], [0, 0], scores=[0.5, np.nan])
    with pytest.raises(TypeError, match="starts: expected a real"):
        Segments(np.array([True]), np.array([2]), [0])
