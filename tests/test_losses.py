"""actseg.losses: hand-computed values, function ≡ module, reductions, padding, gradcheck, autocast, bad input."""

from __future__ import annotations

import math

import pygmtools
import pytest
import torch
import torch.nn.functional as F

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
    PermutationLoss,
    RedundancyLoss,
    SimilaritySmoothingLoss,
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
)

LENGTHS = (12, 7)


def _mask(lengths=LENGTHS):
    mask = torch.zeros(len(lengths), max(lengths), dtype=torch.bool)
    for b, n in enumerate(lengths):
        mask[b, :n] = True
    return mask


def _heatmap(batch, length, dtype=torch.float64):
    target = torch.rand(batch, length, dtype=dtype) * 0.9
    target[:, 2] = 1.0
    return target


# ---------------------------------------------------------------------------------------------
# Each case: (function, module, make(dtype) -> (inputs tuple, kwargs), the frame axis of each input
# (None = not per frame), padding is "time-like" along the last axis with a (B, T) mask.


def _case_heatmap(dtype):
    return (torch.randn(2, 12, dtype=dtype) * 3, _heatmap(2, 12, dtype)), {}


def _case_focal(dtype):
    return (torch.randn(2, 4, 12, dtype=dtype) * 3, torch.randint(0, 4, (2, 12))), {}


def _case_balanced(dtype):
    return (torch.randn(2, 12, dtype=dtype) * 3, (torch.rand(2, 12, dtype=dtype) > 0.7).to(dtype)), {}


def _case_boundary(dtype):
    return (torch.randn(2, 12, dtype=dtype) * 3, torch.rand(2, 12, dtype=dtype)), {"pos_weight": 2.5}


def _case_dice(dtype):
    target = F.one_hot(torch.randint(0, 4, (2, 12)), 4).permute(0, 2, 1).to(dtype)
    return (torch.softmax(torch.randn(2, 4, 12, dtype=dtype), 1), target), {"present_only": True}


def _case_biou(dtype):
    target = torch.zeros(2, 3, 12, dtype=dtype)
    target[:, 0, 2:6] = 1
    target[:, 1, 4:9] = 1
    return (torch.randn(2, 3, 12, dtype=dtype) * 2, target), {}


def _case_hard_negative(dtype):
    target = F.one_hot(torch.randint(0, 20, (2, 12)), 20).permute(0, 2, 1).to(dtype)
    return (torch.randn(2, 20, 12, dtype=dtype) * 3, target), {"num_negatives": 4}


def _case_redundancy(dtype):
    target = torch.zeros(2, 12, 12, dtype=dtype)
    target[:, 2:6, 2:6] = 1
    target[:, 7:9, 7:9] = 1
    return (torch.rand(2, 12, 12, dtype=dtype), target, target.sum(-1) > 0), {}


def _case_similarity(dtype):
    return (torch.randn(2, 4, 12, dtype=dtype) * 3, torch.randn(2, 3, 12, dtype=dtype)), {}


CASES = {
    "focal_heatmap": (focal_heatmap_loss, FocalHeatmapLoss, _case_heatmap),
    "focal": (focal_loss, FocalLoss, _case_focal),
    "balanced_bce": (balanced_bce_loss, BalancedBCELoss, _case_balanced),
    "boundary": (boundary_loss, BoundaryLoss, _case_boundary),
    "dice": (dice_loss, DiceLoss, _case_dice),
    "biou": (biou_loss, BIoULoss, _case_biou),
    "hard_negative": (hard_negative_bce_loss, HardNegativeBCELoss, _case_hard_negative),
    "similarity_smoothing": (similarity_smoothing_loss, SimilaritySmoothingLoss, _case_similarity),
    "redundancy": (redundancy_loss, RedundancyLoss, _case_redundancy),
}
PROBABILITIES = ("dice", "redundancy")  # inputs are probabilities, not logits


@pytest.mark.parametrize("name", list(CASES))
def test_function_equals_module_and_reductions(name):
    fn, module, make = CASES[name]
    torch.manual_seed(0)
    inputs, kwargs = make(torch.float64)
    mask = _mask()
    for reduction in ("mean", "sum", "none"):
        expected = fn(*inputs, mask, reduction=reduction, **kwargs)
        torch.testing.assert_close(module(reduction=reduction, **kwargs)(*inputs, mask), expected)
    none = fn(*inputs, mask, reduction="none", **kwargs)
    torch.testing.assert_close(none.sum(), fn(*inputs, mask, reduction="sum", **kwargs))


def _holes():
    """A padding mask with holes inside the videos, not only a padded tail."""
    mask = _mask()
    mask[0, 3:5] = False
    mask[1, 2] = False
    return mask


def _pad_with(x, mask, value):
    shape = [x.shape[0]] + [1] * (x.ndim - 2) + [x.shape[-1]]
    padded = (~mask).reshape(shape).expand_as(x)
    return torch.where(padded, torch.as_tensor(value, dtype=x.dtype), x)


@pytest.mark.parametrize("name", list(CASES))
def test_padding_has_no_effect_and_no_gradient(name):
    """Masks with holes; logits AND targets perturbed under the mask change nothing, get no gradient."""
    fn, _, make = CASES[name]
    torch.manual_seed(1)
    inputs, kwargs = make(torch.float64)
    mask = _holes()
    first = inputs[0].clone().requires_grad_(True)
    loss = fn(first, *inputs[1:], mask, **kwargs)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.equal(_pad_with(first.grad, mask, 0.0), first.grad)  # zero at every padded frame
    assert (first.grad != 0).any()
    changed = _pad_with(inputs[0], mask, 0.5 if name in PROBABILITIES else 30.0)
    second = inputs[1]
    if second.dtype == torch.int64:
        changed_target = torch.where(mask, second, (second + 1) % 4)
    elif name == "similarity_smoothing":
        changed_target = _pad_with(second, mask, 50.0)
    else:
        changed_target = _pad_with(second, mask, 1.0)  # a positive (a keypoint, a boundary) under padding
    assert not torch.equal(changed_target, second)
    torch.testing.assert_close(fn(changed, changed_target, *inputs[2:], mask, **kwargs), loss.detach())
    for bad in (float("nan"), float("-inf"), float("inf")):  # whatever padded logits hold: no NaN
        garbage = _pad_with(inputs[0], mask, bad).requires_grad_(True)
        value = fn(garbage, *inputs[1:], mask, **kwargs)
        value.backward()
        torch.testing.assert_close(value.detach(), loss.detach())
        assert torch.isfinite(garbage.grad).all()
        torch.testing.assert_close(garbage.grad, first.grad)


@pytest.mark.parametrize("name", list(CASES))
def test_gradcheck(name):
    fn, _, make = CASES[name]
    torch.manual_seed(2)
    inputs, kwargs = make(torch.float64)
    if name == "similarity_smoothing":
        # the default detaches the previous frame by design (as MS-TCN), which a numerical gradient
        # cannot see; the ASRF form detaches nothing
        kwargs = {"reference": "asrf"}
    first = inputs[0].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: fn(x, *inputs[1:], _mask(), **kwargs), (first,))


@pytest.mark.parametrize("scale", [1.0, 1e4])
@pytest.mark.parametrize("name", list(CASES))
def test_bf16_autocast_finite_and_close(name, scale):
    fn, _, make = CASES[name]
    torch.manual_seed(3)
    inputs, kwargs = make(torch.float32)
    x = inputs[0] if name in PROBABILITIES else inputs[0] / inputs[0].abs().max() * scale  # logits up to ±scale
    exact = fn(x, *inputs[1:], _mask(), **kwargs)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = fn(x.bfloat16(), *inputs[1:], _mask(), **kwargs)
    assert torch.isfinite(low) and low.dtype == torch.float32
    assert abs(low.item() - exact.item()) <= 0.03 * abs(exact.item()) + 0.05


# ---------------------------------------------------------------------------------------------
# hand-computed values


def test_focal_heatmap_value():
    logits = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
    target = torch.tensor([[1.0, 0.5]], dtype=torch.float64)
    alpha, beta, gamma = 2.0, 4.0, 0.75
    pos = -(1 - gamma) * 0.5**alpha * math.log(0.5)
    neg = -gamma * 0.5**beta * 0.5**alpha * math.log(0.5)
    assert focal_heatmap_loss(logits, target).item() == pytest.approx(pos + neg)  # K = 1
    # no positive: divided by 1
    assert focal_heatmap_loss(logits, torch.tensor([[0.5, 0.5]], dtype=torch.float64)).item() == pytest.approx(2 * neg)


def test_focal_loss_reduces_to_cross_entropy_and_weights():
    torch.manual_seed(4)
    logits, target = torch.randn(2, 5, 9), torch.randint(0, 5, (2, 9))
    torch.testing.assert_close(focal_loss(logits, target, gamma=0.0), F.cross_entropy(logits, target))
    weight = torch.rand(5)
    expected = (F.cross_entropy(logits, target, reduction="none") * weight[target]).mean()
    torch.testing.assert_close(focal_loss(logits, target, gamma=0.0, weight=weight), expected)
    target[0, :3] = -100
    torch.testing.assert_close(focal_loss(logits, target, gamma=0.0), F.cross_entropy(logits, target))
    ce = F.cross_entropy(logits, target)
    torch.testing.assert_close(focal_loss(logits, target, reference="tags"), (1 - torch.exp(-ce)) ** 2 * ce)


def test_focal_loss_down_weights_easy_frames():
    logits = torch.tensor([[[5.0, 0.0], [0.0, 0.0]]])
    target = torch.tensor([[0, 0]])
    ce = F.cross_entropy(logits, target, reduction="none")[0]
    p = torch.softmax(logits, 1)[0, 0]
    torch.testing.assert_close(focal_loss(logits, target, reduction="none")[0], (1 - p) ** 2 * ce)


def test_balanced_bce_halves_the_mass():
    logits = torch.zeros(1, 8, dtype=torch.float64)
    target = torch.tensor([[1, 0, 0, 0, 0, 0, 0, 0]], dtype=torch.float64)
    # r = 8, w+ = 4, w- = 8/14; every log term is log(1/2)
    expected = -(4 * math.log(0.5) + 7 * (8 / 14) * math.log(0.5)) / 8
    assert balanced_bce_loss(logits, target).item() == pytest.approx(expected)
    assert torch.isfinite(balanced_bce_loss(logits, torch.zeros_like(target)))
    assert torch.isfinite(balanced_bce_loss(logits, torch.ones_like(target)))


def test_boundary_loss_is_bce_with_logits():
    torch.manual_seed(5)
    logits, target = torch.randn(2, 10), torch.rand(2, 10)
    torch.testing.assert_close(boundary_loss(logits, target), F.binary_cross_entropy_with_logits(logits, target))
    pos_weight = torch.tensor(3.0)
    torch.testing.assert_close(boundary_loss(logits, target, pos_weight=3.0),
                               F.binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight))
    assert boundary_loss(logits.unsqueeze(1), target.unsqueeze(1)).shape == ()


def test_dice_values():
    probs = torch.tensor([[[1.0, 1.0, 0.0, 0.0]]])
    target = torch.tensor([[[1.0, 1.0, 0.0, 0.0]]])
    assert dice_loss(probs, target, smooth=0.0).item() == pytest.approx(0.0)
    assert dice_loss(probs, target, smooth=0.0, factor=1.0).item() == pytest.approx(0.5)
    half = torch.tensor([[[0.5, 0.5, 0.5, 0.5]]])
    # f=2, squared: 1 - 2·1 / (1 + 2) ; linear: 1 - 2·1 / (2 + 2)
    assert dice_loss(half, target, smooth=0.0).item() == pytest.approx(1 - 2 / 3)
    assert dice_loss(half, target, smooth=0.0, squared=False).item() == pytest.approx(0.5)
    # present_only skips empty target rows
    two = torch.cat([half, half], 1)
    target2 = torch.cat([target, torch.zeros_like(target)], 1)
    assert dice_loss(two, target2, smooth=0.0, present_only=True).item() == pytest.approx(1 - 2 / 3)
    # TAGS: one dice per video over all elements, f = 1, s = 1
    tags = dice_loss(two, target2, reference="tags")
    assert tags.item() == pytest.approx(1 - (2 * 0.5 + 1) / (8 * 0.25 + 2 + 1))


def test_biou_perfect_mask_is_small_and_wrong_boundary_larger():
    target = torch.zeros(1, 1, 20, dtype=torch.float64)
    target[..., 5:12] = 1
    perfect = torch.where(target > 0, 20.0, -20.0)
    shifted = torch.roll(perfect, 3, -1)
    assert biou_loss(perfect, target).item() < 1e-3
    assert biou_loss(shifted, target).item() > 0.5
    empty = torch.zeros_like(target)
    assert biou_loss(perfect, empty).item() == 0.0  # background rows do not count


def test_biou_erosion_kernel_controls_band_width():
    target = torch.zeros(1, 1, 30, dtype=torch.float64)
    target[..., 10:20] = 1
    logits = torch.where(target > 0, 30.0, -30.0)
    for k in (3, 7):
        assert biou_loss(logits, target, kernel_size=k).item() < 1e-6
    with pytest.raises(ValueError, match="kernel_size: expected an odd positive integer"):
        biou_loss(logits, target, kernel_size=4)


def test_hard_negative_selects_the_hardest_negatives():
    logits = torch.tensor([[[4.0], [0.0], [3.0], [-5.0]]], dtype=torch.float64)  # (1, 4 classes, 1 snippet)
    target = torch.tensor([[[0.0], [1.0], [0.0], [0.0]]], dtype=torch.float64)
    pos = -F.logsigmoid(torch.tensor(0.0, dtype=torch.float64))
    hardest = -(F.logsigmoid(torch.tensor(-4.0, dtype=torch.float64)) + F.logsigmoid(torch.tensor(-3.0,
                                                                                                 dtype=torch.float64)))
    expected = pos + 10.0 * hardest / 2
    torch.testing.assert_close(hard_negative_bce_loss(logits, target, num_negatives=2), expected)


def test_similarity_smoothing_weights_and_reference_axis():
    torch.manual_seed(11)
    logits = torch.randn(1, 3, 6, dtype=torch.float64)
    flat = torch.zeros(1, 2, 6, dtype=torch.float64)
    # constant features: weight 1, the MS-TCN smoothing term per video
    from actseg.losses import smoothing_loss

    torch.testing.assert_close(similarity_smoothing_loss(logits, flat), smoothing_loss(logits))
    jump = flat.clone()
    jump[..., 3:] = 10.0  # a feature jump of norm 10·sqrt(2) between frames 2 and 3 silences that pair
    assert similarity_smoothing_loss(logits, jump) < similarity_smoothing_loss(logits, flat)
    squared = similarity_smoothing_loss(logits, jump, squared_distance=True)
    assert squared < similarity_smoothing_loss(logits, jump)
    # ASRF normalises over time: two frames give exactly 0 there
    assert similarity_smoothing_loss(logits[..., :2], flat[..., :2], reference="asrf").item() == 0.0


def test_global_mask_loss_composes_eq6():
    torch.manual_seed(6)
    logits = torch.randn(1, 8, 8, dtype=torch.float64)
    target = torch.zeros(1, 8, 8, dtype=torch.float64)
    target[0, 2:5, 2:5] = 1
    probs = torch.sigmoid(logits)
    expected = biou_loss(logits, target) + 0.4 * dice_loss(probs, target, factor=1.0, smooth=0.0, present_only=True)
    torch.testing.assert_close(GlobalMaskLoss()(logits, target), expected)


def test_permutation_loss_matches_pygmtools():
    torch.manual_seed(7)
    pred = torch.rand(3, 5, 6)
    target = torch.zeros(3, 5, 6)
    for b in range(3):
        target[b, torch.arange(3), torch.randperm(4)[:3]] = 1
    n1, n2 = torch.tensor([3, 5, 4]), torch.tensor([6, 4, 4])
    pygmtools.BACKEND = "pytorch"
    with pytest.warns(UserWarning):  # pygmtools' own indexing deprecation warning
        expected = pygmtools.utils.permutation_loss(pred, target, n1, n2)
    torch.testing.assert_close(permutation_loss(pred, target, n1, n2), expected)
    torch.testing.assert_close(PermutationLoss()(pred, target, n1, n2), expected)
    assert permutation_loss(pred, target, n1, n2, reduction="none").shape == (3,)
    # round-off above 1 is clamped, not an error
    assert torch.isfinite(permutation_loss(pred + 1e-7, target))
    pred64 = pred.double().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda s: permutation_loss(s, target.double(), n1, n2), (pred64,))


def test_local_parse_loss_hand_computed():
    attention = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]], dtype=torch.float64)
    ids = torch.tensor([[0, 0, 1]])
    # L_sim = 0 (two identical frames), L_dissim = sqrt(2) over the 4 ordered different pairs
    expected = (0 + 1.0) / (math.sqrt(2) + 1e-6)
    assert local_parse_loss(attention, ids).item() == pytest.approx(expected)
    assert local_parse_loss(attention, torch.zeros_like(ids)).item() == pytest.approx(math.sqrt(2) * 4 / 6 + 1.0)


def test_local_parse_loss_padding_and_gradients():
    torch.manual_seed(8)
    attention = torch.softmax(torch.randn(2, 12, 6, dtype=torch.float64), -1).requires_grad_(True)
    ids = torch.tensor([[0] * 5 + [1] * 7, [0] * 3 + [1] * 4 + [2] * 5])
    mask = _mask()
    loss = local_parse_loss(attention, ids, mask)
    loss.backward()
    assert (attention.grad[1, LENGTHS[1]:] == 0).all()
    alone = local_parse_loss(attention.detach()[1:, :LENGTHS[1]], ids[1:, :LENGTHS[1]])
    torch.testing.assert_close(local_parse_loss(attention.detach(), ids, mask, reduction="none")[1], alone)
    assert torch.autograd.gradcheck(lambda a: local_parse_loss(a, ids, mask), (attention.detach().requires_grad_(),))
    torch.testing.assert_close(LocalParseLoss()(attention, ids, mask), loss)
    same = torch.ones(1, 4, 3, dtype=torch.float64, requires_grad=True)  # identical rows: zero distances
    local_parse_loss(same, torch.tensor([[0, 0, 1, 1]])).backward()
    assert torch.isfinite(same.grad).all()


def test_global_parse_loss():
    torch.manual_seed(9)
    logits = torch.randn(2, 5, 12, dtype=torch.float64)
    labels = torch.tensor([3, 1])
    mask = _mask()
    pooled = torch.stack([logits[0].mean(-1), logits[1, :, :LENGTHS[1]].mean(-1)])
    torch.testing.assert_close(global_parse_loss(logits, labels, mask), F.cross_entropy(pooled, labels))
    torch.testing.assert_close(GlobalParseLoss()(logits, labels, mask), F.cross_entropy(pooled, labels))
    with pytest.raises(ValueError, match=r"labels: expected class ids in \[0, 4\], got 5"):
        global_parse_loss(logits, torch.tensor([5, 0]))


def test_keypoint_loss_composition():
    torch.manual_seed(10)
    action, boundary = torch.randn(2, 12), torch.randn(2, 12)
    categories_logits = torch.randn(2, 4, 12)
    action_target, boundary_target = _heatmap(2, 12, torch.float32), _heatmap(2, 12, torch.float32)
    categories = torch.full((2, 12), -100)
    categories[:, 1:4] = 2
    mask = _mask()
    total, parts = KeypointLoss()(action, categories_logits, boundary, action_target, categories, boundary_target,
                                  mask, return_components=True)
    expected = (100 * focal_heatmap_loss(action, action_target, mask, gamma=0.75)
                + F.cross_entropy(categories_logits, categories)
                + 100 * focal_heatmap_loss(boundary, boundary_target, mask, gamma=0.8))
    torch.testing.assert_close(total, expected)
    assert set(parts) == {"action", "category", "boundary"}


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: focal_heatmap_loss(torch.zeros(2, 3), torch.full((2, 3), 1.5)), ValueError,
         r"target: expected finite values in \[0.0, 1.0\], got 1.5"),
        (lambda: focal_heatmap_loss(torch.zeros(2, 3), torch.zeros(2, 4)), ValueError, "target: expected the shape"),
        (lambda: focal_heatmap_loss(torch.zeros(3), torch.zeros(3)), ValueError, "logits: expected shape"),
        (lambda: focal_heatmap_loss(torch.zeros(2, 3), torch.zeros(2, 3), gamma=2.0), ValueError, "gamma"),
        (lambda: focal_loss(torch.zeros(1, 3, 4), torch.full((1, 4), 3)), ValueError, r"target: expected class ids"),
        (lambda: focal_loss(torch.zeros(1, 3, 4), torch.zeros(1, 4, dtype=torch.long), weight=torch.ones(2)),
         ValueError, r"weight: expected shape \(3,\), got \(2,\)"),
        (lambda: focal_loss(torch.zeros(1, 3, 4), torch.zeros(1, 4, dtype=torch.long), reference="mmaction"),
         ValueError, "reference"),
        (lambda: boundary_loss(torch.zeros(1, 4), torch.zeros(1, 4), torch.ones(1, 4)), TypeError, "mask"),
        (lambda: boundary_loss(torch.zeros(1, 4), torch.zeros(1, 4), torch.ones(1, 3, dtype=torch.bool)), ValueError,
         "mask"),
        (lambda: dice_loss(torch.zeros(1, 2, 4), torch.full((1, 2, 4), 2.0)), ValueError,
         r"target: expected finite values in \[0.0, 1.0\], got 2.0"),
        (lambda: dice_loss(torch.zeros(1, 2, 4), torch.zeros(1, 2, 4), reduction="avg"), ValueError, "reduction"),
        (lambda: biou_loss(torch.zeros(1, 2, 4), torch.zeros(1, 2, 4), epsilon=0), ValueError, "epsilon"),
        (lambda: permutation_loss(torch.zeros(2, 3), torch.zeros(2, 4)), ValueError, "target: expected the shape"),
        (lambda: permutation_loss(torch.zeros(1, 3, 3), torch.zeros(1, 3, 3), torch.tensor([4])), ValueError,
         r"n1: expected node counts in \[0, 3\]"),
        (lambda: local_parse_loss(torch.zeros(1, 4, 2), torch.zeros(1, 5, dtype=torch.long)), ValueError,
         "segment_ids: expected"),
        (lambda: local_parse_loss(torch.zeros(1, 4, 2), torch.zeros(1, 4, dtype=torch.long), margin=-1), ValueError,
         "margin"),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("scale", [1.0, 1e4])
@pytest.mark.parametrize("name", list(CASES))
def test_cuda_fp16_autocast_finite_and_close(name, scale):
    fn, _, make = CASES[name]
    torch.manual_seed(3)
    inputs, kwargs = make(torch.float32)
    inputs = tuple(t.cuda() for t in inputs)
    x = inputs[0] if name in PROBABILITIES else inputs[0] / inputs[0].abs().max() * scale  # logits up to ±scale
    mask = _mask().cuda()
    exact = fn(x, *inputs[1:], mask, **kwargs)
    with torch.autocast("cuda", dtype=torch.float16):
        low = fn(x.half(), *inputs[1:], mask, **kwargs)
    assert torch.isfinite(low)
    assert abs(low.item() - exact.item()) <= 0.03 * abs(exact.item()) + 0.05


def test_empty_positives_under_autocast():
    logits = torch.randn(2, 12) * 1e4
    no_keypoint = torch.rand(2, 12) * 0.9
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.isfinite(focal_heatmap_loss(logits.bfloat16(), no_keypoint))
        assert torch.isfinite(balanced_bce_loss(logits.bfloat16(), torch.zeros(2, 12)))
        assert torch.isfinite(dice_loss(torch.rand(2, 3, 12).bfloat16(), torch.zeros(2, 3, 12)))
        assert torch.isfinite(biou_loss(logits.bfloat16().unsqueeze(1), torch.zeros(2, 1, 12)))
