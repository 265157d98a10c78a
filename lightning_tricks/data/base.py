"""Shared machinery of the data modules: datasets, pipelines, resumable loaders."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import lightning.pytorch as pl
import torch
import torch.distributed as dist
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from torchdata.stateful_dataloader import StatefulDataLoader
from torchdata.stateful_dataloader.sampler import StatefulDistributedSampler
from torchvision.transforms import v2

__all__ = [
    "ClassificationDataModule",
    "EpochSeededSampler",
    "TensorImageDataset",
    "TransformedSubset",
    "stratified_split",
]

Transform = Callable[[Any], Any]


class TensorImageDataset(Dataset):
    """``(image, label)`` pairs from a float tensor ``(N, C, H, W)`` and labels ``(N,)``."""

    def __init__(self, images: Tensor, labels: Tensor, transform: Transform | None = None) -> None:
        if images.ndim != 4:
            raise ValueError(f"`images` must have shape (N, C, H, W), got {tuple(images.shape)}")
        if labels.shape != (images.shape[0],):
            raise ValueError(
                f"`labels` must have shape ({images.shape[0]},), got {tuple(labels.shape)}"
            )
        self.images = images
        self.labels = labels
        self.transform = transform

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image: Any = self.images[index]
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.labels[index])


class TransformedSubset(Dataset):
    """A subset of a ``(image, label)`` dataset with its own transform on the image."""

    def __init__(
        self, dataset: Dataset, indices: Sequence[int], transform: Transform | None
    ) -> None:
        self.dataset = dataset
        self.indices = list(indices)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image, label = self.dataset[self.indices[index]]
        if self.transform is not None:
            image = self.transform(image)
        return image, int(label)


def stratified_split(labels: Tensor, fractions: Sequence[float], seed: int) -> list[Tensor]:
    """Split indices class by class into ``len(fractions) + 1`` parts with a fixed seed.

    Part ``i`` gets ``round(fractions[i] * n_c)`` images of each class ``c``; the last part
    gets the rest. Index order inside each part is sorted (the loader shuffles).

    Example::

        >>> parts = stratified_split(torch.tensor([0, 0, 0, 0, 1, 1, 1, 1]), [0.25], seed=0)
        >>> [len(p) for p in parts]
        [2, 6]
    """
    gen = torch.Generator().manual_seed(seed)
    parts: list[list[Tensor]] = [[] for _ in range(len(fractions) + 1)]
    for cls in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == cls).flatten()
        idx = idx[torch.randperm(idx.numel(), generator=gen)]
        start = 0
        for i, frac in enumerate(fractions):
            count = round(frac * idx.numel())
            parts[i].append(idx[start : start + count])
            start += count
        parts[-1].append(idx[start:])
    return [
        torch.sort(torch.cat(p)).values if p else torch.empty(0, dtype=torch.long) for p in parts
    ]


class EpochSeededSampler(StatefulDistributedSampler):
    """Shuffle from ``seed + epoch`` (as ``DistributedSampler``), resumable mid-epoch.

    The state holds the epoch as well as the position, so a loader restored from a
    mid-epoch checkpoint replays the rest of *that* epoch's order even before the trainer
    calls ``set_epoch``; later epochs depend on ``seed + epoch`` only. Works for one process
    (``num_replicas=1``) and for each rank under DDP.

    Example::

        >>> s = EpochSeededSampler(range(6), num_replicas=1, rank=0, seed=0)
        >>> s.set_epoch(1)
        >>> order = list(s)
        >>> t = EpochSeededSampler(range(6), num_replicas=1, rank=0, seed=0)
        >>> t.load_state_dict({"yielded": 2, "epoch": 1})
        >>> list(t) == order[2:]
        True
    """

    epoch: int

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "epoch": self.epoch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.epoch = int(state_dict.get("epoch", self.epoch))


class ClassificationDataModule(pl.LightningDataModule):
    """Base class: loaders, the transform pipeline and the resumable shuffle.

    The image pipeline of every split is ``user transform → float tensor → Normalize``: the
    user transform (``train_transforms`` / ``eval_transforms``, any callable, e.g. a
    torchvision v2 pipeline) sees the raw sample (a PIL image for CIFAR / ImageFolder, a float
    tensor in [0, 1] for digits); the module then converts to a float32 tensor and normalises
    with the data set's mean and std (``normalize=False`` to skip).

    Training loaders are torchdata ``StatefulDataLoader`` s over a ``DistributedSampler`` whose
    shuffle derives from ``seed + epoch`` (Lightning calls ``set_epoch``): a run resumed from
    a mid-epoch checkpoint sees exactly the batches the uninterrupted run would have seen.

    Subclasses set ``num_classes``, ``in_channels``, ``mean``, ``std`` and implement
    :meth:`_build_datasets` returning ``(train, val, test)`` datasets built with
    :meth:`pipeline`.
    """

    num_classes: int
    in_channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __init__(
        self,
        batch_size: int = 128,
        num_workers: int = 0,
        train_transforms: Transform | None = None,
        eval_transforms: Transform | None = None,
        normalize: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        pin_memory: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"`batch_size` must be an integer >= 1, got {batch_size!r}")
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"`num_workers` must be an integer >= 0, got {num_workers!r}")
        for name, value in (
            ("train_transforms", train_transforms),
            ("eval_transforms", eval_transforms),
        ):
            if value is not None and not callable(value):
                raise TypeError(f"`{name}` must be callable or None, got {type(value).__name__}")
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.user_train_transforms = train_transforms
        self.user_eval_transforms = eval_transforms
        self.normalize = normalize
        self.seed = seed
        self.drop_last = drop_last
        self.pin_memory = pin_memory
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None

    # -- pipeline -------------------------------------------------------------------------
    def pipeline(self, train: bool, pre: Sequence[Transform] = ()) -> v2.Compose:
        """``pre`` (e.g. a resize) → user transform → float32 tensor → ``Normalize``."""
        user = self.user_train_transforms if train else self.user_eval_transforms
        steps: list[Any] = [*pre]
        if user is not None:
            steps.append(user)
        steps += [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]
        if self.normalize:
            steps.append(v2.Normalize(list(self.mean), list(self.std)))
        return v2.Compose(steps)

    def _build_datasets(self) -> tuple[Dataset, Dataset, Dataset]:
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None:
            self.train_set, self.val_set, self.test_set = self._build_datasets()

    # -- loaders --------------------------------------------------------------------------
    def _loader_kwargs(self) -> dict[str, Any]:
        return {
            "batch_size": self.batch_size,
            "num_workers": self.num_workers,
            "pin_memory": self.pin_memory,
            "persistent_workers": self.num_workers > 0,
        }

    def train_dataloader(self) -> StatefulDataLoader:
        self.setup("fit")
        assert self.train_set is not None
        if dist.is_available() and dist.is_initialized():
            replicas, rank = dist.get_world_size(), dist.get_rank()
        else:
            replicas, rank = 1, 0
        sampler = EpochSeededSampler(
            self.train_set, num_replicas=replicas, rank=rank, shuffle=True, seed=self.seed
        )
        return StatefulDataLoader(
            self.train_set, sampler=sampler, drop_last=self.drop_last, **self._loader_kwargs()
        )

    def _eval_loader(self, dataset: Dataset | None) -> DataLoader:
        self.setup("validate")
        assert dataset is not None
        return DataLoader(dataset, shuffle=False, **self._loader_kwargs())

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader(self.val_set)

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader(self.test_set)

    def predict_dataloader(self) -> DataLoader:
        return self._eval_loader(self.test_set)
