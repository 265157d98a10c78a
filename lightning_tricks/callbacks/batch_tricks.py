"""MixUp, CutMix, RICAP, Cutout, RandomErasing, LabelSmoothing and OneOf callbacks (issue 3)."""

from __future__ import annotations

__all__: list[str] = []
