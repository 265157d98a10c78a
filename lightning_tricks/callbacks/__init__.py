"""Thin Lightning callbacks that decide *when* and *on which tensors* to apply a trick."""

from . import augment as _augment
from . import base as _base
from . import batch_tricks as _batch_tricks
from . import ema as _ema
from . import init as _init
from . import regularization as _regularization
from . import schedules as _schedules
from .augment import *
from .base import *
from .batch_tricks import *
from .ema import *
from .init import *
from .regularization import *
from .schedules import *

__all__ = [
    *_base.__all__,
    *_batch_tricks.__all__,
    *_schedules.__all__,
    *_regularization.__all__,
    *_augment.__all__,
    *_init.__all__,
    *_ema.__all__,
]
