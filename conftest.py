"""Root pytest configuration for the docstring examples (``--doctest-modules lightning_tricks``).

The test suite's own configuration is ``tests/conftest.py``. Every docstring ``Example::``
in the package runs as a doctest with ``torch`` already imported, as in the docs.
"""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("PYTHONHASHSEED", "0")

# TEMPORARY (issue 17): the lead is rewriting these modules (the mixed-label contract, issue
# 13); their docstring examples are not collected until the rewrite is merged. The lead
# empties this list after merging.
DOCTEST_EXCLUDED_WHILE_REWRITTEN = [
    "lightning_tricks/functional/mixing.py",
    "lightning_tricks/functional/erasing.py",
    "lightning_tricks/functional/_batch.py",
    "lightning_tricks/functional/targets.py",
    "lightning_tricks/callbacks/base.py",
    "lightning_tricks/callbacks/batch_tricks.py",
]

collect_ignore = list(DOCTEST_EXCLUDED_WHILE_REWRITTEN)


@pytest.fixture(autouse=True)
def _doctest_namespace(doctest_namespace: dict[str, object]) -> None:
    doctest_namespace["torch"] = torch
    torch.manual_seed(0)
