"""Knowledge-distillation loss function kd_loss (issue 5)."""

from __future__ import annotations

__all__: list[str] = []
