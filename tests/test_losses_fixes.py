"""actseg.losses: regression tests of issue 10 (bugs, paper fidelity) and the input boundary of issue 9.

Each test named after a bug fails without its fix: NaN gradients of the focal factors, the unbounded
bIoU weight, unvalidated hyperparameters, NaN from padded entries, the mask layout of GSMT.
"""

from __future__ import annotations

import doctest
import math

import pytest
import torch
import torch.nn.functional as F

import actseg.losses as losses
from actseg.losses import (
    BalancedBCELoss,
    BIoULoss,
    BoundaryLoss,
    DiceLoss,
    FocalHeatmapLoss,
    FocalLoss,
    GlobalMaskLoss,
    GlobalParseLoss,
    HardNegativeBCELoss,
    KeypointLoss,
    LocalParseLoss,
    MultiStageLoss,
    PermutationLoss,
    RedundancyLoss,
    SimilaritySmoothingLoss,
    SmoothingLoss,
    balanced_bce_loss,
    biou_loss,
    boundary_loss,
    dice_loss,
    focal_heatmap_loss,
    focal_loss,
    global_parse_loss,
    hard_negative_bce_loss,
    local_parse_loss,
    permutation_loss,
    redundancy_loss,
    similarity_smoothing_loss,
    smoothing_loss,
)


def _holes(batch=2, length=12):
    """A padding mask with holes inside the videos and a padded tail."""
    mask = torch.ones(batch, length, dtype=torch.bool)
    mask[0, 3:5] = False
    mask[-1, 2] = False
    mask[-1, 8:] = False
    return mask


# ---------------------------------------------------------------------------------------------
# 1. focal factors: finite gradients for a confidently correct frame with an exponent < 1


@pytest.mark.parametrize("gamma", [0.25, 0.5, 0.75])
def test_focal_loss_fractional_gamma_confident_frame_has_finite_gradient(gamma):
    logits = torch.tensor([[[20.0, 0.0, -3.0], [0.0, 0.0, 0.0], [-20.0, 1.0, 2.0]]])  # frame 0: margin 20
    target = torch.tensor([[0, 1, 2]])
    x = logits.clone().requires_grad_(True)
    loss = focal_loss(x, target, gamma=gamma)
    loss.backward()
    assert torch.isfinite(x.grad).all()
    # the power form in float64, where p of frame 0 does not round to 1
    x64 = logits.double().requires_grad_(True)
    p = torch.softmax(x64, 1).gather(1, target.unsqueeze(1)).squeeze(1)
    expected = (-(1 - p).pow(gamma) * p.log()).mean()
    expected.backward()
    torch.testing.assert_close(loss.double(), expected, rtol=1e-5, atol=1e-9)
    torch.testing.assert_close(x.grad.double(), x64.grad, rtol=1e-4, atol=1e-7)


def test_focal_loss_tags_perfect_batch_fractional_gamma():
    logits = torch.tensor([[[60.0, 60.0], [0.0, 0.0]]]).requires_grad_(True)  # CE rounds to 0
    loss = focal_loss(logits, torch.tensor([[0, 0]]), gamma=0.5, reference="tags")
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("alpha", [0.25, 0.5])
def test_focal_heatmap_fractional_alpha_confident_frames_have_finite_gradient(alpha):
    logits = torch.tensor([[20.0, -120.0, 0.5, -2.0]])  # a sure keypoint, a sure negative
    target = torch.tensor([[1.0, 0.0, 0.3, 1.0]])
    x = logits.clone().requires_grad_(True)
    loss = focal_heatmap_loss(x, target, alpha=alpha)
    loss.backward()
    assert torch.isfinite(x.grad).all()
    x64 = logits.double().requires_grad_(True)
    prob, y = torch.sigmoid(x64), target.double()
    pos = -(1 - 0.75) * (1 - prob).pow(alpha) * prob.log()
    neg = -0.75 * (1 - y).pow(4) * prob.pow(alpha) * torch.log1p(-prob)
    expected = torch.where(y == 1, pos, neg).sum() / 2
    expected.backward()
    torch.testing.assert_close(loss.double(), expected, rtol=1e-5, atol=1e-9)
    torch.testing.assert_close(x.grad.double(), x64.grad, rtol=1e-4, atol=1e-7)


# ---------------------------------------------------------------------------------------------
# 2. bIoU: bounded weight of the L2 term


def _one_snippet(length=12, at=5):
    target = torch.zeros(1, 1, length)
    target[..., at] = 1.0
    return target


def test_biou_one_snippet_zero_logits_is_bounded():
    target = _one_snippet()
    x = torch.zeros(1, 1, 12, requires_grad=True)
    loss = biou_loss(x, target)
    loss.backward()
    # no boundary overlap: 1 − 0 + ‖0.5 − g‖₂ / (c (1 + ε)), ‖·‖₂ = sqrt(12 · 0.25)
    assert loss.item() == pytest.approx(1 + math.sqrt(3.0) / (1 + math.exp(-8)), rel=1e-6)
    assert x.grad.abs().max().item() < 1.0
    # the paper's literal weight 1/(∩ + ε) is what the issue measured
    literal = biou_loss(torch.zeros(1, 1, 12), target, min_overlap=0.0)
    assert literal.item() == pytest.approx(1 + math.sqrt(3.0) / math.exp(-8), rel=1e-5)  # ≈ 5,164


def test_biou_and_global_mask_loss_finite_in_float16():
    target = torch.zeros(1, 12, 12)
    target[0, 5, 5] = 1.0  # a one-snippet instance
    for loss_fn in (lambda x: biou_loss(x, target), lambda x: GlobalMaskLoss()(x, target)):
        x = torch.zeros(1, 12, 12, dtype=torch.float16, requires_grad=True)
        loss = loss_fn(x)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(x.grad).all()
        assert x.grad.abs().max().item() < 1.0


def test_biou_overlap_above_floor_keeps_the_paper_weight():
    target = torch.zeros(1, 1, 30, dtype=torch.float64)
    target[..., 10:20] = 1
    logits = torch.where(target > 0, 2.0, -2.0).double()
    for floor in (0.0, 1.0):  # the bands overlap by more than one frame: the floor does not act
        m = torch.sigmoid(logits)
        band_m = m - (-F.max_pool1d(-F.pad(m, (3, 3)), 7, stride=1))
        band_g = target - (-F.max_pool1d(-F.pad(target, (3, 3)), 7, stride=1))
        inter = (band_m * band_g).sum()
        union = (band_m + band_g - band_m * band_g).sum()
        assert inter > 1
        expected = 1 - inter / union + (m - target).norm() / (10 * (inter + math.exp(-8)))
        torch.testing.assert_close(biou_loss(logits, target, min_overlap=floor), expected)


# ---------------------------------------------------------------------------------------------
# 3. hyperparameters validated, in functions and module constructors

_L3, _T3 = torch.zeros(1, 3, 4), torch.zeros(1, 3, 4)
_LABELS = torch.zeros(1, 4, dtype=torch.long)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: balanced_bce_loss(_L3, _T3, epsilon=-1e-6), ValueError, "epsilon: expected a finite number > 0.0"),
        (lambda: balanced_bce_loss(_L3, _T3, reference="tags", epsilon=None), TypeError, "epsilon: expected a real"),
        (lambda: balanced_bce_loss(_L3, _T3, epsilon=float("nan")), ValueError, "epsilon"),
        (lambda: BalancedBCELoss(epsilon=None), TypeError, "epsilon"),
        (lambda: BalancedBCELoss(reference="bmn"), ValueError, "reference: expected one of None, 'tags'"),
        (lambda: hard_negative_bce_loss(_L3, _T3, alpha=-1.0), ValueError, "alpha: expected a finite number >= 0.0"),
        (lambda: hard_negative_bce_loss(_L3, _T3, num_negatives=0), ValueError, "num_negatives"),
        (lambda: hard_negative_bce_loss(_L3, _T3, num_negatives=2.0), TypeError, "num_negatives"),
        (lambda: HardNegativeBCELoss(alpha=-1), ValueError, "alpha"),
        (lambda: HardNegativeBCELoss(epsilon=0), ValueError, "epsilon"),
        (lambda: boundary_loss(torch.zeros(1, 4), torch.zeros(1, 4), pos_weight=-2.0), ValueError, "pos_weight"),
        (lambda: boundary_loss(torch.zeros(1, 4), torch.zeros(1, 4), pos_weight="2"), TypeError, "pos_weight"),
        (lambda: BoundaryLoss(pos_weight=-2.0), ValueError, "pos_weight"),
        (lambda: BoundaryLoss(reference="asrf", reduction="sum"), ValueError, "reduction"),
        (lambda: dice_loss(_L3, _T3, factor="2"), TypeError, "factor: expected a real number"),
        (lambda: dice_loss(_L3, _T3, factor=3.0), ValueError, "factor"),
        (lambda: dice_loss(_L3, _T3, smooth=-1.0), ValueError, "smooth"),
        (lambda: dice_loss(_L3, _T3, squared=1), TypeError, "squared"),
        (lambda: DiceLoss(factor="2"), TypeError, "factor"),
        (lambda: DiceLoss(present_only="yes"), TypeError, "present_only"),
        (lambda: biou_loss(_L3, _T3, epsilon=-1.0), ValueError, "epsilon"),
        (lambda: biou_loss(_L3, _T3, min_overlap=-1.0), ValueError, "min_overlap"),
        (lambda: biou_loss(_L3, _T3, kernel_size=7.0), TypeError, "kernel_size"),
        (lambda: BIoULoss(kernel_size=4), ValueError, "kernel_size"),
        (lambda: BIoULoss(epsilon=float("inf")), ValueError, "epsilon"),
        (lambda: GlobalMaskLoss(dice_weight=-0.4), ValueError, "dice_weight"),
        (lambda: focal_loss(_L3, _LABELS, gamma=-1.0), ValueError, "gamma"),
        (lambda: focal_loss(_L3, _LABELS, weight=-torch.ones(3)), ValueError, "weight: expected finite class weights"),
        (lambda: focal_loss(_L3, _LABELS, ignore_index=1.5), TypeError, "ignore_index"),
        (lambda: FocalLoss(gamma=float("nan")), ValueError, "gamma"),
        (lambda: FocalLoss(gamma="2"), TypeError, "gamma"),
        (lambda: focal_heatmap_loss(torch.zeros(1, 4), torch.zeros(1, 4), alpha=-1.0), ValueError, "alpha"),
        (lambda: focal_heatmap_loss(torch.zeros(1, 4), torch.zeros(1, 4), normalizer="k"), ValueError, "normalizer"),
        (lambda: FocalHeatmapLoss(beta=-4.0), ValueError, "beta"),
        (lambda: FocalHeatmapLoss(gamma=1.5), ValueError, "gamma"),
        (lambda: KeypointLoss(action_weight=-100.0), ValueError, "action_weight"),
        (lambda: KeypointLoss(gamma_boundary=2.0), ValueError, "gamma_boundary"),
        (lambda: KeypointLoss(normalizer="frames"), ValueError, "normalizer"),
        (lambda: smoothing_loss(_L3, clamp=0.0), ValueError, "clamp"),
        (lambda: SmoothingLoss(clamp=float("inf")), ValueError, "clamp"),
        (lambda: SmoothingLoss(reference="asrf"), ValueError, "reference"),
        (lambda: MultiStageLoss(ignore_index="x"), TypeError, "ignore_index"),
        (lambda: MultiStageLoss(smoothing_weight=float("nan")), ValueError, "smoothing_weight"),
        (lambda: similarity_smoothing_loss(_L3, _L3, sigma=0.0), ValueError, "sigma"),
        (lambda: SimilaritySmoothingLoss(sigma=-1.0), ValueError, "sigma"),
        (lambda: SimilaritySmoothingLoss(squared_distance=None), TypeError, "squared_distance"),
        (lambda: local_parse_loss(torch.zeros(1, 4, 2), _LABELS, epsilon=0.0), ValueError, "epsilon"),
        (lambda: LocalParseLoss(margin=-1.0), ValueError, "margin"),
        (lambda: GlobalParseLoss(reduction="avg"), ValueError, "reduction"),
        (lambda: PermutationLoss(reduction=None), TypeError, "reduction"),
        (lambda: RedundancyLoss(reduction="avg"), ValueError, "reduction"),
        (lambda: permutation_loss(torch.full((1, 3, 3), 0.3), torch.eye(3)[None], [1.5, 2]), TypeError, "n1"),
    ],
)
def test_hyperparameters_are_validated(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: focal_loss(_L3.numpy(), _LABELS), TypeError, "logits: expected a torch.Tensor"),
        (lambda: focal_loss(_L3, _LABELS.int()), TypeError, "target: expected dtype torch.int64"),
        (lambda: focal_loss(_L3, torch.zeros(1, 5, dtype=torch.long)), ValueError, r"target: expected shape \(1, 4\)"),
        (lambda: balanced_bce_loss(torch.zeros(4), torch.zeros(4)), ValueError,
         r"logits: expected shape \(B, \.\.\., T\)"),
        (lambda: balanced_bce_loss(_L3, _T3.long()), TypeError, "target: expected a floating dtype"),
        (lambda: boundary_loss(torch.zeros(1, 4), torch.full((1, 4), float("nan"))), ValueError, "target"),
        (lambda: dice_loss(_L3 + 2, _T3), ValueError, "probs: expected finite probabilities"),
        (lambda: global_parse_loss(_L3, torch.tensor([0.0])), TypeError, "labels: expected dtype torch.int64"),
        (lambda: local_parse_loss(torch.zeros(1, 4, 2), _LABELS.float()), TypeError, "segment_ids"),
        (lambda: MultiStageLoss()(_L3[None], _LABELS, torch.ones(1, 4)), TypeError, "mask: expected dtype torch.bool"),
        (lambda: redundancy_loss(torch.zeros(1, 3, 4), torch.zeros(1, 3, 4), torch.ones(1, 3, dtype=torch.bool)),
         ValueError, r"probs: expected shape \(B, 4, 4\), got \(1, 3, 4\)"),
        (lambda: redundancy_loss(torch.zeros(1, 3, 3), torch.zeros(1, 3, 3), torch.ones(1, 3)), TypeError,
         "foreground: expected dtype torch.bool"),
        (lambda: KeypointLoss()(torch.zeros(1, 4), _L3, torch.zeros(1, 4), torch.zeros(1, 4),
                                torch.full((1, 4), 3), torch.zeros(1, 4)), ValueError,
         "categories: expected class ids"),
        (lambda: GlobalMaskLoss()(torch.zeros(1, 3, 4), torch.zeros(1, 3, 4)), ValueError, r"logits: expected shape"),
    ],
)
def test_bad_inputs_name_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_epsilon_of_balanced_bce_is_used_in_its_range():
    logits, target = torch.zeros(1, 6, dtype=torch.float64), torch.tensor([[1.0, 0, 0, 0, 0, 0]], dtype=torch.float64)
    small = balanced_bce_loss(logits, target, reference="tags", epsilon=1e-6)
    large = balanced_bce_loss(logits, target, reference="tags", epsilon=0.1)
    assert small > large > 0


# ---------------------------------------------------------------------------------------------
# 4. masking holes


def test_global_parse_loss_ignores_infinite_masked_frames():
    torch.manual_seed(0)
    logits, labels, mask = torch.randn(2, 5, 12, dtype=torch.float64), torch.tensor([3, 1]), _holes()
    clean = global_parse_loss(logits, labels, mask)
    pooled = torch.stack([logits[b][:, mask[b]].mean(-1) for b in range(2)])
    torch.testing.assert_close(clean, F.cross_entropy(pooled, labels))
    for bad in (float("-inf"), float("inf"), float("nan")):
        x = logits.masked_fill(~mask.unsqueeze(1), bad).requires_grad_(True)
        loss = global_parse_loss(x, labels, mask)
        loss.backward()
        torch.testing.assert_close(loss, clean)
        assert torch.isfinite(x.grad).all() and (x.grad.transpose(1, 2)[~mask] == 0).all()


def test_global_parse_loss_instance_without_valid_frame_is_left_out():
    logits, labels = torch.randn(2, 5, 6, dtype=torch.float64), torch.tensor([3, 1])
    mask = torch.ones(2, 6, dtype=torch.bool)
    mask[1] = False
    torch.testing.assert_close(global_parse_loss(logits, labels, mask), global_parse_loss(logits[:1], labels[:1]))
    assert global_parse_loss(logits, labels, mask, reduction="none")[1].item() == 0.0


def test_balanced_bce_every_frame_masked_is_zero():
    logits = torch.randn(2, 5, requires_grad=True)
    target = (torch.rand(2, 5) > 0.5).float()
    none = torch.zeros(2, 5, dtype=torch.bool)
    loss = balanced_bce_loss(logits, target, none)
    loss.backward()
    assert loss.item() == 0.0 and (logits.grad == 0).all()
    for fn in (focal_heatmap_loss, boundary_loss, lambda x, y, m: hard_negative_bce_loss(x[:, None], y[:, None], m)):
        assert fn(logits.detach(), target, none).item() == 0.0  # as the other losses


@pytest.mark.parametrize("bad", [float("nan"), float("-inf"), float("inf")])
def test_non_finite_padded_logits_give_no_nan(bad):
    """−inf/NaN at padded frames: the value is that of clean inputs and every gradient is finite and 0 there."""
    torch.manual_seed(1)
    mask = _holes()
    logits = torch.randn(2, 4, 12, dtype=torch.float64)
    stages = torch.stack([logits, logits.flip(-1)])
    labels = torch.randint(0, 4, (2, 12))
    heat = torch.rand(2, 12, dtype=torch.float64) * 0.9
    heat[:, 5] = 1.0
    cases = {
        "focal": (lambda x: focal_loss(x, labels, mask, gamma=0.5), logits),
        "smoothing": (lambda x: smoothing_loss(x, mask), logits),
        "smoothing_ms_tcn": (lambda x: smoothing_loss(x, mask, reference="ms-tcn"), logits),
        "multi_stage": (lambda x: MultiStageLoss()(x, labels, mask), stages),
        "multi_stage_ms_tcn": (lambda x: MultiStageLoss(reference="ms-tcn")(x, labels, mask), stages),
        "focal_heatmap": (lambda x: focal_heatmap_loss(x, heat, mask, alpha=0.5), logits[:, 0]),
        "keypoint": (lambda x: KeypointLoss()(x[:, 0], x, x[:, 1], heat, labels, heat, mask), logits),
        "local_parse": (lambda x: local_parse_loss(x.transpose(1, 2), labels, mask), logits),
    }
    for name, (fn, clean) in cases.items():
        expected = fn(clean)
        shape = [1] * clean.ndim
        shape[max(clean.ndim - 3, 0)], shape[-1] = 2, 12  # (B, T) into (B, T), (B, K, T), (S, B, K, T)
        padded = (~mask).reshape(shape).expand_as(clean)
        x = clean.masked_fill(padded, bad).requires_grad_(True)
        value = fn(x)
        value.backward()
        torch.testing.assert_close(value.detach(), expected, msg=name)
        assert torch.isfinite(x.grad).all(), name
        assert (x.grad[padded] == 0).all(), name


def test_global_mask_loss_padded_snippets_are_padding_on_both_axes():
    torch.manual_seed(2)
    mask = _holes(1, 10)
    target = torch.zeros(1, 10, 10, dtype=torch.float64)
    target[0, 5:8, 5:8] = 1.0
    target[0, 0:3, 0:3] = 1.0
    logits = torch.randn(1, 10, 10, dtype=torch.float64)
    clean = GlobalMaskLoss()(logits, target, mask)
    garbage_target = target.clone()
    garbage_target[0, ~mask[0]] = 1.0  # rows of padded snippets: a non-empty target
    garbage_target[0, :, ~mask[0]] = 1.0
    x = logits.clone()
    x[0, ~mask[0]] = float("nan")
    x[0, :, ~mask[0]] = float("-inf")
    x.requires_grad_(True)
    loss = GlobalMaskLoss()(x, garbage_target, mask)
    loss.backward()
    torch.testing.assert_close(loss, clean)
    assert torch.isfinite(x.grad).all() and (x.grad[0, ~mask[0]] == 0).all()


# ---------------------------------------------------------------------------------------------
# 5. T-MSE with holes (values), reference="ms-tcn" and the deprecated denominator= spelling


def _pairs_by_hand(logits, mask, both_valid):
    logp = torch.log_softmax(logits, 1)
    total, count = 0.0, 0
    for b in range(logits.shape[0]):
        for t in range(1, logits.shape[2]):
            if mask[b, t] and (mask[b, t - 1] or not both_valid):
                total += float(((logp[b, :, t] - logp[b, :, t - 1]) ** 2).clamp(max=16).sum())
                count += 1
    return total, count


def test_smoothing_loss_with_holes_counts_pairs_of_valid_frames_only():
    torch.manual_seed(3)
    logits, mask = torch.randn(2, 3, 12, dtype=torch.float64) * 3, _holes()
    total, count = _pairs_by_hand(logits, mask, both_valid=True)
    assert count == 8 + 5  # video 0: 11 pairs minus 3 touching its hole; video 1: 7 (8 frames) minus 2
    assert smoothing_loss(logits, mask).item() == pytest.approx(total / (3 * count))
    assert smoothing_loss(logits, mask, reduction="sum").item() == pytest.approx(total)
    # the official denominator B · K · (T − 1); pairs across a hole are left out there too (the official
    # code counts pairs whose frame t is valid: the same pairs for its prefix masks, not across holes)
    assert smoothing_loss(logits, mask, reference="ms-tcn").item() == pytest.approx(total / (2 * 3 * 11))
    prefix = torch.ones_like(mask)
    prefix[1, 8:] = False
    official_total, official_count = _pairs_by_hand(logits, prefix, both_valid=False)
    assert (official_total, official_count) == _pairs_by_hand(logits, prefix, both_valid=True)
    assert smoothing_loss(logits, prefix, reference="ms-tcn").item() == pytest.approx(official_total / (2 * 3 * 11))


def test_smoothing_loss_denominator_value_second_case():
    # one video, K = 2, a hole at frame 2: pairs (0, 1) and (3, 4) count, (1, 2) and (2, 3) do not
    logits = torch.tensor([[[0.0, 1.0, 9.0, 0.0, 3.0], [0.0, 0.0, 0.0, 0.0, 0.0]]], dtype=torch.float64)
    mask = torch.tensor([[True, True, False, True, True]])

    def logp(z):
        return torch.log_softmax(torch.tensor([z, 0.0], dtype=torch.float64), 0)

    expected = (((logp(1.0) - logp(0.0)) ** 2).sum() + ((logp(3.0) - logp(0.0)) ** 2).sum()) / (2 * 2)
    assert smoothing_loss(logits, mask).item() == pytest.approx(expected.item())


def test_deprecated_denominator_spelling_warns_and_matches():
    torch.manual_seed(4)
    logits, mask = torch.randn(2, 3, 12, dtype=torch.float64), _holes()
    labels = torch.randint(0, 3, (2, 12))
    with pytest.warns(DeprecationWarning, match="denominator is deprecated.*use reference"):
        old = smoothing_loss(logits, mask, denominator="reference")
    torch.testing.assert_close(old, smoothing_loss(logits, mask, reference="ms-tcn"))
    with pytest.warns(DeprecationWarning):
        old = smoothing_loss(logits, mask, denominator="valid")
    torch.testing.assert_close(old, smoothing_loss(logits, mask))
    with pytest.warns(DeprecationWarning):
        module = SmoothingLoss(denominator="reference")
    assert module.reference == "ms-tcn"
    with pytest.warns(DeprecationWarning):
        criterion = MultiStageLoss(denominator="reference")
    assert criterion.reference == "ms-tcn"
    stages = logits[None]
    new = MultiStageLoss(reference="ms-tcn")
    torch.testing.assert_close(criterion(stages, labels, mask), new(stages, labels, mask))
    assert not torch.allclose(MultiStageLoss()(stages, labels, mask), criterion(stages, labels, mask))
    with pytest.raises(TypeError, match="pass only reference"):
        MultiStageLoss(denominator="reference", reference="ms-tcn")


# ---------------------------------------------------------------------------------------------
# 6. RTK normaliser K


def test_focal_heatmap_normalizer_positive_frames_and_keypoints():
    logits = torch.zeros(1, 8, dtype=torch.float64)
    target = torch.tensor([[0.0, 1.0, 1.0, 1.0, 0.5, 0.0, 1.0, 0.0]], dtype=torch.float64)  # 4 frames, 2 keypoints
    total = focal_heatmap_loss(logits, target, reduction="sum").item()
    assert focal_heatmap_loss(logits, target).item() == pytest.approx(total / 4)
    assert focal_heatmap_loss(logits, target, normalizer="keypoints").item() == pytest.approx(total / 2)
    # a hole in the mask splits a run: padded positives count for neither
    mask = torch.tensor([[True, True, False, True, True, True, True, True]])
    masked_total = focal_heatmap_loss(logits, target, mask, reduction="sum").item()
    assert focal_heatmap_loss(logits, target, mask).item() == pytest.approx(masked_total / 3)
    assert focal_heatmap_loss(logits, target, mask, normalizer="keypoints").item() == pytest.approx(masked_total / 3)
    # rows of (B, C, T) are separate: a run never continues into the next row
    two = torch.stack([target, target], 1)
    assert focal_heatmap_loss(logits.expand(1, 2, 8), two, normalizer="keypoints").item() == pytest.approx(total / 2)
    module = KeypointLoss(normalizer="keypoints")
    assert module.action.normalizer == module.boundary.normalizer == "keypoints"


def test_focal_heatmap_positives_under_padding_are_not_counted():
    logits = torch.zeros(1, 6, dtype=torch.float64)
    target = torch.tensor([[1.0, 0.2, 0.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    mask = torch.tensor([[True, True, True, False, False, True]])
    clean = focal_heatmap_loss(logits, target, mask)
    padded_positives = target.clone()
    padded_positives[0, 3:5] = 1.0
    assert focal_heatmap_loss(logits, padded_positives, mask).item() == clean.item()


# ---------------------------------------------------------------------------------------------
# 7. GSMT layout: row t of (B, T, T) is snippet t's mask over time


def _instance_target():
    target = torch.zeros(1, 8, 8, dtype=torch.float64)
    target[0, 2:5, 2:5] = 1.0  # snippets 2-4 form one instance; symmetric, as GSMT targets are
    return target


def test_biou_and_dice_erode_along_the_last_axis_row_is_snippet():
    target = _instance_target()
    torch.manual_seed(5)
    logits = torch.randn(1, 8, 8, dtype=torch.float64) * 3  # asymmetric
    rows = biou_loss(logits, target, reduction="none")
    for t in range(8):
        one = biou_loss(logits[:, t:t + 1], target[:, t:t + 1], reduction="none")[0, 0]
        assert rows[0, t].item() == pytest.approx(one.item())
    assert (rows[0, [0, 1, 5, 6, 7]] == 0).all()  # background snippets' rows do not count
    probs = torch.sigmoid(logits)
    dice_rows = dice_loss(probs, target, reduction="none")
    for t in range(8):
        torch.testing.assert_close(dice_rows[0, t], dice_loss(probs[:, t], target[:, t], reduction="none")[0])


def test_global_mask_loss_orientation_matters():
    """A prediction right in row layout (rows of foreground snippets exact, other rows anything) scores
    its minimum; the same prediction read in the column layout of GSMT Eq. (4) scores higher (the
    dice of Eq. (6), with f = 1, is 0.5 at best: GlobalMaskLoss's minimum is 0.4 · 0.5)."""
    target = _instance_target()
    logits = torch.full((1, 8, 8), -20.0, dtype=torch.float64)
    logits[0, 2:5] = torch.where(target[0, 2:5] > 0, 20.0, -20.0)
    logits[0, 0] = 20.0  # a background snippet's row: all foreground, not counted
    assert not torch.equal(logits, logits.transpose(1, 2))
    for loss_fn, best in ((GlobalMaskLoss(), 0.2), (biou_loss, 0.0),
                          (lambda x, g: dice_loss(torch.sigmoid(x), g, present_only=True), 0.0)):
        right = loss_fn(logits, target).item()
        wrong = loss_fn(logits.transpose(1, 2), target).item()
        assert right == pytest.approx(best, abs=1e-6) and wrong > best + 0.1


def test_redundancy_loss_row_layout_mask_and_module():
    target = _instance_target()
    foreground = target[:, :, 2:5].sum(-1) > 0
    probs = torch.rand(2, 8, 8, dtype=torch.float64)
    target2 = target.expand(2, 8, 8)
    fg2 = foreground.expand(2, 8)
    expected = ((probs[:, 2:5] - target2[:, 2:5]) ** 2).mean((1, 2))
    torch.testing.assert_close(redundancy_loss(probs, target2, fg2, reduction="none"), expected)
    torch.testing.assert_close(RedundancyLoss()(probs, target2, fg2), expected.mean())
    mask = torch.ones(2, 8, dtype=torch.bool)
    mask[1, 6:] = False
    garbage = probs.clone()
    garbage[1, :, 6:] = float("nan")
    garbage[1, 6:] = float("nan")
    value = redundancy_loss(garbage, target2, fg2, mask, reduction="none")
    torch.testing.assert_close(value[1], ((probs[1, 2:5, :6] - target2[1, 2:5, :6]) ** 2).mean())
    assert redundancy_loss(probs, target2, torch.zeros(2, 8, dtype=torch.bool)).item() == 0.0


# ---------------------------------------------------------------------------------------------
# 8. meta tensors: shape checks only, value checks skipped


def _meta(*shape, dtype=torch.float32):
    return torch.empty(*shape, dtype=dtype, device="meta")


def test_losses_run_on_meta_tensors():
    b, k, t = 2, 4, 6
    logits, mask = _meta(b, k, t), _meta(b, t, dtype=torch.bool)
    labels, heat = _meta(b, t, dtype=torch.long), _meta(b, t)
    square = _meta(b, t, t)
    calls = {
        "focal": lambda: focal_loss(logits, labels, mask, gamma=0.5),
        "focal_tags": lambda: focal_loss(logits, labels, reference="tags"),
        "hard_negative": lambda: hard_negative_bce_loss(logits, logits, mask, num_negatives=2),
        "balanced": lambda: balanced_bce_loss(square, square, mask),
        "balanced_tags": lambda: balanced_bce_loss(square, square, mask, reference="tags"),
        "boundary": lambda: boundary_loss(heat, heat, mask, pos_weight=3.0),
        "boundary_asrf": lambda: boundary_loss(heat, heat, mask, reference="asrf"),
        "focal_heatmap": lambda: focal_heatmap_loss(heat, heat, mask, normalizer="keypoints"),
        "keypoint": lambda: KeypointLoss()(heat, logits, heat, heat, labels, heat, mask),
        "dice": lambda: dice_loss(logits, logits, mask, present_only=True),
        "biou": lambda: biou_loss(square, square, mask),
        "global_mask": lambda: GlobalMaskLoss()(square, square, mask),
        "redundancy": lambda: redundancy_loss(square, square, mask, mask),
        "smoothing": lambda: smoothing_loss(logits, mask),
        "multi_stage": lambda: MultiStageLoss()(_meta(3, b, k, t), labels, mask),
        "similarity": lambda: similarity_smoothing_loss(logits, _meta(b, 3, t), mask),
        "local_parse": lambda: local_parse_loss(_meta(b, t, 5), labels, mask),
        "global_parse": lambda: global_parse_loss(logits, _meta(b, dtype=torch.long), mask),
        "permutation": lambda: permutation_loss(_meta(b, 3, 3), _meta(b, 3, 3)),
    }
    for name, call in calls.items():
        out = call()
        assert out.is_meta and out.shape == (), name
    assert focal_loss(logits, labels, mask, reduction="none").shape == (b, t)
    assert smoothing_loss(logits, mask, reduction="none").shape == (b, k, t - 1)
    with pytest.raises(ValueError, match=r"target: expected shape \(2, 6\)"):
        focal_loss(logits, _meta(b, t + 1, dtype=torch.long))
    with pytest.raises(TypeError, match=r"mask: expected dtype torch\.bool"):
        smoothing_loss(logits, _meta(b, t))


# ---------------------------------------------------------------------------------------------
# 9. bf16 autocast over the documented hyperparameter ranges: finite values and gradients


def _bf16_cases():
    torch.manual_seed(6)
    b, k, t = 2, 5, 16
    logits = torch.randn(b, k, t) * 1e4
    labels = torch.randint(0, k, (b, t))
    labels[0, :3] = -100
    heat = torch.rand(b, t) * 0.9
    heat[:, 4:7] = 1.0
    onehot = F.one_hot(labels.clamp(min=0), k).permute(0, 2, 1).float()
    square = torch.zeros(b, t, t)
    square[:, 3:9, 3:9] = 1.0
    square[:, 12, 12] = 1.0  # a one-snippet instance
    mask = _holes(b, t)
    out = []
    for gamma in (0.0, 0.3, 2.0, 5.0):
        out.append((f"focal_g{gamma}", lambda x, g=gamma: focal_loss(x, labels, mask, gamma=g), logits))
        out.append((f"focal_tags_g{gamma}", lambda x, g=gamma: focal_loss(x, labels, gamma=g, reference="tags"),
                    logits))
    for alpha in (0.0, 0.5, 2.0):
        for gamma in (0.0, 0.75, 1.0):
            out.append((f"heatmap_a{alpha}_g{gamma}",
                        lambda x, a=alpha, g=gamma: focal_heatmap_loss(x[:, 0], heat, mask, alpha=a, beta=0.5, gamma=g),
                        logits))
    for alpha in (0.0, 10.0):
        out.append((f"hard_negative_a{alpha}", lambda x, a=alpha: hard_negative_bce_loss(x, onehot, mask, alpha=a),
                    logits))
        out.append((f"hard_negative_tags_a{alpha}",
                    lambda x, a=alpha: hard_negative_bce_loss(x, onehot, num_negatives=2, alpha=a, reference="tags"),
                    logits))
    for eps in (1e-8, 0.5):
        out.append((f"balanced_tags_e{eps}", lambda x, e=eps: balanced_bce_loss(x, onehot, mask, reference="tags",
                                                                                 epsilon=e), logits))
    out.append(("balanced", lambda x: balanced_bce_loss(x, onehot, mask), logits))
    for pw in (None, 0.0, 50.0):
        out.append((f"boundary_pw{pw}", lambda x, p=pw: boundary_loss(x[:, 0], heat, mask, pos_weight=p), logits))
    out.append(("boundary_asrf", lambda x: boundary_loss(x[:, 0], heat, mask, reference="asrf"), logits))
    for factor in (1e-3, 1.0, 2.0):
        for smooth in (0.0, 1.0):
            out.append((f"dice_f{factor}_s{smooth}",
                        lambda x, f=factor, s=smooth: dice_loss(torch.sigmoid(x), onehot, mask, factor=f, smooth=s,
                                                                present_only=True), logits))
    for floor in (0.0, 1.0):
        for kernel in (1, 7):
            out.append((f"biou_o{floor}_k{kernel}",
                        lambda x, o=floor, kk=kernel: biou_loss(x, square, mask, kernel_size=kk, min_overlap=o),
                        torch.zeros(b, t, t)))
    out.append(("global_mask", lambda x: GlobalMaskLoss()(x, square, mask), torch.randn(b, t, t) * 1e4))
    out.append(("global_mask_zero", lambda x: GlobalMaskLoss()(x, square, mask), torch.zeros(b, t, t)))
    out.append(("redundancy", lambda x: redundancy_loss(torch.sigmoid(x), square, square.sum(-1) > 0, mask),
                torch.randn(b, t, t) * 1e4))
    for clamp in (1e-3, 16.0, 1e6):
        out.append((f"smoothing_c{clamp}", lambda x, c=clamp: smoothing_loss(x, mask, clamp=c), logits))
        out.append((f"multi_stage_c{clamp}", lambda x, c=clamp: MultiStageLoss(clamp=c, reference="ms-tcn")(
            torch.stack([x, x * 0.5]), labels, mask), logits))
    for sigma in (1e-3, 1.0, 1e3):
        out.append((f"similarity_s{sigma}", lambda x, s=sigma: similarity_smoothing_loss(
            x, x.detach()[:, :3], mask, sigma=s, squared_distance=True), logits))
    out.append(("keypoint", lambda x: KeypointLoss()(x[:, 0], x, x[:, 1], heat, labels, heat, mask), logits))
    out.append(("local_parse", lambda x: local_parse_loss(torch.softmax(x.transpose(1, 2), -1), labels, mask), logits))
    out.append(("global_parse", lambda x: global_parse_loss(x, labels[:, 5], mask), logits))
    out.append(("permutation", lambda x: permutation_loss(torch.softmax(x[:, :4, :4], -1),
                                                          torch.eye(4).expand(b, 4, 4)), logits))
    return out


@pytest.mark.parametrize(("name", "fn", "x"), _bf16_cases(), ids=[c[0] for c in _bf16_cases()])
def test_bf16_autocast_finite_values_and_gradients(name, fn, x):
    low = x.bfloat16().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = fn(low)
    value.backward()
    assert value.dtype == torch.float32 and torch.isfinite(value), name
    assert low.grad is not None and torch.isfinite(low.grad.float()).all(), name


# ---------------------------------------------------------------------------------------------
# 10. docstring examples are correct


def test_docstring_examples():
    import actseg.losses._classification as classification
    import actseg.losses._heatmap as heatmap
    import actseg.losses._masks as masks
    import actseg.losses._smoothing as smoothing

    for module in (classification, heatmap, masks, smoothing, losses):
        result = doctest.testmod(module, extraglobs={"torch": torch}, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, module.__name__
    assert smoothing_loss(torch.tensor([[[0.0, 2.0], [0.0, 0.0]]])).item() == pytest.approx(1.18816, abs=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_fp16_autocast_global_mask_loss_conv_bias_gradient_finite():
    """The issue's case: a conv head under fp16 autocast, a one-snippet instance, zero-ish logits."""
    torch.manual_seed(7)
    head = torch.nn.Conv1d(8, 12, 3, padding=1).cuda()
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)  # zero logits
    features = torch.randn(2, 8, 12, device="cuda")
    target = torch.zeros(2, 12, 12, device="cuda")
    target[:, 5, 5] = 1.0
    with torch.autocast("cuda", dtype=torch.float16):
        logits = head(features).transpose(1, 2)  # (B, T, T), row = snippet
        loss = GlobalMaskLoss()(logits, target)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(head.bias.grad).all() and torch.isfinite(head.weight.grad).all()
