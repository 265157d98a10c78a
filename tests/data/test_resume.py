"""Mid-epoch resume: the restored run sees exactly the batches of the uninterrupted run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import RandomImageDataModule, TinyClassifier, fit
from lightning.pytorch import seed_everything
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

from lightning_tricks.data import EpochResumableDataLoader, EpochSeededSampler
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


# -- a step checkpoint written on the last batch of an epoch (issue 15, finding 1) ----------


def _loader(n: int = 20, batch_size: int = 4, **kwargs) -> EpochResumableDataLoader:
    sampler = EpochSeededSampler(range(n), num_replicas=1, rank=0, seed=5)
    return EpochResumableDataLoader(range(n), sampler=sampler, batch_size=batch_size, **kwargs)


@pytest.mark.parametrize(
    ("n", "drop_last", "num_workers"), [(20, False, 0), (22, True, 0), (20, False, 2)]
)
def test_state_after_last_batch_resumes_into_the_next_epoch(
    n: int, drop_last: bool, num_workers: int
) -> None:
    """What Lightning's fetcher does: take every batch (no StopIteration), then save."""
    kwargs = {"drop_last": drop_last, "num_workers": num_workers}
    kwargs["persistent_workers"] = num_workers > 0
    loader = _loader(n, **kwargs)
    it = iter(loader)
    for _ in range(len(loader)):
        next(it)
    state = loader.state_dict()
    loader.sampler.set_epoch(1)
    epoch1 = [b.tolist() for b in loader]
    assert len(epoch1) == len(loader) == 5

    restored = _loader(n, **kwargs)
    restored.load_state_dict(state)
    # Lightning creates the iterator before it calls set_epoch on a restored run
    it = iter(restored)
    restored.sampler.set_epoch(1)
    assert [b.tolist() for b in it] == epoch1


def test_mid_epoch_state_still_resumes_mid_epoch() -> None:
    loader = _loader()
    it = iter(loader)
    first = [next(it).tolist() for _ in range(2)]
    state = loader.state_dict()
    rest = [b.tolist() for b in it]
    restored = _loader()
    restored.load_state_dict(state)
    assert [b.tolist() for b in restored] == rest
    assert len(first + rest) == 5


@pytest.mark.slow
def test_step_checkpoint_on_last_batch_of_epoch_resumes_the_whole_next_epoch(
    tmp_path: Path,
) -> None:
    """every_n_train_steps == epoch length: the resumed run must not lose an epoch."""

    def dm() -> RandomImageDataModule:
        return RandomImageDataModule(n_train=40, batch_size=8)

    seed_everything(0)
    full = TinyClassifier(record_batches=True)
    fit(full, dm(), tmp_path / "full", max_epochs=3)
    assert full.trainer.global_step == 15

    ckpt = ModelCheckpoint(
        dirpath=tmp_path / "ck", every_n_train_steps=5, save_top_k=-1, filename="{step}"
    )
    seed_everything(0)
    fit(
        TinyClassifier(),
        dm(),
        tmp_path / "a",
        max_epochs=3,
        callbacks=[ckpt],
        enable_checkpointing=True,
    )
    seed_everything(1)  # the checkpoint, not the seed, must decide the weights
    resumed = TinyClassifier(record_batches=True)
    trainer = fit(
        resumed, dm(), tmp_path / "b", max_epochs=3, ckpt_path=str(tmp_path / "ck" / "step=5.ckpt")
    )
    assert trainer.global_step == 15
    assert len(resumed.seen) == 10
    for (xa, ya), (xb, yb) in zip(full.seen[5:], resumed.seen):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    for name, value in full.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name


@pytest.mark.slow
def test_step_checkpoint_on_last_batch_of_epoch_resumes_under_ddp(tmp_path: Path) -> None:
    """Two ranks (ddp_spawn, gloo): each rank's loader keeps the next epoch (was 5 of 10 steps)."""

    def dm() -> RandomImageDataModule:
        return RandomImageDataModule(n_train=40, batch_size=4)  # 5 steps per epoch per rank

    ddp = {"devices": 2, "strategy": "ddp_spawn", "max_epochs": 2}
    seed_everything(0)
    full = TinyClassifier()
    fit(full, dm(), tmp_path / "full", **ddp)
    ckpt = ModelCheckpoint(
        dirpath=tmp_path / "ck", every_n_train_steps=5, save_top_k=-1, filename="{step}"
    )
    seed_everything(0)
    fit(TinyClassifier(), dm(), tmp_path / "a", callbacks=[ckpt], enable_checkpointing=True, **ddp)
    seed_everything(1)
    resumed = TinyClassifier()
    fit(resumed, dm(), tmp_path / "b", ckpt_path=str(tmp_path / "ck" / "step=5.ckpt"), **ddp)
    # ddp_spawn copies the final weights back; BatchNorm counts the batches each rank saw
    assert int(resumed.state_dict()["net.1.num_batches_tracked"]) == 10
    for name, value in full.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name
