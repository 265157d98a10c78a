"""WarmupCosine, Warmup and LinearScalingRule on real (tiny) fits; the wrapping machinery."""

from __future__ import annotations

import math
import types
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import RandomImageDataModule, TinyClassifier, fit
from lightning.pytorch.loggers import Logger
from torch.optim.lr_scheduler import CosineAnnealingLR, ReduceLROnPlateau, StepLR

from callbacks._schedule_helpers import OptTiny, RecordLR, one_thread_fixture, warnings_as_errors
from lightning_tricks.callbacks import LinearScalingRule, NoBiasDecay, Warmup, WarmupCosine
from lightning_tricks.callbacks._configure import parse_optimizer_output
from lightning_tricks.schedulers import GradualWarmup, WarmupCosineLR, warmup_cosine

pytestmark = warnings_as_errors()
_one_thread = pytest.fixture(autouse=True)(one_thread_fixture)

# 64 training images in batches of 8: 8 batches per epoch
DATA = {"n_train": 64, "batch_size": 8}


def _dm() -> RandomImageDataModule:
    return RandomImageDataModule(**DATA)


# ---------------------------------------------------------------- constructor validation


@pytest.mark.parametrize("cls", [WarmupCosine, Warmup])
def test_warmup_length_validation(cls: type) -> None:
    with pytest.raises(ValueError, match=r"`warmup_steps` must be >= 0, got -1"):
        cls(warmup_steps=-1)
    with pytest.raises(ValueError, match=r"`warmup_epochs` must be a finite number >= 0, got -0.5"):
        cls(warmup_epochs=-0.5)
    with pytest.raises(ValueError, match=r"give `warmup_steps` or `warmup_epochs`, not both"):
        cls(warmup_steps=3, warmup_epochs=1)
    with pytest.raises(TypeError, match=r"`warmup_steps` must be an int, got 2.5"):
        cls(warmup_steps=2.5)


def test_constructor_validation() -> None:
    with pytest.raises(ValueError, match=r"`warmup_start_factor` must be in \[0, 1\], got 2"):
        WarmupCosine(warmup_steps=1, warmup_start_factor=2)
    with pytest.raises(
        ValueError, match=r"`min_lr` must be a finite float in \[0, inf\), got -0.1"
    ):
        WarmupCosine(warmup_steps=1, min_lr=-0.1)
    with pytest.raises(
        ValueError, match=r"`multiplier` must be a finite float in \[1, inf\), got 0.5"
    ):
        Warmup(warmup_steps=1, multiplier=0.5)
    with pytest.raises(ValueError, match=r"`start_factor` must be in \[0.0, 2.0\], got 3"):
        Warmup(warmup_steps=1, multiplier=2, start_factor=3)
    with pytest.raises(ValueError, match=r"`base_batch_size` must be > 0, got 0"):
        LinearScalingRule(base_batch_size=0)
    with pytest.raises(ValueError, match=r"`base_batch_size` must be > 0, got -256"):
        LinearScalingRule(base_batch_size=-256)
    with pytest.raises(TypeError, match=r"`base_batch_size` must be an int, got 256.0"):
        LinearScalingRule(base_batch_size=256.0)
    with pytest.raises(ValueError, match=r"`base_lr` must be a finite float in \(0, inf\), got 0"):
        LinearScalingRule(base_lr=0)
    with pytest.raises(ValueError, match=r"`batch_size` must be > 0, got 0"):
        LinearScalingRule(batch_size=0)


# ---------------------------------------------------------------- output parsing


def test_parse_every_lightning_output_form() -> None:
    p = torch.nn.Parameter(torch.zeros(1))
    opt, opt2 = torch.optim.SGD([p], lr=0.1), torch.optim.SGD([p], lr=0.1)
    step = StepLR(opt, 1)
    plateau = ReduceLROnPlateau(opt2)
    assert parse_optimizer_output(None) is None
    assert parse_optimizer_output("nonsense") is None
    assert parse_optimizer_output(opt).optimizers == [opt]
    assert parse_optimizer_output([opt, opt2]).optimizers == [opt, opt2]
    conf = parse_optimizer_output(([opt], [step]))
    assert conf.optimizers == [opt] and conf.schedulers == [{"scheduler": step}]
    conf = parse_optimizer_output(([opt], step))
    assert conf.schedulers == [{"scheduler": step}]
    conf = parse_optimizer_output({"optimizer": opt2, "lr_scheduler": plateau, "monitor": "v"})
    assert conf.schedulers == [{"scheduler": plateau, "monitor": "v"}]
    conf = parse_optimizer_output(
        [
            {"optimizer": opt, "lr_scheduler": {"scheduler": step, "interval": "step"}},
            {"optimizer": opt2},
        ]
    )
    assert conf.optimizers == [opt, opt2]
    assert conf.schedulers == [{"scheduler": step, "interval": "step"}]
    assert conf.schedulers_of(opt2) == []
    assert conf.to_lightning() == ([opt, opt2], [{"scheduler": step, "interval": "step"}])


def test_wrapping_is_removed_after_fit(tmp_path: Path) -> None:
    model = OptTiny(weight_decay=1e-4)
    fit(
        model,
        _dm(),
        tmp_path,
        max_steps=2,
        callbacks=[WarmupCosine(warmup_steps=0), NoBiasDecay(), Warmup(warmup_steps=0)],
    )
    assert "configure_optimizers" not in model.__dict__
    # an instance-level configure_optimizers (as LightningCLI installs) is put back as it was
    custom = TinyClassifier()
    own = types.MethodType(lambda self: torch.optim.SGD(self.parameters(), lr=0.3), custom)
    custom.configure_optimizers = own
    rec = RecordLR()
    fit(custom, _dm(), tmp_path, max_steps=2, callbacks=[Warmup(warmup_steps=2), rec])
    assert custom.__dict__["configure_optimizers"] is own
    assert [r[0] for r in rec.lrs] == pytest.approx([0.0, 0.15])  # warmup of its own 0.3


# ---------------------------------------------------------------- WarmupCosine


def test_warmup_cosine_follows_the_closed_form(tmp_path: Path) -> None:
    model = TinyClassifier(lr=0.2)
    cb = WarmupCosine(warmup_steps=5, warmup_start_factor=0.1, min_lr=1e-3)
    trainer = fit(model, _dm(), tmp_path, max_epochs=3, callbacks=[cb])
    total = trainer.estimated_stepping_batches
    assert total == 24 and len(model.lrs) == 24
    assert model.lrs == [warmup_cosine(t, 0.2, 24, 5, 0.1, 1e-3) for t in range(24)]
    configs = trainer.lr_scheduler_configs
    assert len(configs) == 1 and configs[0].interval == "step"
    assert isinstance(configs[0].scheduler, WarmupCosineLR)


def test_warmup_epochs_count_optimizer_steps(tmp_path: Path) -> None:
    model = TinyClassifier(lr=0.1)
    # 8 batches per epoch, accumulate 3 -> ceil(8 / 3) = 3 optimizer steps per epoch
    trainer = fit(
        model,
        _dm(),
        tmp_path,
        max_epochs=4,
        accumulate_grad_batches=3,
        callbacks=[WarmupCosine(warmup_epochs=1.5)],
    )
    scheduler = trainer.lr_scheduler_configs[0].scheduler
    assert scheduler.total_steps == 12 and scheduler.warmup_steps == round(1.5 * 3)
    per_step = model.lrs[::1]
    # TinyClassifier records the LR at every batch; it changes only after optimizer steps
    assert per_step[0] == 0.0 and max(per_step) == pytest.approx(0.1)


def test_default_warmup_is_five_epochs(tmp_path: Path) -> None:
    trainer = fit(TinyClassifier(), _dm(), tmp_path, max_epochs=6, callbacks=[WarmupCosine()])
    assert trainer.lr_scheduler_configs[0].scheduler.warmup_steps == 5 * 8


def test_warmup_cosine_replaces_the_module_scheduler_with_one_warning(tmp_path: Path) -> None:
    model = OptTiny(scheduler="cosine_step")
    with pytest.warns(UserWarning, match="WarmupCosine replaces the scheduler") as record:
        trainer = fit(
            model, _dm(), tmp_path, max_epochs=2, callbacks=[WarmupCosine(warmup_steps=4)]
        )
    assert sum("WarmupCosine" in str(w.message) for w in record) == 1
    assert len(trainer.lr_scheduler_configs) == 1
    assert model.lrs == [warmup_cosine(t, 0.1, 16, 4) for t in range(16)]


def test_warmup_longer_than_training_warns_once(tmp_path: Path) -> None:
    model = TinyClassifier(lr=0.1)
    with pytest.warns(
        UserWarning, match=r"the warmup \(40 steps\) is longer than training \(16 steps\)"
    ) as record:
        fit(model, _dm(), tmp_path, max_epochs=2, callbacks=[WarmupCosine(warmup_steps=40)])
    assert len([w for w in record if "longer than training" in str(w.message)]) == 1
    assert model.lrs == pytest.approx([0.1 * t / 40 for t in range(16)])  # the ramp as asked


def test_unbounded_training_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="WarmupCosine needs a finite training length"):
        fit(
            TinyClassifier(),
            _dm(),
            tmp_path,
            max_epochs=-1,
            callbacks=[WarmupCosine(warmup_steps=1)],
        )


# ---------------------------------------------------------------- Warmup


def test_warmup_on_a_bare_optimizer(tmp_path: Path) -> None:
    model = TinyClassifier(lr=0.1)
    fit(model, _dm(), tmp_path, max_epochs=1, callbacks=[Warmup(warmup_steps=4, multiplier=2.0)])
    # from the configured LR up to 2x, then constant
    assert model.lrs == pytest.approx([0.1, 0.125, 0.15, 0.175, 0.2, 0.2, 0.2, 0.2])


def test_warmup_wraps_a_per_step_scheduler(tmp_path: Path) -> None:
    model = OptTiny(scheduler="cosine_step")
    trainer = fit(model, _dm(), tmp_path, max_epochs=2, callbacks=[Warmup(warmup_steps=5)])
    (config,) = trainer.lr_scheduler_configs
    assert isinstance(config.scheduler, GradualWarmup)
    assert isinstance(config.scheduler.after_scheduler, CosineAnnealingLR)
    # oracle: the same schedulers stepped by hand
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    ref = GradualWarmup(opt, 5, after_scheduler=CosineAnnealingLR(opt, T_max=16))
    expected = []
    for _ in range(16):
        expected.append(opt.param_groups[0]["lr"])
        opt.step()
        ref.step()
    assert model.lrs == pytest.approx(expected, abs=1e-15)
    assert model.lrs[5] == pytest.approx(0.1)  # the cosine starts at its own step 0


def test_warmup_defers_a_per_epoch_scheduler(tmp_path: Path) -> None:
    model = OptTiny(scheduler="step_epoch")
    trainer = fit(model, _dm(), tmp_path, max_epochs=4, callbacks=[Warmup(warmup_steps=10)])
    assert [c.interval for c in trainer.lr_scheduler_configs] == ["step", "epoch"]
    lrs = model.lrs
    assert lrs[:10] == pytest.approx([0.01 * t for t in range(10)])  # the warmup, per step
    assert lrs[10:16] == pytest.approx([0.1] * 6)  # the hand-over, until the end of epoch 2
    # StepLR halves at each epoch end after the warmup: ends of epochs 2 and 3
    assert lrs[16:24] == pytest.approx([0.05] * 8)
    assert lrs[24:] == pytest.approx([0.025] * 8)


def test_warmup_before_reduce_on_plateau(tmp_path: Path) -> None:
    model = OptTiny(scheduler="plateau")
    trainer = fit(model, _dm(), tmp_path, max_epochs=3, callbacks=[Warmup(warmup_steps=12)])
    configs = trainer.lr_scheduler_configs
    assert [c.reduce_on_plateau for c in configs] == [False, True]
    assert configs[1].monitor == "val/loss"
    plateau = configs[1].scheduler.after_scheduler
    assert isinstance(plateau, ReduceLROnPlateau)
    # the metric at the end of epoch 0 (inside the warmup) is ignored; epochs 1 and 2 count
    assert plateau.last_epoch == 2
    assert model.lrs[:12] == pytest.approx([0.1 * t / 12 for t in range(12)])


def test_two_warmups_warn(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="Warmup adds a second warmup in front of WarmupCosineLR"):
        fit(
            TinyClassifier(),
            _dm(),
            tmp_path,
            max_steps=3,
            callbacks=[Warmup(warmup_steps=1), WarmupCosine(warmup_steps=2)],
        )


# ---------------------------------------------------------------- LinearScalingRule


class _MemoryLogger(Logger):
    def __init__(self) -> None:
        super().__init__()
        self.metrics: dict[str, float] = {}

    @property
    def name(self) -> str:
        return "memory"

    @property
    def version(self) -> str:
        return "0"

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self.metrics.update(metrics)


def test_linear_scaling_rule_sets_and_logs_the_lr(tmp_path: Path) -> None:
    model = TinyClassifier(lr=0.1)
    rule = LinearScalingRule(base_lr=0.05, base_batch_size=4)
    logger = _MemoryLogger()
    fit(
        model,
        _dm(),
        tmp_path,
        max_steps=3,
        accumulate_grad_batches=2,
        logger=logger,
        callbacks=[rule],
    )
    # global batch = 8 per device x 1 device x 1 node x 2 accumulation = 16
    assert rule.global_batch_size == 16
    assert rule.lrs == [[0.05 * 16 / 4]]
    assert set(model.lrs) == {0.2}
    assert logger.metrics["linear_scaling_rule/lr"] == pytest.approx(0.2)
    assert logger.metrics["linear_scaling_rule/global_batch_size"] == 16


def test_linear_scaling_rule_rescales_the_module_schedule(tmp_path: Path) -> None:
    plain = OptTiny(scheduler="cosine_step", lr=0.1)
    fit(plain, _dm(), tmp_path, max_epochs=1)
    scaled = OptTiny(scheduler="cosine_step", lr=0.1)
    rule = LinearScalingRule(base_batch_size=2, batch_size=1)  # x0.5 of the module's own LR
    fit(scaled, _dm(), tmp_path, max_epochs=1, callbacks=[rule])
    assert rule.scale == 0.5
    assert scaled.lrs == pytest.approx([0.5 * lr for lr in plain.lrs], abs=1e-15)


def test_linear_scaling_rule_warns_without_warmup(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match=r"scales the LR by 16 without a warmup"):
        fit(
            TinyClassifier(),
            _dm(),
            tmp_path,
            max_steps=1,
            callbacks=[LinearScalingRule(base_batch_size=8, batch_size=128)],
        )
    # with a warmup: no warning (any warning is an error in this module)
    fit(
        TinyClassifier(),
        _dm(),
        tmp_path,
        max_steps=1,
        callbacks=[
            LinearScalingRule(base_batch_size=8, batch_size=128),
            WarmupCosine(warmup_steps=1),
        ],
    )


def test_stack_in_any_order(tmp_path: Path) -> None:
    """NoBiasDecay → LinearScalingRule → WarmupCosine apply in that order whatever the list order."""
    runs = []
    for order in ((0, 1, 2), (2, 1, 0), (1, 2, 0)):
        cbs = [
            NoBiasDecay(),
            LinearScalingRule(base_lr=0.05, base_batch_size=4),
            WarmupCosine(warmup_steps=3),
        ]
        rec = RecordLR()
        model = OptTiny(weight_decay=1e-3)
        fit(model, _dm(), tmp_path, max_epochs=1, callbacks=[*[cbs[i] for i in order], rec])
        runs.append(rec.lrs)
    assert runs[0] == runs[1] == runs[2]
    peak = 0.05 * 8 / 4
    assert (
        runs[0][3] == [pytest.approx(peak)] * 2
    )  # both groups (decay, no-decay) at the scaled peak
    assert runs[0] == [[warmup_cosine(t, peak, 8, 3)] * 2 for t in range(8)]
    assert math.isclose(runs[0][-1][0], warmup_cosine(7, peak, 8, 3))


def test_a_failed_fit_leaves_no_wrapping_behind(tmp_path: Path) -> None:
    class Boom(RecordLR):
        def on_train_batch_start(self, trainer: Any, *args: Any) -> None:
            raise RuntimeError("boom")

    model = TinyClassifier(lr=0.1)
    with pytest.raises(RuntimeError, match="boom"):
        fit(
            model,
            _dm(),
            tmp_path,
            max_steps=2,
            callbacks=[LinearScalingRule(base_batch_size=4), Boom()],
        )
    assert "configure_optimizers" not in model.__dict__
    # a stale transform from another trainer is dropped when the next fit installs its own
    from lightning_tricks.callbacks._configure import install, installed_transforms

    stale = LinearScalingRule(base_batch_size=4)
    install(model, stale)
    rule = LinearScalingRule(base_batch_size=8)
    fit(model, _dm(), tmp_path, max_steps=2, callbacks=[rule])
    assert set(model.lrs[-2:]) == {0.1}  # scaled once (x8/8), not twice
    assert installed_transforms(model) == [] and "configure_optimizers" not in model.__dict__
