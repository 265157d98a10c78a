"""Reference models used by the CLI, the demo and the tests."""

from . import backbones as _backbones
from . import classifier as _classifier
from . import distillation as _distillation
from . import resnet as _resnet
from .backbones import *
from .classifier import *
from .distillation import *
from .resnet import *

__all__ = [
    *_backbones.__all__,
    *_classifier.__all__,
    *_resnet.__all__,
    *_distillation.__all__,
]
