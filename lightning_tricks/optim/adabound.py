"""AdaBound and AdaBoundW optimizers (issue 4)."""

from __future__ import annotations

__all__: list[str] = []
