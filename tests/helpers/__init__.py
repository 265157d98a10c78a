"""Test harness shared by every test module (DESIGN.md §4)."""

from .data import RandomImageDataModule, RandomImageDataset
from .fit import QUIET_TRAINER_KWARGS, fit, make_trainer
from .modules import TinyClassifier

__all__ = [
    "QUIET_TRAINER_KWARGS",
    "RandomImageDataModule",
    "RandomImageDataset",
    "TinyClassifier",
    "fit",
    "make_trainer",
]
