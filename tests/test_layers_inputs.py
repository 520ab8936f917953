"""actseg.layers at the input boundary: every constructor and forward against generated bad inputs.

Each bad argument must give a ``TypeError`` (wrong type or dtype) or a ``ValueError`` (wrong shape, value or
range) whose message starts with the public argument's name (``docs/conventions.md``). Also: numpy
integers are accepted, sizes are bounded before anything is allocated, meta tensors give the right shape,
inputs that require grad work, and masks with holes give masked frames no influence.
"""

from __future__ import annotations

import math
import re
import time

import numpy as np
import pytest
import torch

from actseg.layers import (
    MSTCN,
    ASFormer,
    ASFormerBlock,
    DilatedResidualLayer,
    DualDilatedLayer,
    FusionMSTCNPlusPlus,
    MSTCNPlusPlus,
    PredictionGenerationStage,
    SingleStageTCN,
    WindowedAttention,
)
from actseg.layers import _common as layers_common

# --------------------------------------------------------------------------------------------------
# constructors: (class, valid keyword arguments, {argument: kind})

SIZE, SIZE0, PROB, CHOICE, FLAG, REAL, SIZE_OR_NONE = "size", "size0", "prob", "choice", "flag", "real", "size|None"



def _spec(cls, *args):
    """``(class, valid keyword arguments, {argument: kind})`` from ``(argument, valid value, kind)`` triples."""
    return cls, {a: v for a, v, _ in args}, {a: k for a, _, k in args}


_STAGE = (("in_channels", 12, SIZE), ("num_classes", 5, SIZE), ("num_layers", 3, SIZE), ("num_channels", 8, SIZE))
CONSTRUCTORS = {
    "DilatedResidualLayer": _spec(DilatedResidualLayer, ("channels", 8, SIZE), ("dilation", 2, SIZE),
                                  ("dropout", 0.5, PROB)),
    "DualDilatedLayer": _spec(DualDilatedLayer, ("channels", 8, SIZE), ("dilation_small", 1, SIZE),
                              ("dilation_large", 4, SIZE), ("dropout", 0.5, PROB)),
    "SingleStageTCN": _spec(SingleStageTCN, *_STAGE),
    "PredictionGenerationStage": _spec(PredictionGenerationStage, *_STAGE),
    "MSTCN": _spec(MSTCN, ("in_channels", 12, SIZE), ("num_classes", 5, SIZE), ("num_stages", 2, SIZE),
                   ("num_layers", 3, SIZE), ("num_channels", 8, SIZE)),
    "MSTCNPlusPlus": _spec(MSTCNPlusPlus, ("in_channels", 12, SIZE), ("num_classes", 5, SIZE),
                           ("num_layers_pg", 3, SIZE), ("num_layers_r", 2, SIZE), ("num_refinement", 2, SIZE0),
                           ("num_channels", 8, SIZE), ("share_refinement", False, FLAG)),
    "FusionMSTCNPlusPlus": _spec(FusionMSTCNPlusPlus, ("in_channels_a", 12, SIZE), ("in_channels_b", 20, SIZE),
                                 ("num_classes", 5, SIZE), ("num_layers_pg", 3, SIZE), ("num_layers_r", 2, SIZE),
                                 ("num_refinement", 1, SIZE0), ("num_channels", 8, SIZE)),
    "WindowedAttention": _spec(WindowedAttention, ("channels", 8, SIZE), ("value_channels", 6, SIZE_OR_NONE),
                               ("qk_reduction", 2, SIZE), ("v_reduction", 2, SIZE), ("block_size", 4, SIZE),
                               ("window", "block_halo", CHOICE)),
    "ASFormerBlock": _spec(ASFormerBlock, ("channels", 8, SIZE), ("dilation", 2, SIZE), ("qk_reduction", 2, SIZE),
                           ("v_reduction", 2, SIZE), ("window", "sliding", CHOICE), ("alpha", 0.5, REAL),
                           ("dropout", 0.5, PROB)),
    "ASFormer": _spec(ASFormer, ("in_channels", 12, SIZE), ("num_classes", 5, SIZE), ("num_layers", 3, SIZE),
                      ("num_channels", 8, SIZE), ("num_decoders", 1, SIZE0), ("qk_reduction", 2, SIZE),
                      ("v_reduction", 2, SIZE), ("window", "block_halo", CHOICE), ("channel_dropout", 0.3, PROB)),
}

BAD_VALUES = {
    SIZE: [(0, ValueError), (-3, ValueError), (10**30, ValueError), (2.0, TypeError), ("8", TypeError),
           (True, TypeError), (None, TypeError), (np.float32(2), TypeError), ([2], TypeError)],
    SIZE0: [(-1, ValueError), (10**30, ValueError), (1.5, TypeError), (None, TypeError), (False, TypeError)],
    SIZE_OR_NONE: [(0, ValueError), (10**30, ValueError), (2.5, TypeError), ("6", TypeError)],
    PROB: [(1.0, ValueError), (-0.1, ValueError), (math.nan, ValueError), (math.inf, ValueError),
           ("0.5", TypeError), (None, TypeError), (torch.tensor(0.5), TypeError)],
    CHOICE: [("bogus", ValueError), ("", ValueError), (1, TypeError), (None, TypeError)],
    FLAG: [(1, TypeError), ("yes", TypeError), (None, TypeError)],
    REAL: [(math.nan, ValueError), (math.inf, ValueError), ("1", TypeError), (None, TypeError)],
}

CONSTRUCTOR_CASES = [
    (cls_name, arg, value, error)
    for cls_name, (_, _, kinds) in CONSTRUCTORS.items()
    for arg, kind in kinds.items()
    for value, error in BAD_VALUES[kind]
]


@pytest.mark.parametrize(("cls_name", "arg", "value", "error"), CONSTRUCTOR_CASES,
                         ids=[f"{c}-{a}={v!r}" for c, a, v, _ in CONSTRUCTOR_CASES])
def test_constructor_rejects_bad_argument_naming_it(cls_name, arg, value, error):
    cls, kwargs, _ = CONSTRUCTORS[cls_name]
    with pytest.raises(error, match=rf"^{re.escape(arg)}: expected"):
        cls(**{**kwargs, arg: value})


@pytest.mark.parametrize("cls_name", list(CONSTRUCTORS))
def test_constructor_accepts_numpy_integers(cls_name):
    cls, kwargs, kinds = CONSTRUCTORS[cls_name]
    as_numpy = {k: (np.int64(v) if kinds[k] in (SIZE, SIZE0, SIZE_OR_NONE) else v) for k, v in kwargs.items()}
    torch.manual_seed(0)
    a = cls(**kwargs)
    torch.manual_seed(0)
    b = cls(**as_numpy)
    assert repr(a) == repr(b)
    for (name, p), (_, q) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(p, q), name
    for name, value in vars(b).items():  # plain ints are stored, never numpy scalars
        assert not isinstance(value, np.generic), name


def test_issue_examples():
    model = MSTCN(8, np.int64(5))
    assert model(torch.randn(1, 8, 20)).shape == (4, 1, 5, 20)
    with pytest.raises(ValueError, match=r"^num_layers_pg: expected an integer >= 1 and <= 16, got 0$"):
        MSTCNPlusPlus(8, 5, num_layers_pg=0)
    with pytest.raises(ValueError, match=r"^num_layers_r: expected an integer >= 1"):
        MSTCNPlusPlus(8, 5, num_layers_r=0)
    with pytest.raises(ValueError, match=r"^num_layers_pg: "):
        FusionMSTCNPlusPlus(8, 9, 5, num_layers_pg=0)
    with pytest.raises(ValueError, match=r"^num_decoders: expected an integer >= 0 and <= 64"):
        ASFormer(8, 5, num_decoders=10**30)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: MSTCN(12, 5, num_stages=10**30), r"^num_stages: expected an integer >= 1 and <= 64"),
        (lambda: MSTCN(12, 5, num_stages=65), r"^num_stages: "),
        (lambda: MSTCN(12, 5, num_layers=17), r"^num_layers: expected an integer >= 1 and <= 16, got 17"),
        (lambda: ASFormer(12, 5, num_layers=17), r"^num_layers: "),
        (lambda: MSTCN(2**16 + 1, 5), r"^in_channels: expected an integer >= 1 and <= 65536"),
        (lambda: DilatedResidualLayer(8, 2**15 + 1), r"^dilation: expected an integer >= 1 and <= 32768"),
        (lambda: WindowedAttention(8, block_size=2**15 + 1), r"^block_size: "),
        (lambda: WindowedAttention(8, qk_reduction=16), r"^qk_reduction: expected an integer >= 1 and <= 8, got 16"),
        (lambda: WindowedAttention(8, 4, v_reduction=5), r"^v_reduction: expected an integer >= 1 and <= 4, got 5"),
        (lambda: ASFormer(12, 5, num_channels=8, qk_reduction=9), r"^qk_reduction: "),
        # every size within its own bound, the model too large: the parameter estimate catches it
        (lambda: MSTCN(2**16, 2**16, num_channels=2**16),
         r"^in_channels, num_classes, num_stages, num_layers, num_channels: expected a model of at most"),
        (lambda: MSTCNPlusPlus(8, 5, num_channels=2**14), r"^in_channels, num_classes, num_layers_pg, "),
        (lambda: SingleStageTCN(8, 5, 16, 2**14), r"^in_channels, num_classes, num_layers, num_channels: "),
        (lambda: FusionMSTCNPlusPlus(8, 8, 5, num_channels=2**14), r"^in_channels_a, in_channels_b, "),
        (lambda: ASFormer(8, 5, num_channels=2**14), r"^in_channels, num_classes, num_layers, num_channels, num_d"),
        (lambda: WindowedAttention(2**16, 2**16, 1, 1), r"^channels, value_channels: "),
        (lambda: ASFormerBlock(2**16, 1), r"^channels: expected a model of at most"),
        (lambda: DilatedResidualLayer(2**16, 1), r"^channels: expected a model of at most"),
        (lambda: DualDilatedLayer(2**15, 1, 1), r"^channels: expected a model of at most"),
    ],
)
def test_sizes_are_bounded_before_allocation(make, match):
    start = time.perf_counter()
    with pytest.raises(ValueError, match=match):
        make()
    assert time.perf_counter() - start < 1.0  # nothing was allocated


def _count(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("cls_name", list(CONSTRUCTORS))
def test_parameter_bound_is_exact(cls_name, monkeypatch):
    """The estimate checked before allocation is the model's parameter count: one more than the bound fails."""
    cls, kwargs, _ = CONSTRUCTORS[cls_name]
    n = _count(cls(**kwargs))
    monkeypatch.setattr(layers_common, "MAX_PARAMETERS", n)
    cls(**kwargs)
    monkeypatch.setattr(layers_common, "MAX_PARAMETERS", n - 1)
    with pytest.raises(ValueError, match=f"expected a model of at most {n - 1:,} parameters, got {n:,}"):
        cls(**kwargs)


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [
        (MSTCNPlusPlus, {"in_channels": 16, "num_classes": 7, "num_layers_pg": 4, "num_layers_r": 3,
                         "num_refinement": 3, "num_channels": 16, "share_refinement": True}),
        (MSTCNPlusPlus, {"in_channels": 16, "num_classes": 7, "num_refinement": 0}),
        (MSTCN, {"in_channels": 2048, "num_classes": 19}),
        (ASFormer, {"in_channels": 2048, "num_classes": 19}),
        (ASFormer, {"in_channels": 30, "num_classes": 4, "num_layers": 2, "num_channels": 16, "num_decoders": 0,
                    "qk_reduction": 4, "v_reduction": 1}),
        (WindowedAttention, {"channels": 9, "value_channels": 7, "qk_reduction": 2, "v_reduction": 3}),
    ],
)
def test_parameter_estimates_of_other_configurations(cls, kwargs, monkeypatch):
    n = _count(cls(**kwargs))
    monkeypatch.setattr(layers_common, "MAX_PARAMETERS", n - 1)
    with pytest.raises(ValueError, match=f"got {n:,}$"):
        cls(**kwargs)


# --------------------------------------------------------------------------------------------------
# forward: every module takes x (B, 12, T)

C, T = 12, 30

FORWARD = {
    "DilatedResidualLayer": lambda: DilatedResidualLayer(C, 2),
    "DualDilatedLayer": lambda: DualDilatedLayer(C, 1, 4),
    "SingleStageTCN": lambda: SingleStageTCN(C, 5, 3, 8),
    "PredictionGenerationStage": lambda: PredictionGenerationStage(C, 5, 3, 8),
    "MSTCN": lambda: MSTCN(C, 5, 2, 3, 8),
    "MSTCNPlusPlus": lambda: MSTCNPlusPlus(C, 5, 3, 2, 1, 8),
    "WindowedAttention": lambda: WindowedAttention(C, block_size=4),
    "ASFormerBlock": lambda: ASFormerBlock(C, 2),
    "ASFormer": lambda: ASFormer(C, 5, 3, 8, 1),
    "ASFormer-full": lambda: ASFormer(C, 5, 3, 8, 1, window="full"),
    "FusionMSTCNPlusPlus": lambda: FusionMSTCNPlusPlus(C, 7, 5, 3, 2, 1, 8),
}
# modules whose first operation is a masked 1×1 convolution: nothing at a masked frame reaches the output
COMPOSITIONS = ("SingleStageTCN", "PredictionGenerationStage", "MSTCN", "MSTCNPlusPlus", "ASFormer", "ASFormer-full",
                "FusionMSTCNPlusPlus")


def _call(name, model, x, mask=None):
    if name == "FusionMSTCNPlusPlus":
        ok = isinstance(x, torch.Tensor) and x.ndim == 3 and x.is_floating_point()
        batch, length = (x.shape[0], x.shape[2]) if ok else (2, T)
        x_b = torch.randn(batch, 7, length, generator=torch.Generator().manual_seed(1),
                          dtype=x.dtype if ok else torch.float32)
        return model(x, x_b.to(x.device) if ok else x_b, mask)
    return model(x, mask)


_X = torch.randn(2, C, T)
_MASK = torch.ones(2, T, dtype=torch.bool)
FORWARD_BAD = [
    ("x numpy", lambda: (_X.numpy(), None), TypeError, r"^x(_a)?: expected a torch\.Tensor, got numpy\.ndarray"),
    ("x list", lambda: (_X.tolist(), None), TypeError, r"^x(_a)?: expected a torch\.Tensor, got list"),
    ("x 2-D", lambda: (_X[0], None), ValueError, r"^x(_a)?: expected shape \(B, 12, T\), got \(12, 30\)"),
    ("x 4-D", lambda: (_X[None], None), ValueError, r"^x(_a)?: expected shape \(B, 12, T\), got \(1, 2, 12, 30\)"),
    ("x channels", lambda: (_X[:, :5], None), ValueError, r"^x(_a)?: expected shape \(B, 12, T\), got \(2, 5, 30\)"),
    ("x empty", lambda: (_X[:, :, :0], None), ValueError, r"^x(_a)?: expected T >= 1 in \(B, 12, T\)"),
    ("x int", lambda: (_X.long(), None), TypeError, r"^x(_a)?: expected a floating dtype, got torch\.int64"),
    ("x bool", lambda: (_X > 0, None), TypeError, r"^x(_a)?: expected a floating dtype"),
    ("x complex", lambda: (_X.to(torch.complex64), None), TypeError, r"^x(_a)?: expected a floating dtype"),
    ("x float64 into a float32 module", lambda: (_X.double(), None), TypeError,
     r"^x(_a)?: expected dtype torch\.float32 \(the module's parameters\), got torch\.float64"),
    ("x meta into a CPU module", lambda: (_X.to("meta"), None), TypeError,
     r"^x(_a)?: expected a tensor on cpu \(the module's device\), got meta"),
    ("mask float", lambda: (_X, _MASK.float()), TypeError, r"^mask: expected dtype torch\.bool, got torch\.float32"),
    ("mask int numpy", lambda: (_X, _MASK.numpy().astype(np.int64)), TypeError, r"^mask: expected dtype bool"),
    ("mask shape", lambda: (_X, _MASK[:, :29]), ValueError,
     r"^mask: expected shape \(B, T\) = \(2, 30\), got \(2, 29\)"),
    ("mask batch", lambda: (_X, _MASK[:1]), ValueError, r"^mask: expected shape \(B, T\) = \(2, 30\), got \(1, 30\)"),
    ("mask 3-D", lambda: (_X, _MASK[:, None]), ValueError, r"^mask: expected shape"),
    ("mask list", lambda: (_X, _MASK.tolist()), TypeError, r"^mask: expected a torch\.Tensor, got list"),
    ("mask meta", lambda: (_X, _MASK.to("meta")), TypeError, r"^mask: expected a tensor with values"),
]
FORWARD_CASES = [(name, *case) for name in FORWARD for case in FORWARD_BAD]


@pytest.mark.parametrize(("name", "what", "make_input", "error", "match"), FORWARD_CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in FORWARD_CASES])
def test_forward_rejects_bad_input_naming_it(name, what, make_input, error, match):
    model = FORWARD[name]()
    x, mask = make_input()
    with pytest.raises(error, match=match):
        _call(name, model, x, mask)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: WindowedAttention(C, 6)(_X), ValueError, r"^value: expected a \(B, 6, T\) tensor"),
        (lambda: WindowedAttention(C, 6)(_X, None, torch.randn(2, 6, 31)), ValueError,
         r"^value: expected shape \(2, 6, 30\), got \(2, 6, 31\)"),
        (lambda: WindowedAttention(C, 6)(_X, None, torch.randn(1, 6, 30)), ValueError, r"^value: expected shape"),
        (lambda: WindowedAttention(C, 6)(_X, None, torch.randn(2, 5, 30)), ValueError, r"^value: expected shape"),
        (lambda: WindowedAttention(C, 6)(_X, None, torch.randn(2, 6, 30).double()), TypeError,
         r"^value: expected dtype"),
        (lambda: WindowedAttention(C, 6)(_X, None, np.zeros((2, 6, 30))), TypeError, r"^value: expected a torch"),
        (lambda: ASFormerBlock(C, 2)(_X, None, torch.randn(2, C, 29)), ValueError,
         r"^value: expected shape \(2, 12, 30\)"),
        (lambda: ASFormerBlock(C, 2)(_X, None, torch.zeros(2, C, 30, dtype=torch.long)), TypeError, r"^value: "),
        (lambda: FusionMSTCNPlusPlus(C, 7, 5, 3, 2, 1, 8)(_X, torch.randn(2, 7, 10)), ValueError,
         r"^x_b: expected shape \(2, 7, 30\), got \(2, 7, 10\)"),
        (lambda: FusionMSTCNPlusPlus(C, 7, 5, 3, 2, 1, 8)(_X, torch.randn(1, 7, 30)), ValueError, r"^x_b: "),
        (lambda: FusionMSTCNPlusPlus(C, 7, 5, 3, 2, 1, 8)(_X, torch.randn(2, 8, 30)), ValueError, r"^x_b: "),
        (lambda: FusionMSTCNPlusPlus(C, 7, 5, 3, 2, 1, 8)(_X, None), TypeError, r"^x_b: expected a torch\.Tensor"),
        (lambda: FusionMSTCNPlusPlus(C, 7, 5, 3, 2, 1, 8).forward_all(_X, torch.randn(2, 7, 30).long()), TypeError,
         r"^x_b: expected a floating dtype"),
    ],
)
def test_forward_rejects_bad_second_input(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize("name", list(FORWARD))
def test_numpy_mask_equals_tensor_mask(name):
    torch.manual_seed(0)
    model = FORWARD[name]().eval()
    mask = torch.ones(2, T, dtype=torch.bool)
    mask[1, 20:] = False
    with torch.no_grad():
        torch.testing.assert_close(_call(name, model, _X, mask.numpy()), _call(name, model, _X, mask))


# --------------------------------------------------------------------------------------------------
# meta tensors, autocast, inputs that require grad, masks with holes


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("name", list(FORWARD))
def test_meta_tensors_give_the_output_shape(name, train):
    torch.manual_seed(0)
    model = FORWARD[name]().train(train)
    mask = torch.ones(2, T, dtype=torch.bool)
    mask[0, 17:] = False
    with torch.no_grad():
        expected = _call(name, model, _X, mask).shape
    meta = model.to("meta")
    x = torch.empty(2, C, T, device="meta")
    for m in (mask.to("meta"), mask, None):  # a CPU mask goes to the meta device with x
        out = _call(name, meta, x, m)
        assert out.is_meta and out.shape == expected


def test_autocast_accepts_a_lower_precision_input():
    model = ASFormer(C, 5, 3, 8, 1).eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(_X.bfloat16(), _MASK)
    assert out.shape == (2, 2, 5, T) and torch.isfinite(out.float()).all()
    with pytest.raises(TypeError, match=r"^x: expected dtype torch\.float32"):
        model(_X.bfloat16(), _MASK)


def _holes():
    mask = torch.ones(2, T, dtype=torch.bool)
    mask[0, 5:9] = False
    mask[0, 20] = False
    mask[1, 0:3] = False
    mask[1, 12:14] = False
    mask[1, 25:] = False
    return mask


@pytest.mark.parametrize("name", COMPOSITIONS)
def test_masked_frames_have_no_influence_and_no_gradient(name):
    """Mask with holes (not only prefix padding): values at masked frames change nothing, get no gradient."""
    torch.manual_seed(0)
    model = FORWARD[name]().double().eval()
    mask = _holes()
    x = torch.randn(2, C, T, dtype=torch.float64, requires_grad=True)
    out = _call(name, model, x, mask)
    assert (torch.where(mask[:, None], 0.0, out) == 0).all()  # zero at masked frames
    garbage = torch.where(mask.unsqueeze(1), x.detach(), torch.full_like(x, 1e3))
    torch.testing.assert_close(_call(name, model, garbage, mask), out.detach(), atol=1e-10, rtol=0)
    out.pow(2).sum().backward()
    assert (x.grad.permute(0, 2, 1)[~mask] == 0).all()
    assert x.grad.permute(0, 2, 1)[mask].abs().sum(-1).gt(0).all()  # every valid frame gets a gradient


@pytest.mark.parametrize("name", list(FORWARD))
def test_inputs_that_require_grad(name):
    torch.manual_seed(0)
    model = FORWARD[name]().train()
    x = torch.randn(2, C, T, requires_grad=True)
    out = _call(name, model, x, _holes())
    out.sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape and torch.isfinite(x.grad).all()
    unused = ("branch_a.generation.conv_out", "branch_b.generation.conv_out", "branch_a.refinements.0.conv_out",
              "branch_b.refinements.0.conv_out") if name == "FusionMSTCNPlusPlus" else ()  # fused output only
    assert all(p.grad is not None for n, p in model.named_parameters() if not n.startswith(unused))
