"""NoBiasDecay and L1Regularization on real (tiny) fits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import RandomImageDataModule, fit
from lightning.pytorch.callbacks import Callback
from torch.optim.lr_scheduler import LambdaLR

from callbacks._schedule_helpers import OptTiny, RecordLR, one_thread_fixture, warnings_as_errors
from lightning_tricks.callbacks import L1Regularization, NoBiasDecay
from lightning_tricks.optim import param_groups

pytestmark = warnings_as_errors()
_one_thread = pytest.fixture(autouse=True)(one_thread_fixture)


def _dm() -> RandomImageDataModule:
    return RandomImageDataModule(n_train=64, batch_size=8)


class _Grads(Callback):
    """Gradients as the optimizer sees them (runs after the callbacks listed before it)."""

    def __init__(self) -> None:
        self.grads: list[dict[str, torch.Tensor]] = []

    def on_before_optimizer_step(self, trainer: Any, pl_module: Any, optimizer: Any) -> None:
        self.grads.append(
            {
                n: p.grad.detach().clone()
                for n, p in pl_module.named_parameters()
                if p.grad is not None
            }
        )


# ---------------------------------------------------------------- NoBiasDecay


def test_no_bias_decay_splits_groups(tmp_path: Path) -> None:
    model = OptTiny(weight_decay=5e-4)
    cb = NoBiasDecay()
    trainer = fit(model, _dm(), tmp_path, max_steps=1, callbacks=[cb])
    decay, no_decay = trainer.optimizers[0].param_groups
    names = {id(p): n for n, p in model.named_parameters()}
    assert sorted(names[id(p)] for p in decay["params"]) == ["net.0.weight", "net.5.weight"]
    assert sorted(names[id(p)] for p in no_decay["params"]) == [
        "net.0.bias", "net.1.bias", "net.1.weight", "net.5.bias"
    ]  # fmt: skip
    assert decay["weight_decay"] == 5e-4 and no_decay["weight_decay"] == 0.0
    assert no_decay["momentum"] == 0.9 and no_decay["lr"] == decay["lr"]
    assert cb.moved == 4


def test_no_bias_decay_equals_param_groups(tmp_path: Path) -> None:
    """Training with the callback equals training with the groups built by hand."""

    class ByHand(OptTiny):
        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(param_groups(self, 5e-2), lr=0.1, momentum=0.9)

    torch.manual_seed(0)
    a = OptTiny(weight_decay=5e-2)
    torch.manual_seed(0)
    b = ByHand()
    fit(a, _dm(), tmp_path, max_epochs=2, callbacks=[NoBiasDecay()])
    fit(b, _dm(), tmp_path, max_epochs=2)
    for (n, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(p, q), n


def test_no_bias_decay_extends_module_schedulers_and_names(tmp_path: Path) -> None:
    class Named(OptTiny):
        def configure_optimizers(self) -> Any:
            body = [p for n, p in self.named_parameters() if not n.startswith("net.5")]
            opt = torch.optim.SGD(
                [
                    {"params": body, "name": "body"},
                    {"params": self.net[5].parameters(), "name": "head", "lr": 0.01},
                ],
                lr=0.1,
                weight_decay=1e-3,
            )
            # per-group lambdas: the split groups must inherit their source group's lambda
            sched = LambdaLR(opt, [lambda s: 1.0 / (1 + s), lambda s: 0.5**s])
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    rec = RecordLR()
    trainer = fit(Named(), _dm(), tmp_path, max_steps=3, callbacks=[NoBiasDecay(), rec])
    groups = trainer.optimizers[0].param_groups
    assert [g["name"] for g in groups] == ["body", "head", "body/no_decay", "head/no_decay"]
    assert [g["weight_decay"] for g in groups] == [1e-3, 1e-3, 0.0, 0.0]
    for s, lrs in enumerate(rec.lrs):
        assert lrs == pytest.approx([0.1 / (1 + s), 0.01 * 0.5**s, 0.1 / (1 + s), 0.01 * 0.5**s])


def test_no_bias_decay_warns_when_there_is_no_decay(tmp_path: Path) -> None:
    with pytest.warns(
        UserWarning, match="NoBiasDecay: no param group has weight_decay > 0"
    ) as record:
        fit(OptTiny(weight_decay=0.0), _dm(), tmp_path, max_steps=1, callbacks=[NoBiasDecay()])
    assert sum("NoBiasDecay" in str(w.message) for w in record) == 1


def test_no_bias_decay_validation() -> None:
    with pytest.raises(TypeError, match=r"`bias` must be a bool, got 1"):
        NoBiasDecay(bias=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"`patterns` must be a list of strings, got 'bias'"):
        NoBiasDecay(patterns="bias")


# ---------------------------------------------------------------- L1Regularization


def test_l1_gradients_equal_the_penalty_in_the_loss(tmp_path: Path) -> None:
    lam = 1e-2
    grads = []
    for model, callbacks in (
        (OptTiny(penalty=lam), []),  # λ·Σ|w| over the conv and linear weights in the loss
        (OptTiny(), [L1Regularization(weight=lam)]),  # biases and BN excluded by default
    ):
        torch.manual_seed(0)
        model.load_state_dict(OptTiny().state_dict())
        rec = _Grads()
        fit(model, _dm(), tmp_path, max_steps=3, callbacks=[*callbacks, rec])
        grads.append(rec.grads)
    for ref, ours in zip(*grads):
        assert ref.keys() == ours.keys()
        for name in ref:
            torch.testing.assert_close(ours[name], ref[name], rtol=1e-6, atol=1e-7, msg=name)


def test_l1_with_accumulation_and_bf16(tmp_path: Path) -> None:
    """Added once per optimizer step (after accumulation), under bf16 autocast (fp32 grads)."""
    lam = 0.05
    base = OptTiny()
    grads = []
    for callbacks in ([], [L1Regularization(weight=lam)]):
        model = OptTiny()
        model.load_state_dict(base.state_dict())
        rec = _Grads()
        kw = {"max_steps": 1, "accumulate_grad_batches": 2, "precision": "bf16-mixed"}
        fit(model, _dm(), tmp_path, callbacks=[*callbacks, rec], **kw)
        grads.append(rec.grads[0])
    off, on = grads
    for name in ("net.0.weight", "net.5.weight"):
        sign = torch.sign(base.state_dict()[name])
        torch.testing.assert_close(on[name] - off[name], lam * sign, rtol=0, atol=1e-6)
    for name in ("net.0.bias", "net.1.weight", "net.5.bias"):
        assert torch.equal(on[name], off[name]), name


def test_l1_include_bias_and_validation(tmp_path: Path) -> None:
    cb = L1Regularization(weight=0.1, exclude_bias=False)
    model = OptTiny()
    selected = {id(p) for p in cb.select(model)}
    picked = sorted(n for n, p in model.named_parameters() if id(p) in selected)
    assert picked == ["net.0.bias", "net.0.weight", "net.5.bias", "net.5.weight"]
    with pytest.raises(ValueError, match=r"`weight` must be a finite float in \(0, inf\), got 0"):
        L1Regularization(weight=0)
    with pytest.raises(
        TypeError, match=r"`weight` must be a finite float in \(0, inf\), got str '1e-4'"
    ):
        L1Regularization(weight="1e-4")  # type: ignore[arg-type]
