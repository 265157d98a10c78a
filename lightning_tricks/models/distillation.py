"""DistillationModule: DistillationMixin + ImageClassifier, the ready-made student for the CLI."""

from __future__ import annotations

from torch import nn

from ..mixins.distillation import DistillationMixin
from .classifier import ImageClassifier

__all__ = ["DistillationModule"]


class DistillationModule(DistillationMixin, ImageClassifier):
    """The reference :class:`ImageClassifier` trained against a frozen teacher (Hinton et al., 2015).

    `Distilling the Knowledge in a Neural Network <https://arxiv.org/abs/1503.02531>`_;
    see :class:`~lightning_tricks.mixins.DistillationMixin` for the behaviour. The constructor
    spells out every argument (instead of ``**kwargs``) so that LightningCLI / jsonargparse
    show and check all of them::

        lightning-tricks fit --config configs/digits_distill.yaml
        lightning-tricks fit --model DistillationModule --model.teacher CifarResNet \\
            --model.teacher.depth 20 --model.teacher.in_channels 1 \\
            --model.teacher_checkpoint runs/digits_teacher/checkpoints/last.ckpt ...

    Its ``training_step`` is :class:`ImageClassifier`'s (cross-entropy, ``train/loss``,
    ``train/acc``) with the mixin's distillation term added: it optimises
    ``(1 − alpha) · cross_entropy + alpha · T² · KL(teacher ‖ student)`` and also logs
    ``train/kd_loss`` and ``train/distill_loss`` (the total).

    Args:
        backbone, num_classes, in_channels, dropout, lr, momentum, weight_decay: the
            student, see :class:`ImageClassifier`.
        teacher, teacher_checkpoint, temperature, alpha, save_teacher: see
            :class:`~lightning_tricks.mixins.DistillationMixin` (defaults None, None, 4.0,
            0.9, False).

    Raises:
        TypeError, ValueError, FileNotFoundError: see the two base classes.

    Example::

        >>> import torch
        >>> from lightning_tricks.models import CifarResNet
        >>> teacher = CifarResNet(depth=14, num_classes=10, in_channels=1)
        >>> student = DistillationModule("cifar_resnet8", num_classes=10, in_channels=1,
        ...                              teacher=teacher, temperature=4.0, alpha=0.9)
        >>> sorted(student.hparams)[:3], "teacher" in student.hparams
        (['alpha', 'backbone', 'dropout'], False)
        >>> x = torch.randn(4, 1, 32, 32)
        >>> student(x).shape == student.teacher_logits(x).shape
        True
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
        *,
        teacher: nn.Module | None = None,
        teacher_checkpoint: str | None = None,
        temperature: float = 4.0,
        alpha: float = 0.9,
        save_teacher: bool = False,
    ) -> None:
        super().__init__(
            backbone=backbone,
            num_classes=num_classes,
            in_channels=in_channels,
            dropout=dropout,
            lr=lr,
            momentum=momentum,
            weight_decay=weight_decay,
            teacher=teacher,
            teacher_checkpoint=teacher_checkpoint,
            temperature=temperature,
            alpha=alpha,
            save_teacher=save_teacher,
        )
