"""Zoo style: a one-logit binary head trained with ``BCEWithLogitsLoss``.

The usual binary recipe: ``nn.Linear(..., 1)``, ``logits.squeeze(1)``, float targets,
accuracy from ``logits > 0``.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor, nn


class BinaryClassifier(pl.LightningModule):
    """One logit per image; logs ``train_loss`` and ``train_acc``."""

    def __init__(self, in_channels: int = 3, lr: float = 0.1) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, 8, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(8, 1),
        )
        self.criterion = nn.BCEWithLogitsLoss()

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)  # (N, 1)

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        x, y = batch
        logits = self(x).squeeze(1)
        loss = self.criterion(logits, y.float())
        self.log("train_loss", loss)
        self.log("train_acc", ((logits > 0).long() == y).float().mean())
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        logits = self(x).squeeze(1)
        self.log("val_loss", self.criterion(logits, y.float()))
        self.log("val_acc", ((logits > 0).long() == y).float().mean())

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)
