"""Zoo style: the forward returns ``log_softmax`` and the loss is ``F.nll_loss``.

The classic PyTorch MNIST-example way (``output = F.log_softmax(x, dim=1)``), with a
hand-written accuracy. Log-probabilities differ from logits by a per-row constant, which
softmax ignores, so they are valid "logits" for distillation.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn


class LogSoftmaxClassifier(pl.LightningModule):
    """``forward`` returns log-probabilities; logs ``train_loss`` and a hand-written ``train_acc``."""

    def __init__(self, num_classes: int = 4, in_channels: int = 3, lr: float = 0.1) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.conv = nn.Conv2d(in_channels, 8, 3, padding=1)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.conv(x))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return F.log_softmax(self.fc(x), dim=1)

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        x, y = batch
        output = self(x)
        loss = F.nll_loss(output, y)
        acc = (output.argmax(dim=1) == y).float().mean()
        self.log("train_loss", loss)
        self.log("train_acc", acc)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        output = self(x)
        self.log("val_loss", F.nll_loss(output, y))
        self.log("val_acc", (output.argmax(dim=1) == y).float().mean())

    def configure_optimizers(self) -> Any:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
