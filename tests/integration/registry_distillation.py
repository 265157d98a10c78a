"""Knowledge distillation has no callback: it is a LightningModule mixin (``DistillationMixin``,
and ``DistillationModule`` for the CLI), so there is nothing to list for the shared
callback smoke / resume / precision / DDP tests. Its fits (frozen teacher, checkpoints, MixUp,
bf16-mixed, 2-process DDP, CLI) are in ``tests/integration/test_distillation_fit.py``."""

from __future__ import annotations

from typing import Any

ENTRIES: list[tuple[type, dict[str, Any]]] = []
