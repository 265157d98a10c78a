"""Real fits with the augmentation / init / EMA callbacks: together, bf16, resume, DDP, CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import RandomImageDataModule, TinyClassifier, fit
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

from lightning_tricks.callbacks import EMA, BatchCropFlip, WeightInit, ZeroInitResidualBN
from lightning_tricks.cli import TricksCLI
from lightning_tricks.cli import main as cli_main
from lightning_tricks.models import ImageClassifier

ROOT = Path(__file__).resolve().parents[2]


class _Batches(Callback):
    """Training batches as the model gets them, validation batches as they arrive."""

    def __init__(self) -> None:
        self.train: list[torch.Tensor] = []
        self.val: list[torch.Tensor] = []
        self.gamma_at_start: list[torch.Tensor] = []

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        net = pl_module.model
        for layer in (net.layer1, net.layer2, net.layer3):
            self.gamma_at_start.append(layer[0].bn2.weight.detach().clone())

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, idx: int) -> None:
        self.train.append(batch[0].detach().float().cpu().clone())

    def on_validation_batch_start(self, trainer: Any, pl_module: Any, batch: Any, *a: Any) -> None:
        self.val.append(batch[0].detach().cpu().clone())


def test_all_together_on_the_project_resnet_in_bf16(tmp_path: Path) -> None:
    model = ImageClassifier("cifar_resnet8", num_classes=4, in_channels=3)
    dm = RandomImageDataModule(n_train=24, n_val=8, shape=(3, 16, 16), batch_size=8)
    dm.setup("fit")
    raw_val = torch.stack([dm.val_set[i][0] for i in range(8)])
    seen = _Batches()
    callbacks = [
        WeightInit(mode="fan_out", seed=0),
        ZeroInitResidualBN(),
        BatchCropFlip(padding=2, seed=0),
        seen,
        EMA(decay=0.9),
    ]
    trainer = fit(model, dm, tmp_path, max_epochs=1, precision="bf16-mixed", callbacks=callbacks)
    assert trainer.global_step == 3
    assert torch.isfinite(trainer.callback_metrics["val/loss"])
    assert all(p.dtype == torch.float32 for p in model.parameters())
    # training images were shifted / flipped (an image keeps its pixels only for the draw
    # "no shift, no flip", probability 1/50); validation images are untouched
    assert torch.equal(seen.val[0], raw_val)
    raw_train = torch.stack([dm.train_set[i][0] for i in range(24)])
    rows = [row for x in seen.train for row in x]
    unchanged = sum(any(torch.equal(row, r) for r in raw_train) for row in rows)
    assert len(rows) == 24 and unchanged <= 3
    # training started from zero γ in the last BatchNorm of every residual block
    assert len(seen.gamma_at_start) == 3
    assert all(not bool(g.any()) for g in seen.gamma_at_start)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Be aware that when using `ckpt_path`")
@pytest.mark.filterwarnings("ignore:The dirpath has changed")
def test_resume_mid_epoch_reproduces_augmented_batches_and_ema(tmp_path: Path) -> None:
    dm = RandomImageDataModule(n_train=40, n_val=8, batch_size=8)  # 5 steps per epoch

    def run(name: str, ckpt_path: str | None = None) -> tuple[TinyClassifier, EMA]:
        torch.manual_seed(0)
        model, ema = TinyClassifier(record_batches=True), EMA(decay=0.8)
        ckpt = ModelCheckpoint(dirpath=tmp_path / name, every_n_train_steps=3, save_top_k=-1)
        cbs = [WeightInit(seed=1), BatchCropFlip(padding=2, seed=5), ema, ckpt]
        fit(
            model,
            dm,
            tmp_path,
            max_epochs=2,
            ckpt_path=ckpt_path,
            callbacks=cbs,
            enable_checkpointing=True,
            limit_val_batches=1,
        )
        return model, ema

    full, ema_full = run("a")
    resumed, ema_resumed = run("b", str(tmp_path / "a" / "epoch=0-step=3.ckpt"))
    assert len(full.seen) == 10 and len(resumed.seen) == 7
    for (xa, ya), (xb, yb) in zip(full.seen[3:], resumed.seen):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert ema_full.num_updates == ema_resumed.num_updates == 10
    for k, v in full.state_dict().items():
        assert torch.equal(resumed.state_dict()[k], v), k


class _SeedPerRank(Callback):
    """A rank-dependent global seed, so ``WeightInit(seed=None)`` draws differently per rank."""

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        torch.manual_seed(100 + trainer.global_rank)


class _RankDump(Callback):
    """Each rank saves the weights it starts training from and the (averaged) end weights."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        state = {k: v.detach().cpu().clone() for k, v in pl_module.state_dict().items()}
        torch.save(state, self.folder / f"start{trainer.global_rank}.pt")

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        state = {k: v.detach().cpu().clone() for k, v in pl_module.state_dict().items()}
        torch.save(state, self.folder / f"end{trainer.global_rank}.pt")


@pytest.mark.slow
def test_ddp_spawn_ranks_start_identical_and_ema_pickles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PL_GLOBAL_SEED", raising=False)
    callbacks = [
        _SeedPerRank(),
        WeightInit("orthogonal"),
        BatchCropFlip(padding=2),
        EMA(decay=0.9),
        _RankDump(tmp_path),
    ]
    model = TinyClassifier()
    fit(
        model,
        RandomImageDataModule(n_train=32, n_val=8, batch_size=4),
        tmp_path,
        devices=2,
        strategy="ddp_spawn",
        max_steps=3,
        limit_val_batches=1,
        callbacks=callbacks,
    )
    start = [torch.load(tmp_path / f"start{r}.pt") for r in (0, 1)]
    end = [torch.load(tmp_path / f"end{r}.pt") for r in (0, 1)]
    # rank 0 drew its init from seed 100, rank 1 from 101: DDP broadcast rank 0's weights
    # because the init happened in setup, before the model was wrapped
    expected = TinyClassifier()
    WeightInit("orthogonal", seed=100).initialize(expected)
    for k, v in start[0].items():
        assert torch.equal(start[1][k], v), k
    assert torch.equal(start[0]["net.0.weight"], expected.net[0].weight.detach())
    # identical averaged parameters on both ranks (BatchNorm running statistics are per
    # rank under DDP without SyncBatchNorm, so their averages differ)
    for k, _ in model.named_parameters():
        assert torch.equal(end[1][k], end[0][k]), k
    # ddp_spawn hands rank 0's final (averaged) weights back to the main process
    assert torch.equal(model.net[0].weight.detach(), end[0]["net.0.weight"])


def test_shipped_configs_parse_compose_and_run(tmp_path: Path) -> None:
    cli = TricksCLI(
        run=False,
        args=[
            "--config",
            str(ROOT / "configs/digits.yaml"),
            "--config",
            str(ROOT / "configs/tricks/random_crop.yaml"),
            "--trainer.logger=false",
        ],
    )
    names = [type(cb).__name__ for cb in cli.trainer.callbacks]
    assert "BatchCropFlip" in names and "LearningRateMonitor" in names
    crop = next(cb for cb in cli.trainer.callbacks if isinstance(cb, BatchCropFlip))
    assert (crop.padding, crop.padding_mode, crop.flip_p) == (2, "reflect", 0.0)
    code = cli_main(
        [
            "fit",
            "--config",
            str(ROOT / "configs/digits_augment.yaml"),
            "--trainer.fast_dev_run=true",
            f"--trainer.default_root_dir={tmp_path}",
            f"--trainer.logger.init_args.save_dir={tmp_path}",
            "--data.init_args.train_per_class=2",
        ]
    )
    assert code == 0
