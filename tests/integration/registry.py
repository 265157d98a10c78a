"""One registry of every callback / mixin with the kwargs used by the integration tests.

Each area keeps its entries in its own ``registry_<area>.py`` (a list named ``ENTRIES`` of
``(callback_class, kwargs)``); this module aggregates them for the shared smoke / resume /
precision / DDP / CLI tests.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any

REGISTRY: list[tuple[type, dict[str, Any]]] = []
for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
    if info.name.startswith("registry_"):
        REGISTRY.extend(importlib.import_module(f"integration.{info.name}").ENTRIES)
