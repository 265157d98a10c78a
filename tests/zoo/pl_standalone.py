"""A module written against the standalone ``pytorch_lightning`` package.

``import pytorch_lightning as pl``, as 19 of the 20 official tutorial notebooks do, with its
own dataloaders (no data module) and a ``pytorch_lightning.Trainer``.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from ._tiny import tiny_resnet


def random_images(n: int, seed: int) -> TensorDataset:
    """``n`` seeded 3x8x8 images; the label (of 4) shifts channel 0."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n,), generator=gen)
    x = torch.randn(n, 3, 8, 8, generator=gen)
    x[:, 0] += y.view(-1, 1, 1).float()
    return TensorDataset(x, y)


class PLClassifier(pl.LightningModule):
    """A ``pytorch_lightning.LightningModule`` with SGD and its own (unshuffled) loaders."""

    def __init__(self, lr: float = 0.1, weight_decay: float = 0.0, n_train: int = 32) -> None:
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

    def train_dataloader(self) -> DataLoader:
        return DataLoader(random_images(self.hparams.n_train, 1), batch_size=8)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(random_images(16, 2), batch_size=8)

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(
            self.parameters(),
            lr=self.hparams.lr,
            momentum=0.9,
            weight_decay=self.hparams.weight_decay,
        )
