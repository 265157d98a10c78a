"""Modules and recorders shared by the schedule / weight-decay callback tests (issue 4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
import torch
from helpers import TinyClassifier
from lightning.pytorch.callbacks import Callback
from torch.optim.lr_scheduler import CosineAnnealingLR, ReduceLROnPlateau, StepLR

from lightning_tricks.optim import AdaBoundW


class OptTiny(TinyClassifier):
    """TinyClassifier whose ``configure_optimizers`` returns a chosen optimizer / scheduler.

    scheduler: ``None`` (bare optimizer), ``"cosine_step"`` (per-step cosine over the whole
    fit, as ImageClassifier's default), ``"step_epoch"`` (StepLR per epoch, bare list form),
    ``"plateau"`` (ReduceLROnPlateau on val/loss, dict form with a top-level monitor).
    """

    def __init__(
        self,
        optimizer: str = "sgd",
        scheduler: str | None = None,
        weight_decay: float = 0.0,
        lr: float = 0.1,
        penalty: float = 0.0,
    ) -> None:
        super().__init__(lr=lr)
        self.optimizer_name = optimizer
        self.scheduler_name = scheduler
        self.weight_decay = weight_decay
        self.penalty = penalty  # an L1 term in the loss (the reference for L1Regularization)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss = super().training_step(batch, batch_idx)
        if self.penalty:
            weights = [self.net[0].weight, self.net[5].weight]
            loss = loss + self.penalty * sum(w.abs().sum() for w in weights)
        return loss

    def configure_optimizers(self) -> Any:
        lr = self.hparams.lr
        if self.optimizer_name == "adaboundw":
            opt: torch.optim.Optimizer = AdaBoundW(
                self.parameters(), lr=lr, final_lr=0.05, weight_decay=self.weight_decay
            )
        else:
            opt = torch.optim.SGD(
                self.parameters(), lr=lr, momentum=0.9, weight_decay=self.weight_decay
            )
        name = self.scheduler_name
        if name is None:
            return opt
        if name == "cosine_step":
            total = int(self.trainer.estimated_stepping_batches)
            sched = CosineAnnealingLR(opt, T_max=total)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
        if name == "step_epoch":
            return [opt], [StepLR(opt, step_size=1, gamma=0.5)]
        if name == "plateau":
            sched = ReduceLROnPlateau(opt, factor=0.5, patience=0)
            return {"optimizer": opt, "lr_scheduler": sched, "monitor": "val/loss"}
        raise ValueError(name)


class RecordLR(Callback):
    """LR of every param group of the first optimizer, at each training batch."""

    def __init__(self) -> None:
        self.lrs: list[list[float]] = []

    def on_train_batch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        self.lrs.append([g["lr"] for g in trainer.optimizers[0].param_groups])


class RankDump(Callback):
    """Writes the per-step LRs and the LinearScalingRule result of each rank to a file."""

    def __init__(self, dirpath: str) -> None:
        self.dirpath = dirpath
        self.lrs: list[list[float]] = []

    def on_train_batch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        self.lrs.append([g["lr"] for g in trainer.optimizers[0].param_groups])

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        groups = trainer.optimizers[0].param_groups
        torch.save(
            {
                "lrs": self.lrs,
                "weight_decay": [g["weight_decay"] for g in groups],
                "n_params": [len(g["params"]) for g in groups],
                "world_size": trainer.world_size,
            },
            Path(self.dirpath) / f"rank{trainer.global_rank}.pt",
        )


def one_thread_fixture() -> Any:
    """An autouse fixture body: one torch thread during the test (tiny tensors; on a busy
    2-core machine two OpenMP threads per op cost more than they give)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


#: warnings raised by third-party code during a Trainer fit on this stack (torchdata, Lightning,
#: resume from a checkpoint); everything else, ours included, is an error in these tests
THIRD_PARTY_WARNINGS: tuple[str, ...] = (
    "'set_vital' is deprecated",
    r".*isinstance\(treespec, LeafSpec\).*",
    ".*does not have many workers.*",
    r".*The number of training batches.*is smaller than the logging interval.*",
    "Be aware that when using `ckpt_path`",
    "The dirpath has changed",
    r".*Consider setting `persistent_workers=True`.*",
)


def warnings_as_errors() -> list[pytest.MarkDecorator]:
    """``pytestmark`` for fit-based tests: every warning is an error except THIRD_PARTY_WARNINGS.

    (pytest applies module marks after function marks, so a module-level "error" would beat a
    function-level "ignore"; the ignores therefore live here, after the "error".)
    """
    return [
        pytest.mark.filterwarnings("error"),
        *(pytest.mark.filterwarnings(f"ignore:{m}") for m in THIRD_PARTY_WARNINGS),
    ]
