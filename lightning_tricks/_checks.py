"""Argument checks shared by every layer (no torch or Lightning import): one message format.

Example::

    >>> check_int("length", 16, 1)
    16
    >>> check_int("stop_epoch", None, 1, allow_none=True) is None
    True
"""

from __future__ import annotations

from typing import Any, overload

__all__ = ["check_int"]


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
