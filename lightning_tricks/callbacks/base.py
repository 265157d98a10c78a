"""Base class of the batch-rewriting callbacks: layouts, generator, state, activity window (issue 3)."""

from __future__ import annotations

__all__: list[str] = []
