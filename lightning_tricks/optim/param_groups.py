"""Parameter-group helpers: no bias / normalisation decay (issue 4)."""

from __future__ import annotations

__all__: list[str] = []
