"""Manual optimization in Lightning's documented style.

``automatic_optimization = False``; ``training_step`` calls ``self.optimizers()``,
``opt.zero_grad()``, ``self.manual_backward(loss)``, ``opt.step()`` and steps its own
scheduler with ``self.lr_schedulers().step()`` (the pattern of Lightning's "Manual
Optimization" guide).
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import Tensor

from ._tiny import tiny_resnet


class ManualOptClassifier(pl.LightningModule):
    """A classifier that steps its optimizer (and optionally a StepLR) itself.

    Args:
        lr: SGD learning rate.
        weight_decay: SGD weight decay.
        scheduler: ``None`` or ``"step"`` (a ``StepLR(step_size=2, gamma=0.5)`` the module
            steps after every optimizer step).
        use_pl_optimizer: step Lightning's optimizer wrapper (default) or, as some research
            templates do, the raw torch optimizer (``self.optimizers(use_pl_optimizer=False)``;
            Lightning then does not count the steps in ``global_step``).
        step_schedulers: call ``self.lr_schedulers().step()`` after the optimizer step
            (default), or never touch the schedulers.
    """

    def __init__(
        self,
        lr: float = 0.1,
        weight_decay: float = 0.0,
        scheduler: str | None = None,
        use_pl_optimizer: bool = True,
        step_schedulers: bool = True,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.net = tiny_resnet()

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def training_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        opt = self.optimizers(use_pl_optimizer=self.hparams.use_pl_optimizer)
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad()
        self.manual_backward(loss)
        opt.step()
        sch = self.lr_schedulers() if self.hparams.step_schedulers else None
        if sch is not None:
            sch.step()
        self.log("train_loss", loss)
        self.log("train_acc", (logits.argmax(-1) == y).float().mean())

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
        if self.hparams.scheduler is None:
            return opt
        return [opt], [torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)]
