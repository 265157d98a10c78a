"""lightning-tricks: the bag of tricks for image classification as Lightning callbacks.

Every trick ships as a pure-torch function (:mod:`lightning_tricks.functional`), a torch
class where one is useful, and a thin Lightning callback or mixin.
"""

from . import callbacks as _callbacks
from . import functional as _functional
from .callbacks import *
from .functional import *

__version__ = "0.1.0"

__all__ = [*_callbacks.__all__, *_functional.__all__, "__version__"]
