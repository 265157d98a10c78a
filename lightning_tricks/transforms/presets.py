"""train_transforms / eval_transforms presets building torchvision v2 pipelines (issue 6)."""

from __future__ import annotations

__all__: list[str] = []
