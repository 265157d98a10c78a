"""Data modules: the embedded digits default, CIFAR-10/100 and any image folder."""

from . import base as _base
from . import cifar as _cifar
from . import digits as _digits
from . import folder as _folder
from .base import *
from .cifar import *
from .digits import *
from .folder import *

__all__ = [*_base.__all__, *_cifar.__all__, *_digits.__all__, *_folder.__all__]
