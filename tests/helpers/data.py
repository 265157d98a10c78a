"""A seeded random-image data set and data module (no download, any size)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from lightning_tricks.data.base import ClassificationDataModule


class RandomImageDataset(Dataset):
    """``n`` seeded random float images ``(C, H, W)`` with labels in ``[0, num_classes)``.

    Labels are learnable: the class shifts the mean of channel 0.
    ``as_dict=True`` yields ``{"image": x, "label": y}`` samples (dict batches).
    """

    def __init__(
        self,
        n: int = 64,
        num_classes: int = 4,
        shape: tuple[int, int, int] = (3, 8, 8),
        seed: int = 0,
        as_dict: bool = False,
    ) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.labels = torch.randint(0, num_classes, (n,), generator=gen)
        self.images = torch.randn(n, *shape, generator=gen)
        self.images[:, 0] += self.labels.view(-1, 1, 1).float()
        self.as_dict = as_dict

    def __len__(self) -> int:
        return self.labels.numel()

    def __getitem__(self, i: int) -> Any:
        x: Tensor = self.images[i]
        y = int(self.labels[i])
        return {"image": x, "label": y} if self.as_dict else (x, y)


class RandomImageDataModule(ClassificationDataModule):
    """Seeded random images through the project's own loaders (stateful, seed+epoch shuffle)."""

    mean = (0.0, 0.0, 0.0)
    std = (1.0, 1.0, 1.0)

    def __init__(
        self,
        n_train: int = 64,
        n_val: int = 32,
        num_classes: int = 4,
        shape: tuple[int, int, int] = (3, 8, 8),
        batch_size: int = 8,
        num_workers: int = 0,
        seed: int = 0,
        as_dict: bool = False,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, normalize=False, seed=seed)
        self.num_classes = num_classes
        self.in_channels = shape[0]
        self.n_train, self.n_val, self.shape, self.as_dict = n_train, n_val, shape, as_dict

    def _build_datasets(self) -> tuple[Dataset, Dataset, Dataset]:
        mk = RandomImageDataset
        return (
            mk(self.n_train, self.num_classes, self.shape, seed=1, as_dict=self.as_dict),
            mk(self.n_val, self.num_classes, self.shape, seed=2, as_dict=self.as_dict),
            mk(self.n_val, self.num_classes, self.shape, seed=3, as_dict=self.as_dict),
        )
