"""DistillationMixin: a frozen teacher for any LightningModule (issue 5)."""

from __future__ import annotations

__all__: list[str] = []
