"""Any folder of class subfolders (torchvision ``ImageFolder`` layout)."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch.utils.data import Dataset
from torchvision import datasets
from torchvision.transforms import v2

from .._checks import check_float, check_int
from .base import ClassificationDataModule, Transform, TransformedSubset, stratified_split

__all__ = ["ImageFolderDataModule"]


class ImageFolderDataModule(ClassificationDataModule):
    """Images in ``<train_dir>/<class>/*.png|jpg...``, one subfolder per class.

    Validation comes from ``val_dir`` if given, else a seeded stratified ``val_fraction`` of
    ``train_dir``; test from ``test_dir``, else the validation set. Images are converted to
    RGB and, when ``image_size`` is set, resized (shorter side to ``image_size / 0.875``)
    and centre-cropped before the user transform of the evaluation splits, and resized to
    ``image_size`` before the user transform of the training split, so batches always stack.

    Args:
        train_dir: folder of class subfolders.
        val_dir: optional validation folder with the same class subfolders.
        test_dir: optional test folder with the same class subfolders.
        val_fraction: fraction of each class of ``train_dir`` used for validation when
            ``val_dir`` is None, in (0, 1). Default 0.1.
        image_size: output side in pixels (>= 1) or None to keep sizes. Default 224.
        mean, std: normalisation statistics. Default ImageNet's.
        split_seed: seed of the train/val split. Default 0.
        batch_size, num_workers, train_transforms, eval_transforms, normalize, seed, drop_last, pin_memory: see :class:`ClassificationDataModule`.

    Raises:
        ValueError: if a folder is missing or has no class subfolders, or the class lists of
            the folders differ.

    Example::

        >>> dm = ImageFolderDataModule("path/to/train", image_size=64)  # doctest: +SKIP
        >>> dm.num_classes  # doctest: +SKIP
        5
    """

    in_channels = 3

    def __init__(
        self,
        train_dir: str | Path,
        val_dir: str | Path | None = None,
        test_dir: str | Path | None = None,
        val_fraction: float = 0.1,
        image_size: int | None = 224,
        mean: tuple[float, float, float] = (0.485, 0.456, 0.406),
        std: tuple[float, float, float] = (0.229, 0.224, 0.225),
        split_seed: int = 0,
        batch_size: int = 64,
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
        check_float(
            "val_fraction",
            val_fraction,
            low=0.0,
            high=1.0,
            low_inclusive=False,
            high_inclusive=False,
        )
        check_int("image_size", image_size, 1, allow_none=True)
        check_int("split_seed", split_seed, 0)
        for name, folder in (
            ("train_dir", train_dir),
            ("val_dir", val_dir),
            ("test_dir", test_dir),
        ):
            if folder is not None and not isinstance(folder, (str, os.PathLike)):
                raise TypeError(f"`{name}` must be a path (str or os.PathLike), got {folder!r}")
        for name, values, low_inclusive in (("mean", mean, True), ("std", std, False)):
            if isinstance(values, (str, bytes)) or not isinstance(values, (tuple, list)):
                raise TypeError(f"`{name}` must be a sequence of 3 floats, got {values!r}")
            if len(values) != 3:
                raise ValueError(f"`{name}` must have 3 values (RGB), got {len(values)}")
            for i, value in enumerate(values):
                check_float(
                    f"{name}[{i}]",
                    value,
                    low=0.0 if name == "std" else -float("inf"),
                    low_inclusive=low_inclusive,
                )
        self.save_hyperparameters(ignore=["train_transforms", "eval_transforms"])
        self.train_dir = Path(train_dir)
        self.val_dir = Path(val_dir) if val_dir is not None else None
        self.test_dir = Path(test_dir) if test_dir is not None else None
        self.val_fraction = val_fraction
        self.image_size = image_size
        self.mean = tuple(mean)
        self.std = tuple(std)
        self.split_seed = split_seed
        self._classes = self._find_classes(self.train_dir, "train_dir")
        for name, folder in (("val_dir", self.val_dir), ("test_dir", self.test_dir)):
            if folder is not None and self._find_classes(folder, name) != self._classes:
                raise ValueError(
                    f"`{name}` ({folder}) must have the same class subfolders as `train_dir`: "
                    f"expected {self._classes}, got {self._find_classes(folder, name)}"
                )
        self.num_classes = len(self._classes)

    @staticmethod
    def _find_classes(folder: Path, name: str) -> list[str]:
        if not folder.is_dir():
            raise ValueError(f"`{name}` must be an existing folder, got {str(folder)!r}")
        classes = sorted(e.name for e in os.scandir(folder) if e.is_dir())
        if not classes:
            raise ValueError(
                f"`{name}` ({folder}) has no class subfolders: expected <{name}>/<class>/<image>"
            )
        return classes

    @property
    def classes(self) -> list[str]:
        """Class names in index order (sorted folder names)."""
        return list(self._classes)

    def _pre(self, train: bool) -> list[Transform]:
        steps: list[Transform] = [v2.RGB()]
        if self.image_size is not None:
            if train:
                steps.append(v2.Resize((self.image_size, self.image_size), antialias=True))
            else:
                steps += [
                    v2.Resize(round(self.image_size / 0.875), antialias=True),
                    v2.CenterCrop(self.image_size),
                ]
        return steps

    def _build_datasets(self) -> tuple[Dataset, Dataset, Dataset]:
        train_pipe = self.pipeline(train=True, pre=self._pre(True))
        eval_pipe = self.pipeline(train=False, pre=self._pre(False))
        full = datasets.ImageFolder(str(self.train_dir))
        if self.val_dir is None:
            labels = torch.as_tensor(full.targets)
            val_idx, train_idx = stratified_split(labels, [self.val_fraction], seed=self.split_seed)
            train = TransformedSubset(full, train_idx.tolist(), train_pipe)
            val: Dataset = TransformedSubset(full, val_idx.tolist(), eval_pipe)
        else:
            train = TransformedSubset(full, range(len(full)), train_pipe)
            val_full = datasets.ImageFolder(str(self.val_dir))
            val = TransformedSubset(val_full, range(len(val_full)), eval_pipe)
        if self.test_dir is None:
            test = val
        else:
            test_full = datasets.ImageFolder(str(self.test_dir))
            test = TransformedSubset(test_full, range(len(test_full)), eval_pipe)
        return train, val, test
