"""CIFAR-10 / CIFAR-100 over torchvision's datasets (downloaded on first use)."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch.utils.data import Dataset
from torchvision import datasets

from .._checks import check_int
from .base import ClassificationDataModule, Transform, TransformedSubset, check_flag

__all__ = ["CIFAR10DataModule", "CIFAR100DataModule"]


class CIFAR10DataModule(ClassificationDataModule):
    """CIFAR-10 (Krizhevsky, 2009): 50k train / 10k test 32×32 colour images, 10 classes.

    The official training set is split (seeded) into train and a ``val_size`` validation
    set; the official test set is the test split. Standard per-channel normalisation.

    Args:
        root: folder holding (or receiving) ``cifar-10-batches-py``. Default ``"data"``.
        download: download the archive in ``prepare_data`` if missing. Default True.
        val_size: images held out of the training set for validation (>= 1). Default 5000.
        split_seed: seed of the train/val split. Default 0.
        batch_size, num_workers, train_transforms, eval_transforms, normalize, seed, drop_last, pin_memory: see
            :class:`ClassificationDataModule`. Transforms receive PIL images.

    Raises:
        ValueError: for a non-positive ``val_size``, or one not smaller than the train set.

    Example::

        >>> dm = CIFAR10DataModule(root="data", batch_size=128)  # downloads only in prepare_data()
        >>> dm.num_classes, dm.in_channels
        (10, 3)
    """

    dataset_cls: type[datasets.CIFAR10] = datasets.CIFAR10
    num_classes = 10
    in_channels = 3
    mean = (0.4914, 0.4822, 0.4465)
    std = (0.2470, 0.2435, 0.2616)

    def __init__(
        self,
        root: str | Path = "data",
        download: bool = True,
        val_size: int = 5000,
        split_seed: int = 0,
        batch_size: int = 128,
        num_workers: int = 2,
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
        check_int("val_size", val_size, 1)
        check_int("split_seed", split_seed, 0)
        check_flag("download", download)
        if not isinstance(root, (str, os.PathLike)):
            raise TypeError(f"`root` must be a path (str or os.PathLike), got {root!r}")
        self.save_hyperparameters(ignore=["train_transforms", "eval_transforms"])
        self.root = str(root)
        self.download = download
        self.val_size = val_size
        self.split_seed = split_seed

    def prepare_data(self) -> None:
        self.dataset_cls(self.root, train=True, download=self.download)
        self.dataset_cls(self.root, train=False, download=self.download)

    def _build_datasets(self) -> tuple[Dataset, Dataset, Dataset]:
        full = self.dataset_cls(self.root, train=True, download=False)
        test = self.dataset_cls(self.root, train=False, download=False)
        n = len(full)
        if self.val_size >= n:
            raise ValueError(
                f"`val_size` must be smaller than the training set ({n} images), got {self.val_size}"
            )
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(self.split_seed))
        val_idx = torch.sort(perm[: self.val_size]).values.tolist()
        train_idx = torch.sort(perm[self.val_size :]).values.tolist()
        eval_pipe = self.pipeline(train=False)
        return (
            TransformedSubset(full, train_idx, self.pipeline(train=True)),
            TransformedSubset(full, val_idx, eval_pipe),
            TransformedSubset(test, range(len(test)), eval_pipe),
        )


class CIFAR100DataModule(CIFAR10DataModule):
    """CIFAR-100: like :class:`CIFAR10DataModule` with 100 classes and its own statistics.

    Example::

        >>> CIFAR100DataModule(root="data").num_classes
        100
    """

    dataset_cls = datasets.CIFAR100
    num_classes = 100
    mean = (0.5071, 0.4865, 0.4409)
    std = (0.2673, 0.2564, 0.2762)
