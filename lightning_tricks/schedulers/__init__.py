"""LRScheduler subclasses over pure schedule functions."""

from . import functional as _functional
from . import warmup as _warmup
from .functional import *
from .warmup import *

__all__ = [
    *_functional.__all__,
    *_warmup.__all__,
]
