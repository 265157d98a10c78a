"""Real ``Trainer.fit`` runs with the batch tricks on an untouched plain cross-entropy module.

Every callback alone; all stacked (bf16-mixed, dict batches, the reference ImageClassifier);
mid-epoch checkpoint resume reproducing the augmented batches exactly; 2-process ddp_spawn
(ranks draw different parameters, reruns are identical).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
import torch
from helpers import RandomImageDataModule, TinyClassifier, fit
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

from integration.registry_batch import ENTRIES
from lightning_tricks.callbacks import (
    RICAP,
    BatchTrick,
    CutMix,
    Cutout,
    LabelSmoothing,
    MixUp,
    OneOf,
    RandomErasing,
)
from lightning_tricks.models import ImageClassifier

K = 4


class EvalBatchesUntouched(Callback):
    """Checks that validation batches still hold raw index targets and unmodified images."""

    def __init__(self) -> None:
        self.checked = 0

    def on_validation_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int, *_
    ) -> None:
        x, y = (batch["image"], batch["label"]) if isinstance(batch, dict) else batch[:2]
        assert y.ndim == 1 and not y.is_floating_point()
        assert not (x == 0).any()  # no erased pixels in random normal images
        self.checked += 1


class SaveSeen(Callback):
    """Writes ``pl_module.seen`` of every rank to ``dirpath/rank<r>.pt`` (for ddp_spawn)."""

    def __init__(self, dirpath: str) -> None:
        self.dirpath = dirpath

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        torch.save(pl_module.seen, Path(self.dirpath) / f"rank{trainer.global_rank}.pt")


def dm(**kwargs: Any) -> RandomImageDataModule:
    kwargs.setdefault("n_train", 16)
    kwargs.setdefault("n_val", 8)
    kwargs.setdefault("batch_size", 8)
    return RandomImageDataModule(num_classes=K, **kwargs)


@pytest.fixture(scope="module")
def raw_batches(tmp_path_factory: pytest.TempPathFactory) -> list:
    model = TinyClassifier(num_classes=K, record_batches=True)
    fit(model, dm(), tmp_path_factory.mktemp("raw"), max_steps=2, limit_val_batches=1)
    return model.seen


@pytest.mark.parametrize(("cls", "kwargs"), ENTRIES, ids=[cls.__name__ for cls, _ in ENTRIES])
def test_each_callback_alone(
    tmp_path: Path, raw_batches: list, cls: type[BatchTrick], kwargs: dict
) -> None:
    cb = cls(**kwargs)
    guard = EvalBatchesUntouched()
    model = TinyClassifier(num_classes=K, record_batches=True)
    fit(model, dm(), tmp_path, max_steps=2, limit_val_batches=1, callbacks=[cb, guard])
    assert len(model.seen) == 2 and guard.checked == 1
    for (x, y), (x_raw, y_raw) in zip(model.seen, raw_batches, strict=True):
        assert x.shape == x_raw.shape and x.dtype == torch.float32
        if cls is not LabelSmoothing:
            assert not torch.equal(x, x_raw)
        if cb.changes_labels:  # num_classes read from TinyClassifier.num_classes
            assert y.shape == (8, K) and y.dtype == torch.float32
            torch.testing.assert_close(y.sum(1), torch.ones(8))
        else:
            assert torch.equal(y, y_raw)


def stacked(**overrides: Any) -> list[BatchTrick]:
    """A fresh copy of every batch trick, stacked; keyword overrides go to every callback."""
    return [
        OneOf([MixUp(alpha=1.0), CutMix(alpha=1.0, mode="elem")], weights=[0.5, 0.5], **overrides),
        RICAP(p=0.5, **overrides),
        LabelSmoothing(0.1, **overrides),
        Cutout(length=3, **overrides),
        RandomErasing(p=0.5, value="random", **overrides),
    ]


@pytest.mark.slow
def test_all_stacked_bf16_dict_batches_reference_model(tmp_path: Path) -> None:
    keys = {"input_key": "image", "target_key": "label"}
    guard = EvalBatchesUntouched()
    model = TinyClassifier(num_classes=K, record_batches=True, dict_batch=True)
    trainer = fit(
        model,
        dm(as_dict=True),
        tmp_path / "tiny",
        max_epochs=2,
        max_steps=3,
        limit_val_batches=1,
        precision="bf16-mixed",
        callbacks=[*stacked(**keys), guard],
    )
    assert trainer.global_step == 3 and guard.checked >= 1
    for x, y in model.seen:
        assert x.dtype == torch.float32 and y.dtype == torch.float32 and y.shape == (8, K)
        torch.testing.assert_close(y.sum(1), torch.ones(8))
        assert y.min() >= 0.1 / K - 1e-6  # smoothed
    assert torch.isfinite(trainer.callback_metrics["train/loss"])

    # the reference model: plain F.cross_entropy, train accuracy on hard targets
    reference = ImageClassifier("simple_cnn", num_classes=K, in_channels=3)
    trainer = fit(
        reference,
        dm(n_train=32),
        tmp_path / "ref",
        max_epochs=1,
        limit_val_batches=1,
        callbacks=[*stacked(), EvalBatchesUntouched()],
    )
    assert "train/acc" in trainer.callback_metrics
    assert torch.isfinite(trainer.callback_metrics["train/loss"])


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Be aware that when using `ckpt_path`")
def test_mid_epoch_resume_reproduces_augmented_batches(tmp_path: Path) -> None:
    """A run that writes mid-epoch checkpoints is the uninterrupted run; resuming from a
    checkpoint (stateful loader + callback state) replays its augmented batches exactly."""

    def callbacks() -> list[Callback]:
        return [*stacked(), Cutout(length=2, start_epoch=1, seed=9)]  # active after the resume

    ckpt = ModelCheckpoint(
        dirpath=tmp_path / "ck", every_n_train_steps=3, save_top_k=-1, filename="{step}"
    )
    full = TinyClassifier(num_classes=K, record_batches=True)
    fit(
        full,
        dm(n_train=40),
        tmp_path / "full",
        max_epochs=2,
        limit_val_batches=1,
        callbacks=[*callbacks(), ckpt],
        enable_checkpointing=True,
    )
    assert len(full.seen) == 10  # 5 batches x 2 epochs
    resumed = TinyClassifier(num_classes=K, record_batches=True)
    # step 3 is in the middle of epoch 0 (batches 0-4)
    fit(
        resumed,
        dm(n_train=40),
        tmp_path / "resumed",
        max_epochs=2,
        limit_val_batches=1,
        callbacks=callbacks(),
        ckpt_path=str(tmp_path / "ck" / "step=3.ckpt"),
    )
    assert len(resumed.seen) == 7
    for (xa, ya), (xb, yb) in zip(full.seen[3:], resumed.seen, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    state = torch.load(tmp_path / "ck" / "step=3.ckpt", weights_only=False)["callbacks"]
    saved = [v for k, v in state.items() if k.startswith("OneOf")]
    assert len(saved) == 1 and saved[0]["counter"] == 3


@pytest.mark.slow
def test_ddp_spawn_ranks_differ_and_reruns_are_identical(tmp_path: Path) -> None:
    runs = []
    for run in ("a", "b"):
        out = tmp_path / run
        out.mkdir()
        model = TinyClassifier(num_classes=K, record_batches=True)
        tricks = [
            OneOf([MixUp(), CutMix()], seed=7),
            LabelSmoothing(0.1, seed=7),
            Cutout(length=3, seed=7),
        ]
        fit(
            model,
            dm(n_train=32),
            out,
            max_steps=2,
            limit_val_batches=1,
            devices=2,
            strategy="ddp_spawn",
            callbacks=[*tricks, SaveSeen(str(out)), EvalBatchesUntouched()],
        )
        runs.append([torch.load(out / f"rank{r}.pt") for r in (0, 1)])
    (a0, a1), (b0, b1) = runs
    assert len(a0) == len(a1) == 2
    for seen_a, seen_b in ((a0, b0), (a1, b1)):  # reruns identical on every rank
        for (xa, ya), (xb, yb) in zip(seen_a, seen_b, strict=True):
            assert torch.equal(xa, xb) and torch.equal(ya, yb)
    for (x0, y0), (x1, y1) in zip(a0, a1, strict=True):  # ranks draw different cutouts
        assert y0.shape == y1.shape == (8, K)
        assert not torch.equal(x0 == 0, x1 == 0)
