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

    A single logit per sample (shape ``(N,)`` or ``(N, 1)``, a sigmoid binary head) is the
    two-class case: ``sigmoid(z / T)`` is ``softmax([0, z] / T)[1]``, so the result is the
    KL divergence between the two Bernoulli distributions ``sigmoid(t / T)`` and
    ``sigmoid(s / T)``, times ``T²``.

    Gradients flow into ``student_logits`` and, if it requires grad, ``teacher_logits`` (the
    caller decides: :class:`~lightning_tricks.mixins.DistillationMixin` computes the teacher
    under ``torch.no_grad()``). fp16/bf16 logits (autocast) are upcast to float32, so the
    result is float32 (float64 stays float64).

    Args:
        student_logits: raw student outputs of shape ``(N, K)``, or ``(N,)`` / ``(N, 1)`` for
            a one-logit binary head.
        teacher_logits: raw teacher outputs of the same shape.
        temperature: softmax temperature ``T`` (> 0). Default 4.0. Hinton et al. use 1-20;
            Bag of Tricks (He et al., 2019, §5.3) uses 20 on ImageNet.

    Returns:
        A scalar tensor: ``T² / N · Σ_i Σ_k p_t[i,k] · (log p_t[i,k] − log p_s[i,k])``.

    Raises:
        TypeError: if ``temperature`` is not a real number.
        ValueError: if ``temperature <= 0``, or the logits are not tensors of one shape
            ``(N, K)`` (or ``(N,)``).

    Example::

        >>> s = torch.tensor([[2.0, 0.0, -1.0]])
        >>> float(kd_loss(s, s, temperature=4.0))
        0.0
        >>> round(float(kd_loss(s, torch.tensor([[0.0, 2.0, -1.0]]), temperature=2.0)), 4)
        1.5892
        >>> round(float(kd_loss(torch.tensor([1.0]), torch.tensor([-1.0]), temperature=1.0)), 4)
        0.4621
    """
    temperature = _check_temperature(temperature)
    if student_logits.ndim not in (1, 2) or teacher_logits.shape != student_logits.shape:
        raise ValueError(
            "expected student and teacher logits of one shape (N, K) (or (N,) for a one-logit "
            f"binary head), got student {tuple(student_logits.shape)} and teacher "
            f"{tuple(teacher_logits.shape)}: the teacher must predict the same classes as the "
            "student"
        )
    if student_logits.ndim == 1 or student_logits.shape[1] == 1:
        student_logits = _two_class(student_logits)
        teacher_logits = _two_class(teacher_logits)
    log_p_s = F.log_softmax(_loss_dtype(student_logits) / temperature, dim=1)
    log_p_t = F.log_softmax(_loss_dtype(teacher_logits) / temperature, dim=1)
    # log_target=True: exact where p_t underflows to 0 (0 · log 0 := 0), no log(0) = -inf.
    kl = F.kl_div(log_p_s, log_p_t.to(log_p_s.dtype), reduction="batchmean", log_target=True)
    return kl * (temperature * temperature)


def _two_class(z: Tensor) -> Tensor:
    """One logit per sample ``(N,)`` / ``(N, 1)`` -> the equivalent two-class logits ``[0, z]``."""
    z = z.reshape(-1, 1)
    return torch.cat([torch.zeros_like(z), z], dim=1)
