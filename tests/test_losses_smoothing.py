from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from actseg.losses import MultiStageLoss, SmoothingLoss, smoothing_loss


def _official(p, mask):
    """The official Trainer.train smoothing term, written out (mask (B, T) -> (B, 1, T))."""
    m = mask.unsqueeze(1).to(p.dtype)
    diff = F.log_softmax(p[:, :, 1:], dim=1) - F.log_softmax(p.detach()[:, :, :-1], dim=1)
    return torch.mean(torch.clamp(diff**2, min=0, max=16) * m[:, :, 1:])


def _batch(lengths, classes=4, scale=3.0, dtype=torch.float64):
    length = max(lengths)
    logits = torch.randn(len(lengths), classes, length, dtype=dtype) * scale
    mask = torch.zeros(len(lengths), length, dtype=torch.bool)
    for b, n in enumerate(lengths):
        mask[b, :n] = True
    return logits, mask


def test_hand_computed_value():
    # two frames, two classes: log-probs (-log2, -log2) then (log(e^2/(1+e^2)), log(1/(1+e^2)))
    logits = torch.tensor([[[0.0, 2.0], [0.0, 0.0]]], dtype=torch.float64)
    a = math.log(math.exp(2) / (1 + math.exp(2))) + math.log(2)
    b = math.log(1 / (1 + math.exp(2))) + math.log(2)
    assert smoothing_loss(logits).item() == pytest.approx((a**2 + b**2) / 2)


def test_clamp_on_squared_difference():
    logits = torch.tensor([[[0.0, 50.0], [0.0, 0.0]]], dtype=torch.float64)
    # class 0: log-prob from -log 2 to ~0 (Δ² = log² 2); class 1: from -log 2 to ~-50 (Δ² clamped)
    assert smoothing_loss(logits, reduction="sum").item() == pytest.approx(16.0 + math.log(2) ** 2)
    assert smoothing_loss(logits, clamp=4.0, reduction="sum").item() == pytest.approx(4.0 + math.log(2) ** 2)


def test_reference_denominator_equals_official_on_padded_batch():
    torch.manual_seed(0)
    logits, mask = _batch([20, 13, 7])
    torch.testing.assert_close(smoothing_loss(logits, mask, reference="ms-tcn"), _official(logits, mask))


def test_valid_denominator_counts_valid_pairs_only():
    torch.manual_seed(1)
    logits, mask = _batch([20, 13])
    per_video_sums = [smoothing_loss(logits[b:b + 1, :, :n], reduction="sum") for b, n in enumerate([20, 13])]
    expected = sum(per_video_sums) / (4 * (19 + 12))
    torch.testing.assert_close(smoothing_loss(logits, mask), expected)
    # equal to the reference value without padding
    full = torch.ones_like(mask)
    torch.testing.assert_close(smoothing_loss(logits, full), smoothing_loss(logits, full, reference="ms-tcn"))


@pytest.mark.parametrize("reference", [None, "ms-tcn"])
def test_padding_has_no_effect_and_gets_no_gradient(reference):
    torch.manual_seed(2)
    logits, mask = _batch([15, 9])
    mask[0, 4:6] = False  # holes inside the videos, not only a padded tail
    mask[1, 3] = False
    logits.requires_grad_(True)
    loss = smoothing_loss(logits, mask, reference=reference)
    loss.backward()
    assert (logits.grad.transpose(1, 2)[~mask] == 0).all()
    assert (logits.grad.transpose(1, 2)[mask] != 0).any()
    for value in (1e4, float("nan"), float("-inf")):
        changed = logits.detach().masked_fill(~mask.unsqueeze(1), value)
        torch.testing.assert_close(smoothing_loss(changed, mask, reference=reference), loss.detach())


def test_gradient_only_through_current_frame():
    logits = torch.zeros(1, 2, 2, dtype=torch.float64, requires_grad=True)
    with torch.no_grad():
        logits[0, 0, 1] = 1.0
    smoothing_loss(logits).backward()
    assert (logits.grad[..., 0] == 0).all() and (logits.grad[..., 1] != 0).any()


def test_reductions_and_module():
    torch.manual_seed(3)
    logits, mask = _batch([12, 8])
    none = smoothing_loss(logits, mask, reduction="none")
    assert none.shape == (2, 4, 11)
    torch.testing.assert_close(smoothing_loss(logits, mask, reduction="sum"), none.sum())
    for kwargs in ({}, {"reference": "ms-tcn"}, {"reduction": "sum"}, {"clamp": 2.0}):
        torch.testing.assert_close(SmoothingLoss(**kwargs)(logits, mask), smoothing_loss(logits, mask, **kwargs))
    assert "reference=None" in repr(SmoothingLoss())


def test_single_frame_is_zero():
    assert smoothing_loss(torch.randn(2, 3, 1)).item() == 0.0


def test_gradcheck():
    """float64 gradcheck. The previous frame is detached by design, so the checked input is the last
    frame only (the earlier frames enter as a constant); with it the numerical gradient is exact."""
    torch.manual_seed(4)
    logits, mask = _batch([6, 4], scale=1.0)
    mask[1, 5] = True  # the last frame of both videos counts
    earlier = logits[..., :-1].clone()
    last = logits[..., -1:].clone().requires_grad_(True)
    for reference in (None, "ms-tcn"):
        def loss(x, r=reference):
            return smoothing_loss(torch.cat([earlier, x], -1), mask, reference=r)
        assert torch.autograd.gradcheck(loss, (last,))
    target = torch.randint(0, 4, (2, 6))
    full = logits.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: MultiStageLoss(smoothing_weight=0.0)(x.unsqueeze(0), target, mask),
                                    (full,))


@pytest.mark.parametrize("scale", [1.0, 1e4])
def test_bf16_autocast_finite_and_close(scale):
    torch.manual_seed(5)
    logits, mask = _batch([30, 20], scale=scale, dtype=torch.float32)
    target = torch.randint(0, 4, (2, 30))
    stage_logits = torch.stack([logits, logits * 0.5])
    exact = MultiStageLoss()(stage_logits, target, mask)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = MultiStageLoss()(stage_logits.bfloat16(), target, mask)
    assert torch.isfinite(low) and low.dtype == torch.float32
    assert abs(low.item() - exact.item()) <= 0.02 * abs(exact.item()) + 1e-3


def test_multistage_loss_composition():
    torch.manual_seed(6)
    logits, mask = _batch([10, 6])
    target = torch.randint(0, 4, (2, 10))
    stages = torch.stack([logits, logits.flip(-1)])
    masked_target = target.masked_fill(~mask, -100)
    expected = sum(F.cross_entropy(p, masked_target) + 0.15 * smoothing_loss(p, mask) for p in stages)
    torch.testing.assert_close(MultiStageLoss()(stages, target, mask), expected)
    # ignore_index in the target works like the mask for the classification term
    assert torch.isfinite(MultiStageLoss()(stages, torch.full((2, 10), -100)))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: smoothing_loss(torch.randn(3, 4)), ValueError, r"logits: expected shape \(B, K, T\)"),
        (lambda: smoothing_loss(torch.randn(1, 3, 4), torch.ones(1, 4)), TypeError, "mask: expected dtype torch.bool"),
        (lambda: smoothing_loss(torch.randn(1, 3, 4), torch.ones(1, 5, dtype=torch.bool)), ValueError, "mask"),
        (lambda: smoothing_loss(torch.randn(1, 3, 4), denominator="padded"), ValueError, "denominator"),
        (lambda: smoothing_loss(torch.randn(1, 3, 4), reference="reference"), ValueError, "reference"),
        (lambda: smoothing_loss(torch.randn(1, 3, 4), reference="ms-tcn", denominator="valid"), TypeError,
         "denominator: deprecated spelling of reference"),
        (lambda: smoothing_loss(torch.randn(1, 3, 4), reduction="avg"), ValueError, "reduction"),
        (lambda: smoothing_loss(torch.randn(1, 3, 4), clamp=-1), ValueError, "clamp"),
        (lambda: MultiStageLoss()(torch.randn(1, 3, 4), torch.zeros(1, 4, dtype=torch.long)), ValueError,
         "stage_logits"),
        (lambda: MultiStageLoss()(torch.randn(1, 1, 3, 4), torch.full((1, 4), 3)), ValueError,
         r"target: expected class ids in \[0, 3\)"),
        (lambda: MultiStageLoss()(torch.randn(1, 1, 3, 4), torch.zeros(1, 4)), TypeError, "target: expected dtype"),
        (lambda: MultiStageLoss(smoothing_weight=-1), ValueError, "smoothing_weight"),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("scale", [1.0, 1e4])
def test_cuda_fp16_autocast_finite_and_close(scale):
    torch.manual_seed(7)
    logits, mask = _batch([30, 20], scale=scale, dtype=torch.float32)
    logits, mask = logits.cuda(), mask.cuda()
    target = torch.randint(0, 4, (2, 30), device="cuda")
    exact = MultiStageLoss()(logits.unsqueeze(0), target, mask)
    with torch.autocast("cuda", dtype=torch.float16):
        low = MultiStageLoss()(logits.half().unsqueeze(0), target, mask)
    assert torch.isfinite(low)
    assert abs(low.item() - exact.item()) <= 0.02 * abs(exact.item()) + 1e-3
