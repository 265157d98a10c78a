"""Schedule, optimizer, EMA and init callbacks on every module style of the zoo (issue 14).

Styles: automatic optimization with HF-style dict batches and ``.logits`` outputs, manual
optimization (Lightning's wrapper with a StepLR the module steps itself, and the raw torch
optimizer, never touching its schedulers), a module returning OneCycleLR, and a module + Trainer of the standalone
``pytorch_lightning`` package. Each runs 4 optimizer steps in fp32 and bf16-mixed, and each
test checks behaviour against a reference computed here: the LR of every step, the param
groups, the L1 effect (equal to the penalty added to the module's own loss), the EMA average
(computed by hand from the weights after each optimizer step), the initial weights, and the
module's own metrics in ``trainer.callback_metrics``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lightning.pytorch as lp
import pytest
import pytorch_lightning as pl_standalone
import torch
from helpers import QUIET_TRAINER_KWARGS, RandomImageDataModule
from torch import Tensor
from zoo.dict_logits import DictLogitsClassifier, DictLogitsDataModule
from zoo.manual_opt import ManualOptClassifier
from zoo.one_cycle import OneCycleClassifier
from zoo.pl_standalone import PLClassifier

from lightning_tricks.callbacks import (
    EMA,
    L1Regularization,
    LinearScalingRule,
    NoBiasDecay,
    Warmup,
    WarmupCosine,
    WeightInit,
    ZeroInitResidualBN,
)
from lightning_tricks.schedulers.functional import linear_warmup, warmup_cosine

STEPS = 4  # 32 samples, batch 8, one epoch
WD = 5e-4
PRECISIONS = ["32-true", "bf16-mixed"]
METRICS = {"train_loss", "train_acc", "val_loss"}

pytestmark = pytest.mark.filterwarnings(
    "ignore:WarmupCosine replaces:UserWarning",
    "ignore:.*does not have many workers:UserWarning",
)


def _one_cycle_lrs() -> list[float]:
    """torch's own OneCycleLR(max_lr=0.05) over 4 steps on SGD(lr=0.01): the oracle."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=STEPS)
    lrs = []
    for _ in range(STEPS):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


@dataclass
class Style:
    name: str
    build: Callable[[], Any]  # the module (weight_decay=WD)
    data: Callable[[], Any] | None
    #: the module's own LR at steps 0..STEPS-1 (no callback)
    own: list[float]
    #: the peak a replacing WarmupCosine must reach (the configured LR / OneCycleLR's max_lr)
    peak: float
    standalone: bool = False
    manual: bool = False


STYLES = [
    Style(
        "dict_logits",
        lambda: DictLogitsClassifier(lr=0.01, weight_decay=WD),
        DictLogitsDataModule,
        [0.01] * STEPS,
        0.01,
    ),
    Style(
        "manual_steplr",
        lambda: ManualOptClassifier(lr=0.1, weight_decay=WD, scheduler="step"),
        lambda: RandomImageDataModule(n_train=32),
        [0.1 * 0.5 ** (i // 2) for i in range(STEPS)],
        0.1,
        manual=True,
    ),
    Style(
        "manual_raw_optimizer",
        lambda: ManualOptClassifier(
            lr=0.1, weight_decay=WD, use_pl_optimizer=False, step_schedulers=False
        ),
        lambda: RandomImageDataModule(n_train=32),
        [0.1] * STEPS,
        0.1,
        manual=True,
    ),
    Style(
        "one_cycle",
        lambda: OneCycleClassifier(lr=0.01, max_lr=0.05, weight_decay=WD),
        lambda: RandomImageDataModule(n_train=32),
        _one_cycle_lrs(),
        0.05,
    ),
    Style(
        "pytorch_lightning",
        lambda: PLClassifier(lr=0.1, weight_decay=WD),
        None,
        [0.1] * STEPS,
        0.1,
        standalone=True,
    ),
]


def _recorder(style: Style) -> Any:
    base = pl_standalone.Callback if style.standalone else lp.Callback

    class Recorder(base):  # type: ignore[misc, valid-type]
        """LRs before each batch, weights at fit start and after each training batch."""

        def __init__(self) -> None:
            self.lrs: list[list[float]] = []
            self.start: dict[str, Tensor] = {}
            self.after_step: list[dict[str, Tensor]] = []

        def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
            self.start = {n: p.detach().clone() for n, p in pl_module.named_parameters()}

        def on_train_batch_start(self, trainer: Any, *args: Any) -> None:
            self.lrs.append([g["lr"] for g in trainer.optimizers[0].param_groups])

        def on_train_batch_end(self, trainer: Any, pl_module: Any, *args: Any) -> None:
            params = {n: p.detach().clone() for n, p in pl_module.named_parameters()}
            self.after_step.append(params)

    return Recorder()


def _fit(style: Style, callbacks: list[Any], precision: str, module: Any = None) -> tuple:
    torch.manual_seed(0)
    model = style.build() if module is None else module
    rec = _recorder(style)
    kwargs = dict(QUIET_TRAINER_KWARGS)
    kwargs.update(
        max_epochs=1, precision=precision, callbacks=[*callbacks, rec], enable_checkpointing=False
    )
    trainer_cls = pl_standalone.Trainer if style.standalone else lp.Trainer
    trainer = trainer_cls(**kwargs)
    data = style.data() if style.data is not None else None
    trainer.fit(model, datamodule=data)
    assert len(rec.lrs) == STEPS
    assert set(trainer.callback_metrics) >= METRICS, "the module's own metrics are logged"
    return trainer, model, rec


def _ids(style: Style) -> str:
    return style.name


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("style", STYLES, ids=_ids)
def test_warmup_cosine_and_no_bias_decay(style: Style, precision: str) -> None:
    """The cosine peaks at the configured LR; biases/norms get a zero-decay group that follows it."""
    callbacks = [WarmupCosine(warmup_steps=2), NoBiasDecay()]
    replaced = {
        "one_cycle": "OneCycleLR's max_lr",
        "manual_steplr": "the optimizer's configured lr",
    }
    if style.name in replaced:  # the warning names the replaced scheduler and the peak
        sched = "OneCycleLR" if style.name == "one_cycle" else "StepLR"
        match = rf"replaces the scheduler\(s\) {sched} .* peak LR is {style.peak:g} \({replaced[style.name]}\)"
        with pytest.warns(UserWarning, match=match):
            trainer, model, rec = _fit(style, callbacks, precision)
    else:
        trainer, model, rec = _fit(style, callbacks, precision)
    expected = [warmup_cosine(i, style.peak, STEPS, 2) for i in range(STEPS)]
    for lrs, want in zip(rec.lrs, expected):
        assert lrs == pytest.approx([want, want], rel=1e-6, abs=1e-12)
    groups = trainer.optimizers[0].param_groups
    assert [g["weight_decay"] for g in groups] == [WD, 0.0]
    no_decay = {id(p) for p in groups[1]["params"]}
    for name, p in model.named_parameters():
        exempt = name.endswith("bias") or p.ndim == 1  # biases and BatchNorm weights
        assert (id(p) in no_decay) == exempt, name


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("style", STYLES, ids=_ids)
def test_linear_scaling_rule_under_warmup(style: Style, precision: str) -> None:
    """Batch 8 for base 4 doubles the LR; the warmup ramps to it, then the module's schedule."""
    _, _, rec = _fit(
        style, [LinearScalingRule(base_batch_size=4), Warmup(warmup_steps=2)], precision
    )
    own = [2 * lr for lr in style.own]
    expected = [linear_warmup(i, own[0], 2) for i in range(2)] + own[: STEPS - 2]
    assert [lrs[0] for lrs in rec.lrs] == pytest.approx(expected, rel=1e-6, abs=1e-12)


def _with_l1_penalty(style: Style, weight: float) -> Any:
    """The style's module with ``weight × Σ|w|`` added to its own loss (the reference)."""
    torch.manual_seed(0)
    module = style.build()
    chosen = {id(p) for p in L1Regularization(weight).select(module)}
    selected = [n for n, p in module.named_parameters() if id(p) in chosen]

    def penalty(self: Any) -> Tensor:
        params = dict(self.named_parameters())
        return weight * sum(params[n].abs().sum() for n in selected)

    cls = type(module)
    if style.manual:

        def manual_backward(self: Any, loss: Tensor, *args: Any, **kwargs: Any) -> None:
            cls.manual_backward(self, loss + penalty(self), *args, **kwargs)

        module.manual_backward = manual_backward.__get__(module)
    else:

        def training_step(self: Any, *args: Any, **kwargs: Any) -> Tensor:
            return cls.training_step(self, *args, **kwargs) + penalty(self)

        module.training_step = training_step.__get__(module)
    return module


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("style", STYLES, ids=_ids)
def test_ema_and_l1(style: Style, precision: str) -> None:
    """L1 equals the penalty in the module's loss; EMA equals the hand-computed average."""
    weight, decay = 1e-2, 0.5
    ema = EMA(decay=decay, warmup=False)
    _, model, rec = _fit(style, [L1Regularization(weight), ema], precision)
    assert ema.num_updates == STEPS
    # EMA: the first update copies the weights after step 1, then blends with decay
    average = dict(rec.after_step[0])
    for params in rec.after_step[1:]:
        average = {n: decay * average[n] + (1 - decay) * params[n] for n in average}
    for name, p in model.named_parameters():  # training ends with the average in the model
        torch.testing.assert_close(p.detach(), average[name], rtol=1e-5, atol=1e-6)
    # L1: the same run with the penalty in the module's own loss, no L1 callback
    reference = _with_l1_penalty(style, weight)
    _, _, ref_rec = _fit(style, [], precision, module=reference)
    for got, want in zip(rec.after_step, ref_rec.after_step):
        for name in want:
            torch.testing.assert_close(got[name], want[name], rtol=1e-5, atol=1e-6)
    if precision == "32-true":  # and the penalty did something: without it the weights differ
        _, _, plain = _fit(style, [], precision)
        last = ref_rec.after_step[-1]
        assert max(float((plain.after_step[-1][n] - w).abs().max()) for n, w in last.items()) > 1e-4


@pytest.mark.parametrize("style", STYLES, ids=_ids)
def test_init_callbacks(style: Style) -> None:
    """The weights at fit start are exactly the callbacks' init of the module.

    fp32 only: the init runs in ``setup``, before the precision plugin does anything.
    """
    init = WeightInit("orthogonal", seed=3)
    zero = ZeroInitResidualBN(generic=True)
    _, _, rec = _fit(style, [init, zero], "32-true")
    torch.manual_seed(0)
    reference = style.build()
    init.initialize(reference)
    assert zero.initialize(reference), "the zoo net has a residual block"
    ref = dict(reference.named_parameters())
    for name, value in rec.start.items():
        torch.testing.assert_close(value, ref[name].detach(), rtol=0, atol=0)
    zeroed = [v for n, v in rec.start.items() if n.endswith("bn2.weight")]
    assert zeroed and all(bool((v == 0).all()) for v in zeroed)
