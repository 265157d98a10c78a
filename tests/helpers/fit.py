"""A quiet ``Trainer`` factory and ``fit(...)`` helper for integration tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl

QUIET_TRAINER_KWARGS: dict[str, Any] = {
    "logger": False,
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "num_sanity_val_steps": 0,
    "deterministic": True,
    "accelerator": "cpu",
    "devices": 1,
}


def make_trainer(tmp_path: Path | str | None = None, **kwargs: Any) -> pl.Trainer:
    """A quiet CPU ``Trainer``; ``kwargs`` override (e.g. ``precision="bf16-mixed"``,
    ``devices=2, strategy="ddp_spawn"``). Checkpointing is off unless callbacks add it."""
    opts = dict(QUIET_TRAINER_KWARGS)
    opts.setdefault("enable_checkpointing", False)
    if tmp_path is not None:
        opts["default_root_dir"] = str(tmp_path)
    opts.update(kwargs)
    return pl.Trainer(**opts)


def fit(
    model: pl.LightningModule,
    datamodule: pl.LightningDataModule | None = None,
    tmp_path: Path | str | None = None,
    ckpt_path: str | None = None,
    **trainer_kwargs: Any,
) -> pl.Trainer:
    """Run ``Trainer.fit`` quietly and return the trainer.

    Example: ``fit(TinyClassifier(), RandomImageDataModule(), tmp_path, max_epochs=1,
    callbacks=[MixUp()], precision="bf16-mixed")``.
    """
    if datamodule is None:
        from .data import RandomImageDataModule

        datamodule = RandomImageDataModule()
    trainer_kwargs.setdefault("max_epochs", 1)
    trainer = make_trainer(tmp_path, **trainer_kwargs)
    trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
    return trainer
