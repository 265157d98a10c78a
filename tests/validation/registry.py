"""One registry of every public constructor with its float and integer arguments.

Each :class:`Entry` says how to build the object with valid arguments and, for each numeric
argument, its allowed range. :func:`bad_values` turns a range into the values that must be
refused (NaN, ±inf, negative, zero, wrong type, just out of range); ``extra`` lists
hand-written bad values for arguments that are tuples, generators, flags or types.
``test_constructor_sweep.py`` requires a ``TypeError``/``ValueError`` naming the argument
for every one of them, and fails when a public class of a subpackage's ``__all__`` has no
entry here (or in :data:`NOT_CONSTRUCTORS`).

The batch tricks are rewritten by the lead in parallel: their entries are in
:data:`LEAD_PENDING` and are expected to fail (``xfail(strict=False)``) until that work
is merged; then remove the set.
"""

from __future__ import annotations

import importlib
import inspect
import math
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn

SUBPACKAGES = (
    "callbacks",
    "functional",
    "losses",
    "mixins",
    "optim",
    "schedulers",
    "transforms",
    "data",
    "models",
)

INF = math.inf
NAN = math.nan


@dataclass(frozen=True)
class Float:
    """A float argument's allowed range (as ``check_float`` takes it)."""

    low: float = -INF
    high: float = INF
    low_inclusive: bool = True
    high_inclusive: bool = True
    allow_none: bool = False


@dataclass(frozen=True)
class Int:
    """An integer argument's allowed range."""

    minimum: int | None = None
    maximum: int | None = None
    allow_none: bool = False


@dataclass
class Entry:
    """How to build one public object, and what it must refuse."""

    name: str  # "subpackage.Name"
    build: Callable[..., Any]
    valid: dict[str, Any] = field(default_factory=dict)
    floats: dict[str, Float] = field(default_factory=dict)
    ints: dict[str, Int] = field(default_factory=dict)
    #: (argument named in the message, keyword overrides) for tuples, flags, types ...
    extra: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def float_bad_values(spec: Float) -> list[Any]:
    """NaN, ±inf, wrong types, negative / zero where not allowed, just outside the range."""
    values: list[Any] = [NAN, INF, -INF, "0.5", [0.5]]
    if not spec.allow_none:
        values.append(None)
    if spec.low > -INF:
        values.append(spec.low - 1.0)
        if not spec.low_inclusive:
            values.append(spec.low)
    if spec.low >= 0:
        values.append(-1.0)
        if spec.low > 0 or not spec.low_inclusive:
            values.append(0.0)
    if spec.high < INF:
        values.append(spec.high + 1.0)
        if not spec.high_inclusive:
            values.append(spec.high)
    return _unique(values)


def int_bad_values(spec: Int) -> list[Any]:
    """Wrong types (float, str, bool), below the minimum, above the maximum."""
    values: list[Any] = [1.5, float(spec.minimum or 0) + 1.0, "3", True, NAN]
    if not spec.allow_none:
        values.append(None)
    if spec.minimum is not None:
        values.append(spec.minimum - 1)
        if spec.minimum >= 0:
            values.append(-1)
    if spec.maximum is not None:
        values.append(spec.maximum + 1)
    return _unique(values)


def _unique(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if not any(type(v) is type(o) and (v == o or (v != v and o != o)) for o in out):
            out.append(v)
    return out


@dataclass(frozen=True)
class Case:
    entry: Entry
    argument: str
    overrides: dict[str, Any]

    @property
    def id(self) -> str:
        value = self.overrides.get(self.argument, "…")
        return f"{self.entry.name}-{self.argument}={value!r}"[:120]


def cases(entry: Entry) -> Iterator[Case]:
    for arg, fspec in entry.floats.items():
        for value in float_bad_values(fspec):
            yield Case(entry, arg, {arg: value})
    for arg, ispec in entry.ints.items():
        for value in int_bad_values(ispec):
            yield Case(entry, arg, {arg: value})
    for arg, overrides in entry.extra:
        yield Case(entry, arg, overrides)


# -- builders ------------------------------------------------------------------------------


def _optimizer() -> torch.optim.Optimizer:
    return torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)


def _with_params(cls: type) -> Callable[..., Any]:
    def build(**kwargs: Any) -> Any:
        return cls(nn.Linear(2, 2).parameters(), **kwargs)

    return build


def _with_optimizer(cls: type) -> Callable[..., Any]:
    def build(**kwargs: Any) -> Any:
        return cls(_optimizer(), **kwargs)

    return build


def _mixin_module(**kwargs: Any) -> Any:
    from lightning_tricks.mixins import DistillationMixin

    class Student(DistillationMixin, pl.LightningModule):
        pass

    return Student(**kwargs)


@cache
def _folder() -> str:
    """A tiny image folder (two classes, one PNG each) for ImageFolderDataModule."""
    from PIL import Image

    root = tempfile.mkdtemp(prefix="lt-sweep-")
    import os

    for cls in ("a", "b"):
        os.makedirs(os.path.join(root, cls))
        for i in range(2):
            Image.new("RGB", (8, 8)).save(os.path.join(root, cls, f"{i}.png"))
    return root


def _teacher() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.LazyLinear(4))


def _get(qualified: str) -> Any:
    sub, name = qualified.split(".")
    return getattr(importlib.import_module(f"lightning_tricks.{sub}"), name)


def _plain(qualified: str) -> Callable[..., Any]:
    def build(**kwargs: Any) -> Any:
        return _get(qualified)(**kwargs)

    return build


P01 = Float(0.0, 1.0)  # a probability
POS = Float(0.0, low_inclusive=False)  # > 0
NONNEG = Float(0.0)  # >= 0
FINITE = Float()

_DATA_COMMON_INTS = {
    "batch_size": Int(1),
    "num_workers": Int(0),
    "seed": Int(0),
}
_DATA_FLAGS = [
    ("normalize", {"normalize": "yes"}),
    ("drop_last", {"drop_last": 1}),
    ("pin_memory", {"pin_memory": "no"}),
    ("train_transforms", {"train_transforms": 3}),
]
_CLASSIFIER_FLOATS = {
    "dropout": Float(0.0, 1.0, high_inclusive=False),
    "lr": POS,
    "momentum": Float(0.0, 1.0, high_inclusive=False),
    "weight_decay": NONNEG,
}
_CLASSIFIER_EXTRA = [
    ("backbone", {"backbone": 3}),
    ("backbone", {"backbone": "no_such_net"}),
]
_BATCH_TRICK_INTS = {
    "start_epoch": Int(0),
    "stop_epoch": Int(1, allow_none=True),
    "off_last_epochs": Int(0),
    "seed": Int(0, allow_none=True),
}


def _entries() -> list[Entry]:
    e = Entry
    return [
        # -- callbacks -------------------------------------------------------------------
        e(
            "callbacks.LinearScalingRule",
            _plain("callbacks.LinearScalingRule"),
            floats={"base_lr": Float(0.0, low_inclusive=False, allow_none=True)},
            ints={"base_batch_size": Int(1), "batch_size": Int(1, allow_none=True)},
        ),
        e(
            "callbacks.Warmup",
            _plain("callbacks.Warmup"),
            floats={
                "warmup_epochs": Float(0.0, allow_none=True),
                "multiplier": Float(1.0),
                "start_factor": Float(0.0, 1.0, allow_none=True),
            },
            ints={"warmup_steps": Int(0, allow_none=True)},
        ),
        e(
            "callbacks.WarmupCosine",
            _plain("callbacks.WarmupCosine"),
            floats={
                "warmup_epochs": Float(0.0, allow_none=True),
                "warmup_start_factor": P01,
                "min_lr": NONNEG,
            },
            ints={"warmup_steps": Int(0, allow_none=True)},
        ),
        e(
            "callbacks.L1Regularization",
            _plain("callbacks.L1Regularization"),
            valid={"weight": 1e-4},
            floats={"weight": POS},
            extra=[("exclude_bias", {"exclude_bias": "no"}), ("patterns", {"patterns": "x"})],
        ),
        e(
            "callbacks.NoBiasDecay",
            _plain("callbacks.NoBiasDecay"),
            extra=[("bias", {"bias": "no"}), ("norm", {"norm": 0}), ("patterns", {"patterns": 1})],
        ),
        e(
            "callbacks.WeightInit",
            _plain("callbacks.WeightInit"),
            floats={"negative_slope": NONNEG, "gain": POS},
            ints={"seed": Int(0, allow_none=True)},
            extra=[("zero_bias", {"zero_bias": "no"}), ("method", {"method": "nope"})],
        ),
        e(
            "callbacks.ZeroInitResidualBN",
            _plain("callbacks.ZeroInitResidualBN"),
            extra=[("blocks", {"blocks": ["a"]}), ("generic", {"generic": "yes"})],
        ),
        e(
            "callbacks.EMA",
            _plain("callbacks.EMA"),
            floats={
                "decay": Float(0.0, 1.0, high_inclusive=False),
                "warmup_gamma": POS,
                "warmup_power": Float(0.0, 1.0, low_inclusive=False),
            },
            ints={
                "update_every_n_steps": Int(1),
                "update_starting_at_step": Int(0, allow_none=True),
            },
            extra=[("warmup", {"warmup": "yes"}), ("device", {"device": 0})],
        ),
        # batch tricks
        e(
            "callbacks.BatchTrick",
            _plain("callbacks.BatchTrick"),
            ints={**_BATCH_TRICK_INTS, "num_classes": Int(2, allow_none=True)},
            extra=[("targets", {"targets": "soft"}), ("inplace", {"inplace": 1})],
        ),
        e(
            "callbacks.MixUp",
            _plain("callbacks.MixUp"),
            floats={"alpha": POS, "p": P01},
            ints={**_BATCH_TRICK_INTS, "num_classes": Int(1, allow_none=True)},
            extra=[
                ("mode", {"mode": "nope"}),
                ("inplace", {"inplace": "no"}),
                ("targets", {"targets": "soft"}),
            ],
        ),
        e(
            "callbacks.CutMix",
            _plain("callbacks.CutMix"),
            floats={"alpha": POS, "p": P01},
            ints=_BATCH_TRICK_INTS,
            extra=[("mode", {"mode": "nope"})],
        ),
        e(
            "callbacks.RICAP",
            _plain("callbacks.RICAP"),
            floats={"beta": POS, "p": P01},
            ints=_BATCH_TRICK_INTS,
        ),
        e(
            "callbacks.Cutout",
            _plain("callbacks.Cutout"),
            floats={"p": P01},
            ints={**_BATCH_TRICK_INTS, "n_holes": Int(1), "length": Int(1)},
            extra=[("value", {"value": NAN})],
        ),
        e(
            "callbacks.LabelSmoothing",
            _plain("callbacks.LabelSmoothing"),
            floats={"smoothing": Float(0.0, 1.0, high_inclusive=False), "p": P01},
            ints=_BATCH_TRICK_INTS,
        ),
        e(
            "callbacks.RandomErasing",
            _plain("callbacks.RandomErasing"),
            floats={"p": P01},
            ints={**_BATCH_TRICK_INTS, "attempts": Int(1)},
            extra=[
                ("scale", {"scale": (NAN, 0.4)}),
                ("scale", {"scale": (0.02, INF)}),
                ("ratio", {"ratio": (0.3, NAN)}),
                ("ratio", {"ratio": (-1.0, 3.0)}),
                ("value", {"value": NAN}),
            ],
        ),
        e(
            "callbacks.OneOf",
            lambda **kw: _get("callbacks.OneOf")(
                **{"tricks": [_get("callbacks.MixUp")(), _get("callbacks.CutMix")()], **kw}
            ),
            floats={"p": P01},
            extra=[
                ("weights", {"weights": [INF, 1.0]}),
                ("weights", {"weights": [NAN, 1.0]}),
                ("weights", {"weights": [-1.0, 1.0]}),
                ("weights", {"weights": [0.0, 0.0]}),
                ("weights", {"weights": ["a", 1.0]}),
                ("tricks", {"tricks": []}),
            ],
        ),
        e(
            "callbacks.BatchCropFlip",
            _plain("callbacks.BatchCropFlip"),
            floats={"flip_p": P01, "fill": FINITE, "p": P01},
            ints={**_BATCH_TRICK_INTS, "padding": Int(0)},
        ),
        # -- functional (classes: the params dataclasses) ------------------------------------
        e(
            "functional.MixUpParams",
            lambda **kw: _get("functional.MixUpParams")(
                **{"lam": 0.5, "perm": torch.tensor([1, 0]), **kw}
            ),
            floats={"lam": P01},
            extra=[("perm", {"perm": [1, 0]})],
        ),
        e(
            "functional.CutMixParams",
            lambda **kw: _get("functional.CutMixParams")(
                **{
                    "perm": torch.tensor([1, 0]),
                    "boxes": torch.tensor([[0, 0, 2, 2]]),
                    "height": 4,
                    "width": 4,
                    **kw,
                }
            ),
            ints={"height": Int(1), "width": Int(1)},
            extra=[("boxes", {"boxes": torch.tensor([[0, 0, 9, 9]])})],
        ),
        e(
            "functional.RICAPParams",
            lambda **kw: _get("functional.RICAPParams")(
                **{
                    "h": 2,
                    "w": 2,
                    "perms": torch.tensor([[0, 1]] * 4),
                    "offsets": torch.zeros(4, 2, 2, dtype=torch.long),
                    "height": 4,
                    "width": 4,
                    **kw,
                }
            ),
            ints={"h": Int(0), "w": Int(0), "height": Int(1), "width": Int(1)},
            extra=[("h", {"h": 5}), ("offsets", {"offsets": torch.full((4, 2, 2), 3)})],
        ),
        e(
            "functional.CutoutParams",
            lambda **kw: _get("functional.CutoutParams")(
                **{"boxes": torch.tensor([[[0, 0, 2, 2]]]), "height": 4, "width": 4, **kw}
            ),
            ints={"height": Int(1), "width": Int(1), "noise_seed": Int(0)},
        ),
        e(
            "functional.RandomErasingParams",
            lambda **kw: _get("functional.RandomErasingParams")(
                **{"boxes": torch.tensor([[0, 0, 2, 2]]), "height": 4, "width": 4, **kw}
            ),
            ints={"height": Int(1), "width": Int(1), "noise_seed": Int(0)},
            extra=[("boxes", {"boxes": torch.tensor([[0, 0, 5, 2]])})],
        ),
        e(
            "functional.CropFlipParams",
            lambda **kw: _get("functional.CropFlipParams")(
                **{
                    "padding": 1,
                    "top": torch.tensor([0]),
                    "left": torch.tensor([0]),
                    "flip": torch.tensor([False]),
                    **kw,
                }
            ),
            ints={"padding": Int(0)},
            extra=[("top", {"top": [0]}), ("flip", {"flip": None})],
        ),
        # -- functions we own with float arguments (not required by the class gate) ---------
        e(
            "functional.kd_loss",
            lambda **kw: _get("functional.kd_loss")(
                **{"student_logits": torch.zeros(2, 3), "teacher_logits": torch.zeros(2, 3), **kw}
            ),
            floats={"temperature": POS},
        ),
        e(
            "functional.sample_crop_flip_params",
            lambda **kw: _get("functional.sample_crop_flip_params")(**{"batch_size": 2, **kw}),
            floats={"flip_p": P01},
            ints={"batch_size": Int(0), "padding": Int(0)},
            extra=[("generator", {"generator": 0}), ("generator", {"generator": "cpu"})],
        ),
        e(
            "callbacks.ema_decay",
            lambda **kw: _get("callbacks.ema_decay")(**{"num_updates": 3, "decay": 0.9, **kw}),
            floats={
                "decay": Float(0.0, 1.0, high_inclusive=False),
                "gamma": POS,
                "power": Float(0.0, 1.0, low_inclusive=False),
            },
            ints={"num_updates": Int(0)},
        ),
        e(
            "schedulers.warmup_cosine",
            lambda **kw: _get("schedulers.warmup_cosine")(
                **{"step": 1, "base_lr": 0.1, "total_steps": 10, **kw}
            ),
            floats={"base_lr": NONNEG, "warmup_start_factor": P01, "min_lr": NONNEG},
            ints={"step": Int(0), "total_steps": Int(1), "warmup_steps": Int(0)},
        ),
        e(
            "schedulers.linear_warmup",
            lambda **kw: _get("schedulers.linear_warmup")(
                **{"step": 1, "base_lr": 0.1, "warmup_steps": 10, **kw}
            ),
            floats={"base_lr": NONNEG, "start_factor": NONNEG, "end_factor": NONNEG},
            ints={"step": Int(0), "warmup_steps": Int(0)},
        ),
        e(
            "optim.add_l1_grad_",
            lambda **kw: _get("optim.add_l1_grad_")(
                **{"params": list(nn.Linear(2, 2).parameters()), "weight": 0.1, **kw}
            ),
            floats={"weight": NONNEG},
        ),
        e(
            "optim.param_groups",
            lambda **kw: _get("optim.param_groups")(
                **{"model": nn.Linear(2, 2), "weight_decay": 0.1, **kw}
            ),
            floats={"weight_decay": NONNEG},
        ),
        e(
            "data.stratified_split",
            lambda **kw: _get("data.stratified_split")(
                **{"labels": torch.tensor([0, 0, 1, 1]), "fractions": [0.5], "seed": 0, **kw}
            ),
            ints={"seed": Int(0)},
            extra=[
                ("fractions", {"fractions": [NAN]}),
                ("fractions", {"fractions": [1.5]}),
                ("fractions", {"fractions": [0.6, 0.6]}),
            ],
        ),
        e(
            "data.load_digits_tensors",
            _plain("data.load_digits_tensors"),
            ints={"image_size": Int(8)},
        ),
        # -- losses / mixins ---------------------------------------------------------------
        e(
            "losses.DistillationLoss",
            _plain("losses.DistillationLoss"),
            floats={"alpha": P01, "temperature": POS},
        ),
        e(
            "mixins.DistillationMixin",
            _mixin_module,
            floats={"alpha": P01, "temperature": POS},
            extra=[
                ("save_teacher", {"save_teacher": "yes"}),
                ("teacher", {"teacher": "resnet"}),
                ("teacher_checkpoint", {"teacher": _teacher(), "teacher_checkpoint": 3}),
            ],
        ),
        # -- optim / schedulers --------------------------------------------------------------
        *[
            e(
                f"optim.{name}",
                _with_params(_get(f"optim.{name}")),
                floats={
                    "lr": POS,
                    "final_lr": NONNEG,  # 0 allowed, as the reference ``adabound``
                    "gamma": Float(0.0, 1.0, low_inclusive=False, high_inclusive=False),
                    "eps": NONNEG,
                    "weight_decay": NONNEG,
                },
                extra=[
                    ("betas", {"betas": (NAN, 0.999)}),
                    ("betas", {"betas": (0.9, 1.0)}),
                    ("betas", {"betas": (0.9, INF)}),
                    ("amsbound", {"amsbound": "no"}),
                ],
            )
            for name in ("AdaBound", "AdaBoundW")
        ],
        e(
            "schedulers.GradualWarmup",
            _with_optimizer(_get("schedulers.GradualWarmup")),
            valid={"warmup_steps": 3},
            floats={"multiplier": Float(1.0), "start_factor": Float(0.0, 1.0, allow_none=True)},
            ints={"warmup_steps": Int(0), "last_epoch": Int(-1)},
        ),
        e(
            "schedulers.WarmupCosineLR",
            _with_optimizer(_get("schedulers.WarmupCosineLR")),
            valid={"total_steps": 10},
            floats={"warmup_start_factor": P01, "min_lr": NONNEG},
            ints={"total_steps": Int(1), "warmup_steps": Int(0), "last_epoch": Int(-1)},
        ),
        # -- transforms ----------------------------------------------------------------------
        e(
            "transforms.PCALighting",
            _plain("transforms.PCALighting"),
            floats={"alphastd": NONNEG},
            extra=[
                ("eigval", {"eigval": (NAN, 0.1, 0.1)}),
                ("eigvec", {"eigvec": ((INF, 0, 0), (0, 1, 0), (0, 0, 1))}),
            ],
        ),
        e(
            "transforms.EvalTransforms",
            _plain("transforms.EvalTransforms"),
            floats={"crop_pct": Float(0.0, 1.0, low_inclusive=False, allow_none=True)},
            ints={"size": Int(1, allow_none=True)},
            extra=[("mean", {"mean": (NAN, 0.5, 0.5)}), ("std", {"std": (INF, 1.0, 1.0)})],
        ),
        e(
            "transforms.RandomCutout",
            _plain("transforms.RandomCutout"),
            valid={"size": 4},
            floats={"p": P01},
            ints={"size": Int(1)},
            extra=[("value", {"value": NAN}), ("value", {"value": (0.0, INF, 0.0)})],
        ),
        e(
            "transforms.RandomPadCrop",
            _plain("transforms.RandomPadCrop"),
            floats={"fill": FINITE},
            ints={"padding": Int(0)},
            extra=[("padding_mode", {"padding_mode": "nope"})],
        ),
        e(
            "transforms.TrainTransforms",
            _plain("transforms.TrainTransforms"),
            floats={
                "hflip": P01,
                "rotation": Float(0.0, 180.0),
                "pca_lighting": NONNEG,
                "random_erasing": P01,
                "fill": FINITE,
            },
            ints={"size": Int(1, allow_none=True), "padding": Int(0), "cutout": Int(0)},
            extra=[
                ("scale", {"scale": (NAN, 1.0)}),
                ("scale", {"scale": (0.1, INF)}),
                ("ratio", {"ratio": (NAN, 1.0)}),
                ("ratio", {"ratio": (0.5, INF)}),
                ("color_jitter", {"color_jitter": NAN}),
                ("color_jitter", {"color_jitter": (0.1, INF, 0.1, 0.1)}),
                ("color_jitter", {"color_jitter": -0.5}),
                ("erase_value", {"erase_value": NAN}),
            ],
        ),
        # -- data ----------------------------------------------------------------------------
        e(
            "data.ClassificationDataModule",
            _plain("data.ClassificationDataModule"),
            ints=_DATA_COMMON_INTS,
            extra=_DATA_FLAGS,
        ),
        e(
            "data.EpochSeededSampler",
            lambda **kw: _get("data.EpochSeededSampler")(
                **{"dataset": range(8), "num_replicas": 1, "rank": 0, **kw}
            ),
            ints={
                "seed": Int(0),
                "num_replicas": Int(1, allow_none=True),  # None: from the process group
                "rank": Int(0, 0, allow_none=True),
            },
            extra=[("shuffle", {"shuffle": "yes"}), ("drop_last", {"drop_last": 2})],
        ),
        e(
            "data.TensorImageDataset",
            lambda **kw: _get("data.TensorImageDataset")(
                **{"images": torch.zeros(2, 1, 4, 4), "labels": torch.zeros(2), **kw}
            ),
            extra=[
                ("images", {"images": [[0.0]]}),
                ("labels", {"labels": torch.zeros(3)}),
                ("transform", {"transform": 3}),
            ],
        ),
        e(
            "data.TransformedSubset",
            lambda **kw: _get("data.TransformedSubset")(
                **{"dataset": [(0, 1)], "indices": [0], "transform": None, **kw}
            ),
            extra=[("transform", {"transform": 3}), ("indices", {"indices": [0.5]})],
        ),
        *[
            e(
                f"data.{name}",
                _plain(f"data.{name}"),
                valid={"download": False},
                ints={**_DATA_COMMON_INTS, "val_size": Int(1), "split_seed": Int(0)},
                extra=[*_DATA_FLAGS, ("download", {"download": "yes"})],
            )
            for name in ("CIFAR10DataModule", "CIFAR100DataModule")
        ],
        e(
            "data.DigitsDataModule",
            _plain("data.DigitsDataModule"),
            floats={
                "val_fraction": Float(0.0, 1.0, low_inclusive=False, high_inclusive=False),
                "test_fraction": Float(0.0, 1.0, low_inclusive=False, high_inclusive=False),
            },
            ints={
                **_DATA_COMMON_INTS,
                "image_size": Int(8),
                "train_per_class": Int(1, allow_none=True),
                "split_seed": Int(0),
            },
            extra=_DATA_FLAGS,
        ),
        e(
            "data.ImageFolderDataModule",
            lambda **kw: _get("data.ImageFolderDataModule")(**{"train_dir": _folder(), **kw}),
            floats={"val_fraction": Float(0.0, 1.0, low_inclusive=False, high_inclusive=False)},
            ints={**_DATA_COMMON_INTS, "image_size": Int(1, allow_none=True), "split_seed": Int(0)},
            extra=[
                *_DATA_FLAGS,
                ("mean", {"mean": (NAN, 0.5, 0.5)}),
                ("std", {"std": (0.2, INF, 0.2)}),
                ("std", {"std": (0.2, 0.0, 0.2)}),
                ("train_dir", {"train_dir": 3}),
            ],
        ),
        # -- models --------------------------------------------------------------------------
        e(
            "models.ImageClassifier",
            _plain("models.ImageClassifier"),
            valid={"backbone": "simple_cnn", "num_classes": 4},
            floats=_CLASSIFIER_FLOATS,
            ints={"num_classes": Int(2), "in_channels": Int(1)},
            extra=_CLASSIFIER_EXTRA,
        ),
        e(
            "models.DistillationModule",
            _plain("models.DistillationModule"),
            valid={"backbone": "simple_cnn", "num_classes": 4},
            floats={**_CLASSIFIER_FLOATS, "alpha": P01, "temperature": POS},
            ints={"num_classes": Int(2), "in_channels": Int(1)},
            extra=[*_CLASSIFIER_EXTRA, ("save_teacher", {"save_teacher": 1})],
        ),
        e(
            "models.BasicBlock",
            lambda **kw: _get("models.BasicBlock")(**{"in_planes": 4, "planes": 4, **kw}),
            ints={"in_planes": Int(1), "planes": Int(1), "stride": Int(1)},
        ),
        e(
            "models.CifarResNet",
            _plain("models.CifarResNet"),
            ints={"depth": Int(8), "num_classes": Int(1), "in_channels": Int(1), "width": Int(1)},
        ),
        e(
            "models.cifar_resnet",
            lambda **kw: _get("models.cifar_resnet")(**{"name": "cifar_resnet8", **kw}),
            ints={"num_classes": Int(1), "in_channels": Int(1)},
            extra=[("name", {"name": 3})],
        ),
        e(
            "models.build_backbone",
            lambda **kw: _get("models.build_backbone")(
                **{"name": "simple_cnn", "num_classes": 4, **kw}
            ),
            ints={"num_classes": Int(1), "in_channels": Int(1)},
            # an unknown name is reported as the `backbone` (ImageClassifier's argument)
            extra=[("name", {"name": 3}), ("backbone", {"name": "no_such_net"})],
        ),
    ]


#: public classes that are not configured by numeric arguments, with the reason
NOT_CONSTRUCTORS: dict[str, str] = {
    "losses.DistillationLossOutput": "a NamedTuple the loss returns, never built by users",
    "data.EpochResumableDataLoader": "torch DataLoader arguments, validated by torch itself",
    "functional.MixedTargets": "made by the label tricks (mix_targets, smooth_targets), not by users",
}


@cache
def registry() -> dict[str, Entry]:
    entries = _entries()
    out = {entry.name: entry for entry in entries}
    assert len(out) == len(entries), "duplicate registry entry"
    return out


def public_classes() -> list[str]:
    """Every class in the ``__all__`` of every subpackage, as ``"subpackage.Name"``."""
    names = []
    for sub in SUBPACKAGES:
        module = importlib.import_module(f"lightning_tricks.{sub}")
        for name in module.__all__:
            if inspect.isclass(getattr(module, name)):
                names.append(f"{sub}.{name}")
    return names


def all_cases() -> list[Case]:
    return [case for entry in registry().values() for case in cases(entry)]


def build(entry: Entry, overrides: dict[str, Any] | None = None) -> Any:
    return entry.build(**{**entry.valid, **(overrides or {})})


def outcome(case: Case) -> tuple[str, BaseException | None]:
    """``"clear"`` (TypeError/ValueError naming the argument), ``"unclear"`` (another
    exception, or one that does not name it) or ``"accepted"``."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            build(case.entry, case.overrides)
    except (TypeError, ValueError) as err:
        named = f"`{case.argument}" in str(err)
        return ("clear" if named else "unclear"), err
    except Exception as err:
        return "unclear", err
    return "accepted", None
