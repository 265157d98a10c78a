"""Registry entries of the batch-trick callbacks (issue 3): ``(callback class, kwargs)``.

The kwargs build a callback that is active on every batch of a short fit on the tiny
random-image data (4 classes, 8x8 images), so smoke / resume / precision / DDP tests see it
change the batches.
"""

from __future__ import annotations

from typing import Any

from lightning_tricks.callbacks import (
    RICAP,
    CutMix,
    Cutout,
    LabelSmoothing,
    MixUp,
    OneOf,
    RandomErasing,
)

ENTRIES: list[tuple[type, dict[str, Any]]] = [
    (MixUp, {"alpha": 0.4, "seed": 1}),
    (CutMix, {"alpha": 1.0, "mode": "elem", "seed": 2}),
    (RICAP, {"beta": 0.3, "seed": 3}),
    (Cutout, {"n_holes": 1, "length": 4, "seed": 4}),
    (RandomErasing, {"p": 1.0, "value": "random", "seed": 5}),
    (LabelSmoothing, {"smoothing": 0.1}),
    (OneOf, {"tricks": [MixUp(alpha=1.0), CutMix(alpha=1.0)], "weights": [0.5, 0.5], "seed": 6}),
]
