"""Zoo style: Hugging Face-like dict batches and a model that returns an output with ``.logits``.

The way a ``transformers`` image classifier is fine-tuned with Lightning: batches are
``{"pixel_values": ..., "labels": ...}``, the module calls ``self(**batch)`` and the model
returns an ``ImageClassifierOutput``-like object carrying ``.loss`` (when ``labels`` are
given) and ``.logits``. Written without ``transformers`` (not a dependency).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset


@dataclass
class ImageClassifierOutput:
    """Like ``transformers.modeling_outputs.ImageClassifierOutput``."""

    logits: Tensor
    loss: Tensor | None = None


class TinyHFImageModel(nn.Module):
    """``forward(pixel_values, labels=None)`` -> :class:`ImageClassifierOutput`, HF-style."""

    def __init__(self, num_labels: int = 4, num_channels: int = 3, hidden: int = 8) -> None:
        super().__init__()
        self.num_labels = num_labels
        self.embed = nn.Conv2d(num_channels, hidden, 3, padding=1)
        self.classifier = nn.Linear(hidden, num_labels)

    def forward(self, pixel_values: Tensor, labels: Tensor | None = None) -> ImageClassifierOutput:
        hidden = F.gelu(self.embed(pixel_values)).mean(dim=(2, 3))
        logits = self.classifier(hidden)
        loss = None if labels is None else F.cross_entropy(logits, labels)
        return ImageClassifierOutput(logits=logits, loss=loss)


class HFStyleClassifier(pl.LightningModule):
    """Calls ``self(**batch)`` and uses ``outputs.loss`` / ``outputs.logits``."""

    def __init__(self, num_labels: int = 4, num_channels: int = 3, lr: float = 0.1) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = TinyHFImageModel(num_labels, num_channels)

    def forward(self, pixel_values: Tensor, labels: Tensor | None = None) -> ImageClassifierOutput:
        return self.model(pixel_values=pixel_values, labels=labels)

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        outputs = self(**batch)
        acc = (outputs.logits.argmax(-1) == batch["labels"]).float().mean()
        self.log("train_loss", outputs.loss)
        self.log("train_acc", acc)
        return outputs.loss

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        outputs = self(**batch)
        self.log("val_loss", outputs.loss)
        self.log("val_acc", (outputs.logits.argmax(-1) == batch["labels"]).float().mean())

    def configure_optimizers(self) -> Any:
        return torch.optim.AdamW(self.parameters(), lr=self.hparams.lr)


class PixelValuesDataset(Dataset):
    """``n`` seeded random images as ``{"pixel_values": (C, H, W), "labels": int}`` samples."""

    def __init__(
        self, n: int = 32, num_labels: int = 4, shape: tuple[int, ...] = (3, 8, 8), seed: int = 0
    ) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.labels = torch.randint(0, num_labels, (n,), generator=gen)
        self.images = torch.randn(n, *shape, generator=gen)
        self.images[:, 0] += self.labels.view(-1, 1, 1).float()

    def __len__(self) -> int:
        return self.labels.numel()

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"pixel_values": self.images[i], "labels": int(self.labels[i])}


class PixelValuesDataModule(pl.LightningDataModule):
    """Dict batches ``{"pixel_values", "labels"}`` from plain ``DataLoader``s."""

    def __init__(
        self, n_train: int = 32, n_val: int = 16, num_labels: int = 4, batch_size: int = 8
    ) -> None:
        super().__init__()
        self.num_labels, self.batch_size = num_labels, batch_size
        self.train_set = PixelValuesDataset(n_train, num_labels, seed=1)
        self.val_set = PixelValuesDataset(n_val, num_labels, seed=2)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=False)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.batch_size)
