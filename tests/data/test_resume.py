"""Mid-epoch resume: the restored run sees exactly the batches of the uninterrupted run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import RandomImageDataModule, TinyClassifier, fit
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

from lightning_tricks.data import EpochSeededSampler
from lightning_tricks.models import ImageClassifier


def test_sampler_order_depends_on_seed_and_epoch_only() -> None:
    a = EpochSeededSampler(range(10), num_replicas=1, rank=0, seed=3)
    b = EpochSeededSampler(range(10), num_replicas=1, rank=0, seed=3)
    a.set_epoch(2)
    b.set_epoch(2)
    assert list(a) == list(b)
    b.set_epoch(3)
    assert list(a) != list(b)
    ranks = [list(EpochSeededSampler(range(10), num_replicas=2, rank=r, seed=3)) for r in (0, 1)]
    assert sorted(ranks[0] + ranks[1]) == list(range(10))


@pytest.mark.slow
@pytest.mark.parametrize("num_workers", [0, 2])
def test_resume_from_mid_epoch_checkpoint_replays_batches(tmp_path: Path, num_workers: int) -> None:
    def dm() -> RandomImageDataModule:
        return RandomImageDataModule(n_train=40, batch_size=8, num_workers=num_workers)

    full = TinyClassifier(record_batches=True)
    fit(full, dm(), tmp_path / "full", max_epochs=3)
    assert len(full.seen) == 15  # 5 batches x 3 epochs

    ckpt = ModelCheckpoint(
        dirpath=tmp_path / "ck", every_n_train_steps=7, save_top_k=-1, filename="{step}"
    )
    fit(
        TinyClassifier(),
        dm(),
        tmp_path / "a",
        max_epochs=3,
        callbacks=[ckpt],
        enable_checkpointing=True,
    )
    resumed = TinyClassifier(record_batches=True)
    # step 7 is in the middle of epoch 1 (batches 5-9)
    fit(resumed, dm(), tmp_path / "b", max_epochs=3, ckpt_path=str(tmp_path / "ck" / "step=7.ckpt"))
    assert len(resumed.seen) == 8
    for (xa, ya), (xb, yb) in zip(full.seen[7:], resumed.seen):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


class _RecordBatches(Callback):
    def __init__(self) -> None:
        self.seen: list[torch.Tensor] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.seen.append(batch[0].detach().cpu().clone())


@pytest.mark.slow
def test_reference_model_resume_replays_batches(tmp_path: Path) -> None:
    """ImageClassifier's default schedule reads estimated_stepping_batches (Lightning #20550)."""

    def run(ckpt_path: str | None = None, callbacks: list | None = None) -> _RecordBatches:
        rec = _RecordBatches()
        model = ImageClassifier("simple_cnn", num_classes=4, in_channels=3)
        fit(
            model,
            RandomImageDataModule(n_train=40, batch_size=8),
            tmp_path,
            max_epochs=2,
            ckpt_path=ckpt_path,
            callbacks=[rec, *(callbacks or [])],
            enable_checkpointing=bool(callbacks),
        )
        return rec

    full = run()
    ckpt = ModelCheckpoint(
        dirpath=tmp_path / "ck", every_n_train_steps=3, save_top_k=-1, filename="{step}"
    )
    run(callbacks=[ckpt])
    resumed = run(ckpt_path=str(tmp_path / "ck" / "step=3.ckpt"))
    assert len(resumed.seen) == 7
    for a, b in zip(full.seen[3:], resumed.seen):
        assert torch.equal(a, b)
