"""EMA of the weights on top of Lightning's EMAWeightAveraging (issue 6)."""

from __future__ import annotations

__all__: list[str] = []
