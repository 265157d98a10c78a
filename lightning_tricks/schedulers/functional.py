"""Pure learning-rate schedule functions (no state, no torch objects): ``lr = f(step, ...)``.

The :mod:`~lightning_tricks.schedulers` classes are thin ``LRScheduler`` wrappers over these
functions, so a schedule can be plotted, tested or used in a hand-written loop without an
optimizer.
"""

from __future__ import annotations

import math

from .._checks import check_float
from .._checks import check_int as _check_int

__all__ = ["linear_warmup", "warmup_cosine"]


def _check_float(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"`{name}` must be a float, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"`{name}` must be finite, got {value}")
    return float(value)


def linear_warmup(
    step: int,
    base_lr: float,
    warmup_steps: int,
    start_factor: float = 0.0,
    end_factor: float = 1.0,
) -> float:
    """Linear warmup from ``start_factor × base_lr`` to ``end_factor × base_lr``, then constant.

    The "gradual warmup" of `Goyal et al., 2017 <https://arxiv.org/abs/1706.02677>`_: at
    step ``t < warmup_steps`` the LR is ``base_lr × (start + (end − start) × t / warmup_steps)``;
    from ``warmup_steps`` on it stays at ``end_factor × base_lr``.

    Args:
        step: optimizer steps taken so far (>= 0).
        base_lr: the reference learning rate (>= 0).
        warmup_steps: length of the ramp in steps (>= 0; 0 means no ramp).
        start_factor: LR factor at step 0 (>= 0). Default 0.
        end_factor: LR factor reached at ``warmup_steps`` (>= ``start_factor``). Default 1.

    Returns:
        The learning rate (a Python float).

    Raises:
        TypeError: for non-integer steps or non-numeric factors.
        ValueError: for negative values or ``end_factor < start_factor``.

    Example::

        >>> [linear_warmup(t, 1.0, warmup_steps=4) for t in range(6)]
        [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
        >>> linear_warmup(2, 0.1, warmup_steps=4, start_factor=1.0, end_factor=8.0)  # x1 -> x8
        0.45
    """
    _check_int("step", step, 0)
    _check_int("warmup_steps", warmup_steps, 0)
    base_lr = _check_float("base_lr", base_lr)
    start_factor = _check_float("start_factor", start_factor)
    end_factor = _check_float("end_factor", end_factor)
    if base_lr < 0:
        raise ValueError(f"`base_lr` must be >= 0, got {base_lr}")
    if start_factor < 0:
        raise ValueError(f"`start_factor` must be >= 0, got {start_factor}")
    if end_factor < start_factor:
        raise ValueError(
            f"`end_factor` must be >= `start_factor` ({start_factor}), got {end_factor}"
        )
    if step >= warmup_steps:
        return base_lr * end_factor
    return base_lr * (start_factor + (end_factor - start_factor) * step / warmup_steps)


def warmup_cosine(
    step: int,
    base_lr: float,
    total_steps: int,
    warmup_steps: int = 0,
    warmup_start_factor: float = 0.0,
    min_lr: float = 0.0,
) -> float:
    """Linear warmup, then half-cosine decay to ``min_lr``; ``min_lr`` after ``total_steps``.

    Cosine decay is from `Loshchilov & Hutter, 2017 <https://arxiv.org/abs/1608.03983>`_ (SGDR,
    without restarts), used with a linear warmup in the Bag of Tricks paper
    (`He et al., 2019 <https://arxiv.org/abs/1812.01187>`_). With ``W = warmup_steps`` and
    ``T = total_steps``:

    * ``t < W``: ``base_lr × (s + (1 − s) × t / W)`` with ``s = warmup_start_factor``;
    * ``W <= t < T``: ``min_lr + (base_lr − min_lr) × (1 + cos(π (t − W) / (T − W))) / 2``;
    * ``t >= T``: ``min_lr`` (clamped, the schedule never rises again).

    The values equal timm's ``CosineLRScheduler(t_initial=T − W, warmup_t=W,
    warmup_prefix=True, warmup_lr_init=s × base_lr, lr_min=min_lr, t_in_epochs=False)`` and
    torch's ``SequentialLR([LinearLR(s, 1, W), CosineAnnealingLR(T − W, min_lr)], [W])``.

    Args:
        step: optimizer steps taken so far (>= 0).
        base_lr: peak learning rate (>= 0).
        total_steps: planned number of optimizer steps (>= 1).
        warmup_steps: warmup length in steps, in ``[0, total_steps]``. Default 0.
        warmup_start_factor: LR factor at step 0, in ``[0, 1]``. Default 0.
        min_lr: final learning rate (>= 0, absolute, the same for every group). Default 0.

    Returns:
        The learning rate (a Python float).

    Raises:
        TypeError: for non-integer steps or non-numeric rates.
        ValueError: for values outside the ranges above.

    Example::

        >>> [round(warmup_cosine(t, 1.0, total_steps=6, warmup_steps=2), 3) for t in range(7)]
        [0.0, 0.5, 1.0, 0.854, 0.5, 0.146, 0.0]
    """
    _check_int("step", step, 0)
    _check_int("total_steps", total_steps, 1)
    _check_int("warmup_steps", warmup_steps, 0)
    base_lr = _check_float("base_lr", base_lr)
    warmup_start_factor = _check_float("warmup_start_factor", warmup_start_factor)
    min_lr = _check_float("min_lr", min_lr)
    if warmup_steps > total_steps:
        raise ValueError(
            f"`warmup_steps` must be in [0, total_steps={total_steps}], got {warmup_steps}"
        )
    if base_lr < 0:
        raise ValueError(f"`base_lr` must be >= 0, got {base_lr}")
    check_float("warmup_start_factor", warmup_start_factor, low=0.0, high=1.0)
    if min_lr < 0:
        raise ValueError(f"`min_lr` must be >= 0, got {min_lr}")
    if step < warmup_steps:
        s = warmup_start_factor
        return base_lr * (s + (1.0 - s) * step / warmup_steps)
    if step >= total_steps:
        return min_lr
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + math.cos(math.pi * progress))
