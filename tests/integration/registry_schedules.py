"""Registry entries of the schedules / optimizers / weight-decay area (issue 4).

NoBiasDecay warns (once) when no param group has weight decay, as with TinyClassifier's plain
SGD; shared tests that treat warnings as errors should give the optimizer a weight decay.
"""

from __future__ import annotations

from typing import Any

from lightning_tricks.callbacks import (
    L1Regularization,
    LinearScalingRule,
    NoBiasDecay,
    Warmup,
    WarmupCosine,
)

ENTRIES: list[tuple[type, dict[str, Any]]] = [
    (WarmupCosine, {"warmup_steps": 2}),
    (Warmup, {"warmup_steps": 2}),
    (LinearScalingRule, {"base_lr": 0.05, "base_batch_size": 16}),
    (NoBiasDecay, {}),
    (L1Regularization, {"weight": 1e-4}),
]
