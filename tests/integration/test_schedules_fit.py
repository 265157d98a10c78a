"""Schedules and weight-decay tricks in real fits: mid-epoch resume continues the exact LR
trajectory (and weights) for every schedule and a stack; 2-process ddp_spawn with gradient
accumulation for the linear scaling rule; the shipped config snippet.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from callbacks._schedule_helpers import (
    OptTiny,
    RankDump,
    RecordLR,
    one_thread_fixture,
    warnings_as_errors,
)
from helpers import RandomImageDataModule, fit
from lightning.pytorch.callbacks import ModelCheckpoint

from lightning_tricks.callbacks import (
    L1Regularization,
    LinearScalingRule,
    NoBiasDecay,
    Warmup,
    WarmupCosine,
)
from lightning_tricks.schedulers import warmup_cosine

pytestmark = warnings_as_errors()
_one_thread = pytest.fixture(autouse=True)(one_thread_fixture)

ROOT = Path(__file__).resolve().parents[2]

#: name -> (module kwargs, callbacks factory, trainer kwargs)
CASES: dict[str, tuple[dict[str, Any], Any, dict[str, Any]]] = {
    "warmup_cosine": ({}, lambda: [WarmupCosine(warmup_steps=5, min_lr=1e-3)], {}),
    "warmup_cosine_epochs_accumulate": (
        {},
        lambda: [WarmupCosine(warmup_epochs=1)],
        {"accumulate_grad_batches": 2},
    ),
    "warmup_bare": ({}, lambda: [Warmup(warmup_steps=14)], {}),
    "warmup_then_step_cosine": ({"scheduler": "cosine_step"}, lambda: [Warmup(warmup_steps=5)], {}),
    "warmup_then_epoch_steplr": (
        {"scheduler": "step_epoch"},
        lambda: [Warmup(warmup_steps=6, multiplier=2.0)],
        {},
    ),
    "stack_bare_optimizer": (
        {"weight_decay": 1e-3},
        lambda: [
            WarmupCosine(warmup_steps=4),
            LinearScalingRule(base_lr=0.05, base_batch_size=16),
            NoBiasDecay(),
            L1Regularization(weight=1e-4),
        ],
        {},
    ),
    "stack_module_schedule_adaboundw": (
        {"optimizer": "adaboundw", "scheduler": "step_epoch", "weight_decay": 1e-3, "lr": 1e-2},
        lambda: [NoBiasDecay(), Warmup(warmup_steps=6), LinearScalingRule(base_batch_size=4)],
        {},
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_resume_mid_epoch_continues_the_exact_trajectory(case: str, tmp_path: Path) -> None:
    module_kwargs, callbacks, trainer_kwargs = CASES[case]
    dm = lambda: RandomImageDataModule(n_train=64, batch_size=8)  # noqa: E731  8 batches/epoch
    torch.manual_seed(0)
    init = OptTiny(**module_kwargs).state_dict()

    full = OptTiny(**module_kwargs)
    full.load_state_dict(init)
    rec_full = RecordLR()
    ckpt = ModelCheckpoint(
        dirpath=tmp_path / "ckpt", filename="{step}", every_n_train_steps=5, save_top_k=-1
    )
    kwargs = {
        "max_epochs": 3,
        "enable_checkpointing": True,
        "limit_val_batches": 1,
        **trainer_kwargs,
    }
    fit(full, dm(), tmp_path, callbacks=[*callbacks(), rec_full, ckpt], **kwargs)

    # step 10 is in the middle of an epoch (8 batches per epoch, or 4 steps with accumulation)
    path = tmp_path / "ckpt" / "step=10.ckpt"
    resumed = OptTiny(**module_kwargs)
    rec_resumed = RecordLR()
    fit(
        resumed,
        dm(),
        tmp_path,
        callbacks=[*callbacks(), rec_resumed],
        ckpt_path=str(path),
        **kwargs,
    )

    per_step = rec_full.lrs
    accumulate = trainer_kwargs.get("accumulate_grad_batches", 1)
    skipped = 10 * accumulate  # batches before the checkpoint
    assert rec_resumed.lrs == per_step[skipped:]
    assert len({tuple(lr) for lr in per_step}) > 3  # the LR did change over the run
    for (name, p), q in zip(full.named_parameters(), resumed.parameters()):
        assert torch.equal(p, q), name


@pytest.mark.slow
def test_ddp_spawn_linear_scaling_with_accumulation(tmp_path: Path) -> None:
    """lr = base_lr × (8 per device × 2 devices × 2 accumulation) / base_batch_size, on every
    rank; with NoBiasDecay, WarmupCosine and L1 stacked on top."""
    base_lr, base_batch = 0.02, 16
    callbacks = [
        LinearScalingRule(base_lr=base_lr, base_batch_size=base_batch),
        WarmupCosine(warmup_steps=2),
        NoBiasDecay(),
        L1Regularization(weight=1e-4),
        RankDump(str(tmp_path)),
    ]
    fit(
        OptTiny(weight_decay=1e-3),
        RandomImageDataModule(n_train=64, batch_size=8),
        tmp_path,
        devices=2,
        strategy="ddp_spawn",
        accumulate_grad_batches=2,
        max_epochs=2,
        limit_val_batches=1,
        callbacks=callbacks,
    )
    peak = base_lr * 8 * 2 * 2 / base_batch
    # per rank: 32 images = 4 batches = 2 optimizer steps per epoch; 4 steps in all
    expected = [warmup_cosine(t, peak, 4, 2) for t in range(4)]
    for rank in (0, 1):
        dump = torch.load(tmp_path / f"rank{rank}.pt")
        assert dump["world_size"] == 2
        assert dump["weight_decay"] == [1e-3, 0.0] and dump["n_params"] == [2, 4]
        per_batch = [lrs[0] for lrs in dump["lrs"]]
        assert per_batch[::2] == pytest.approx(expected)  # the LR changes every 2nd batch
        assert max(per_batch) == pytest.approx(peak)


def test_warmup_cosine_snippet_with_the_demo_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """configs/tricks/warmup_cosine.yaml stacks on the demo config: its callback is appended
    and the demo's own scheduler is dropped, so no replacement warning (warnings are errors)."""
    from lightning.pytorch.callbacks import LearningRateMonitor

    from lightning_tricks.cli import TricksCLI

    monkeypatch.setattr("sys.argv", ["lightning-tricks"])
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():  # LightningCLI's / jsonargparse's own warnings
        warnings.simplefilter("ignore")
        cli = TricksCLI(
            run=False,
            save_config_callback=None,
            args=[
                "--config", str(ROOT / "configs/digits.yaml"),
                "--config", str(ROOT / "configs/tricks/warmup_cosine.yaml"),
                "--trainer.logger=false",
                "--trainer.max_epochs=3",
                "--trainer.limit_val_batches=1",
                "--trainer.enable_progress_bar=false",
                "--data.train_per_class=8",
            ],
        )  # fmt: skip
    assert cli.config["lr_scheduler"] is None
    names = [type(c).__name__ for c in cli.trainer.callbacks]
    assert {"ModelCheckpoint", "LearningRateMonitor", "WarmupCosine"} <= set(names)
    cli.trainer.callbacks[:] = [
        c for c in cli.trainer.callbacks if not isinstance(c, LearningRateMonitor)
    ]
    rec = RecordLR()
    cli.trainer.callbacks.append(rec)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    configs = cli.trainer.lr_scheduler_configs
    assert len(configs) == 1 and type(configs[0].scheduler).__name__ == "WarmupCosineLR"
    total = cli.trainer.estimated_stepping_batches
    per_epoch = total // 3
    assert [r[0] for r in rec.lrs] == pytest.approx(
        [warmup_cosine(t, 0.05, total, per_epoch) for t in range(total)]
    )


def test_every_snippet_parses_on_the_demo_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from lightning_tricks.cli import TricksCLI
    from lightning_tricks.optim import AdaBound

    monkeypatch.setattr("sys.argv", ["lightning-tricks"])
    monkeypatch.chdir(tmp_path)
    expected = {
        "warmup_cosine": ("WarmupCosine", None),
        "warmup": ("Warmup", "CosineAnnealingLR"),
        "no_bias_decay": ("NoBiasDecay", "CosineAnnealingLR"),
        "l1": ("L1Regularization", "CosineAnnealingLR"),
        "adabound": (None, "CosineAnnealingLR"),
        "step_decay": (None, "MultiStepLR"),
    }
    for name, (callback, scheduler) in expected.items():
        with warnings.catch_warnings():  # LightningCLI's / jsonargparse's own warnings
            warnings.simplefilter("ignore")
            cli = TricksCLI(
                run=False,
                save_config_callback=None,
                args=[
                    "--config", str(ROOT / "configs/digits.yaml"),
                    "--config", str(ROOT / f"configs/tricks/{name}.yaml"),
                    "--trainer.logger=false",
                ],
            )  # fmt: skip
        names = [type(c).__name__ for c in cli.trainer.callbacks]
        assert "ModelCheckpoint" in names, name  # appended, not replacing the base's callbacks
        if callback is not None:
            assert callback in names, name
        sched = cli.config["lr_scheduler"]
        assert (sched["class_path"].rsplit(".", 1)[-1] if sched else None) == scheduler, name
        if name == "adabound":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                optimizers, _ = cli.model.configure_optimizers()
            assert isinstance(optimizers[0], AdaBound)
            assert optimizers[0].defaults["weight_decay"] == 5e-4
            assert optimizers[0].defaults["lr"] == 1e-3
