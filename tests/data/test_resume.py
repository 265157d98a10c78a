"""Mid-epoch resume: the restored run sees exactly the batches of the uninterrupted run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import RandomImageDataModule, TinyClassifier, fit
from lightning.pytorch.callbacks import ModelCheckpoint

from lightning_tricks.data import EpochSeededSampler


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
