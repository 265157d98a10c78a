"""The optimizers and schedulers are selectable from LightningCLI (`--optimizer`, `--lr_scheduler`).

No warnings-as-errors here: building the CLI emits Lightning's / jsonargparse's own warnings.
Our objects are built under ``warnings.simplefilter("error")``.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from lightning_tricks.cli import TricksCLI
from lightning_tricks.optim import AdaBoundW
from lightning_tricks.schedulers import WarmupCosineLR


def _cli(monkeypatch: pytest.MonkeyPatch, *args: str) -> TricksCLI:
    monkeypatch.setattr("sys.argv", ["lightning-tricks"])
    base = ["--model.backbone=simple_cnn", "--trainer.logger=false", "--seed_everything=0"]
    return TricksCLI(args=[*base, *args], run=False, save_config_callback=None)


def test_adabound_from_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    cli = _cli(
        monkeypatch,
        "--optimizer=lightning_tricks.optim.AdaBoundW",
        "--optimizer.lr=0.003",
        "--optimizer.final_lr=0.05",
        "--optimizer.amsbound=true",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt = cli.model.configure_optimizers()
    assert isinstance(opt, AdaBoundW)
    assert opt.defaults["final_lr"] == 0.05 and opt.defaults["amsbound"] is True


def test_warmup_cosine_lr_from_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    cli = _cli(
        monkeypatch,
        "--optimizer=torch.optim.SGD",
        "--optimizer.lr=0.1",
        "--lr_scheduler=lightning_tricks.schedulers.WarmupCosineLR",
        "--lr_scheduler.total_steps=30",
        "--lr_scheduler.warmup_steps=3",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        optimizers, schedulers = cli.model.configure_optimizers()
    assert isinstance(schedulers[0], WarmupCosineLR)
    assert schedulers[0].total_steps == 30 and schedulers[0].warmup_steps == 3
    assert optimizers[0].param_groups[0]["lr"] == 0.0
    assert isinstance(optimizers[0], torch.optim.SGD)
