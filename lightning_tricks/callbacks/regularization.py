"""NoBiasDecay and L1Regularization callbacks (issue 4)."""

from __future__ import annotations

__all__: list[str] = []
