"""A module whose ``configure_optimizers`` returns a per-step ``OneCycleLR``.

Its length comes from ``self.trainer.estimated_stepping_batches``, as in Lightning's
"CIFAR-10 baseline" tutorial.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import Tensor

from ._tiny import tiny_resnet


class OneCycleClassifier(pl.LightningModule):
    """SGD(lr=``lr``) with OneCycleLR(max_lr=``max_lr``) over the whole fit, stepped per step."""

    def __init__(self, lr: float = 0.01, max_lr: float = 0.05, weight_decay: float = 0.0) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = tiny_resnet()

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        self.log("train_loss", loss)
        self.log("train_acc", (logits.argmax(-1) == y).float().mean())
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val_loss", F.cross_entropy(self(x), y))

    def configure_optimizers(self) -> Any:
        opt = torch.optim.SGD(
            self.parameters(),
            lr=self.hparams.lr,
            momentum=0.9,
            weight_decay=self.hparams.weight_decay,
        )
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt,
            max_lr=self.hparams.max_lr,
            total_steps=int(self.trainer.estimated_stepping_batches),
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
