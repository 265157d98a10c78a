"""Optimizers (AdaBound / AdaBoundW) and parameter-group helpers."""

from . import adabound as _adabound
from . import param_groups as _param_groups
from .adabound import *
from .param_groups import *

__all__ = [
    *_adabound.__all__,
    *_param_groups.__all__,
]
