"""Pure-torch functional core: no Lightning import here (DESIGN.md §2)."""

from . import targets as _targets
from .targets import *

__all__ = [*_targets.__all__]
