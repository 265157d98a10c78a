"""Pure schedule functions: closed forms against naive formulas, ranges and errors."""

from __future__ import annotations

import itertools
import math

import pytest

from lightning_tricks.schedulers import linear_warmup, warmup_cosine

pytestmark = pytest.mark.filterwarnings("error")


def _naive_warmup_cosine(t: int, base: float, T: int, W: int, s: float, lo: float) -> float:
    if t < W:
        return s * base + (base - s * base) * t / W
    if t >= T:
        return lo
    return lo + (base - lo) * (1 + math.cos(math.pi * (t - W) / (T - W))) / 2


@pytest.mark.parametrize(
    ("T", "W", "s", "lo"),
    [(20, 5, 0.0, 0.0), (37, 0, 0.0, 1e-3), (10, 10, 0.25, 0.0), (7, 3, 1.0, 0.5)],
)
def test_warmup_cosine_matches_formula(T: int, W: int, s: float, lo: float) -> None:
    for t in range(T + 5):
        expected = _naive_warmup_cosine(t, 2.0, T, W, s, lo)
        assert warmup_cosine(t, 2.0, T, W, s, lo) == pytest.approx(expected, abs=1e-15)


def test_warmup_cosine_landmarks() -> None:
    assert warmup_cosine(0, 0.1, 100, 10) == 0.0
    assert warmup_cosine(10, 0.1, 100, 10) == 0.1  # peak exactly at the end of the warmup
    assert warmup_cosine(55, 0.1, 100, 10) == pytest.approx(0.05)  # half way down the cosine
    assert warmup_cosine(100, 0.1, 100, 10, min_lr=1e-4) == 1e-4
    assert warmup_cosine(10_000, 0.1, 100, 10, min_lr=1e-4) == 1e-4  # clamped, never rises
    values = [warmup_cosine(t, 0.1, 100, 10) for t in range(10, 101)]
    assert all(a >= b for a, b in itertools.pairwise(values))  # monotone decay


def test_linear_warmup() -> None:
    assert [linear_warmup(t, 0.2, 4) for t in range(6)] == pytest.approx(
        [0.0, 0.05, 0.1, 0.15, 0.2, 0.2]
    )
    assert linear_warmup(0, 0.1, 5, start_factor=1.0, end_factor=4.0) == pytest.approx(0.1)
    assert linear_warmup(5, 0.1, 5, start_factor=1.0, end_factor=4.0) == pytest.approx(0.4)
    assert linear_warmup(3, 0.1, 0) == pytest.approx(0.1)  # no warmup


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"step": -1}, ValueError, r"`step` must be >= 0, got -1"),
        ({"step": 1.5}, TypeError, r"`step` must be an int"),
        ({"total_steps": 0}, ValueError, r"`total_steps` must be >= 1, got 0"),
        ({"warmup_steps": -2}, ValueError, r"`warmup_steps` must be >= 0, got -2"),
        (
            {"warmup_steps": 11},
            ValueError,
            r"`warmup_steps` must be in \[0, total_steps=10\], got 11",
        ),
        (
            {"warmup_start_factor": 1.5},
            ValueError,
            r"`warmup_start_factor` must be a finite float in \[0, 1\], got 1.5",
        ),
        ({"min_lr": -1.0}, ValueError, r"`min_lr` must be >= 0, got -1.0"),
        ({"base_lr": -0.1}, ValueError, r"`base_lr` must be >= 0, got -0.1"),
        ({"base_lr": float("nan")}, ValueError, r"`base_lr` must be finite"),
        ({"min_lr": "0"}, TypeError, r"`min_lr` must be a float"),
    ],
)
def test_warmup_cosine_errors(kwargs: dict, error: type, match: str) -> None:
    args = {"step": 0, "base_lr": 0.1, "total_steps": 10, "warmup_steps": 2} | kwargs
    with pytest.raises(error, match=match):
        warmup_cosine(**args)


def test_linear_warmup_errors() -> None:
    with pytest.raises(
        ValueError, match=r"`end_factor` must be >= `start_factor` \(2.0\), got 1.0"
    ):
        linear_warmup(0, 0.1, 3, start_factor=2.0, end_factor=1.0)
    with pytest.raises(ValueError, match=r"`start_factor` must be >= 0, got -0.5"):
        linear_warmup(0, 0.1, 3, start_factor=-0.5)
    with pytest.raises(TypeError, match=r"`warmup_steps` must be an integer, got bool"):
        linear_warmup(0, 0.1, True)
