"""Root pytest configuration for the docstring examples (``--doctest-modules lightning_tricks``).

The test suite's own configuration is ``tests/conftest.py``. Every docstring ``Example::``
in the package runs as a doctest with ``torch`` already imported, as in the docs.
"""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("PYTHONHASHSEED", "0")


@pytest.fixture(autouse=True)
def _doctest_namespace(doctest_namespace: dict[str, object]) -> None:
    doctest_namespace["torch"] = torch
    torch.manual_seed(0)
