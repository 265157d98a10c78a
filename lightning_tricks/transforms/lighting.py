"""PCALighting: AlexNet-style PCA colour augmentation (issue 6)."""

from __future__ import annotations

__all__: list[str] = []
