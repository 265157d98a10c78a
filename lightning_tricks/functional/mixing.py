"""MixUp, CutMix and RICAP: sampling of parameters and deterministic batch functions (issue 3)."""

from __future__ import annotations

__all__: list[str] = []
