"""actseg.losses against outputs of the official loss code (ASRF, TAGS) and of pygmtools.

``tests/data/losses/*.pt`` hold inputs, loss values and input gradients produced by running the original
functions (see ``tests/data/losses/README.md``). Values must match to 1e-12 in float64 (1e-6 in float32).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from actseg.losses import (
    balanced_bce_loss,
    boundary_loss,
    dice_loss,
    focal_loss,
    hard_negative_bce_loss,
    permutation_loss,
    redundancy_loss,
    similarity_smoothing_loss,
)

DATA = Path(__file__).parent / "data" / "losses"
FILES = ("asrf", "tags", "pygmtools_permutation")
READ: set[str] = set()  # "file/case name" of every case a test below reads


def _all(name):
    return torch.load(DATA / f"{name}.pt", weights_only=True)["cases"]


def _cases(name, function):
    cases = [c for c in _all(name) if c["function"].endswith(function) and c.get("error") is None]
    READ.update(f"{name}/{c['name']}" for c in cases)
    return cases


def _error_cases(name):
    """Cases where the reference code raised: each has a test of actseg's documented behaviour."""
    cases = {c["name"]: c for c in _all(name) if c.get("error") is not None}
    READ.update(f"{name}/{n}" for n in cases)
    return cases


def _close(actual, expected):
    tol = 1e-12 if expected.dtype == torch.float64 else 1e-6
    if torch.isnan(expected).any():
        assert torch.isnan(actual).any()
        return
    torch.testing.assert_close(actual.to(expected.dtype), expected, atol=tol, rtol=tol)


def _check(loss_fn, case, differentiate, loss_index=None):
    inputs = {k: v.clone() for k, v in case["inputs"].items()}
    for name in differentiate:
        inputs[name].requires_grad_(True)
    loss = loss_fn(**inputs)
    expected = case["loss"] if loss_index is None else case["loss"][loss_index]
    _close(loss.detach(), expected)
    if differentiate and loss_index is None and torch.isfinite(expected):
        loss.backward()
        for name in differentiate:
            _close(inputs[name].grad, case["grads"][name])


# ---------------------------------------------------------------------------------------------
# ASRF (yiskw713/asrf libs/loss_fn)

ASRF_IGNORE = 255


def _asrf_gstmse(preds, gts, sim_index, threshold=4, sigma=1.0):
    return similarity_smoothing_loss(preds, sim_index, gts != ASRF_IGNORE, clamp=threshold**2, sigma=sigma,
                                     reference="asrf")


@pytest.mark.parametrize("case", _cases("asrf", "GaussianSimilarityTMSE"), ids=lambda c: c["name"])
def test_asrf_gaussian_similarity_tmse(case):
    kw = case["kwargs"]
    _check(lambda preds, gts, sim_index: _asrf_gstmse(preds, gts, sim_index, kw["threshold"], kw["sigma"]),
           case, ["preds"])


@pytest.mark.parametrize("case", _cases("asrf", "tmse.py:TMSE"), ids=lambda c: c["name"])
def test_asrf_tmse_is_the_unweighted_form(case):
    def loss(preds, gts):  # constant features: every similarity weight is exp(0) = 1
        return _asrf_gstmse(preds, gts, torch.zeros_like(preds[:, :1]), case["kwargs"]["threshold"])

    _check(loss, case, ["preds"])


def _asrf_focal(logit, target):
    """ASRF's FocalLoss: α (1 − e^{−c})^γ c / N with c the batch-mean cross-entropy (α = 0.25, γ = 2)."""
    return 0.25 * focal_loss(logit, target, gamma=2.0, ignore_index=ASRF_IGNORE, reference="tags") / logit.shape[0]


@pytest.mark.parametrize("case", _cases("asrf", "focal.py:FocalLoss"), ids=lambda c: c["name"])
def test_asrf_focal(case):
    _check(_asrf_focal, case, ["logit"])


@pytest.mark.parametrize("case", _cases("asrf", "ActionSegmentationLoss"), ids=lambda c: c["name"])
def test_asrf_action_segmentation_loss(case):
    kw = case["kwargs"]

    def loss(preds, gts, sim_index, weight=None):
        total = kw["ce_weight"] * F.cross_entropy(preds, gts, weight=weight, ignore_index=ASRF_IGNORE)
        if kw["focal"]:
            total = total + kw["focal_weight"] * _asrf_focal(preds, gts)
        if kw["tmse"]:
            total = total + kw["tmse_weight"] * _asrf_gstmse(preds, gts, torch.zeros_like(sim_index))
        if kw["gstmse"]:
            total = total + float(kw["gstmse_weight"]) * _asrf_gstmse(preds, gts, sim_index)
        return total

    _check(loss, case, ["preds"])


@pytest.mark.parametrize("case", _cases("asrf", "BoundaryRegressionLoss"), ids=lambda c: c["name"])
def test_asrf_boundary_regression_loss(case):
    def loss(preds, gts, masks, pos_weight=None):
        weight = None if pos_weight is None else float(pos_weight)
        return boundary_loss(preds[:, 0], gts[:, 0], masks[:, 0], pos_weight=weight, reference="asrf")

    _check(loss, case, ["preds"])


@pytest.mark.parametrize("case", _cases("asrf", "helper.py:train"), ids=lambda c: c["name"])
def test_asrf_training_step_composition(case):
    def loss(stage_cls, stage_bound, feature, label, boundary, mask, pos_weight, class_weight=None):
        valid = label != ASRF_IGNORE
        cls = sum(F.cross_entropy(p, label, weight=class_weight, ignore_index=ASRF_IGNORE)
                  + similarity_smoothing_loss(p, feature, valid, reference="asrf") for p in stage_cls)
        bound = sum(boundary_loss(p[:, 0], boundary[:, 0], mask[:, 0], pos_weight=float(pos_weight),
                                  reference="asrf") for p in stage_bound)
        return cls / len(stage_cls) + 0.1 * bound / len(stage_bound)

    _check(loss, case, ["stage_cls", "stage_bound"])


# ---------------------------------------------------------------------------------------------
# TAGS (sauradip/TAGS tags_lib/loss_tags.py), the code behind the GSMT paper


def _logit(p):
    return torch.logit(p)


def _top_lr(target, pred):
    return hard_negative_bce_loss(_logit(pred), target, num_negatives=120, alpha=10.0, reference="tags")


def _top_branch(gt_cls, pred_cls, mask_gt):
    top_ce = focal_loss(pred_cls, gt_cls, gamma=2.0, reference="tags")
    return 0.6 * top_ce + 0.4 * hard_negative_bce_loss(pred_cls, mask_gt, num_negatives=120, reference="tags")


def _bottom_branch(gt_action, pred_action):
    weighted = balanced_bce_loss(_logit(pred_action), gt_action, reference="tags")
    return 0.4 * weighted + 0.6 * dice_loss(pred_action, gt_action, reference="tags")


def _interior(case, *names):
    """Gradients through ``logit`` are exact only away from probabilities of exactly 0 or 1."""
    return all(((case["inputs"][n] > 0) & (case["inputs"][n] < 1)).all() for n in names)


@pytest.mark.parametrize("case", _cases("tags", "top_ce_loss"), ids=lambda c: c["name"])
def test_tags_top_ce(case):
    _check(lambda gt_cls, pred_cls: focal_loss(pred_cls, gt_cls, gamma=2.0, reference="tags"), case, ["pred_cls"])


@pytest.mark.parametrize("case", _cases("tags", "top_lr_loss"), ids=lambda c: c["name"])
def test_tags_top_lr(case):
    _check(_top_lr, case, ["pred"] if _interior(case, "pred") else [])


@pytest.mark.parametrize("case", _cases("tags", "BinaryDiceLoss"), ids=lambda c: c["name"])
def test_tags_dice(case):
    _check(lambda predict, target: dice_loss(predict, target, reference="tags"), case, ["predict"])


@pytest.mark.parametrize("case", _cases("tags", "bottom_branch_loss"), ids=lambda c: c["name"])
def test_tags_bottom_branch(case):
    _check(_bottom_branch, case, ["pred_action"] if _interior(case, "pred_action") else [])


@pytest.mark.parametrize("case", _cases("tags", "top_branch_loss"), ids=lambda c: c["name"])
def test_tags_top_branch(case):
    _check(_top_branch, case, ["pred_cls"])


def _redundancy(gt_action, pred_action, gt_cls):
    """TAGS stores snippet t's mask in column t (GSMT Eq. (4)); actseg in row t: transpose both."""
    return redundancy_loss(pred_action.transpose(-1, -2), gt_action.transpose(-1, -2), gt_cls != 200)


@pytest.mark.parametrize("case", _cases("tags", "redundancy_loss"), ids=lambda c: c["name"])
def test_tags_redundancy(case):
    def loss(gt_action, pred_action, gt_cls, pred_cls, features):
        return _redundancy(gt_action, pred_action, gt_cls)

    if torch.isnan(case["loss"]):  # every video without foreground: TAGS 0/0, actseg 0 (no video counted)
        assert (case["inputs"]["gt_cls"] == 200).all()
        assert loss(**case["inputs"]).item() == 0.0
        return
    _check(loss, case, ["pred_action"])


@pytest.mark.parametrize("case", _cases("tags", "tags_loss"), ids=lambda c: c["name"])
def test_tags_total_components(case):
    inputs = case["inputs"]
    top = _top_branch(inputs["gt_cls"], inputs["pred_cls"], inputs["mask_gt"])
    bottom = _bottom_branch(inputs["gt_action"], inputs["pred_action"])
    redundancy = _redundancy(inputs["gt_action"], inputs["pred_action"], inputs["gt_cls"])
    _close(top, case["loss"][1])
    _close(bottom, case["loss"][2])
    if torch.isnan(case["loss"][3]):  # no foreground snippet: TAGS 0/0 (and a NaN total), actseg 0
        assert redundancy.item() == 0.0 and torch.isnan(case["loss"][0])
        return
    _close(redundancy, case["loss"][3])
    _close(top + bottom + redundancy, case["loss"][0])


# ---------------------------------------------------------------------------------------------
# pygmtools permutation_loss


@pytest.mark.parametrize("case", _cases("pygmtools_permutation", "permutation_loss"), ids=lambda c: c["name"])
def test_pygmtools_permutation_loss(case):
    inputs = {k: v.clone() for k, v in case["inputs"].items()}
    pred = inputs["pred_dsmat"].float().requires_grad_(True)  # pygmtools computes in float32
    loss = permutation_loss(pred, inputs["gt_perm"].float(), inputs.get("n1"), inputs.get("n2"))
    expected = case["loss"]
    if math.isnan(float(expected)):  # no node at all: pygmtools divides 0 by 0, actseg returns 0
        assert loss.item() == 0.0
        return
    torch.testing.assert_close(loss.detach(), expected.float(), rtol=1e-6, atol=1e-6)
    loss.backward()
    torch.testing.assert_close(pred.grad, case["grads"]["pred_dsmat"].float(), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# cases where the reference code raises: actseg's documented behaviour on the same inputs

ASRF_ERRORS = _error_cases("asrf")
TAGS_ERRORS = _error_cases("tags")
PYGM_ERRORS = _error_cases("pygmtools_permutation")


def test_asrf_float32_class_weight_with_float64_logits():
    """ASRF: RuntimeError (dtype mismatch); actseg casts the class weights to the logits' dtype."""
    case = ASRF_ERRORS["asl/padded_20_13/float32_weight_float64_preds_raises"]
    assert case["error"].startswith("RuntimeError")
    preds, gts, weight = case["inputs"]["preds"], case["inputs"]["gts"], case["inputs"]["weight"]
    ours = focal_loss(preds, gts, gamma=0.0, weight=weight, ignore_index=ASRF_IGNORE, reduction="sum")
    expected = F.cross_entropy(preds, gts, weight=weight.double(), ignore_index=ASRF_IGNORE, reduction="sum")
    torch.testing.assert_close(ours, expected, rtol=1e-12, atol=1e-12)


def test_tags_probabilities_above_one_raise_value_error():
    case = TAGS_ERRORS["bottom_branch_loss/pred_above_1_raises"]
    assert case["error"].startswith("RuntimeError")  # TAGS: from a BCE it computes and throws away
    with pytest.raises(ValueError, match=r"probs: expected finite probabilities in \[0.0, 1.0\]"):
        dice_loss(case["inputs"]["pred_action"], case["inputs"]["gt_action"], reference="tags")


def test_tags_top_lr_with_fewer_classes_than_negatives_raises_value_error():
    case = TAGS_ERRORS["top_lr_loss/fewer_than_120_classes_raises"]
    assert case["error"].startswith("RuntimeError")  # TAGS: "selected index k out of range" from topk
    with pytest.raises(ValueError, match=r"num_negatives: expected an integer >= 1 and <= 50, got 120"):
        _top_lr(case["inputs"]["target"], case["inputs"]["pred"])


def test_tags_redundancy_single_peak_gives_the_mask_term():
    """TAGS raises IndexError in its λ3 = 0 consistency term; actseg gives the mask term."""
    case = TAGS_ERRORS["redundancy_loss/T100_single_mask_peak_raises"]
    assert case["error"].startswith("IndexError")
    inputs = case["inputs"]
    foreground = inputs["gt_cls"][0] != 200
    expected = (inputs["pred_action"][0][:, foreground] - inputs["gt_action"][0][:, foreground]).pow(2).mean()
    _close(_redundancy(inputs["gt_action"], inputs["pred_action"], inputs["gt_cls"]), expected)


@pytest.mark.parametrize("name", ["error_pred_above_1", "error_pred_negative"])
def test_pygmtools_round_off_outside_unit_interval_is_clamped(name):
    """pygmtools raises on an entry an ulp outside [0, 1]; actseg clamps (Sinkhorn round-off)."""
    case = PYGM_ERRORS[name]
    assert case["error"].startswith("ValueError")
    pred, gt = case["inputs"]["pred_dsmat"], case["inputs"]["gt_perm"]
    assert ((pred < 0) | (pred > 1)).any()
    torch.testing.assert_close(permutation_loss(pred, gt), permutation_loss(pred.clamp(0, 1), gt))
    with pytest.raises(ValueError, match="pred: expected finite matching scores"):
        permutation_loss(torch.where(pred > 0.5, 1.01, pred), gt)  # beyond round-off: an error


def test_pygmtools_target_above_one_raises_value_error():
    case = PYGM_ERRORS["error_gt_above_1"]
    with pytest.raises(ValueError, match=r"target: expected finite permutation entries in \[0.0, 1.0\], got 2.0"):
        permutation_loss(case["inputs"]["pred_dsmat"], case["inputs"]["gt_perm"])


def test_pygmtools_float64_target_is_accepted():
    """pygmtools: RuntimeError (it casts pred to float32, not gt); actseg computes in float64."""
    case = PYGM_ERRORS["error_gt_float64_with_pred"]
    pred, gt = case["inputs"]["pred_dsmat"], case["inputs"]["gt_perm"]
    assert pred.dtype == gt.dtype == torch.float64
    loss = permutation_loss(pred, gt)
    assert loss.dtype == torch.float64
    torch.testing.assert_close(loss.float(), permutation_loss(pred.float(), gt.float()), rtol=1e-6, atol=1e-6)


def test_pygmtools_node_counts_as_python_lists():
    """pygmtools: AttributeError on lists; actseg reads integer sequences like tensors."""
    case = PYGM_ERRORS["error_n1_n2_python_lists"]
    n1, n2 = case["kwargs"]["n1"], case["kwargs"]["n2"]
    pred, gt = case["inputs"]["pred_dsmat"], case["inputs"]["gt_perm"]
    torch.testing.assert_close(permutation_loss(pred, gt, n1, n2),
                               permutation_loss(pred, gt, torch.tensor(n1), torch.tensor(n2)))


def test_every_stored_case_is_read():
    """Every stored case of every file is read by one test above (values or a raising reference)."""
    stored = {f"{name}/{c['name']}" for name in FILES for c in _all(name)}
    assert len(stored) == 71 + 69 + 17
    assert stored - READ == set()
    assert len(ASRF_ERRORS) + len(TAGS_ERRORS) + len(PYGM_ERRORS) == 9
