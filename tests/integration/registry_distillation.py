"""Knowledge distillation has no callback: it is a LightningModule mixin (``DistillationMixin``,
and ``DistillationModule`` for the CLI), so there is nothing to list for the shared
callback smoke / resume / precision / DDP tests. Its fits (frozen teacher, checkpoints, MixUp,
bf16-mixed, 2-process DDP, CLI) are in ``tests/integration/test_distillation_fit.py``; the
mixin on every module style of the zoo (``tests/zoo/kd_*.py``: the KD term's value on the
first step, fp32 and bf16-mixed) in ``tests/mixins/test_distillation_zoo.py``."""

from __future__ import annotations

from typing import Any

ENTRIES: list[tuple[type, dict[str, Any]]] = []
