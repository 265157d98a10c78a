"""WarmupCosineLR and GradualWarmup LRScheduler classes (issue 4)."""

from __future__ import annotations

__all__: list[str] = []
