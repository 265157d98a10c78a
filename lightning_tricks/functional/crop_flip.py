"""Per-sample random translation with padding and horizontal flip for a batch (issue 6)."""

from __future__ import annotations

__all__: list[str] = []
