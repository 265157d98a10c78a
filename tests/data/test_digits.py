"""DigitsDataModule: the embedded default data set."""

from __future__ import annotations

import sys

import pytest
import torch

from lightning_tricks.data import DigitsDataModule, stratified_split
from lightning_tricks.data.digits import load_digits_tensors


def test_split_is_stratified_fixed_and_disjoint() -> None:
    dm = DigitsDataModule(image_size=16)
    dm.setup("fit")
    n_train, n_val, n_test = len(dm.train_set), len(dm.val_set), len(dm.test_set)
    assert n_train + n_val + n_test == 1797
    assert abs(n_val - 0.15 * 1797) < 12 and abs(n_test - 0.15 * 1797) < 12
    labels = dm.val_set.labels
    counts = torch.bincount(labels, minlength=10)
    assert counts.min() >= 25  # every class present in proportion (~27 each)
    # the same split every time, and no image in two splits
    dm2 = DigitsDataModule(image_size=16)
    dm2.setup("fit")
    assert torch.equal(dm.train_set.images, dm2.train_set.images)
    all_images = torch.cat([dm.train_set.images, dm.val_set.images, dm.test_set.images]).flatten(1)
    assert torch.unique(all_images, dim=0).shape[0] >= 1797 - 5  # digits has a few duplicates


def test_train_per_class_keeps_n_per_class_and_shapes() -> None:
    dm = DigitsDataModule(train_per_class=7, image_size=32, batch_size=16)
    dm.setup("fit")
    assert len(dm.train_set) == 70
    assert torch.bincount(dm.train_set.labels, minlength=10).tolist() == [7] * 10
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (16, 1, 32, 32) and x.dtype == torch.float32
    assert y.dtype == torch.int64
    # normalised with the data set's statistics
    full = DigitsDataModule(image_size=32)
    full.setup("fit")
    xs = torch.stack([full.train_set[i][0] for i in range(len(full.train_set))])
    assert abs(xs.mean().item()) < 0.1 and abs(xs.std().item() - 1) < 0.1


def test_upsampled_images_are_in_unit_range() -> None:
    images, labels = load_digits_tensors(24)
    assert images.shape == (1797, 1, 24, 24)
    assert images.min() >= 0 and images.max() <= 1
    assert labels.unique().tolist() == list(range(10))


def test_stratified_split_counts() -> None:
    labels = torch.tensor([0] * 10 + [1] * 20)
    a, b, rest = stratified_split(labels, [0.1, 0.5], seed=3)
    assert torch.bincount(labels[a]).tolist() == [1, 2]
    assert torch.bincount(labels[b]).tolist() == [5, 10]
    assert len(rest) == 12
    assert len(set(a.tolist()) | set(b.tolist()) | set(rest.tolist())) == 30


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"image_size": 4}, r"`image_size` must be >= 8, got 4"),
        ({"val_fraction": 0.0}, r"`val_fraction` must be a finite float in \(0, 1\), got 0.0"),
        ({"test_fraction": 1.5}, r"`test_fraction` must be a finite float in \(0, 1\), got 1.5"),
        ({"val_fraction": 0.6, "test_fraction": 0.5}, r"must be < 1, got 1.1"),
        ({"train_per_class": 0}, r"`train_per_class` must be >= 1, got 0"),
        ({"batch_size": 0}, r"`batch_size` must be >= 1, got 0"),
        ({"num_workers": -1}, r"`num_workers` must be >= 0, got -1"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        DigitsDataModule(**kwargs)


def test_too_many_per_class() -> None:
    dm = DigitsDataModule(train_per_class=500)
    with pytest.raises(ValueError, match=r"`train_per_class`=500 but class 0 has only \d+"):
        dm.setup("fit")


def test_transforms_must_be_callable() -> None:
    with pytest.raises(TypeError, match=r"`train_transforms` must be callable or None, got int"):
        DigitsDataModule(train_transforms=3)  # type: ignore[arg-type]


def test_missing_scikit_learn_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"lightning-tricks\[examples\]"):
        DigitsDataModule().prepare_data()
