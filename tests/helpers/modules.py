"""A tiny LightningModule whose training_step is plain cross-entropy (untouched by tricks)."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lightning_tricks.functional import MixedTargets


class TinyClassifier(pl.LightningModule):
    """conv → BN → ReLU → pool → linear; ``training_step`` is ``F.cross_entropy(self(x), y)``.

    Records every training batch it saw (``record_batches=True``) so tests can compare the
    augmented batches of two runs exactly.
    """

    def __init__(
        self,
        num_classes: int = 4,
        in_channels: int = 3,
        lr: float = 0.1,
        weight_decay: float = 0.0,
        record_batches: bool = False,
        dict_batch: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.num_classes = num_classes
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(8, num_classes),
        )
        self.record_batches = record_batches
        self.dict_batch = dict_batch
        self.seen: list[tuple[Tensor, Tensor]] = []
        self.lrs: list[float] = []

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def _xy(self, batch: Any) -> tuple[Tensor, Tensor]:
        if isinstance(batch, dict):
            return batch["image"], batch["label"]
        return batch[0], batch[1]

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        x, y = self._xy(batch)
        if self.record_batches:  # mixed targets are recorded as their (N, K) probabilities
            kept = y.to_dense(self.num_classes) if isinstance(y, MixedTargets) else y
            self.seen.append((x.detach().cpu().clone(), kept.detach().cpu().clone()))
        self.lrs.append(float(self.trainer.optimizers[0].param_groups[0]["lr"]))
        loss = F.cross_entropy(self(x), y)
        self.log("train/loss", loss)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> Tensor:
        x, y = self._xy(batch)
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        self.log("val/loss", loss, sync_dist=True)
        self.log("val/acc", (logits.argmax(1) == y).float().mean(), sync_dist=True)
        return loss

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(
            self.parameters(),
            lr=self.hparams.lr,
            momentum=0.9,
            weight_decay=self.hparams.weight_decay,
        )
