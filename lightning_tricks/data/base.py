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

from .._checks import check_float, check_int
from ..callbacks._configure import watch_early_train_data

__all__ = [
    "ClassificationDataModule",
    "EpochResumableDataLoader",
    "EpochSeededSampler",
    "TensorImageDataset",
    "TransformedSubset",
    "stratified_split",
]

Transform = Callable[[Any], Any]


def check_flag(name: str, value: Any) -> bool:
    """Return ``value`` if it is a bool (a YAML ``yes`` or a ``1`` is not silently truthy)."""
    if not isinstance(value, bool):
        raise TypeError(f"`{name}` must be a bool, got {type(value).__name__} {value!r}")
    return value


def check_transform(name: str, value: Any) -> Any:
    """Return ``value`` if it is callable or None."""
    if value is not None and not callable(value):
        raise TypeError(f"`{name}` must be callable or None, got {type(value).__name__}")
    return value


class TensorImageDataset(Dataset):
    """``(image, label)`` pairs from a float tensor ``(N, C, H, W)`` and labels ``(N,)``."""

    def __init__(self, images: Tensor, labels: Tensor, transform: Transform | None = None) -> None:
        for name, value in (("images", images), ("labels", labels)):
            if not isinstance(value, Tensor):
                raise TypeError(f"`{name}` must be a torch.Tensor, got {type(value).__name__}")
        check_transform("transform", transform)
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
        check_transform("transform", transform)
        if isinstance(indices, Tensor):
            if indices.is_floating_point() or indices.dtype == torch.bool:
                raise TypeError(f"`indices` must hold integers, got a {indices.dtype} tensor")
        elif not all(isinstance(i, int) and not isinstance(i, bool) for i in indices):
            raise TypeError(f"`indices` must hold integers, got {list(indices)[:5]!r}...")
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
    check_int("seed", seed, 0)
    total = 0.0
    for i, frac in enumerate(fractions):
        total += check_float(f"fractions[{i}]", frac, low=0.0, high=1.0)
    if total > 1.0:
        raise ValueError(
            f"`fractions` must sum to at most 1, got {list(fractions)} (sum {total:g})"
        )
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

    def __init__(
        self,
        dataset: Dataset,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        check_int("num_replicas", num_replicas, 1, allow_none=True)
        check_int("rank", rank, 0, allow_none=True)
        if num_replicas is not None and rank is not None and rank >= num_replicas:
            raise ValueError(f"`rank` must be in [0, num_replicas={num_replicas}), got {rank}")
        check_int("seed", seed, 0)
        check_flag("shuffle", shuffle)
        check_flag("drop_last", drop_last)
        super().__init__(dataset, num_replicas, rank, shuffle, seed, drop_last)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "epoch": self.epoch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.epoch = int(state_dict.get("epoch", self.epoch))


_EPOCH_COMPLETE = "lightning_tricks_epoch_complete"
_EPOCH = "lightning_tricks_epoch"


class EpochResumableDataLoader(StatefulDataLoader):
    """A ``StatefulDataLoader`` whose state taken after the last batch means "next epoch".

    torchdata's loader saves the position *inside* the epoch. A state taken after the last
    batch was yielded but before ``StopIteration`` (what Lightning's fetcher does, since it
    knows ``len(loader)``) therefore restores an iterator with nothing left, and Lightning,
    which moves a run restored from such a checkpoint straight to the next epoch without
    calling ``iter()`` again, runs that epoch over zero batches. This loader marks such a
    state as a completed epoch; loading it starts a fresh iterator over epoch ``e + 1`` of
    the sampler (``set_epoch``), exactly the batches the uninterrupted run sees next.

    Example::

        >>> sampler = EpochSeededSampler(range(4), num_replicas=1, rank=0, seed=0)
        >>> loader = EpochResumableDataLoader(range(4), sampler=sampler, batch_size=2)
        >>> it = iter(loader)
        >>> _ = next(it), next(it)  # the whole epoch 0, no StopIteration yet
        >>> state = loader.state_dict()
        >>> sampler.set_epoch(1)
        >>> epoch1 = [b.tolist() for b in loader]
        >>> fresh = EpochResumableDataLoader(
        ...     range(4),
        ...     sampler=EpochSeededSampler(range(4), num_replicas=1, rank=0, seed=0),
        ...     batch_size=2,
        ... )
        >>> fresh.load_state_dict(state)
        >>> [b.tolist() for b in fresh] == epoch1
        True
    """

    # Upstream report (torchdata 0.11 StatefulDataLoader + Lightning 2.6 fit loop):
    # A checkpoint that `ModelCheckpoint(every_n_train_steps=k)` writes in
    # `on_train_batch_end` of the LAST batch of an epoch resumes into zero batches of the
    # next epoch (final global_step one epoch short, exit code 0, no warning).
    # * torchdata: `_StatefulBaseDataLoaderIter.state_dict()` sets `_iterator_finished`
    #   only once `__next__` has raised StopIteration. Lightning's `_PrefetchDataFetcher`
    #   knows `len(loader)` and never asks for the batch after the last, so the saved state
    #   says "epoch e, all samples yielded, not finished" (`sampler_state.yielded ==
    #   num_samples`, `_iterator_finished: False`). `StatefulDataLoader.__iter__` restores
    #   that iterator, sees `_finished` False and returns an iterator that is already
    #   exhausted; only the *following* `iter()` starts a new epoch.
    # * Lightning: `_FitLoop.setup_data()` loads the loader state and calls
    #   `iter(data_fetcher)` once; `_FitLoop.reset()` then sees `restarted_on_train_batch_end
    #   and restarted_mid_epoch and is_last_batch`, counts epoch e as done and starts epoch
    #   e + 1 (`_TrainingEpochLoop.reset()` resets the batch progress) on that same
    #   exhausted iterator (`_TrainingEpochLoop.on_run_start` skips `iter()` when
    #   restarting), so epoch e + 1 sees zero batches and its validation is skipped. A plain
    #   `DataLoader` has no state, so the fresh `iter()` yields a full epoch.
    # Fix upstream: either torchdata marks an iterator that has yielded `len(loader)`
    # batches as finished in `state_dict()`, or Lightning re-creates the iterator when
    # `reset()` advances the epoch past a checkpoint taken on the last batch.

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        iterator = self._iterator
        if iterator is not None and not state.get("_iterator_finished", False):
            try:
                length = len(self)
            except TypeError:  # an iterable data set without __len__
                return state
            if iterator._num_yielded >= length > 0:
                state = {**state, _EPOCH_COMPLETE: True}
                if hasattr(self.sampler, "epoch"):
                    state[_EPOCH] = int(self.sampler.epoch)
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not state_dict.get(_EPOCH_COMPLETE, False):
            super().load_state_dict(state_dict)
            return
        super().load_state_dict({})  # the next iter() starts a fresh epoch
        epoch = state_dict.get(_EPOCH)
        set_epoch = getattr(self.sampler, "set_epoch", None)
        if epoch is not None and callable(set_epoch):
            set_epoch(epoch + 1)


class ClassificationDataModule(pl.LightningDataModule):
    """Base class: loaders, the transform pipeline and the resumable shuffle.

    The image pipeline of every split is ``user transform → float tensor → Normalize``: the
    user transform (``train_transforms`` / ``eval_transforms``, any callable, e.g. a
    torchvision v2 pipeline) sees the raw sample (a PIL image for CIFAR / ImageFolder, a float
    tensor in [0, 1] for digits); the module then converts to a float32 tensor and normalises
    with the data set's mean and std (``normalize=False`` to skip).

    Training loaders are torchdata ``StatefulDataLoader`` s (:class:`EpochResumableDataLoader`,
    which also resumes a checkpoint taken on the last batch of an epoch) over a ``DistributedSampler`` whose
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
        check_int("batch_size", batch_size, 1)
        check_int("num_workers", num_workers, 0)
        check_transform("train_transforms", train_transforms)
        check_transform("eval_transforms", eval_transforms)
        check_flag("normalize", normalize)
        check_int("seed", seed, 0)
        check_flag("drop_last", drop_last)
        check_flag("pin_memory", pin_memory)
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

    def train_dataloader(self) -> EpochResumableDataLoader:
        self.setup("fit")
        watch_early_train_data(getattr(self, "trainer", None))  # Lightning #20550, any module
        assert self.train_set is not None
        if dist.is_available() and dist.is_initialized():
            replicas, rank = dist.get_world_size(), dist.get_rank()
        else:
            replicas, rank = 1, 0
        sampler = EpochSeededSampler(
            self.train_set, num_replicas=replicas, rank=rank, shuffle=True, seed=self.seed
        )
        return EpochResumableDataLoader(
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
