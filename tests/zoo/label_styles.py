"""Zoo: image classifiers written the ways the ecosystem writes them (issue 13).

Each module is ordinary user code, unchanged for the tricks: it never imports
lightning-tricks. Each records what its first training step saw (``first``: logits, targets,
loss and the metric value it logged) so tests can check the loss against the dense
reference and the metrics against the hard labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from torchmetrics.classification import Accuracy

NUM_CLASSES = 4


def _net(out: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(24, out),
    )


class _Base(pl.LightningModule):
    """Shared plumbing only (optimizer, the record of the first step)."""

    def __init__(self, out: int = NUM_CLASSES) -> None:
        super().__init__()
        self.net = _net(out)
        self.first: dict[str, Any] = {}

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def record(self, **values: Any) -> None:
        if not self.first:
            self.first = {k: v.detach() if isinstance(v, Tensor) else v for k, v in values.items()}

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=0.05)


class TorchmetricsModule(_Base):
    """Lightning's docs style: a torchmetrics Accuracy updated in ``training_step``."""

    def __init__(self) -> None:
        super().__init__()
        self.train_acc = Accuracy(task="multiclass", num_classes=NUM_CLASSES)

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        acc = self.train_acc(logits, y)
        self.log("train_acc", acc)
        self.record(logits=logits, y=y, loss=loss, acc=acc)
        return loss


class HandAccuracyModule(_Base):
    """Tutorial style: ``(logits.argmax(-1) == y).float().mean()``."""

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        acc = (logits.argmax(-1) == y).float().mean()
        self.log("train_acc", acc)
        self.record(logits=logits, y=y, loss=loss, acc=acc)
        return loss


class CastingModule(_Base):
    """Defensive style: ``y = y.long().to(self.device)`` before the loss (no-op casts)."""

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        x, y = batch
        y = y.long().to(self.device).contiguous()
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        self.record(logits=logits, y=y, loss=loss)
        return loss


class NLLModule(_Base):
    """MNIST-example style: ``log_softmax`` in forward, ``F.nll_loss`` in the step."""

    def forward(self, x: Tensor) -> Tensor:
        return F.log_softmax(self.net(x), dim=1)

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        x, y = batch
        log_probs = self(x)
        loss = F.nll_loss(log_probs, y)
        self.log("train_loss", loss)
        self.record(logits=log_probs, y=y, loss=loss)
        return loss


class CriterionAttributeModule(_Base):
    """Template style: ``self.criterion = nn.CrossEntropyLoss(label_smoothing=0.1)``."""

    def __init__(self) -> None:
        super().__init__()
        self.criterion = nn.CrossEntropyLoss(label_smoothing=0.1)

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        x, y = batch
        logits = self(x)
        loss = self.criterion(logits, y)
        self.record(logits=logits, y=y, loss=loss)
        return loss


class BinaryHeadModule(_Base):
    """A one-logit binary head: ``BCEWithLogitsLoss`` on ``y.view(-1, 1).float()``."""

    def __init__(self) -> None:
        super().__init__(out=1)
        self.criterion = nn.BCEWithLogitsLoss()

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        x, y = batch
        logit = self(x)
        loss = self.criterion(logit, y.view(-1, 1).float())
        acc = ((logit.squeeze(1) > 0).long() == y).float().mean()
        self.log("train_acc", acc)
        self.record(logits=logit, y=y, loss=loss, acc=acc)
        return loss


@dataclass
class ImageClassifierOutput:
    """What a Hugging Face image classifier returns (the part modules use)."""

    logits: Tensor


class HFStyleModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = _net(NUM_CLASSES)

    def forward(self, pixel_values: Tensor) -> ImageClassifierOutput:
        return ImageClassifierOutput(logits=self.body(pixel_values))


class HFDictModule(_Base):
    """Hugging Face fine-tuning style: dict batches, a model returning ``.logits``."""

    def __init__(self) -> None:
        super().__init__()
        self.model = HFStyleModel()

    def forward(self, pixel_values: Tensor) -> Tensor:  # type: ignore[override]
        return self.model(pixel_values=pixel_values).logits

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        outputs = self.model(pixel_values=batch["pixel_values"])
        loss = F.cross_entropy(outputs.logits, batch["labels"])
        acc = (outputs.logits.argmax(-1) == batch["labels"]).float().mean()
        self.log("train_acc", acc)
        self.record(logits=outputs.logits, y=batch["labels"], loss=loss, acc=acc)
        return loss


class OwnLossModule(_Base):
    """A module with a loss of its own (MSE on one-hot): it cannot use a label mixture."""

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        x, y = batch
        logits = self(x)
        loss = F.mse_loss(logits.softmax(1), F.one_hot(y, NUM_CLASSES).float())
        self.record(logits=logits, y=y, loss=loss)
        return loss


class ImagesDataset(Dataset):
    """Seeded random 3x8x8 images; labels in [0, classes); dict samples on request."""

    def __init__(self, n: int = 32, classes: int = NUM_CLASSES, as_dict: bool = False) -> None:
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 3, 8, 8, generator=g)
        self.y = torch.randint(0, classes, (n,), generator=g)
        self.as_dict = as_dict

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> Any:
        if self.as_dict:
            return {"pixel_values": self.x[i], "labels": self.y[i]}
        return self.x[i], self.y[i]


class ViewsLoader:
    """Yields list batches that are *views* of tensors it keeps (as an in-memory loader
    with ``batch_size=None`` does): a trick must never write into them."""

    def __init__(self, batch_size: int = 8) -> None:
        data = ImagesDataset()
        self.x, self.y, self.batch_size = data.x, data.y, batch_size

    def __len__(self) -> int:
        return len(self.y) // self.batch_size

    def __iter__(self) -> Any:
        for i in range(len(self)):
            s = slice(i * self.batch_size, (i + 1) * self.batch_size)
            yield [self.x[s], self.y[s]]


def loader(module: pl.LightningModule, batch_size: int = 8) -> DataLoader:
    """The zoo module's training data (dict samples for the HF style, 2 classes for BCE)."""
    classes = 2 if isinstance(module, BinaryHeadModule) else NUM_CLASSES
    data = ImagesDataset(classes=classes, as_dict=isinstance(module, HFDictModule))
    return DataLoader(data, batch_size=batch_size)


STYLES = [
    TorchmetricsModule,
    HandAccuracyModule,
    CastingModule,
    NLLModule,
    CriterionAttributeModule,
    BinaryHeadModule,
    HFDictModule,
]
