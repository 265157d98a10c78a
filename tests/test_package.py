"""Package-level checks: public API, typing marker, lint cleanliness."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import lightning_tricks

ROOT = Path(__file__).resolve().parents[1]


def test_version_and_typed_marker() -> None:
    assert lightning_tricks.__version__ == "0.1.0"
    assert (Path(lightning_tricks.__file__).parent / "py.typed").exists()


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_functional_core_does_not_import_lightning() -> None:
    """DESIGN.md §2: only callbacks/, mixins/, data/, models/, commands/ and cli.py import Lightning."""
    for pkg in ("functional", "optim", "schedulers", "losses", "transforms"):
        for path in (ROOT / "lightning_tricks" / pkg).rglob("*.py"):
            bad = _imported_roots(path) & {"lightning", "pytorch_lightning"}
            assert not bad, f"{path} imports {bad}; the pure-torch layers must not"


def test_every_public_name_is_importable() -> None:
    for name in lightning_tricks.__all__:
        assert hasattr(lightning_tricks, name), name


@pytest.mark.skipif(
    shutil.which("ruff") is None and not (Path(sys.executable).parent / "ruff").exists(),
    reason="ruff not installed",
)
def test_ruff_clean() -> None:
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    proc = subprocess.run([ruff, "check", "."], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
