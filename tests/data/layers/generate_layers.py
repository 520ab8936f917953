"""Regenerate tests/data/layers/*.pt from the official MS-TCN, MS-TCN++ and ASFormer modules.

This is our own driver script. It contains no reference code: it executes each official ``model.py`` from a
checkout given on the command line, with exactly the documented textual changes applied in memory at load
time (nothing modified is written anywhere):

* ms-tcn ``model.py``: ``print vid`` -> ``print(vid)`` (Python 2 statement in ``Trainer.predict``, not run).
* MS-TCN2 ``model.py`` at 9d31fb3: unchanged; ``loguru`` (used only by ``Trainer``) is a no-op stand-in module.
* ASFormer ``model.py``: unchanged; ``eval`` (imports matplotlib/seaborn) is a stand-in module with a no-op
  ``segment_bars_with_confidence``. The "sliding" files change line 72 only, as the ASFormer README says:
  ``window_mask[:, :, i:i+self.bl] = 1`` -> ``window_mask[:, i, i:i+self.bl] = 1``.

Everything is rebuilt from seeds (nothing is read from the stored files except with ``--check``):

* weights: ``torch.manual_seed(SEED)``, then the official constructor (default init, float32); the float64
  model is ``model.double()`` of the same init. Stored once as a float64 state_dict.
* ``cases``: input ``torch.randn((1, D, T), generator=torch.Generator().manual_seed(BASE + T),
  dtype=torch.float64)``; the float32 case is the same values cast; mask = ones (1, K, T). Outputs of
  ``model(x, mask)`` (``MS_TCN2``: ``model(x)``) in ``eval()`` mode, float32 then float64 for each T.
* ``loss_cases``: the input of video b is ``randn((1, D, L_b))`` from seed ``LOSS_SEED[b]`` (zero-padded to T),
  the targets are ``torch.randint(0, K, (B, T))`` from one generator seeded ``TARGET_SEED`` (-100 on padding),
  mask (B, K, T) float64 = 1 on the valid prefix. Loss and parameter gradients come from the official
  ``Trainer.train`` itself (one epoch, a one-batch stand-in for the batch generator, ``model.train`` made a
  no-op so dropout stays off, gradients read in an optimizer step pre-hook that stops before the Adam step;
  for ASFormer, whose ``ReduceLROnPlateau(..., verbose=True)`` raises TypeError on torch >= 2.7, the scheduler
  class is wrapped to drop ``verbose`` during that call). ``ce_per_stage``, ``tmse_per_stage`` and
  ``n_clamped`` restate the per-stage terms of that loss (their sum is checked to equal the official loss).
* ``padded_cases``: videos of lengths 50 and 31 from seeds ``PAD_SEEDS``, batched as above and run alone.
* ``error_cases`` (ASFormer): T = 1 inputs from seed ``BASE + 1``; the message the reference raises.

Usage (reference checkouts at the commits in the README):

    python tests/data/layers/generate_layers.py --mstcn SCRATCH/ms-tcn --mstcn2 SCRATCH/MS-TCN2 \
        --asformer SCRATCH/ASFormer --out tests/data/layers            # rewrite the six files
    python tests/data/layers/generate_layers.py ... --out tests/data/layers --check   # compare, write nothing

``--check`` compares every regenerated value with the stored file and exits with status 1 unless integer
tensors, weights, inputs, strings and meta are equal and every float tensor has max |new - stored| <=
``--rtol`` * max |stored| (default 0: bit-identical).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import sys
import types
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.optim.optimizer import register_optimizer_step_pre_hook

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from compare_tree import compare  # tests/data/compare_tree.py

D, K = 24, 5
SLIDING = ("window_mask[:, :, i:i+self.bl] = 1", "window_mask[:, i, i:i+self.bl] = 1")
MSTCN = {"num_stages": 3, "num_layers": 4, "num_f_maps": 16, "dim": 24, "num_classes": 5}
MSTCN2 = {"num_layers_PG": 5, "num_layers_R": 4, "num_R": 2, "num_f_maps": 16, "dim": 24, "num_classes": 5}
FILES = {  # cases: input seed BASE + T; loss: (name, input seed per video, target seed, lengths, input scale)
    "mstcn": {
        "repo": "yabufarha/ms-tcn@33ed91c0c7576650a2367efc602553af4c5295b1", "checkout": "mstcn",
        "subs": [("print vid", "print(vid)")], "cls": "MultiStageModel", "seed": 0, "base": 100, "Ts": [1, 7, 50, 129],
        "constructor": MSTCN,
        "default": {"num_stages": 4, "num_layers": 10, "num_f_maps": 64, "dim": 2048, "num_classes": 19},
        "loss": [("single_T50", [7000], 7001, [50], 1.0), ("padded_B2_T50_31", [7100, 7101], 8100, [50, 31], 1.0),
                 ("single_T50_clamp_active", [7200], 7201, [50], 60.0)],
        "padded": {"seeds": [7300, 7301], "dtypes": ["float32", "float64"], "alone": [0, 1]},
        "trainer": {"num_blocks": 3, "num_layers": 4, "num_f_maps": 16, "dim": 24, "num_classes": 5}},
    "mstcn2": {
        "repo": "sj-li/MS-TCN2@9d31fb3c23467b9ce3030d43b6d33a96869b6422", "checkout": "mstcn2", "subs": [],
        "cls": "MS_TCN2", "seed": 1, "base": 200, "Ts": [1, 7, 50, 129], "constructor": MSTCN2,
        "default": {"num_layers_PG": 11, "num_layers_R": 10, "num_R": 3, "num_f_maps": 64, "dim": 2048,
                    "num_classes": 19},
        "loss": [("single_T50", [8000], 8001, [50], 1.0)],
        "padded": {"seeds": [8300, 8301], "dtypes": ["float64"], "alone": [1]},
        "trainer": {**MSTCN2, "dataset": "unused", "split": "1"}},
}
for _name, _sub, _L, _seed, _base, _Ts in (("asformer", [], 6, 2, 360, [2, 7, 37, 50, 100]),
                                           ("asformer_l8", [], 8, 3, 380, [90]),
                                           ("asformer_sliding", [SLIDING], 6, 2, 360, [2, 7, 37, 50, 100]),
                                           ("asformer_sliding_l8", [SLIDING], 8, 3, 380, [90])):
    _trainer = {"num_layers": _L, "r1": 2, "r2": 2, "num_f_maps": 16, "input_dim": 24, "num_classes": 5,
                "channel_masking_rate": 0.3}
    FILES[_name] = {
        "repo": "ChinaYi/ASFormer@e1bbe4f3ed083748f91467c51a63ac2a8b9277ad", "checkout": "asformer",
        "cls": "MyTransformer", "subs": _sub, "seed": _seed, "base": _base, "Ts": _Ts,
        "constructor": {"num_decoders": 3, **_trainer}, "trainer": _trainer, "errors": _L == 6,
        "default": {"num_decoders": 3, "num_layers": 10, "r1": 2, "r2": 2, "num_f_maps": 64, "input_dim": 2048,
                    "num_classes": 19, "channel_masking_rate": 0.3},
        "loss": [("single_T50", [9000], 9001, [50], 1.0)] if _L == 6 else [],
        "variant": "README-fixed sliding window_mask (line 72 changed)" if _sub else "official window_mask"}


def load_model_py(path, subs, name):
    """Execute the official model.py with exactly the listed one-to-one text substitutions."""
    source = Path(path).read_text()
    for old, new in subs:
        if source.count(old) != 1:
            raise SystemExit(f"{path}: {old!r} found {source.count(old)} times, expected once")
        source = source.replace(old, new)
    module = types.ModuleType(name)
    module.__file__ = str(path)
    exec(compile(source, str(path), "exec"), module.__dict__)  # running the reference is the point
    return module


def stubs():
    logger = types.SimpleNamespace(add=lambda *a, **k: None, info=lambda *a, **k: None)
    sys.modules.setdefault("loguru", types.SimpleNamespace(logger=logger))
    ev = types.ModuleType("eval")
    ev.segment_bars_with_confidence = lambda *a, **k: None
    sys.modules["eval"] = ev


def randn(seed, shape, dtype=torch.float64):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def forward(model, name, x, mask):
    with torch.no_grad():
        return model(x) if name == "mstcn2" else model(x, mask)


class _Stop(Exception):
    pass


def official_train(module, name, cfg, model, x, y, mask):
    """One step of the official Trainer.train on (x, y, mask): returns (loss tensor, {param: grad})."""
    with torch.random.fork_rng(), contextlib.redirect_stdout(io.StringIO()):
        trainer = module.Trainer(**cfg["trainer"])  # its own model is replaced below
    trainer.model = model
    model.train = lambda mode=True: model  # keep eval(): dropout off
    batch = (x, y, mask, ["v"]) if name.startswith("asformer") else (x, y, mask)  # ASFormer also yields vids

    class BatchGen:
        def __init__(self):
            self.left, self.list_of_examples = 1, ["v"]

        def has_next(self):
            return self.left > 0

        def next_batch(self, *args):
            self.left -= 1
            return batch

        def reset(self):
            pass

    seen = {}
    real_backward, real_plateau = torch.Tensor.backward, torch.optim.lr_scheduler.ReduceLROnPlateau

    def backward(self, *a, **k):
        seen["loss"] = self.detach().clone()
        return real_backward(self, *a, **k)

    def pre_hook(optimizer, args, kwargs):
        seen["grads"] = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
        raise _Stop

    class Plateau(real_plateau):  # torch >= 2.7 removed `verbose`; ASFormer passes verbose=True
        def __init__(self, *a, verbose=None, **k):
            super().__init__(*a, **k)

    handle = register_optimizer_step_pre_hook(pre_hook)
    torch.Tensor.backward = backward
    torch.optim.lr_scheduler.ReduceLROnPlateau = Plateau
    try:
        args = ("unused", BatchGen(), 1, x.shape[0], 0.0005)
        with contextlib.redirect_stdout(io.StringIO()):  # ASFormer prints the learning rate
            trainer.train(*args) if name.startswith("asformer") else trainer.train(*args, "cpu")
    except _Stop:
        pass
    finally:
        handle.remove()
        torch.Tensor.backward = real_backward
        torch.optim.lr_scheduler.ReduceLROnPlateau = real_plateau
        del model.train
    return seen["loss"], seen["grads"]


def stage_terms(outputs, y, mask):
    """Per-stage CE and un-weighted T-MSE of the official training loss, and how many entries were clamped."""
    ce, tmse, clamped = [], [], 0
    for p in outputs:
        ce.append(F.cross_entropy(p.transpose(2, 1).contiguous().view(-1, K), y.view(-1), ignore_index=-100))
        sq = F.mse_loss(F.log_softmax(p[:, :, 1:], dim=1), F.log_softmax(p.detach()[:, :, :-1], dim=1),
                        reduction="none")
        tmse.append(torch.mean(torch.clamp(sq, min=0, max=16) * mask[:, :, 1:]))
        clamped += int((sq > 16).sum())
    return torch.stack(ce), torch.stack(tmse), clamped


def batch(seeds, lengths, scale=1.0):
    T = max(lengths)
    x = torch.zeros(len(lengths), D, T, dtype=torch.float64)
    mask = torch.zeros(len(lengths), K, T, dtype=torch.float64)
    for b, (s, n) in enumerate(zip(seeds, lengths)):
        x[b, :, :n] = randn(s, (1, D, n))[0] * scale
        mask[b, :, :n] = 1
    return x, mask


def build(name, cfg, module):
    cls = getattr(module, cfg["cls"])
    torch.manual_seed(cfg["seed"])
    model32 = cls(**cfg["constructor"]).eval()
    state = {k: v.detach().double() for k, v in model32.state_dict().items()}
    model64 = cls(**cfg["constructor"]).double().eval()
    model64.load_state_dict(state)
    out = {"state_dict": state, "cases": []}
    for T in cfg["Ts"]:
        x64 = randn(cfg["base"] + T, (1, D, T))
        for dtype, model in ((torch.float32, model32), (torch.float64, model64)):
            x, mask = x64.to(dtype), torch.ones(1, K, T, dtype=dtype)
            out["cases"].append({"dtype": str(dtype)[6:], "T": T, "input": x, "mask": mask,
                                 "outputs": forward(model, name, x, mask)})
    if cfg.get("errors"):
        out["error_cases"] = []
        x64 = randn(cfg["base"] + 1, (1, D, 1))
        for dtype, model in ((torch.float32, model32), (torch.float64, model64)):
            x, mask = x64.to(dtype), torch.ones(1, K, 1, dtype=dtype)
            try:
                forward(model, name, x, mask)
                error = None
            except Exception as exc:  # the reference's error is the recorded result
                error = f"{type(exc).__name__}: {exc}"
            out["error_cases"].append({"dtype": str(dtype)[6:], "T": 1, "input": x, "mask": mask, "error": error})
    if cfg["loss"]:
        out["loss_cases"] = []
    for case_name, seeds, target_seed, lengths, scale in cfg["loss"]:
        x, mask = batch(seeds, lengths, scale)
        y = torch.randint(0, K, (len(lengths), max(lengths)), generator=torch.Generator().manual_seed(target_seed))
        y[mask[:, 0] == 0] = -100
        outputs = forward(model64, name, x, mask)
        ce, tmse, clamped = stage_terms(outputs, y, mask)
        loss, grads = official_train(module, name, cfg, model64, x, y, mask)
        total = 0
        for c, t in zip(ce, tmse):  # accumulated in the order of the official loop
            total = total + c
            total = total + 0.15 * t
        if not torch.equal(total, loss):
            raise AssertionError(f"{name}/{case_name}: per-stage terms sum to {total.item()!r}, "
                                 f"official loss {loss.item()!r}")
        out["loss_cases"].append({"name": case_name, "dtype": "float64", "B": len(lengths), "T": max(lengths),
                                  "lengths": lengths, "input": x, "target": y, "mask": mask, "outputs": outputs,
                                  "loss": loss, "ce_per_stage": ce.detach(), "tmse_per_stage": tmse.detach(),
                                  "n_clamped": clamped, "grads": grads})
    if "padded" in cfg:
        out["padded_cases"] = []
        pad = cfg["padded"]
        x64, mask64 = batch(pad["seeds"], [50, 31])
        for dt in pad["dtypes"]:
            dtype = getattr(torch, dt)
            model = model32 if dtype == torch.float32 else model64
            x, mask = x64.to(dtype), mask64.to(dtype)
            case = {"dtype": dt, "lengths": [50, 31], "input": x, "mask": mask,
                    "outputs": forward(model, name, x, mask)}
            for b in pad["alone"]:
                n = [50, 31][b]
                case[f"outputs_alone_{b}"] = forward(model, name, x[b:b + 1, :, :n].contiguous(),
                                                     torch.ones(1, K, n, dtype=dtype))
            diff = (case["outputs"][:, 1:2, :, :31] - case["outputs_alone_1"]).abs()
            case["max_abs_diff_short_vs_alone"] = diff.max().item()
            if 0 in pad["alone"]:
                case["frames_differing_short"] = int((diff.amax(dim=(0, 1, 2)) > 0).sum())
            out["padded_cases"].append(case)
    sd_keys = list(state)
    torch.manual_seed(0)
    default_params = sum(p.numel() for p in cls(**cfg["default"]).parameters())
    meta = {"repo": cfg["repo"], "path": "model.py", "class": cfg["cls"], "constructor": cfg["constructor"],
            "seed": cfg["seed"], "state_dict_keys": {"n_keys": len(sd_keys), "first_keys": sd_keys[:8],
                                                     "last_keys": sd_keys[-4:]},
            "default_config_params": default_params}
    if "variant" in cfg:
        meta["variant"] = cfg["variant"]
    return meta, out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mstcn", type=Path, required=True, help="yabufarha/ms-tcn at 33ed91c")
    parser.add_argument("--mstcn2", type=Path, required=True, help="sj-li/MS-TCN2 at 9d31fb3")
    parser.add_argument("--asformer", type=Path, required=True, help="ChinaYi/ASFormer at e1bbe4f")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    parser.add_argument("--only", choices=list(FILES), action="append")
    parser.add_argument("--check", action="store_true", help="compare with the stored files, write nothing")
    parser.add_argument("--rtol", type=float, default=0.0,
                        help="with --check: accept max|new - stored| <= rtol * max|stored| per tensor (default 0)")
    args = parser.parse_args()
    torch.use_deterministic_algorithms(True)
    stubs()
    failed = False
    for name in args.only or FILES:
        cfg = FILES[name]
        path = getattr(args, cfg["checkout"]) / "model.py"
        module = load_model_py(path, cfg["subs"], f"official_{name}")
        meta, data = build(name, cfg, module)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        changes = "; ".join(f"{old!r} -> {new!r}" for old, new in cfg["subs"]) or "unmodified"
        meta["notes"] = (f"model.py sha256 {digest}; {changes} (applied in memory by "
                         f"tests/data/layers/generate_layers.py); torch {torch.__version__} CPU, eval() mode.")
        if args.check:
            stored = torch.load(args.out / f"{name}.pt", weights_only=True)
            theirs = {k: v for k, v in stored.items() if k != "meta"}
            exact = compare(data, theirs, name)
            close = compare(data, theirs, name, args.rtol)
            close += compare({k: v for k, v in meta.items() if k != "notes"},
                             {k: v for k, v in stored["meta"].items() if k != "notes"}, f"{name}.meta")
            if digest not in stored["meta"]["notes"]:
                close.append(f"{name}.meta.notes: sha256 {digest} not in the stored notes")
            n = sum(len(v) for k, v in data.items() if k != "state_dict")
            inputs = [d for d in exact if any(f".{k}" in d for k in ("state_dict", "input", "target", "mask"))]
            print(f"{name}: state_dict of {len(data['state_dict'])} tensors and {n} cases; {len(exact)} values not "
                  f"bit-identical ({len(inputs)} of them weights/inputs/targets/masks); {len(close)} outside "
                  f"rtol={args.rtol:g} or in meta")
            worst = {}
            for d in exact:
                if "max |diff|" in d:
                    field = d.split(": ")[0].split(".", 2)[-1].split("[")[0] if "grads" not in d else "grads"
                    key = (d.split(".")[1].split("[")[0], field.split(".")[-1], d.rsplit("[", 1)[1][:-1])
                    worst[key] = max(worst.get(key, 0.0), float(d.split("= ")[1].split(" x")[0]))
            for (group, field, dt), rel in sorted(worst.items()):
                print(f"   {group} {field} ({dt}): up to {rel:.1e} x max |stored|")
            for d in close[:30]:
                print("  ", d)
            failed |= bool(close)
        else:
            torch.save({"meta": meta, **data}, args.out / f"{name}.pt")
            print(f"wrote {args.out / f'{name}.pt'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
