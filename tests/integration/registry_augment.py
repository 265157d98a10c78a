"""Registry entries of the augmentation / init / EMA area (issue 6)."""

from __future__ import annotations

from typing import Any

from lightning_tricks.callbacks import EMA, BatchCropFlip, WeightInit, ZeroInitResidualBN

ENTRIES: list[tuple[type, dict[str, Any]]] = [
    (BatchCropFlip, {"padding": 2, "padding_mode": "reflect", "flip_p": 0.5, "seed": 0}),
    (WeightInit, {"method": "kaiming_normal", "seed": 0}),
    # generic=True so that models without torchvision / project blocks do not warn
    (ZeroInitResidualBN, {"generic": True}),
    (EMA, {"decay": 0.9, "update_every_n_steps": 1}),
]
