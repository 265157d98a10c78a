"""Knowledge-distillation loss (Hinton et al., 2015): pure torch, no Lightning.

`Distilling the Knowledge in a Neural Network <https://arxiv.org/abs/1503.02531>`_.
"""

from __future__ import annotations

import math
from numbers import Real

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["kd_loss"]


def _check_temperature(temperature: float) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, Real):
        raise TypeError(
            f"`temperature` must be a real number > 0, got {type(temperature).__name__}"
        )
    temperature = float(temperature)
    if not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"`temperature` must be a finite number > 0, got {temperature}")
    return temperature


def _loss_dtype(t: Tensor) -> Tensor:
    """Reduced-precision logits (fp16/bf16 under autocast) are upcast to float32."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def kd_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float = 4.0) -> Tensor:
    """Distillation loss ``T² · KL(softmax(t / T) ‖ softmax(s / T))``, averaged over the batch.

    Hinton et al., `Distilling the Knowledge in a Neural Network
    <https://arxiv.org/abs/1503.02531>`_ (2015), §2: the teacher's softened probabilities are
    the target of the student's softened probabilities. The ``T²`` factor keeps the gradient
    magnitude of this term roughly independent of ``T`` (the soft gradients scale as
    ``1 / T²``), so ``alpha`` in :class:`~lightning_tricks.losses.DistillationLoss` means the
    same thing for every temperature.

    Gradients flow into ``student_logits`` and, if it requires grad, ``teacher_logits`` (the
    caller decides: :class:`~lightning_tricks.mixins.DistillationMixin` computes the teacher
    under ``torch.no_grad()``). fp16/bf16 logits (autocast) are upcast to float32, so the
    result is float32 (float64 stays float64).

    Args:
        student_logits: raw student outputs of shape ``(N, K)``.
        teacher_logits: raw teacher outputs of the same shape ``(N, K)``.
        temperature: softmax temperature ``T`` (> 0). Default 4.0. Hinton et al. use 1-20;
            Bag of Tricks (He et al., 2019, §5.3) uses 20 on ImageNet.

    Returns:
        A scalar tensor: ``T² / N · Σ_i Σ_k p_t[i,k] · (log p_t[i,k] − log p_s[i,k])``.

    Raises:
        TypeError: if ``temperature`` is not a real number.
        ValueError: if ``temperature <= 0``, or the logits are not 2-D tensors of one shape.

    Example::

        >>> s = torch.tensor([[2.0, 0.0, -1.0]])
        >>> float(kd_loss(s, s, temperature=4.0))
        0.0
        >>> round(float(kd_loss(s, torch.tensor([[0.0, 2.0, -1.0]]), temperature=2.0)), 4)
        1.5892
    """
    temperature = _check_temperature(temperature)
    if student_logits.ndim != 2 or teacher_logits.shape != student_logits.shape:
        raise ValueError(
            "expected student and teacher logits of one shape (N, K), got student "
            f"{tuple(student_logits.shape)} and teacher {tuple(teacher_logits.shape)}: the "
            "teacher must predict the same classes as the student"
        )
    log_p_s = F.log_softmax(_loss_dtype(student_logits) / temperature, dim=1)
    log_p_t = F.log_softmax(_loss_dtype(teacher_logits) / temperature, dim=1)
    # log_target=True: exact where p_t underflows to 0 (0 · log 0 := 0), no log(0) = -inf.
    kl = F.kl_div(log_p_s, log_p_t.to(log_p_s.dtype), reduction="batchmean", log_target=True)
    return kl * (temperature * temperature)
