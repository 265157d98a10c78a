"""The embedded default data set: scikit-learn's bundled 8×8 handwritten digits."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from .._checks import check_float, check_int
from .base import ClassificationDataModule, TensorImageDataset, Transform, stratified_split

__all__ = ["DigitsDataModule", "load_digits_tensors"]


def load_digits_tensors(image_size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """All 1,797 digits as float images in [0, 1] of shape ``(N, 1, S, S)`` and labels ``(N,)``.

    The UCI/scikit-learn digits are 8×8 with 17 grey levels; they are upsampled bilinearly.

    Raises:
        ImportError: if scikit-learn (the ``examples`` extra) is not installed.
    """
    check_int("image_size", image_size, 8)
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:  # pragma: no cover - exercised by monkeypatching in tests
        raise ImportError(
            "DigitsDataModule needs scikit-learn, which carries the embedded digits data set: "
            "install the `examples` extra, e.g. `pip install 'lightning-tricks[examples]'`"
        ) from err
    bunch = load_digits()
    images = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    if image_size != 8:
        images = F.interpolate(
            images, size=(image_size, image_size), mode="bilinear", align_corners=False
        )
    labels = torch.as_tensor(bunch.target, dtype=torch.long)
    return images.clamp_(0.0, 1.0), labels


class DigitsDataModule(ClassificationDataModule):
    """Handwritten digits bundled with scikit-learn: real data, no download, 10 classes.

    A fixed, seeded, stratified split into train / val / test; ``train_per_class`` keeps only
    N training images per class (a data-scarce regime, where the tricks matter most).

    Args:
        image_size: side of the upsampled square images (>= 8). Default 32.
        val_fraction: fraction of each class for validation, in (0, 1). Default 0.15.
        test_fraction: fraction of each class for test, in (0, 1). Default 0.15.
        train_per_class: keep only this many training images per class (>= 1), or None for
            all (about 125 per class). Default None.
        split_seed: seed of the split (fixed so that runs are comparable). Default 0.
        batch_size, num_workers, train_transforms, eval_transforms, normalize, seed, drop_last, pin_memory: see
            :class:`ClassificationDataModule`. Transforms receive float tensors ``(1, S, S)``
            in [0, 1].

    Raises:
        ValueError: for out-of-range arguments.
        ImportError: at ``setup`` if scikit-learn is missing (install the ``examples`` extra).

    Example::

        >>> dm = DigitsDataModule(batch_size=64, train_per_class=10)
        >>> dm.setup("fit")
        >>> len(dm.train_set), dm.num_classes, dm.in_channels
        (100, 10, 1)
    """

    num_classes = 10
    in_channels = 1

    def __init__(
        self,
        image_size: int = 32,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        train_per_class: int | None = None,
        split_seed: int = 0,
        batch_size: int = 64,
        num_workers: int = 0,
        train_transforms: Transform | None = None,
        eval_transforms: Transform | None = None,
        normalize: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        pin_memory: bool = False,
    ) -> None:
        super().__init__(
            batch_size,
            num_workers,
            train_transforms,
            eval_transforms,
            normalize,
            seed,
            drop_last,
            pin_memory,
        )
        check_int("image_size", image_size, 8)
        for name, frac in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
            check_float(name, frac, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
        check_int("split_seed", split_seed, 0)
        if val_fraction + test_fraction >= 1.0:
            raise ValueError(
                f"`val_fraction` + `test_fraction` must be < 1, got {val_fraction + test_fraction}"
            )
        check_int("train_per_class", train_per_class, 1, allow_none=True)
        self.save_hyperparameters(ignore=["train_transforms", "eval_transforms"])
        self.image_size = image_size
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.train_per_class = train_per_class
        self.split_seed = split_seed
        # Mean / std of the upsampled digits (all 1,797 images), fixed so runs are comparable.
        self.mean = (0.305,)
        self.std = (0.320,)

    def prepare_data(self) -> None:
        load_digits_tensors(8)  # fail early with the install hint if scikit-learn is missing

    def _build_datasets(self) -> tuple[Dataset, Dataset, Dataset]:
        images, labels = load_digits_tensors(self.image_size)
        val_idx, test_idx, train_idx = stratified_split(
            labels, [self.val_fraction, self.test_fraction], seed=self.split_seed
        )
        if self.train_per_class is not None:
            keep = []
            gen = torch.Generator().manual_seed(self.split_seed + 1)
            for cls in range(self.num_classes):
                idx = train_idx[labels[train_idx] == cls]
                if idx.numel() < self.train_per_class:
                    raise ValueError(
                        f"`train_per_class`={self.train_per_class} but class {cls} has only "
                        f"{idx.numel()} training images"
                    )
                keep.append(idx[torch.randperm(idx.numel(), generator=gen)[: self.train_per_class]])
            train_idx = torch.sort(torch.cat(keep)).values
        train_pipe, eval_pipe = self.pipeline(train=True), self.pipeline(train=False)
        return (
            TensorImageDataset(images[train_idx], labels[train_idx], train_pipe),
            TensorImageDataset(images[val_idx], labels[val_idx], eval_pipe),
            TensorImageDataset(images[test_idx], labels[test_idx], eval_pipe),
        )
