"""Argument checks shared by every layer (no torch or Lightning import): one message format.

Example::

    >>> check_int("length", 16, 1)
    16
    >>> check_int("stop_epoch", None, 1, allow_none=True) is None
    True
    >>> check_float("lr", 0.1, low=0.0, low_inclusive=False)
    0.1
    >>> check_float("lr", float("nan"), low=0.0, low_inclusive=False)
    Traceback (most recent call last):
    ...
    ValueError: `lr` must be a finite float in (0, inf), got nan
"""

from __future__ import annotations

import math
from typing import Any, overload

__all__ = ["check_float", "check_generator", "check_int"]


@overload
def check_int(name: str, value: Any, minimum: int) -> int: ...
@overload
def check_int(name: str, value: Any, minimum: int, allow_none: bool) -> int | None: ...
def check_int(name: str, value: Any, minimum: int, allow_none: bool = False) -> int | None:
    """Return ``value`` if it is an ``int`` (not a bool) ``>= minimum`` (or None when allowed).

    Raises:
        TypeError: ``` `name` must be an integer, got float 1.5```.
        ValueError: ``` `name` must be >= 1, got 0```.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        what = "an integer or None" if allow_none else "an integer"
        raise TypeError(f"`{name}` must be {what}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, got {value!r}")
    return value


def _bound(value: float) -> str:
    return f"{value:g}"


def float_range(
    low: float = -math.inf,
    high: float = math.inf,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> str:
    """The interval as the messages print it: ``"(0, inf)"``, ``"[0, 1]"``."""
    left = "[" if low_inclusive and math.isfinite(low) else "("
    right = "]" if high_inclusive and math.isfinite(high) else ")"
    return f"{left}{_bound(low)}, {_bound(high)}{right}"


@overload
def check_float(
    name: str,
    value: Any,
    *,
    low: float = ...,
    high: float = ...,
    low_inclusive: bool = ...,
    high_inclusive: bool = ...,
) -> float: ...
@overload
def check_float(
    name: str,
    value: Any,
    *,
    low: float = ...,
    high: float = ...,
    low_inclusive: bool = ...,
    high_inclusive: bool = ...,
    allow_none: bool,
) -> float | None: ...
def check_float(
    name: str,
    value: Any,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    allow_none: bool = False,
) -> float | None:
    """Return ``float(value)`` if it is a finite real number in the range (or None when allowed).

    An ``int`` is accepted (YAML and CLI users write ``1`` for ``1.0``); a bool, a string or
    a tensor is not. NaN and ±inf are always rejected: no argument of the public API means
    anything when it is not finite.

    Raises:
        TypeError: ``` `name` must be a finite float in [0, 1], got str 'x'```.
        ValueError: ``` `name` must be a finite float in (0, inf), got nan```.
    """
    if value is None and allow_none:
        return None
    interval = float_range(low, high, low_inclusive, high_inclusive)
    what = f"a finite float in {interval}" + (" or None" if allow_none else "")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"`{name}` must be {what}, got {type(value).__name__} {value!r}")
    number = float(value)
    below = number < low if low_inclusive else number <= low
    above = number > high if high_inclusive else number >= high
    if not math.isfinite(number) or below or above:
        raise ValueError(f"`{name}` must be {what}, got {value!r}")
    return number


def check_generator(name: str, value: Any) -> Any:
    """Return ``value`` if it is a ``torch.Generator`` or None (torch imported lazily).

    Raises:
        TypeError: ``` `generator` must be a torch.Generator or None, got int 0```.
    """
    if value is None:
        return None
    import torch

    if not isinstance(value, torch.Generator):
        raise TypeError(
            f"`{name}` must be a torch.Generator or None, got {type(value).__name__} {value!r}"
        )
    return value
