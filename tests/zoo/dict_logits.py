"""Hugging Face style: dict batches ``{"pixel_values", "labels"}``, outputs with ``.logits``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from ._tiny import tiny_resnet


@dataclass
class ImageClassifierOutput:
    """Like ``transformers.modeling_outputs.ImageClassifierOutput``."""

    logits: Tensor
    loss: Tensor | None = None


class TinyHFModel(nn.Module):
    """``model(pixel_values=..., labels=...)`` returns an output with ``.logits`` and ``.loss``."""

    def __init__(self) -> None:
        super().__init__()
        self.net = tiny_resnet()

    def forward(self, pixel_values: Tensor, labels: Tensor | None = None) -> ImageClassifierOutput:
        logits = self.net(pixel_values)
        loss = None if labels is None else F.cross_entropy(logits, labels)
        return ImageClassifierOutput(logits=logits, loss=loss)


class DictImages(Dataset):
    """``n`` seeded 3x8x8 images as ``{"pixel_values": x, "labels": y}`` samples."""

    def __init__(self, n: int, seed: int) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.y = torch.randint(0, 4, (n,), generator=gen)
        self.x = torch.randn(n, 3, 8, 8, generator=gen)
        self.x[:, 0] += self.y.view(-1, 1, 1).float()

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {"pixel_values": self.x[i], "labels": self.y[i]}


class DictLogitsDataModule(pl.LightningDataModule):
    """Dict batches; exposes ``num_classes`` as data modules commonly do."""

    num_classes = 4

    def __init__(self, n_train: int = 32, batch_size: int = 8) -> None:
        super().__init__()
        self.n_train, self.batch_size = n_train, batch_size

    def train_dataloader(self) -> DataLoader:
        return DataLoader(DictImages(self.n_train, 1), batch_size=self.batch_size)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(DictImages(16, 2), batch_size=self.batch_size)


class DictLogitsClassifier(pl.LightningModule):
    """Wraps a HF-style model; the loss is the model's own ``outputs.loss``."""

    def __init__(self, lr: float = 0.1, weight_decay: float = 0.0) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = TinyHFModel()

    def forward(self, pixel_values: Tensor) -> ImageClassifierOutput:
        return self.model(pixel_values=pixel_values)

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        outputs = self.model(**batch)
        assert outputs.loss is not None
        self.log("train_loss", outputs.loss)
        acc = (outputs.logits.argmax(-1) == batch["labels"]).float().mean()
        self.log("train_acc", acc)
        return outputs.loss

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        outputs = self.model(**batch)
        self.log("val_loss", outputs.loss)

    def configure_optimizers(self) -> Any:
        return torch.optim.AdamW(
            self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )
