"""actseg.layers against the official MS-TCN, MS-TCN2 and ASFormer modules.

``tests/data/layers/*.pt`` hold state_dicts, inputs and the outputs of every stage produced by running
the official modules (see ``tests/data/layers/README.md``). Our modules load the weights through
``actseg.io.convert_state_dict`` with ``strict=True`` and must match to 1e-5 (float32) / 1e-9
(float64), with and without an all-valid mask; the MS-TCN loss and its parameter gradients must
match the official ``Trainer.train`` step.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from actseg.io import convert_state_dict
from actseg.layers import MSTCN, ASFormer, MSTCNPlusPlus
from actseg.losses import MultiStageLoss

DATA = Path(__file__).parent / "data" / "layers"
KINDS = ("mstcn", "mstcn2", "asformer", "asformer_sliding", "asformer_l8", "asformer_sliding_l8")
TOLERANCE = {"float32": 1e-5, "float64": 1e-9}


def _load(kind):
    return torch.load(DATA / f"{kind}.pt", weights_only=True)


def _model(kind, meta):
    c = meta["constructor"]
    if kind == "mstcn2":
        model = MSTCNPlusPlus(c["dim"], c["num_classes"], c["num_layers_PG"], c["num_layers_R"], c["num_R"],
                              c["num_f_maps"])
        return model, "ms-tcn2"
    if kind == "mstcn":
        return MSTCN(c["dim"], c["num_classes"], c["num_stages"], c["num_layers"], c["num_f_maps"]), "ms-tcn"
    window = "sliding" if "sliding" in kind else "block_halo"
    model = ASFormer(c["input_dim"], c["num_classes"], c["num_layers"], c["num_f_maps"], c["num_decoders"], c["r1"],
                     c["r2"], window=window, channel_dropout=c["channel_masking_rate"])
    return model, "asformer"


def _loaded(kind, data):
    model, source = _model(kind, data["meta"])
    model.load_state_dict(convert_state_dict(data["state_dict"], source), strict=True)
    return model.eval()


CASES = [(kind, i) for kind in KINDS for i in range(len(_load(kind)["cases"]))]


@pytest.mark.parametrize(("kind", "index"), CASES, ids=[f"{k}-{i}" for k, i in CASES])
def test_outputs_match_official(kind, index):
    data = _load(kind)
    case = data["cases"][index]
    dtype = getattr(torch, case["dtype"])
    model = _loaded(kind, data).to(dtype)
    x = case["input"].to(dtype)
    expected = case["outputs"].to(dtype)
    with torch.no_grad():
        plain = model(x)
        masked = model(x, torch.ones(1, case["T"], dtype=torch.bool))
    assert plain.shape == expected.shape
    torch.testing.assert_close(plain, expected, atol=TOLERANCE[case["dtype"]], rtol=0)
    torch.testing.assert_close(masked, expected, atol=TOLERANCE[case["dtype"]], rtol=0)


def test_official_asformer_cannot_run_one_frame_but_we_can():
    data = _load("asformer")
    assert data["error_cases"] and all("spatial element" in c["error"] for c in data["error_cases"])
    model = _loaded("asformer", data)
    with torch.no_grad():
        out = model(data["error_cases"][0]["input"].float())
    assert out.shape[-1] == 1 and torch.isfinite(out).all()


LOSS_CASES = [(kind, i) for kind in ("mstcn", "mstcn2", "asformer", "asformer_sliding")
              for i in range(len(_load(kind)["loss_cases"]))]


@pytest.mark.parametrize(("kind", "index"), LOSS_CASES, ids=[f"{k}-{i}" for k, i in LOSS_CASES])
def test_loss_and_gradients_match_official_training_step(kind, index):
    data = _load(kind)
    case = data["loss_cases"][index]
    model = _loaded(kind, data).double()
    mask = case["mask"][:, 0, :].bool()
    criterion = MultiStageLoss(reference="ms-tcn")
    if case["B"] == 1:
        loss = criterion(model(case["input"], mask), case["target"], mask)
        loss.backward()
        names = convert_state_dict({key: key for key in data["state_dict"]}, "ms-tcn2" if kind == "mstcn2"
                                   else "ms-tcn" if kind == "mstcn" else "asformer")
        for name, param in model.named_parameters():
            torch.testing.assert_close(param.grad, case["grads"][names[name]], atol=1e-12, rtol=0)
    else:  # padded batch: the official model leaks padding, so compare the loss on its own outputs
        loss = criterion(case["outputs"], case["target"], mask)
    torch.testing.assert_close(loss, case["loss"], atol=1e-12, rtol=0)


def test_reference_padding_leak_is_real_and_ours_has_none():
    """The official MS-TCN changes a short video's logits when it is padded in a batch; actseg does not."""
    data = _load("mstcn")
    case = data["padded_cases"][0]
    model = _loaded("mstcn", data)
    lengths = case["lengths"]
    short = lengths.index(min(lengths))
    n = lengths[short]
    mask = case["mask"][:, 0, :].bool()
    with torch.no_grad():
        batched = model(case["input"], mask)[:, short, :, :n]
        alone = model(case["input"][short:short + 1, :, :n])[:, 0]
    official_leak = (case["outputs"][:, short, :, :n] - alone).abs().max()
    assert official_leak > 1e-3
    torch.testing.assert_close(batched, alone, atol=1e-6, rtol=0)  # float32
