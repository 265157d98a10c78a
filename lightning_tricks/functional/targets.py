"""Target helpers shared by every label-changing trick (the soft-target contract).

Index targets ``(N,)`` and probability / multi-hot targets ``(N, K)`` are both accepted;
every label-changing trick returns float32 ``(N, K)``.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["hard_targets", "one_hot", "smooth_targets", "to_soft_targets"]


def hard_targets(y: Tensor) -> Tensor:
    """Class indices for metrics: argmax of ``(N, K)`` soft targets, identity for ``(N,)``.

    Args:
        y: index targets ``(N,)`` or soft / multi-hot targets ``(N, K)``.

    Raises:
        ValueError: if ``y`` is neither 1-D nor 2-D.

    Example::

        >>> hard_targets(torch.tensor([[0.2, 0.8], [0.9, 0.1]]))
        tensor([1, 0])
        >>> hard_targets(torch.tensor([3, 1]))
        tensor([3, 1])
    """
    if y.ndim == 1:
        return y
    if y.ndim == 2:
        return y.argmax(dim=1)
    raise ValueError(
        f"targets must be class indices of shape (N,) or probabilities of shape (N, K), "
        f"got shape {tuple(y.shape)}"
    )


def one_hot(y: Tensor, num_classes: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """One-hot encode index targets ``(N,)`` into ``(N, num_classes)`` (float32 by default).

    Args:
        y: integer class indices in ``[0, num_classes)``.
        num_classes: number of classes K (>= 1).
        dtype: floating dtype of the result.

    Raises:
        TypeError: if ``y`` is not an integer tensor.
        ValueError: if ``num_classes < 1``, ``y`` is not 1-D, or a class index is out of range.

    Example::

        >>> one_hot(torch.tensor([0, 2]), 3)
        tensor([[1., 0., 0.],
                [0., 0., 1.]])
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"`num_classes` must be an integer >= 1, got {num_classes!r}")
    if y.dtype.is_floating_point or y.dtype == torch.bool or y.is_complex():
        raise TypeError(f"index targets must be an integer tensor, got dtype {y.dtype}")
    if y.ndim != 1:
        raise ValueError(f"index targets must have shape (N,), got shape {tuple(y.shape)}")
    if y.numel() > 0:
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= num_classes:
            bad = lo if lo < 0 else hi
            raise ValueError(
                f"target class {bad} is out of range for `num_classes`={num_classes}: "
                f"expected indices in [0, {num_classes - 1}]; pass the right `num_classes`"
            )
    out = torch.zeros(y.shape[0], num_classes, dtype=dtype, device=y.device)
    return out.scatter_(1, y.long().unsqueeze(1), 1.0)


def to_soft_targets(y: Tensor, num_classes: int | None = None) -> Tensor:
    """Return float32 ``(N, K)`` targets from index ``(N,)`` or probability ``(N, K)`` targets.

    Args:
        y: index targets ``(N,)`` (then ``num_classes`` is required) or ``(N, K)`` targets.
        num_classes: K; checked against ``y.shape[1]`` for 2-D targets when given.

    Raises:
        ValueError: if ``num_classes`` is missing for index targets, does not match, or the
            rank of ``y`` is wrong.

    Example::

        >>> to_soft_targets(torch.tensor([1]), num_classes=2)
        tensor([[0., 1.]])
    """
    if y.ndim == 1:
        if num_classes is None:
            raise ValueError(
                "index targets of shape (N,) need `num_classes` to become (N, K) probabilities"
            )
        return one_hot(y, num_classes)
    if y.ndim == 2:
        if num_classes is not None and y.shape[1] != num_classes:
            raise ValueError(
                f"targets have {y.shape[1]} columns but `num_classes`={num_classes}: "
                "expected shape (N, num_classes)"
            )
        return y.float() if y.dtype != torch.float32 else y
    raise ValueError(f"targets must have shape (N,) or (N, K), got shape {tuple(y.shape)}")


def smooth_targets(y: Tensor, smoothing: float, num_classes: int | None = None) -> Tensor:
    """Label smoothing: ``(1 - ε) · y + ε / K`` as float32 ``(N, K)`` targets.

    Szegedy et al., "Rethinking the Inception Architecture for Computer Vision", CVPR 2016,
    https://arxiv.org/abs/1512.00567 (section 7). For one-hot or probability rows this is
    exactly ``(1 - ε) · y + ε / K``, the target ``F.cross_entropy(..., label_smoothing=ε)``
    uses internally. For rows with another total ``s`` (multi-hot, or already-zero rows) the
    uniform part is ``ε · s / K``, so every row keeps its total (the soft-target contract).

    Args:
        y: index targets ``(N,)`` (then ``num_classes`` is required) or ``(N, K)`` targets.
        smoothing: ε in [0, 1]. 0.1 is the usual value (Szegedy et al.; Bag of Tricks).
        num_classes: K for index targets; checked against ``y.shape[1]`` otherwise.

    Raises:
        TypeError: if ``smoothing`` is not a number.
        ValueError: if ``smoothing`` is outside [0, 1], or as :func:`to_soft_targets`.

    Example::

        >>> smooth_targets(torch.tensor([0, 2]), 0.3, num_classes=3)
        tensor([[0.8000, 0.1000, 0.1000],
                [0.1000, 0.1000, 0.8000]])
    """
    if isinstance(smoothing, bool) or not isinstance(smoothing, (int, float)):
        raise TypeError(
            f"`smoothing` must be a float in [0, 1], got {type(smoothing).__name__} {smoothing!r}"
        )
    if not 0.0 <= float(smoothing) <= 1.0:
        raise ValueError(f"`smoothing` must be in [0, 1], got {smoothing!r}")
    eps = float(smoothing)
    soft = to_soft_targets(y, num_classes)
    if y.ndim == 1:  # one-hot rows: total is exactly 1
        return soft.mul_(1.0 - eps).add_(eps / soft.shape[1])
    total = soft.sum(dim=1, keepdim=True)  # 1.0 * (ε / K) is exactly ε / K for one-hot rows
    return soft.mul(1.0 - eps).add_(total * (eps / soft.shape[1]))
