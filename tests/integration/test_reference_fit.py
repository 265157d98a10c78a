"""Real Trainer.fit runs of the reference ImageClassifier on the embedded digits."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import RandomImageDataModule, fit

from lightning_tricks.data import DigitsDataModule
from lightning_tricks.models import ImageClassifier


def _model() -> ImageClassifier:
    return ImageClassifier("cifar_resnet8", num_classes=10, in_channels=1, lr=0.05)


def test_fit_learns_digits(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = _model()
    dm = DigitsDataModule(image_size=16, batch_size=64, train_per_class=40)
    trainer = fit(model, dm, tmp_path, max_epochs=6)
    assert trainer.callback_metrics["val/acc"] > 0.7
    assert "train/acc" in trainer.callback_metrics
    (test,) = trainer.test(model, datamodule=dm, verbose=False)
    assert test["test/acc"] > 0.7


@pytest.mark.slow
def test_fit_bf16_mixed(tmp_path: Path) -> None:
    model = _model()
    dm = DigitsDataModule(image_size=16, batch_size=32, train_per_class=8)
    trainer = fit(
        model, dm, tmp_path, precision="bf16-mixed", max_epochs=2, max_steps=4, limit_val_batches=2
    )
    assert trainer.global_step == 4
    assert torch.isfinite(trainer.callback_metrics["val/loss"])
    assert all(p.dtype == torch.float32 for p in model.parameters())


@pytest.mark.slow
def test_fit_ddp_spawn_two_processes(tmp_path: Path) -> None:
    model = _model()
    before = [p.detach().clone() for p in model.parameters()]
    dm = DigitsDataModule(image_size=16, batch_size=16, train_per_class=8)
    trainer = fit(
        model,
        dm,
        tmp_path,
        devices=2,
        strategy="ddp_spawn",
        max_epochs=1,
        limit_val_batches=2,
    )
    assert trainer.world_size == 2
    # ddp_spawn sends the trained weights and metrics back to the main process
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert torch.isfinite(trainer.callback_metrics["val/loss"])


def test_dict_batches_train(tmp_path: Path) -> None:
    model = ImageClassifier("simple_cnn", num_classes=4, in_channels=3)
    trainer = fit(model, RandomImageDataModule(as_dict=True), tmp_path, max_steps=2)
    assert trainer.global_step == 2
