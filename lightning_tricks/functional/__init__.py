"""Pure-torch functional core: no Lightning import here (DESIGN.md §2)."""

from . import crop_flip as _crop_flip
from . import distillation as _distillation
from . import erasing as _erasing
from . import mixing as _mixing
from . import targets as _targets
from .crop_flip import *
from .distillation import *
from .erasing import *
from .mixing import *
from .targets import *

__all__ = [
    *_targets.__all__,
    *_mixing.__all__,
    *_erasing.__all__,
    *_crop_flip.__all__,
    *_distillation.__all__,
]
