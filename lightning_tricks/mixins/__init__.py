"""Cooperative LightningModule mixins."""

from . import distillation as _distillation
from .distillation import *

__all__ = [
    *_distillation.__all__,
]
