"""actseg.targets: the input boundary (bad input, meta tensors, bounds), GSMT layout, extreme widths.

Issue 9 §1 (inputs through ``actseg._checks``) and issue 10 (layout of the global masks, regressions).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from actseg.segments import Segments
from actseg.targets import (
    action_point_heatmaps,
    boundary_heatmap,
    boundary_labels,
    class_mask_targets,
    gaussian_boundary_targets,
    global_mask_targets,
    resample_snippets,
    segments_to_global_masks,
    segments_to_snippets,
    skeleton_heatmaps,
)


class TestGlobalMaskLayout:
    def test_rows_are_snippet_masks_asymmetric_instances(self):
        """Row t (= column t) is snippet t's instance; instances of different lengths and classes."""
        seg = Segments([0, 3, 7], [2, 7, 8], [1, 0, 2])
        masks, classes = segments_to_global_masks(seg, 9, num_classes=3)
        for t, span in enumerate([(0, 2), (0, 2), None, (3, 7), (3, 7), (3, 7), (3, 7), (7, 8), None]):
            row = torch.zeros(9)
            if span is not None:
                row[span[0] : span[1]] = 1
            assert torch.equal(masks[0, t], row) and torch.equal(masks[0, :, t], row)
        assert classes[0].tolist() == [1, 1, 3, 0, 0, 0, 0, 2, 3]
        labels = torch.from_numpy(seg.to_labels(9, fill=3)).unsqueeze(0)
        m2, c2 = global_mask_targets(labels, num_classes=3, background=[3])
        assert torch.equal(m2, masks) and torch.equal(c2, classes)

    def test_targets_decode_back_to_their_instances(self):
        from actseg.postprocess import decode_global_masks

        seg = Segments([1, 5], [4, 9], [0, 1])
        masks, classes = segments_to_global_masks(seg, 10, num_classes=2)
        probs = torch.nn.functional.one_hot(classes, 3).permute(0, 2, 1).double()  # (B, K + 1, N)
        (out,) = decode_global_masks(probs, masks, thresholds=(0.5,), nms="none", min_score=0.0)
        assert sorted(zip(out.starts.tolist(), out.ends.tolist(), out.labels.tolist())) == [(1, 4, 0), (5, 9, 1)]


def test_segments_to_global_masks_rejects_unknown_rounding():
    """Regression (issue 10): rounding="bogus" was accepted when duration is None."""
    seg = Segments([0], [2], [1])
    with pytest.raises(ValueError, match="rounding: expected one of 'nearest', 'tags', got 'bogus'"):
        segments_to_global_masks(seg, 4, num_classes=2, rounding="bogus")
    with pytest.raises(TypeError, match="rounding: expected one of"):
        segments_to_global_masks(seg, 4, num_classes=2, rounding=None)


def test_extreme_widths_stay_exact():
    """σ so small that 2σ² underflows: 1 at the keypoints, 0 elsewhere (not 0/0 = NaN -> 0); huge ratios finite."""
    labels = torch.tensor([[0, 1, 1, 1, 2, 2, 0]])
    heat, _ = action_point_heatmaps(labels, background=[0], length_ratio=1e-300)
    assert heat[0].tolist() == [0, 0, 1, 0, 1, 0, 0]
    mid, _ = action_point_heatmaps(labels, background=[0], length_ratio=1e-300, centres="midpoint")
    assert torch.equal(mid, heat)
    assert boundary_heatmap(labels, background=[0], region=1e-300)[0].tolist() == [0, 1, 0, 1, 1, 1, 0]
    assert gaussian_boundary_targets(labels, sigma=1e-300)[0].tolist() == [1, 1, 0, 0, 1, 0, 1]
    assert gaussian_boundary_targets(labels, sigma=1e200, truncate=1e200)[0].tolist() == [1.0] * 7
    wide, _ = action_point_heatmaps(labels, background=[0], length_ratio=1e300, positive_ratio=1e300)
    assert wide[0].tolist() == [1.0] * 7
    h = skeleton_heatmaps(torch.tensor([[[[1.0, 1.0], [2.0, 2.0]]]]), size=(3, 3), sigma=1e-300, limbs=[(0, 1)])
    assert h[0, 0, 2].flatten().tolist() == [0, 0, 0, 0, 1, 0, 0, 0, 1]


def test_outputs_are_bounded_before_allocation():
    labels = torch.zeros(1, 7, dtype=torch.long)
    with pytest.raises(ValueError, match="num_classes: expected an output of at most 2\\*\\*31 elements"):
        class_mask_targets(labels, 2**30)
    with pytest.raises(ValueError, match="labels: expected an output of at most 2\\*\\*31 elements, got B·T·T"):
        global_mask_targets(torch.zeros(1, 50_000, dtype=torch.long), num_classes=2)
    with pytest.raises(ValueError, match="size: expected an output of at most 2\\*\\*31 elements"):
        skeleton_heatmaps(torch.zeros(1, 1, 2, 2), size=(100_000, 100_000))


def test_resample_snippets_runs_on_meta_and_keeps_grad():
    out = resample_snippets(torch.zeros(2, 3, 17, device="meta"), 5)
    assert out.shape == (2, 3, 5) and out.is_meta
    x = torch.rand(1, 2, 9, requires_grad=True)
    resample_snippets(x, 4).sum().backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all()) and x.grad.abs().sum() > 0


# ----------------------------------------------------------------------------------------------
# bad input


class TestBadInput:
    labels = torch.tensor([[0, 1, 1, 2]])

    @pytest.mark.parametrize("fn", [boundary_heatmap, lambda x, **k: action_point_heatmaps(x, **k)[0],
                                    boundary_labels, gaussian_boundary_targets,
                                    lambda x, **k: global_mask_targets(x, num_classes=3, **k)[0],
                                    lambda x, **k: class_mask_targets(x, 3, **k)])
    def test_common_errors(self, fn):
        with pytest.raises(ValueError, match=r"labels: expected shape \(B, T\), got \(4,\)"):
            fn(self.labels[0])
        with pytest.raises(TypeError, match=r"labels: expected an integer dtype, got torch\.float32"):
            fn(self.labels.float())
        with pytest.raises(TypeError, match=r"labels: expected an integer dtype, got torch\.bool"):
            fn(self.labels > 0)
        with pytest.raises(TypeError, match=r"labels: expected an integer dtype, got float64"):
            fn(np.zeros((1, 4)))
        with pytest.raises(TypeError, match=r"labels: expected a numpy array, a torch\.Tensor or a sequence, got str"):
            fn("0 1 1 2")
        # meta tensors: targets read values -> TypeError (labels and mask)
        with pytest.raises(TypeError, match=r"labels: expected a tensor with values .*, got a meta tensor"):
            fn(self.labels.to("meta"))
        with pytest.raises(TypeError, match=r"mask: expected a tensor with values .*, got a meta tensor"):
            fn(self.labels, mask=torch.ones(1, 4, dtype=torch.bool, device="meta"))
        # sequences are converted like numpy arrays
        assert torch.equal(fn([[0, 1, 1, 2]]), fn(self.labels))
        assert torch.equal(fn(self.labels.numpy().astype(np.int32)), fn(self.labels))
        with pytest.raises(ValueError, match=r"labels: expected class ids .* got -1 at \(b, t\) = \(0, 2\)"):
            fn(torch.tensor([[0, 1, -1, 2]]))
        with pytest.raises(TypeError, match=r"mask: expected dtype torch\.bool, got torch\.int64"):
            fn(self.labels, mask=torch.ones(1, 4, dtype=torch.long))
        with pytest.raises(ValueError, match=r"mask: expected shape \(B, T\) = \(1, 4\), got \(1, 3\)"):
            fn(self.labels, mask=torch.ones(1, 3, dtype=torch.bool))

    def test_out_of_range_with_num_classes(self):
        with pytest.raises(ValueError, match=r"labels: expected class ids in \[0, 2\) or ignore_index=-100, got 2"):
            class_mask_targets(self.labels, 2)
        with pytest.raises(ValueError, match=r"in \[0, 2\) or a background id or ignore_index=-100, got 2"):
            global_mask_targets(self.labels, num_classes=2, background=[0])
        with pytest.raises(ValueError, match="num_classes: expected an integer >= 1 and <= 2147483647, got 0"):
            class_mask_targets(self.labels, 0)
        assert class_mask_targets(self.labels, np.int64(3)).shape == (1, 3, 4)  # numpy integers are integers

    @pytest.mark.parametrize(("fn", "arg"), [
        (boundary_heatmap, "region"), (boundary_heatmap, "sigma_ratio"),
        (action_point_heatmaps, "length_ratio"), (action_point_heatmaps, "sigma_ratio"),
        (gaussian_boundary_targets, "sigma"), (gaussian_boundary_targets, "truncate"),
    ])
    def test_non_positive_numbers(self, fn, arg):
        for bad in (-1.0, 0.0, float("nan"), float("inf")):
            with pytest.raises(ValueError, match=f"{arg}: expected a finite number > 0.0, got"):
                fn(self.labels, **{arg: bad})
        with pytest.raises(TypeError, match=f"{arg}: expected a real number, got str"):
            fn(self.labels, **{arg: "1"})
        with pytest.raises(ValueError, match=r"positive_ratio: expected a finite number >= 0.0, got -0\.1"):
            action_point_heatmaps(self.labels, positive_ratio=-0.1)

    def test_choices(self):
        with pytest.raises(ValueError, match="end: expected one of 'last', 'exclusive', got 'first'"):
            boundary_heatmap(self.labels, end="first")
        with pytest.raises(ValueError, match="category_region: expected one of"):
            action_point_heatmaps(self.labels, category_region="all")
        with pytest.raises(ValueError, match="centres: expected one of 'positive', 'midpoint', got 'centre'"):
            action_point_heatmaps(self.labels, centres="centre")
        with pytest.raises(TypeError, match="include_first: expected True or False, got int 1"):
            boundary_labels(self.labels, include_first=1)
        with pytest.raises(TypeError, match="ignore_index: expected an integer, got float"):
            action_point_heatmaps(self.labels, ignore_index=-100.0)
        with pytest.raises(ValueError, match="rounding: expected one of 'nearest', 'tags', got 'floor'"):
            segments_to_snippets(Segments([0.0], [1.0], [0]), 2.0, 4, rounding="floor")
        with pytest.raises(TypeError, match="background: expected a collection of integer class ids"):
            boundary_heatmap(self.labels, background="0")

    def test_snippet_errors(self):
        with pytest.raises(TypeError, match=r"segments: expected an actseg\.segments\.Segments, got list"):
            segments_to_snippets([(0, 1, 0)], 2.0, 4)
        with pytest.raises(ValueError, match=r"duration: expected a finite number > 0.0, got 0"):
            segments_to_snippets(Segments([0.0], [1.0], [0]), 0, 4)
        with pytest.raises(ValueError, match="num_snippets: expected an integer >= 1 and <= 2147483647, got 0"):
            segments_to_snippets(Segments([0.0], [1.0], [0]), 2.0, 0)
        with pytest.raises(ValueError, match=r"features: expected shape \(B, C, T\), got \(5,\)"):
            resample_snippets(torch.zeros(5), 3)
        with pytest.raises(ValueError, match=r"features: expected T >= 1 in \(C, T\), got \(2, 0\)"):
            resample_snippets(torch.zeros(2, 0), 3)
        with pytest.raises(ValueError, match="num_snippets: expected an integer >= 1 and <= 32768, got 100000"):
            segments_to_global_masks(Segments([0], [2], [1]), 100_000, num_classes=2)
        with pytest.raises(TypeError, match=r"segments: expected an actseg\.segments\.Segments or a list of them"):
            segments_to_global_masks(3, 4, num_classes=2)
        with pytest.raises(TypeError, match=r"segments\[1\]: expected an actseg.segments.Segments, got tuple"):
            segments_to_global_masks([Segments([0], [2], [1]), (0, 2, 1)], 4, num_classes=2)
        with pytest.raises(TypeError, match=r"dtype: expected a torch.dtype, got str"):
            global_mask_targets(self.labels, num_classes=3, dtype="float32")
        with pytest.raises(TypeError, match=r"features: expected a floating dtype, got torch\.int64"):
            resample_snippets(torch.zeros(1, 5, dtype=torch.long), 3)
        with pytest.raises(ValueError, match="mask: expected at least one valid frame per element, got none in"):
            resample_snippets(torch.zeros(2, 1, 3), 3, mask=torch.tensor([[True, True, False], [False] * 3]))
        with pytest.raises(ValueError, match=r"segments\[0\]: expected labels in \[0, 2\), got 5"):
            segments_to_global_masks(Segments([0], [2], [5]), 4, num_classes=2)
        with pytest.raises(ValueError, match=r"segments\[0\]: expected every instance inside \[0, 4\)"):
            segments_to_global_masks(Segments([0], [6], [1]), 4, num_classes=2)
        with pytest.raises(ValueError, match=r"duration: expected one duration per video \(1\), got 2"):
            segments_to_global_masks(Segments([0.0], [1.0], [1]), 4, num_classes=2, duration=[1.0, 2.0])

    def test_skeleton_errors(self):
        kp = torch.zeros(1, 2, 3, 2)
        with pytest.raises(ValueError, match=r"keypoints: expected shape \(B, T, V, 2\), got \(2, 3, 2\)"):
            skeleton_heatmaps(kp[0])
        with pytest.raises(TypeError, match=r"keypoints: expected a floating dtype, got torch\.int64"):
            skeleton_heatmaps(kp.long())
        with pytest.raises(ValueError, match=r"confidence: expected shape \(1, 2, 3\), got \(1, 2\)"):
            skeleton_heatmaps(kp, torch.ones(1, 2))
        with pytest.raises(ValueError, match=r"confidence: expected values in \[0, 1\] or NaN, got 2"):
            skeleton_heatmaps(kp, torch.full((1, 2, 3), 2.0))
        with pytest.raises(TypeError, match=r"keypoints: expected a tensor with values .*, got a meta tensor"):
            skeleton_heatmaps(kp.to("meta"))
        with pytest.raises(ValueError, match=r"repeat: expected an integer >= 1 and <= 64, got 0"):
            skeleton_heatmaps(kp, repeat=0)
        with pytest.raises(TypeError, match="flatten: expected True or False"):
            skeleton_heatmaps(kp, flatten="yes")
        with pytest.raises(TypeError, match=r"limbs: expected an integer dtype, got float64"):
            skeleton_heatmaps(kp, limbs=[(0.0, 1.0)])
        with pytest.raises(ValueError, match=r"limbs: expected indices in \[0, 3\), got 3"):
            skeleton_heatmaps(kp, limbs=[(0, 3)])
        with pytest.raises(ValueError, match="limbs: expected at least one"):
            skeleton_heatmaps(kp, kind="limbs")
        with pytest.raises(TypeError, match=r"size: expected a tuple of 2 integers >= 1, got int 5"):
            skeleton_heatmaps(kp, size=5)
        with pytest.raises(ValueError, match=r"size\[1\]: expected an integer >= 1 and <= 2147483647, got 0"):
            skeleton_heatmaps(kp, size=(5, 0))
        with pytest.raises(ValueError, match=r"sigma: expected a finite number > 0.0, got -0\.6"):
            skeleton_heatmaps(kp, sigma=-0.6)
        with pytest.raises(TypeError, match=r"mask: expected dtype torch\.bool, got torch\.float32"):
            skeleton_heatmaps(kp, mask=torch.ones(1, 2))
