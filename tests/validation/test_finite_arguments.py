"""Issue 15 findings 4 and 8: the reported non-finite / mistyped arguments, one by one.

The constructor sweep (``test_constructor_sweep.py``) covers every argument; these are the
cases the reliability pass reported, with their exact messages.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from lightning_tricks._checks import check_float, check_generator
from lightning_tricks.callbacks import (
    L1Regularization,
    LinearScalingRule,
    Warmup,
    WarmupCosine,
    ema_decay,
)
from lightning_tricks.data import DigitsDataModule, EpochSeededSampler, stratified_split
from lightning_tricks.functional import sample_crop_flip_params
from lightning_tricks.models import ImageClassifier
from lightning_tricks.optim import AdaBound, add_l1_grad_, param_groups

NAN, INF = math.nan, math.inf


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"value": 0.5}, None, None),
        ({"value": 1}, None, None),
        ({"value": NAN}, ValueError, r"^`x` must be a finite float in \(0, inf\), got nan$"),
        ({"value": INF}, ValueError, r"^`x` must be a finite float in \(0, inf\), got inf$"),
        ({"value": 0.0}, ValueError, r"^`x` must be a finite float in \(0, inf\), got 0.0$"),
        ({"value": "1"}, TypeError, r"^`x` must be a finite float in \(0, inf\), got str '1'$"),
        ({"value": True}, TypeError, r"got bool True"),
        ({"value": None}, TypeError, r"got NoneType None"),
    ],
)
def test_check_float_positive(kwargs: dict, error: type | None, match: str | None) -> None:
    if error is None:
        assert check_float("x", low=0.0, low_inclusive=False, **kwargs) == float(kwargs["value"])
        assert type(check_float("x", low=0.0, low_inclusive=False, **kwargs)) is float
    else:
        with pytest.raises(error, match=match):
            check_float("x", low=0.0, low_inclusive=False, **kwargs)


def test_check_float_ranges_and_none() -> None:
    assert check_float("p", 1.0, low=0.0, high=1.0) == 1.0
    with pytest.raises(ValueError, match=r"`p` must be a finite float in \[0, 1\), got 1.0"):
        check_float("p", 1.0, low=0.0, high=1.0, high_inclusive=False)
    with pytest.raises(ValueError, match=r"`f` must be a finite float in \(-inf, inf\), got -inf"):
        check_float("f", -INF)
    assert check_float("lr", None, allow_none=True) is None
    with pytest.raises(TypeError, match=r"`lr` must be a finite float in \(-inf, inf\) or None"):
        check_float("lr", "a", allow_none=True)


def test_check_generator() -> None:
    g = torch.Generator()
    assert check_generator("generator", g) is g
    assert check_generator("generator", None) is None
    with pytest.raises(
        TypeError, match=r"`generator` must be a torch.Generator or None, got int 0"
    ):
        check_generator("generator", 0)


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (
            lambda: L1Regularization(weight=INF),
            r"`weight` must be a finite float in \(0, inf\), got inf",
        ),
        (lambda: LinearScalingRule(base_lr=INF), r"`base_lr` must be a finite float .* got inf"),
        (
            lambda: Warmup(multiplier=INF),
            r"`multiplier` must be a finite float in \[1, inf\), got inf",
        ),
        (
            lambda: WarmupCosine(min_lr=INF),
            r"`min_lr` must be a finite float in \[0, inf\), got inf",
        ),
        (lambda: ImageClassifier("simple_cnn", lr=NAN), r"`lr` must be a finite float .* got nan"),
        (
            lambda: ImageClassifier("simple_cnn", weight_decay=INF),
            r"`weight_decay` must be a finite float in \[0, inf\), got inf",
        ),
        (
            lambda: AdaBound(nn.Linear(2, 2).parameters(), final_lr=INF),
            r"`final_lr` must be a finite float, got inf",
        ),
        (lambda: AdaBound(nn.Linear(2, 2).parameters(), eps=INF), r"`eps` must be a finite"),
        (lambda: ema_decay(3, 0.9, gamma=NAN), r"`gamma` must be in \(0, inf\), got nan"),
        (lambda: param_groups(nn.Linear(2, 2), weight_decay=INF), r"`weight_decay` .* got inf"),
        (lambda: add_l1_grad_([], weight=INF), r"`weight` must be a finite float .* got inf"),
        (lambda: stratified_split(torch.tensor([0, 1]), [NAN], 0), r"`fractions\[0\]` .* nan"),
        (lambda: stratified_split(torch.tensor([0, 1]), [0.6, 0.6], 0), r"`fractions` must sum"),
        (lambda: DigitsDataModule(val_fraction=NAN), r"`val_fraction` must be a finite float"),
    ],
)
def test_non_finite_values_are_refused(build, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: ImageClassifier(backbone=18), r"`backbone` must be a str .* got int 18"),
        (lambda: ImageClassifier("simple_cnn", dropout="0.1"), r"`dropout` must be a finite float"),
        (lambda: ImageClassifier("simple_cnn", lr="0.1"), r"`lr` must be a finite float"),
        (lambda: DigitsDataModule(seed=1.5), r"`seed` must be an integer, got float 1.5"),
        (lambda: DigitsDataModule(split_seed="0"), r"`split_seed` must be an integer, got str"),
        (lambda: DigitsDataModule(drop_last="yes"), r"`drop_last` must be a bool, got str 'yes'"),
        (lambda: DigitsDataModule(normalize=1), r"`normalize` must be a bool, got int 1"),
        (lambda: DigitsDataModule(pin_memory=None), r"`pin_memory` must be a bool"),
        (lambda: DigitsDataModule(val_fraction="0.1"), r"`val_fraction` must be a finite float"),
        (lambda: EpochSeededSampler(range(4), 1, 0, seed=0.5), r"`seed` must be an integer"),
        (lambda: sample_crop_flip_params(4, generator=0), r"`generator` must be a torch.Generator"),
    ],
)
def test_wrong_types_are_refused(build, match: str) -> None:
    with pytest.raises(TypeError, match=match):
        build()
