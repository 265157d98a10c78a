"""The constructor sweep (issue 15): every bad numeric argument is refused, naming it.

Counts for the issue's closing note: ``python -m tests.validation.sweep_counts`` (or this
file with ``-s``: ``test_sweep_summary`` prints them).
"""

from __future__ import annotations

import importlib
import inspect
import warnings

import pytest

from .registry import (
    NOT_CONSTRUCTORS,
    Case,
    all_cases,
    build,
    outcome,
    public_classes,
    registry,
)
from .sweep_counts import count, summary


def test_every_public_class_is_in_the_registry() -> None:
    missing = [
        name for name in public_classes() if name not in registry() and name not in NOT_CONSTRUCTORS
    ]
    assert not missing, f"add these public classes to tests/validation/registry.py: {missing}"
    stale = [name for name in NOT_CONSTRUCTORS if name not in public_classes()]
    assert not stale, f"NOT_CONSTRUCTORS names classes that are not public: {stale}"


@pytest.mark.parametrize("name", sorted(registry()))
def test_valid_arguments_build(name: str) -> None:
    """The sweep's baseline: with only valid arguments the object builds."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        built = build(registry()[name])
    sub, attr = name.split(".")
    public = getattr(importlib.import_module(f"lightning_tricks.{sub}"), attr)
    if inspect.isclass(public):
        assert isinstance(built, public)


@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in all_cases()])
def test_bad_argument_is_refused_naming_it(case: Case) -> None:
    kind, err = outcome(case)
    assert kind == "clear", f"{case.entry.name}({case.overrides!r}) was {kind}" + (
        f": {type(err).__name__}: {err}" if err is not None else ""
    )


def test_sweep_summary(capsys: pytest.CaptureFixture[str]) -> None:
    counts = count()
    with capsys.disabled():
        print("\n" + summary(counts))
    assert set(counts) == {name.split(".")[0] for name in registry()}
    for group in counts.values():
        assert group["tried"] > 0
        assert group["clear"] == group["tried"], summary(counts)
