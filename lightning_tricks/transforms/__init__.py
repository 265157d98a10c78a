"""Per-sample image transforms and torchvision v2 presets."""

from . import lighting as _lighting
from . import presets as _presets
from .lighting import *
from .presets import *

__all__ = [
    *_lighting.__all__,
    *_presets.__all__,
]
