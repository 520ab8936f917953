from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from actseg.layers import (
    MSTCN,
    WINDOWS,
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
from actseg.layers._attention import windowed_attention
from actseg.layers._common import Dropout, dilated_conv, pointwise, ragged_lengths


def _naive_attention(q, k, v, valid, bl, window):
    """Per-query statement of the official attention (readable, slow): the window's keys, the 1e-6 rule."""
    batch, c, length = q.shape
    out = torch.zeros(batch, v.shape[1], length, dtype=q.dtype)
    halo = 0 if window == "block" else bl // 2
    width = bl + 2 * halo
    for b in range(batch):
        for p in range(length):
            if window == "full":
                cols = list(range(length))
                keep = [float(valid[b, 0, t]) for t in cols]
                bias = [0.0 if kp else -math.inf for kp in keep]  # padded keys excluded in "full"
            else:
                start = (p // bl) * bl - halo
                cols = list(range(start, start + width))
                row = p % bl
                keep, bias = [], []
                for j, t in enumerate(cols):
                    inside = 0 <= t < length and bool(valid[b, 0, t])
                    if window == "block_halo":
                        inside = inside and j <= 2 * bl - 2
                    elif window == "sliding":
                        inside = inside and row <= j < row + bl
                    keep.append(float(inside))
                    bias.append(math.log(float(inside) + 1e-6))
            keys = torch.stack([k[b, :, t] * valid[b, 0, t] if 0 <= t < length else torch.zeros(c, dtype=q.dtype)
                                for t in cols], 1)
            vals = torch.stack([v[b, :, t] if 0 <= t < length else torch.zeros(v.shape[1], dtype=q.dtype)
                                for t in cols], 1)
            scores = q[b, :, p] @ keys / math.sqrt(c) + torch.tensor(bias, dtype=q.dtype)
            weights = torch.softmax(scores, 0) * torch.tensor(keep, dtype=q.dtype)
            out[b, :, p] = vals @ weights
    return out


@given(bl=st.integers(1, 9), window=st.sampled_from(WINDOWS),
       lengths=st.lists(st.integers(1, 23), min_size=1, max_size=2))
@settings(max_examples=40, deadline=None)
def test_attention_core_matches_per_query_definition(bl, window, lengths):
    torch.manual_seed(0)
    batch = len(lengths)
    length = max(lengths)
    q = torch.randn(batch, 4, length, dtype=torch.float64)
    k = torch.randn(batch, 4, length, dtype=torch.float64)
    v = torch.randn(batch, 3, length, dtype=torch.float64)
    valid = torch.zeros(batch, 1, length, dtype=torch.float64)
    for b, n in enumerate(lengths):
        valid[b, 0, :n] = 1
    expected = _naive_attention(q, k, v, valid, bl, window)
    last = lambda t: t.transpose(1, 2)  # noqa: E731  (the core takes channels-last tensors)
    got = last(windowed_attention(last(q), last(k * valid), last(v), last(valid), bl, window))
    torch.testing.assert_close(got, expected, atol=1e-10, rtol=0)


def _padded(lengths, channels, dtype=torch.float64):
    length = max(lengths)
    x = torch.randn(len(lengths), channels, length, dtype=dtype)
    mask = torch.zeros(len(lengths), length, dtype=torch.bool)
    for b, n in enumerate(lengths):
        mask[b, :n] = True
    return x, mask


MODELS = {
    "mstcn": lambda: MSTCN(12, 5, num_stages=3, num_layers=4, num_channels=8),
    "mstcn++": lambda: MSTCNPlusPlus(12, 5, num_layers_pg=5, num_layers_r=3, num_refinement=2, num_channels=8),
    "mstcn++shared": lambda: MSTCNPlusPlus(12, 5, 4, 3, 3, 8, share_refinement=True),
    **{f"asformer-{w}": (lambda w=w: ASFormer(12, 5, num_layers=5, num_channels=8, num_decoders=2, window=w))
       for w in WINDOWS},
}


@pytest.mark.parametrize("ragged", [False, True], ids=["padded-path", "ragged-cpu-path"])
@pytest.mark.parametrize("name", list(MODELS))
def test_padded_batch_equals_each_video_alone(name, ragged, monkeypatch):
    monkeypatch.setattr(layers_common, "RAGGED_CPU", ragged)
    torch.manual_seed(0)
    model = MODELS[name]().double().eval()
    lengths = [40, 23, 1, 17]
    x, mask = _padded(lengths, 12)
    with torch.no_grad():
        batched = model(x, mask)
        for b, n in enumerate(lengths):
            alone = model(x[b:b + 1, :, :n])
            torch.testing.assert_close(batched[:, b:b + 1, :, :n], alone, atol=1e-10, rtol=0)
            assert (batched[:, b, :, n:] == 0).all()


def test_ragged_cpu_path_only_for_prefix_masks(monkeypatch):
    x = torch.zeros(2, 3, 5)
    prefix = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    assert ragged_lengths(x, prefix) == [3, 5]
    assert ragged_lengths(x, torch.ones(2, 5, dtype=torch.bool)) is None
    assert ragged_lengths(x, torch.tensor([[1, 0, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)) is None
    assert ragged_lengths(x[:1], prefix[:1]) is None
    monkeypatch.setattr(layers_common, "RAGGED_CPU", False)
    assert ragged_lengths(x, prefix) is None


def test_gradients_equal_on_both_cpu_paths(monkeypatch):
    torch.manual_seed(0)
    model = MODELS["asformer-block_halo"]().double().eval()
    x, mask = _padded([30, 18], 12)
    grads = []
    for ragged in (False, True):
        monkeypatch.setattr(layers_common, "RAGGED_CPU", ragged)
        model.zero_grad()
        model(x, mask).pow(2).sum().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=0)


def test_output_shapes():
    x = torch.randn(2, 12, 30)
    mask = torch.ones(2, 30, dtype=torch.bool)
    assert MSTCN(12, 5, 3, 2, 8)(x, mask).shape == (3, 2, 5, 30)
    assert MSTCNPlusPlus(12, 5, 3, 2, 2, 8)(x).shape == (3, 2, 5, 30)
    assert MSTCNPlusPlus(12, 5, 3, 2, 0, 8)(x).shape == (1, 2, 5, 30)
    assert ASFormer(12, 5, 3, 8, 1)(x, mask).shape == (2, 2, 5, 30)
    assert ASFormer(12, 5, 3, 8, 0)(x).shape == (1, 2, 5, 30)
    assert SingleStageTCN(12, 5, 2, 8)(x).shape == (2, 5, 30)
    assert PredictionGenerationStage(12, 5, 3, 8)(x).shape == (2, 5, 30)
    assert DilatedResidualLayer(12, 4)(x).shape == (2, 12, 30)
    assert DualDilatedLayer(12, 1, 8)(x, mask).shape == (2, 12, 30)
    assert WindowedAttention(12, 6, block_size=4)(x, mask, torch.randn(2, 6, 30)).shape == (2, 6, 30)
    assert ASFormerBlock(12, 4)(x, mask).shape == (2, 12, 30)


def test_parameter_counts_match_official_defaults():
    """layers.md §1–2: official parameter counts for 50Salads (K = 19, D = 2048)."""
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(MSTCN(2048, 19)) == 800_396
    assert count(MSTCNPlusPlus(2048, 19)) == 997_836
    assert count(ASFormer(2048, 19)) == 1_134_476
    assert count(MSTCNPlusPlus(2048, 19, share_refinement=True)) == 997_836 - 2 * 167_635


def test_shared_refinement_applies_one_stage_repeatedly():
    model = MSTCNPlusPlus(12, 5, 3, 2, 3, 8, share_refinement=True).eval()
    assert len(model.refinements) == 1
    x = torch.randn(1, 12, 20)
    out = model(x)
    stage = model.refinements[0]
    torch.testing.assert_close(out[2], stage(torch.softmax(out[1], 1)))


def test_fusion_model():
    torch.manual_seed(0)
    model = FusionMSTCNPlusPlus(12, 20, 5, num_layers_pg=3, num_layers_r=2, num_refinement=2, num_channels=8).double()
    model.eval()
    x_a, mask = _padded([30, 18], 12)
    x_b = torch.randn(2, 20, 30, dtype=torch.float64)
    fused, branch_a, branch_b = model.forward_all(x_a, x_b, mask)
    assert fused.shape == branch_a.shape == branch_b.shape == (3, 2, 5, 30)
    torch.testing.assert_close(branch_a, model.branch_a(x_a, mask))
    with torch.no_grad():
        alone = model(x_a[1:, :, :18], x_b[1:, :, :18])
    torch.testing.assert_close(fused[:, 1:, :, :18].detach(), alone, atol=1e-10, rtol=0)
    with pytest.raises(ValueError, match=r"^x_b: expected shape \(2, 20, 30\), got \(2, 20, 10\)"):
        model(x_a, x_b[:, :, :10], mask)


def _stage_features(branch, x, mask):
    """The ``F``-channel features of every stage of an MS-TCN++ branch, captured from its public forward."""
    feats = []
    hooks = [stage.conv_out.register_forward_hook(lambda module, inputs, output: feats.append(inputs[0]))
             for stage in (branch.generation, *branch.refinements)]
    logits = branch(x, mask)
    for hook in hooks:
        hook.remove()
    return feats, logits


def test_fusion_output_values_equal_hand_composition_of_its_two_branches():
    """Fused stage s = classify_s(fuse_s([h_a,s ; h_b,s]) ⊙ m) ⊙ m (Xu et al. §III), with h_a,s and h_b,s the stage
    features of branch A on x_a and of branch B on x_b, each run alone. Feeding one branch twice fails here."""
    torch.manual_seed(0)
    model = FusionMSTCNPlusPlus(12, 20, 5, num_layers_pg=3, num_layers_r=2, num_refinement=2, num_channels=8)
    model = model.double().eval()
    x_a, mask = _padded([30, 18], 12)
    mask[0, 10:13] = False  # a hole: not a prefix mask
    x_b = torch.randn(2, 20, 30, dtype=torch.float64)
    m = mask.unsqueeze(1).double()
    with torch.no_grad():
        feats_a, logits_a = _stage_features(model.branch_a, x_a, mask)
        feats_b, logits_b = _stage_features(model.branch_b, x_b, mask)
        assert len(feats_a) == len(feats_b) == 3
        expected = torch.stack([
            classify(fuse(torch.cat([h_a, h_b], dim=1)) * m) * m
            for h_a, h_b, fuse, classify in zip(feats_a, feats_b, model.fusion, model.classifiers)
        ])
        fused, branch_a, branch_b = model.forward_all(x_a, x_b, mask)
    torch.testing.assert_close(fused, expected, atol=1e-12, rtol=0)
    torch.testing.assert_close(branch_a, logits_a, atol=1e-12, rtol=0)
    torch.testing.assert_close(branch_b, logits_b, atol=1e-12, rtol=0)
    # both inputs matter: the fused output moves with x_b at valid frames only
    with torch.no_grad():
        moved = model(x_a, x_b + torch.randn_like(x_b), mask)
        assert (moved - fused).abs().amax(dim=(0, 2))[mask].min() > 1e-6
        garbage = model(x_a, torch.where(mask.unsqueeze(1), x_b, torch.full_like(x_b, 1e3)), mask)
    torch.testing.assert_close(garbage, fused, atol=1e-12, rtol=0)


@pytest.mark.parametrize("window", WINDOWS)
def test_gradcheck_windowed_attention(window):
    torch.manual_seed(0)
    att = WindowedAttention(4, block_size=3, window=window).double()
    x, mask = _padded([7, 5], 4)
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda inp: att(inp, mask), (x,))


def test_gradcheck_blocks():
    torch.manual_seed(0)
    x, mask = _padded([9, 6], 4)
    x.requires_grad_(True)
    for block in (DilatedResidualLayer(4, 2, dropout=0.0), DualDilatedLayer(4, 1, 4, dropout=0.0),
                  ASFormerBlock(4, 2, dropout=0.0)):
        block = block.double()
        assert torch.autograd.gradcheck(lambda inp, block=block: block(inp, mask), (x,))


def test_no_gradient_reaches_padded_inputs():
    model = ASFormer(12, 5, 3, 8, 1).double().eval()
    x, mask = _padded([20, 11], 12)
    x.requires_grad_(True)
    model(x, mask).sum().backward()
    assert (x.grad[1, :, 11:] == 0).all()


@pytest.mark.parametrize("name", ["mstcn", "mstcn++", "asformer-block_halo", "asformer-sliding"])
def test_bf16_autocast_finite(name):
    model = MODELS[name]().train()
    x, mask = _padded([30, 20], 12, torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x, mask)
    assert torch.isfinite(out.float()).all()


@pytest.mark.parametrize("p", [0.3, 0.5])
def test_dropout_fast_path_statistics(p):
    torch.manual_seed(0)
    drop = Dropout(p)
    x = torch.ones(200_000)
    y = drop(x)
    assert abs((y == 0).float().mean().item() - p) < 0.01
    assert abs(y.mean().item() - 1.0) < 0.01
    assert y.unique().tolist() == pytest.approx([0.0, 1 / (1 - p)])
    assert torch.equal(drop.eval()(x), x)
    assert torch.equal(Dropout(0.0).train()(x), x)


@pytest.mark.parametrize("p", [0.25, 0.5, 0.3])
def test_dropout_fast_path_odd_sizes_independence_and_gradient(p):
    """An odd size, no correlation between neighbouring elements, and the gradient is the same scaled mask as the
    output; the mask is the one-byte-per-element stream of ``random_()`` (documented results depend on it)."""
    torch.manual_seed(1)
    x = torch.ones(3, 101, 331, dtype=torch.float64, requires_grad=True)  # 100,293 elements
    y = Dropout(p).train()(x)
    kept = (y != 0).double().flatten()
    assert abs(1 - kept.mean().item() - p) < 0.01
    for lag in (1, 2, 3, 4, 8, 16, 31, 32, 33):  # within one 32-bit word and across words
        assert abs(torch.corrcoef(torch.stack([kept[:-lag], kept[lag:]]))[0, 1].item()) < 0.02
    y.backward(torch.full_like(y, 3.0))
    assert torch.equal(x.grad, 3.0 * y.detach())
    if (p * 256).is_integer():
        torch.manual_seed(1)
        stream = torch.empty(x.shape, dtype=torch.uint8).random_() >= int(p * 256)
        assert torch.equal(y != 0, stream)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [  # the full table of bad inputs is tests/test_layers_inputs.py
        (lambda: MSTCN(12, 5)(torch.randn(12, 30)), ValueError,
         r"^x: expected shape \(B, 12, T\), got \(12, 30\)"),
        (lambda: MSTCN(12, 5)(torch.randn(1, 10, 30)), ValueError,
         r"^x: expected shape \(B, 12, T\), got \(1, 10, 30\)"),
        (lambda: MSTCN(12, 5)(torch.randn(1, 12, 30), torch.ones(1, 30)), TypeError,
         "^mask: expected dtype torch.bool"),
        (lambda: MSTCN(12, 5)(torch.randn(1, 12, 30), torch.ones(1, 29, dtype=torch.bool)), ValueError,
         r"^mask: expected shape \(B, T\) = \(1, 30\), got \(1, 29\)"),
        (lambda: MSTCN(12, 5)(torch.zeros(1, 12, 30, dtype=torch.long)), TypeError, "^x: expected a floating dtype"),
        (lambda: MSTCN(12, 5)(torch.randn(1, 12, 0)), ValueError,
         r"^x: expected T >= 1 in \(B, 12, T\), got \(1, 12, 0\)"),
        (lambda: ASFormer(12, 5)(torch.randn(1, 12, 30), [True] * 30), TypeError, "^mask: expected a torch.Tensor"),
        (lambda: WindowedAttention(8, block_size=0), ValueError,
         "^block_size: expected an integer >= 1 and <= 32768, got 0"),
        (lambda: WindowedAttention(8, window="banded"), ValueError, "^window: expected one of"),
        (lambda: WindowedAttention(8, qk_reduction=16), ValueError, "^qk_reduction: expected an integer >= 1 and <= 8"),
        (lambda: WindowedAttention(8, 4)(torch.randn(1, 8, 5)), ValueError, r"^value: expected a \(B, 4, T\) tensor"),
        (lambda: WindowedAttention(8, 4)(torch.randn(1, 8, 5), None, torch.randn(1, 4, 6)), ValueError,
         r"^value: expected shape \(1, 4, 5\)"),
        (lambda: ASFormer(12, 5, window="sliding_att"), ValueError, "^window: expected one of"),
        (lambda: ASFormer(12, 5, channel_dropout=1.0), ValueError, "^channel_dropout: expected a finite number >= 0"),
        (lambda: DilatedResidualLayer(8, 0), ValueError, "^dilation: expected an integer >= 1"),
        (lambda: DilatedResidualLayer(8, 1, dropout=-0.1), ValueError, "^dropout: expected a finite number >= 0.0"),
        (lambda: MSTCN(12, 5, num_stages=0), ValueError, "^num_stages: expected an integer >= 1"),
        (lambda: MSTCNPlusPlus(12, 5, num_refinement=-1), ValueError, "^num_refinement: expected an integer >= 0"),
        (lambda: MSTCNPlusPlus(12, 5, num_layers_pg=0), ValueError, "^num_layers_pg: expected an integer >= 1"),
        (lambda: SingleStageTCN(0, 5), ValueError, "^in_channels: expected an integer >= 1"),
    ],
)
def test_bad_input(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_convert_state_dict_errors_and_prefix():
    from actseg.io import convert_state_dict

    with pytest.raises(ValueError, match="source: expected one of"):
        convert_state_dict({}, "asrf")
    with pytest.raises(ValueError, match=r"1 keys are not parameters of a 'ms-tcn' checkpoint: 'foo\.weight'"):
        convert_state_dict({"foo.weight": 0}, "ms-tcn")
    with pytest.raises(TypeError, match="state_dict: expected a mapping"):
        convert_state_dict([("a", 1)], "ms-tcn")
    assert convert_state_dict({"module.stage1.conv_1x1.bias": 1}, "ms-tcn") == {"stage1.conv_in.bias": 1}


def _official_single_stage_state_dict(in_channels, num_classes, num_layers, num_channels, seed=0):
    """A state dict in the key layout of ms-tcn's ``SingleStageModel`` (yabufarha/ms-tcn@33ed91c model.py:
    ``conv_1x1`` (F, D, 1), ``layers.{l}.conv_dilated`` (F, F, 3), ``layers.{l}.conv_1x1`` (F, F, 1),
    ``conv_out`` (K, F, 1)), filled with random values."""
    g = torch.Generator().manual_seed(seed)
    shapes = {"conv_1x1": (num_channels, in_channels, 1)}
    for i in range(num_layers):
        shapes[f"layers.{i}.conv_dilated"] = (num_channels, num_channels, 3)
        shapes[f"layers.{i}.conv_1x1"] = (num_channels, num_channels, 1)
    shapes["conv_out"] = (num_classes, num_channels, 1)
    sd = {}
    for name, shape in shapes.items():
        sd[f"{name}.weight"] = torch.randn(shape, generator=g, dtype=torch.float64) / shape[1] ** 0.5
        sd[f"{name}.bias"] = torch.randn(shape[0], generator=g, dtype=torch.float64) * 0.1
    return sd


def test_convert_state_dict_loads_ms_tcn_single_stage_model():
    """Issue 10 §1: the ms-tcn ``SingleStageModel`` layout (no ``stage1.`` prefix) loads into SingleStageTCN and
    gives the official formula: z = W_in x; z += W_1 ReLU(W_d *_{2^l} z) per layer; y = W_out z."""
    from actseg.io import convert_state_dict

    sd = _official_single_stage_state_dict(6, 4, 3, 5)
    model = SingleStageTCN(6, 4, num_layers=3, num_channels=5).double().eval()
    converted = convert_state_dict(sd, "ms-tcn")
    assert list(converted)[:2] == ["conv_in.weight", "conv_in.bias"]
    model.load_state_dict(converted, strict=True)
    x = torch.randn(2, 6, 17, dtype=torch.float64)
    z = F.conv1d(x, sd["conv_1x1.weight"], sd["conv_1x1.bias"])
    for i in range(3):
        h = F.relu(F.conv1d(z, sd[f"layers.{i}.conv_dilated.weight"], sd[f"layers.{i}.conv_dilated.bias"],
                            padding=2**i, dilation=2**i))
        z = z + F.conv1d(h, sd[f"layers.{i}.conv_1x1.weight"], sd[f"layers.{i}.conv_1x1.bias"])
    expected = F.conv1d(z, sd["conv_out.weight"], sd["conv_out.bias"])
    with torch.no_grad():
        torch.testing.assert_close(model(x), expected, atol=1e-12, rtol=0)
    # nn.DataParallel prefix, and the MultiStageModel layout still works
    assert convert_state_dict({f"module.{k}": v for k, v in sd.items()}, "ms-tcn").keys() == converted.keys()
    staged = convert_state_dict({f"stages.0.{k}": v for k, v in sd.items()}, "ms-tcn")
    assert next(iter(staged)) == "stages.0.conv_in.weight"
    # one state dict may not mix the two layouts; non-string keys are rejected
    with pytest.raises(ValueError, match=r"^state_dict: expected the keys of one ms-tcn module, got MultiStageModel"):
        convert_state_dict({"stage1.conv_out.bias": 0, "conv_out.weight": 1}, "ms-tcn")
    with pytest.raises(TypeError, match=r"^state_dict: expected parameter names \(str\) as keys, got int 3"):
        convert_state_dict({3: 0}, "ms-tcn")
    with pytest.raises(TypeError, match=r"^source: expected one of"):
        convert_state_dict(sd, None)


def test_repr_mentions_hyper_parameters():
    assert "block_size=4" in repr(WindowedAttention(8, block_size=4))
    assert "dilation=2" in repr(DilatedResidualLayer(8, 2))
    assert "dilation_large=8" in repr(DualDilatedLayer(8, 1, 8))


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@cuda
@pytest.mark.parametrize("name", list(MODELS))
def test_cuda_matches_cpu_and_padding_invariance(name):
    torch.manual_seed(0)
    model = MODELS[name]().double().eval()
    x, mask = _padded([40, 23, 1, 17], 12)
    with torch.no_grad():
        cpu = model(x, mask)
        gpu = model.cuda()(x.cuda(), mask.cuda())
        alone = model(x[1:2, :, :23].cuda())
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-10, rtol=0)
    torch.testing.assert_close(gpu[:, 1:2, :, :23], alone, atol=1e-10, rtol=0)


@cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", ["mstcn", "mstcn++", "asformer-block_halo", "asformer-sliding", "asformer-full"])
def test_cuda_autocast_finite_and_backward(name, dtype):
    from actseg.losses import MultiStageLoss

    torch.manual_seed(0)
    model = MODELS[name]().cuda().train()
    x, mask = _padded([60, 35], 12, torch.float32)
    x, mask = x.cuda(), mask.cuda()
    target = torch.randint(0, 5, (2, 60), device="cuda")
    with torch.autocast("cuda", dtype=dtype):
        out = model(x, mask)
        loss = MultiStageLoss()(out, target, mask)
    loss.backward()
    assert torch.isfinite(out.float()).all() and torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("dilation", [8, 16, 37, 50, 51, 64])
@pytest.mark.parametrize("batch", [1, 3])
def test_shifted_product_convolution_equals_conv1d(dilation, batch):
    """Dilations from ``SHIFTED_PRODUCTS_MIN_DILATION`` run as three shifted products: outputs and the gradients
    of input, weight and bias equal ``nn.Conv1d``'s, including a dilation as long as the sequence (T = 51:
    the outer taps then only reach padding) and longer."""
    assert layers_common.SHIFTED_PRODUCTS_MIN_DILATION <= 8  # every case takes the shifted products
    torch.manual_seed(dilation)
    conv = torch.nn.Conv1d(5, 7, 3, padding=dilation, dilation=dilation).double()
    x = torch.randn(batch, 5, 51, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(batch, 7, 51, dtype=torch.float64)
    results = []
    for run in (conv, lambda inp: dilated_conv(conv, inp)):
        out = run(x)
        results.append((out, *torch.autograd.grad(out, (x, conv.weight, conv.bias), grad)))
    for expected, got in zip(*results):
        torch.testing.assert_close(got, expected, atol=1e-12, rtol=0)


def test_shifted_product_convolution_dispatch_and_gradcheck(monkeypatch):
    """Below the threshold, on the meta device, under autocast and without a gradient to compute the module itself
    runs; above it the hand-written backward passes gradcheck (float64) with only the gradients asked for."""
    calls = []
    apply = layers_common._ShiftedConv.apply
    monkeypatch.setattr(layers_common._ShiftedConv, "apply", lambda *a: calls.append(a[-1]) or apply(*a))
    small = torch.nn.Conv1d(3, 3, 3, padding=4, dilation=4)
    large = torch.nn.Conv1d(3, 3, 3, padding=8, dilation=8)
    x = torch.randn(2, 3, 30)
    dilated_conv(small, x)
    dilated_conv(large, torch.empty(2, 3, 30, device="meta"))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        dilated_conv(large, x)
    with torch.no_grad():  # inference keeps oneDNN
        dilated_conv(large, x)
    frozen = torch.nn.Conv1d(3, 3, 3, padding=8, dilation=8).requires_grad_(False)
    dilated_conv(frozen, x)
    for other in (torch.nn.Conv1d(3, 3, 3, padding=8, dilation=8, bias=False),
                  torch.nn.Conv1d(3, 3, 3, padding=9, dilation=8), torch.nn.Conv1d(3, 3, 5, padding=8, dilation=8),
                  torch.nn.Conv1d(3, 3, 3, padding=8, dilation=8, padding_mode="reflect")):
        torch.testing.assert_close(dilated_conv(other, x), other(x))  # not a shape the shifted products cover
    assert calls == []
    torch.testing.assert_close(dilated_conv(large, x), large(x), atol=1e-5, rtol=0)
    assert calls == [8]
    conv = torch.nn.Conv1d(2, 3, 3, padding=8, dilation=8).double()
    inputs = torch.randn(2, 2, 19, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, w, b: apply(a, w, b, 8), (inputs, conv.weight, conv.bias))
    conv.requires_grad_(False)
    (grad_x,) = torch.autograd.grad(dilated_conv(conv, inputs).sum(), inputs)
    torch.testing.assert_close(grad_x, torch.autograd.grad(conv(inputs).sum(), inputs)[0], atol=1e-12, rtol=0)
    assert calls == [8, 8]  # the frozen convolution with an input that needs a gradient took the shifted products


def test_pointwise_equals_conv1d_with_scale_and_per_sample_weights():
    torch.manual_seed(0)
    conv = torch.nn.Conv1d(4, 6, 1).double()
    x = torch.randn(3, 4, 11, dtype=torch.float64)
    torch.testing.assert_close(pointwise(conv, x), conv(x), atol=1e-12, rtol=0)
    torch.testing.assert_close(pointwise(conv, x, scale=0.25), 0.25 * conv(x), atol=1e-12, rtol=0)
    channels_last = x.transpose(1, 2).contiguous().transpose(1, 2)  # a transposed view, as the attention passes
    torch.testing.assert_close(pointwise(conv, channels_last), conv(x), atol=1e-12, rtol=0)
    scale = torch.tensor([[0.0, 2.0, 2.0, 0.0], [2.0, 2.0, 2.0, 2.0], [0.0, 0.0, 0.0, 2.0]], dtype=torch.float64)
    weight = conv.weight.squeeze(-1) * scale.unsqueeze(1)
    torch.testing.assert_close(pointwise(conv, x, weight), conv(x * scale.unsqueeze(-1)), atol=1e-12, rtol=0)


@pytest.mark.parametrize("window", ["block_halo", "block"])
@pytest.mark.parametrize("bl", [1, 2, 3, 4, 5, 8])
def test_block_attention_backward_equals_fused_kernel(bl, window, monkeypatch):
    """The hand-written backward of the CPU block attention (windows up to ``SAVED_WEIGHTS_MAX_BLOCK``) gives the
    gradients that autograd gives through the fused kernel, for queries, keys and values, with padding holes."""
    from actseg.layers import _attention

    torch.manual_seed(bl)
    q, k, v = (torch.randn(2, 23, c, dtype=torch.float64, requires_grad=True) for c in (4, 4, 3))
    valid = torch.ones(2, 23, 1, dtype=torch.float64)
    valid[0, 7:10] = 0
    valid[1, 17:] = 0
    grad = torch.randn(2, 23, 3, dtype=torch.float64)
    results = []
    for limit in (0, 64):  # fused kernel, then the explicit weights
        monkeypatch.setattr(_attention, "SAVED_WEIGHTS_MAX_BLOCK", limit)
        out = windowed_attention(q, k * valid, v, valid, bl, window)
        results.append((out, *torch.autograd.grad(out, (q, k, v), grad)))
    for fused, explicit in zip(*results):
        torch.testing.assert_close(explicit, fused, atol=1e-12, rtol=0)
    grad_k = results[1][2]
    assert grad_k[1, 17:].abs().max() == 0  # no gradient reaches padded keys
    assert (grad_k.abs().sum() > 0) == (bl > 1)  # one key per window (bl = 1): softmax ≡ 1, no key gradient


@pytest.mark.parametrize("bl", [1, 2, 4])
def test_gradcheck_block_attention_core(bl):
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 9, c, dtype=torch.float64, requires_grad=True) for c in (3, 3, 2))
    valid = torch.ones(1, 9, 1, dtype=torch.float64)
    valid[0, 4] = 0
    assert torch.autograd.gradcheck(
        lambda a, b, c: windowed_attention(a, b * valid, c, valid, bl, "block_halo"), (q, k, v))
