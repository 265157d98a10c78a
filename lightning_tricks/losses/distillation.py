"""DistillationLoss: alpha · KD + (1 − alpha) · cross-entropy (Hinton et al., 2015)."""

from __future__ import annotations

from typing import NamedTuple

import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_float
from ..functional.distillation import _check_temperature, _loss_dtype, kd_loss

__all__ = ["DistillationLoss", "DistillationLossOutput"]


class DistillationLossOutput(NamedTuple):
    """The total loss and its two parts, as returned by :meth:`DistillationLoss.parts`."""

    loss: Tensor
    kd_loss: Tensor
    ce_loss: Tensor


def _check_alpha(alpha: float) -> float:
    return check_float("alpha", alpha, low=0.0, high=1.0)


class DistillationLoss(nn.Module):
    """``alpha · kd_loss(s, t, T) + (1 − alpha) · cross_entropy(s, y)`` (Hinton et al., 2015).

    `Distilling the Knowledge in a Neural Network <https://arxiv.org/abs/1503.02531>`_: a
    weighted average of the soft-target term (:func:`~lightning_tricks.functional.kd_loss`,
    already scaled by ``T²``) and the usual cross-entropy against the labels. The targets may be
    class indices ``(N,)`` or probabilities ``(N, K)`` (what MixUp, CutMix, RICAP and label
    smoothing produce), so the loss composes with every batch trick of this library.

    Args:
        alpha: weight of the distillation term, in [0, 1]. Default 0.9. ``alpha = 1`` is pure
            distillation, ``alpha = 0`` plain cross-entropy.
        temperature: softmax temperature ``T`` (> 0). Default 4.0.

    Raises:
        TypeError: if ``alpha`` or ``temperature`` is not a real number.
        ValueError: if ``alpha`` is outside [0, 1] or ``temperature <= 0``; at call time if the
            teacher's logits or the targets do not fit the student's logits.

    Example::

        >>> import torch
        >>> loss_fn = DistillationLoss(alpha=0.5, temperature=2.0)
        >>> s, t = torch.tensor([[2.0, 0.0, -1.0]]), torch.tensor([[0.0, 2.0, -1.0]])
        >>> loss_fn(s, t, torch.tensor([0])).shape
        torch.Size([])
        >>> parts = loss_fn.parts(s, t, torch.tensor([[0.5, 0.5, 0.0]]))  # soft targets
        >>> torch.allclose(parts.loss, 0.5 * parts.kd_loss + 0.5 * parts.ce_loss)
        True
    """

    def __init__(self, alpha: float = 0.9, temperature: float = 4.0) -> None:
        super().__init__()
        self.alpha = _check_alpha(alpha)
        self.temperature = _check_temperature(temperature)

    def parts(
        self, student_logits: Tensor, teacher_logits: Tensor, target: Tensor
    ) -> DistillationLossOutput:
        """Return ``(loss, kd_loss, ce_loss)``; ``loss`` is the weighted sum of the two parts."""
        kd = kd_loss(student_logits, teacher_logits, self.temperature)
        ce = F.cross_entropy(_loss_dtype(student_logits), _check_target(target, student_logits))
        return DistillationLossOutput(self.alpha * kd + (1.0 - self.alpha) * ce, kd, ce)

    def combine(
        self, own_loss: Tensor, student_logits: Tensor, teacher_logits: Tensor
    ) -> DistillationLossOutput:
        """``(1 − alpha) · own_loss + alpha · kd_loss(s, t, T)`` for a loss computed elsewhere.

        What :class:`~lightning_tricks.mixins.DistillationMixin` adds to a module's own loss
        (its cross-entropy, NLL, BCE, mixed-label loss, ...). The ``ce_loss`` field of the
        result is ``own_loss``. One-logit binary heads (``(N,)`` / ``(N, 1)``) are paired as
        two-class distributions, see :func:`~lightning_tricks.functional.kd_loss`.

        Example::

            >>> import torch
            >>> s, t = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 2.0]])
            >>> out = DistillationLoss(alpha=0.5, temperature=1.0).combine(torch.tensor(1.0), s, t)
            >>> torch.allclose(out.loss, 0.5 * torch.tensor(1.0) + 0.5 * out.kd_loss)
            True
        """
        kd = kd_loss(student_logits, teacher_logits, self.temperature)
        return DistillationLossOutput((1.0 - self.alpha) * own_loss + self.alpha * kd, kd, own_loss)

    def forward(self, student_logits: Tensor, teacher_logits: Tensor, target: Tensor) -> Tensor:
        """The combined loss (a scalar).

        Args:
            student_logits: ``(N, K)`` raw student outputs.
            teacher_logits: ``(N, K)`` raw teacher outputs.
            target: class indices ``(N,)`` or probabilities ``(N, K)``.
        """
        return self.parts(student_logits, teacher_logits, target).loss

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, temperature={self.temperature}"


def _check_target(target: Tensor, logits: Tensor) -> Tensor:
    n, k = logits.shape
    if target.ndim == 1 and target.shape[0] == n and not target.is_floating_point():
        return target
    if target.ndim == 2 and tuple(target.shape) == (n, k) and target.is_floating_point():
        return _loss_dtype(target).to(_loss_dtype(logits).dtype)
    raise ValueError(
        f"expected targets as class indices of shape ({n},) or probabilities of shape "
        f"({n}, {k}) to match the logits, got {target.dtype} of shape {tuple(target.shape)}"
    )
