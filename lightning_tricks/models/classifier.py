"""The reference LightningModule used by the CLI, the demo and the integration tests."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics.classification import MulticlassAccuracy

from .._checks import check_float, check_int
from ..callbacks._configure import _train_data_is_set_up, reset_early_train_data
from ..functional.targets import hard_targets
from .backbones import build_backbone

__all__ = ["ImageClassifier", "split_batch"]


def split_batch(batch: Any) -> tuple[Tensor, Tensor]:
    """Return ``(images, targets)`` from a list/tuple ``(x, y, ...)`` or a dict batch.

    Dict batches use the keys ``"image"`` and ``"label"``.
    """
    if isinstance(batch, dict):
        return batch["image"], batch["label"]
    return batch[0], batch[1]


def _add_dropout_before_head(model: nn.Module, p: float) -> None:
    """Insert ``nn.Dropout(p)`` in front of the last ``nn.Linear`` of ``model``."""
    last_name = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last_name = name
    if last_name is None:
        raise ValueError("`dropout` needs a backbone whose head is an nn.Linear")
    parent_name, _, child = last_name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    head = getattr(parent, child)
    setattr(parent, child, nn.Sequential(nn.Dropout(p), head))


class ImageClassifier(pl.LightningModule):
    """Image classifier whose ``training_step`` is plain ``F.cross_entropy(self(x), y)``.

    Because ``F.cross_entropy`` accepts class indices ``(N,)`` and probabilities ``(N, K)``,
    every batch trick of this library (MixUp, CutMix, label smoothing, ...) works with it
    unchanged. Train accuracy is computed on :func:`~lightning_tricks.functional.hard_targets`.

    Args:
        backbone: ``"cifar_resnet<6n+2>[_w<width>]"`` (32×32 inputs, e.g. ``"cifar_resnet20"``),
            ``"simple_cnn"``, or any torchvision classification model name (``weights=None``).
            Default ``"cifar_resnet20"``.
        num_classes: number of classes K (>= 2). Default 10. The CLI links it from the data.
        in_channels: image channels (>= 1). Default 3. The CLI links it from the data.
        dropout: dropout probability in front of the classifier head, in [0, 1). Default 0.
        lr: learning rate of the default optimizer (> 0). Default 0.05.
        momentum: momentum of the default SGD (in [0, 1)). Default 0.9.
        weight_decay: L2 weight decay of the default SGD (>= 0). Default 5e-4.

    The default optimizer (used when the CLI gives no ``--optimizer``) is SGD with Nesterov
    momentum and a per-step cosine decay over ``trainer.estimated_stepping_batches``.

    Raises:
        ValueError: for out-of-range arguments or an unknown backbone.

    Example::

        >>> model = ImageClassifier("cifar_resnet8", num_classes=10, in_channels=1)
        >>> model(torch.randn(4, 1, 32, 32)).shape
        torch.Size([4, 10])
    """

    def __init__(
        self,
        backbone: str = "cifar_resnet20",
        num_classes: int = 10,
        in_channels: int = 3,
        dropout: float = 0.0,
        lr: float = 0.05,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
    ) -> None:
        super().__init__()
        if not isinstance(backbone, str):
            raise TypeError(
                f"`backbone` must be a str such as 'cifar_resnet20', got "
                f"{type(backbone).__name__} {backbone!r}"
            )
        check_int("num_classes", num_classes, 2)
        check_int("in_channels", in_channels, 1)
        check_float("dropout", dropout, low=0.0, high=1.0, high_inclusive=False)
        check_float("lr", lr, low=0.0, low_inclusive=False)
        check_float("momentum", momentum, low=0.0, high=1.0, high_inclusive=False)
        check_float("weight_decay", weight_decay, low=0.0)
        self.save_hyperparameters()
        self.num_classes = num_classes
        self.model = build_backbone(backbone, num_classes=num_classes, in_channels=in_channels)
        if dropout > 0:
            _add_dropout_before_head(self.model, dropout)
        self.train_acc = MulticlassAccuracy(num_classes, average="micro")
        self.val_acc = MulticlassAccuracy(num_classes, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes, average="micro")

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        x, y = split_batch(batch)
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        self.train_acc(logits.detach(), hard_targets(y))
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True)
        return loss

    def _evaluate(self, batch: Any, stage: str) -> Tensor:
        x, y = split_batch(batch)
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        metric = self.val_acc if stage == "val" else self.test_acc
        metric(logits, hard_targets(y))
        self.log(f"{stage}/loss", loss, sync_dist=True)
        self.log(f"{stage}/acc", metric, prog_bar=True)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self._evaluate(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self._evaluate(batch, "test")

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        x = (
            batch["image"]
            if isinstance(batch, dict)
            else (batch[0] if isinstance(batch, (list, tuple)) else batch)
        )
        return self(x).softmax(dim=1)

    def configure_optimizers(self) -> Any:
        hp: Any = self.hparams  # an AttributeDict
        optimizer = torch.optim.SGD(
            self.parameters(),
            lr=hp.lr,
            momentum=hp.momentum,
            nesterov=hp.momentum > 0,
            weight_decay=hp.weight_decay,
        )
        trainer = self.trainer
        data_was_ready = _train_data_is_set_up(trainer)
        total = max(1, int(trainer.estimated_stepping_batches))
        if trainer.ckpt_path is not None and not data_was_ready:
            # estimated_stepping_batches built the train loader before the checkpoint's loop
            # state was restored (Lightning #20550): drop it so a mid-epoch resume replays the
            # interrupted epoch in its original order.
            reset_early_train_data(trainer)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }
