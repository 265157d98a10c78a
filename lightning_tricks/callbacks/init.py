"""WeightInit and ZeroInitResidualBN callbacks (issue 6)."""

from __future__ import annotations

__all__: list[str] = []
