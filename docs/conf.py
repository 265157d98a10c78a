"""Sphinx configuration of the lightning-tricks documentation (``make docs``).

Sources: this folder (the method cards in ``tricks/``, ``ablation.md``, ``results/``), the
repository's README (``guide.md`` includes it) and pages generated at build time by
``_ext/lt_docs.py`` (API reference from ``__all__``, augmentation gallery, notebooks).
The build runs with ``-W --keep-going``: any warning fails it.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(DOCS.parent))

import lightning_tricks  # noqa: E402

project = "lightning-tricks"
author = "lightning-tricks developers"
copyright = "lightning-tricks developers"
release = version = lightning_tricks.__version__

extensions = [
    "myst_nb",  # MyST Markdown and notebooks
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",  # Google-style `Args:` / `Returns:` / `Raises:` sections
    "sphinx.ext.mathjax",
    "lt_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "**/.ipynb_checkpoints"]

myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3
nb_execution_mode = "off"  # the notebooks are executed by the test suite, not here

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_inherit_docstrings = False
autodoc_default_options = {"exclude-members": "__init__, __new__"}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
autosummary_generate = False

html_theme = "alabaster"
html_title = "lightning-tricks"
html_theme_options = {"description": "The bag of tricks for image classification in Lightning"}
