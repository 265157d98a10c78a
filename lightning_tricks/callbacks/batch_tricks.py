"""MixUp, CutMix, RICAP, Cutout, RandomErasing, LabelSmoothing and OneOf callbacks (issue 3).

Thin hooks over :mod:`lightning_tricks.functional`: each callback draws its params from its
own generator and calls the matching ``*_batch`` function on the training batch, after
Lightning moved it to the device. Everything else (layouts, ``p``, activity window, seeds,
resume, validation, soft targets) lives in :class:`~lightning_tricks.callbacks.BatchTrick`.

A module whose ``training_step`` is plain ``F.cross_entropy(self(x), y)`` trains unchanged
with any stack of these callbacks, in any order: label-changing tricks output float32
``(N, K)`` probabilities, which ``F.cross_entropy`` accepts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import Tensor
from typing_extensions import override

from ..functional._batch import check_int, check_mode, check_positive, check_probability
from ..functional.erasing import (
    check_fill_value,
    check_ratio,
    check_scale,
    draw_cutout_params,
    draw_random_erasing_params,
    fill_boxes,
)
from ..functional.mixing import (
    apply_cutmix,
    apply_mixup,
    apply_ricap,
    draw_cutmix_params,
    draw_mixup_params,
    draw_ricap_params,
)
from ..functional.targets import smooth_targets
from .base import BatchTrick

__all__ = ["RICAP", "CutMix", "Cutout", "LabelSmoothing", "MixUp", "OneOf", "RandomErasing"]


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"`{name}` must be a bool, got {type(value).__name__} {value!r}")
    return value


class MixUp(BatchTrick):
    """Mix each training batch with a shuffled copy of itself (images and targets).

    MixUp: Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018,
    https://arxiv.org/abs/1710.09412. ``x = λ·x + (1-λ)·x[perm]``, same for the targets,
    with λ ~ Beta(α, α). See :func:`~lightning_tricks.functional.mixup_batch`.

    Args:
        alpha: Beta concentration α, > 0. Default 0.2 (Bag of Tricks, He et al. 2019, for
            ImageNet; Zhang et al. use 1.0 on CIFAR-10).
        mode: ``"batch"`` (one λ per batch, as in the paper) or ``"elem"`` (one λ per
            sample). Default ``"batch"``.
        p: probability that a batch is mixed, in [0, 1]. Default 1.0.
        inplace: write the result into the training batch's image tensor instead of a new
            one; the shuffled partners go to a buffer kept by the callback, so no batch-sized
            tensor is allocated per step (see the Cutout card for when to turn it off).
            Default ``True``.
        **kwargs: ``start_epoch``, ``stop_epoch``, ``off_last_epochs``, ``num_classes``,
            ``input_key``, ``target_key``, ``seed`` of :class:`BatchTrick`.

    Raises:
        TypeError / ValueError: for arguments of the wrong type or out of range.

    Example::

        >>> mixup = MixUp(alpha=0.2, num_classes=3, seed=0)
        >>> x, y = mixup.transform_batch(torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 0]))
        >>> y.shape, torch.allclose(y.sum(1), torch.ones(4))
        (torch.Size([4, 3]), True)
    """

    changes_labels = True
    mixes_labels = True

    def __init__(
        self,
        alpha: float = 0.2,
        mode: Literal["batch", "elem"] = "batch",
        p: float = 1.0,
        inplace: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(p, **kwargs)
        self.alpha = check_positive("alpha", alpha)
        self.mode = check_mode(mode)
        self.inplace = _check_bool("inplace", inplace)

    @override
    def hparams_for_key(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "mode": self.mode, **super().hparams_for_key()}

    @override
    def apply_batch(
        self, x: Tensor, y: Tensor, generator: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        params = draw_mixup_params(x.shape[0], self.alpha, self.mode, generator)
        scratch = self.scratch_like(x) if self.inplace else None
        return apply_mixup(x, y, params, self.inplace, scratch)


class CutMix(BatchTrick):
    """Paste a random box of a shuffled partner into each image; targets mixed by box area.

    CutMix: Yun et al., "CutMix: Regularization Strategy to Train Strong Classifiers with
    Localizable Features", ICCV 2019, https://arxiv.org/abs/1905.04899. λ ~ Beta(α, α)
    sets the box area; the target weight is the area-corrected λ after clipping. See
    :func:`~lightning_tricks.functional.cutmix_batch`.

    Args:
        alpha: Beta concentration α, > 0. Default 1.0 (the paper).
        mode: ``"batch"`` (one box per batch, as in the paper) or ``"elem"`` (one box and
            λ per sample). Default ``"batch"``.
        p: probability that a batch is cut and mixed, in [0, 1]. Default 1.0.
        inplace: write the result into the training batch's image tensor instead of a new
            one (with one box per batch only the box is copied; see the Cutout card for when to turn it off).
            Default ``True``.
        **kwargs: ``start_epoch``, ``stop_epoch``, ``off_last_epochs``, ``num_classes``,
            ``input_key``, ``target_key``, ``seed`` of :class:`BatchTrick`.

    Raises:
        TypeError / ValueError: for arguments of the wrong type or out of range.

    Example::

        >>> cutmix = CutMix(num_classes=10, seed=0)
        >>> x, y = cutmix.transform_batch(torch.rand(4, 3, 32, 32), torch.arange(4))
        >>> x.shape, y.shape
        (torch.Size([4, 3, 32, 32]), torch.Size([4, 10]))
    """

    changes_labels = True
    mixes_labels = True

    def __init__(
        self,
        alpha: float = 1.0,
        mode: Literal["batch", "elem"] = "batch",
        p: float = 1.0,
        inplace: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(p, **kwargs)
        self.alpha = check_positive("alpha", alpha)
        self.mode = check_mode(mode)
        self.inplace = _check_bool("inplace", inplace)

    @override
    def hparams_for_key(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "mode": self.mode, **super().hparams_for_key()}

    @override
    def apply_batch(
        self, x: Tensor, y: Tensor, generator: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        n, _, h, w = x.shape
        params = draw_cutmix_params(n, h, w, self.alpha, self.mode, generator)
        scratch = self.scratch_like(x) if self.inplace and self.mode == "elem" else None
        return apply_cutmix(x, y, params, self.inplace, scratch)


class RICAP(BatchTrick):
    """Random image cropping and patching: four crops of four shuffles form each image.

    RICAP: Takahashi et al., "Data Augmentation using Random Image Cropping and Patching for
    Deep CNNs", IEEE TCSVT 2019, https://arxiv.org/abs/1811.09030. The boundary is drawn
    from Beta(β, β), crop positions independently per sample, and the targets are weighted by
    patch area. See :func:`~lightning_tricks.functional.ricap_batch`.

    Args:
        beta: Beta concentration β, > 0. Default 0.3 (the paper).
        p: probability that a batch is patched, in [0, 1]. Default 1.0.
        inplace: copy the result back into the training batch's image tensor, assembling it
            in a buffer kept by the callback (no batch-sized allocation per step; see the
            Cutout card for when to turn it off). Default ``True``.
        **kwargs: ``start_epoch``, ``stop_epoch``, ``off_last_epochs``, ``num_classes``,
            ``input_key``, ``target_key``, ``seed`` of :class:`BatchTrick`.

    Raises:
        TypeError / ValueError: for arguments of the wrong type or out of range.

    Example::

        >>> ricap = RICAP(num_classes=10, seed=0)
        >>> x, y = ricap.transform_batch(torch.rand(4, 3, 32, 32), torch.arange(4))
        >>> torch.allclose(y.sum(1), torch.ones(4))
        True
    """

    changes_labels = True
    mixes_labels = True

    def __init__(
        self, beta: float = 0.3, p: float = 1.0, inplace: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(p, **kwargs)
        self.beta = check_positive("beta", beta)
        self.inplace = _check_bool("inplace", inplace)

    @override
    def hparams_for_key(self) -> dict[str, Any]:
        return {"beta": self.beta, **super().hparams_for_key()}

    @override
    def apply_batch(
        self, x: Tensor, y: Tensor, generator: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        n, _, h, w = x.shape
        params = draw_ricap_params(n, h, w, self.beta, generator)
        scratch = self.scratch_like(x) if self.inplace else None
        return apply_ricap(x, y, params, self.inplace, scratch)


class Cutout(BatchTrick):
    """Cut ``n_holes`` squares of side ``length`` out of each image (per-sample positions).

    Cutout: DeVries & Taylor, "Improved Regularization of Convolutional Neural Networks with
    Cutout", 2017, https://arxiv.org/abs/1708.04552. Centres are uniform over the image and
    squares are clipped at the borders. Labels are not changed: index targets stay index
    targets. See :func:`~lightning_tricks.functional.cutout_batch`.

    Args:
        n_holes: squares per image, >= 1. Default 1.
        length: side in pixels, >= 1. Default 16 (the paper, CIFAR-10; 8 for CIFAR-100).
        value: fill: a float, one float per channel, or ``"random"`` (normal noise).
            Default 0.0 (the normalised mean, as in the paper).
        p: probability that an image is cut, **per sample**, in [0, 1]. Default 1.0 (the
            paper cuts every image).
        inplace: fill the training batch's image tensor in place (only the cut pixels are
            written). Default ``True``; set ``False`` if your loader yields views of tensors it
            keeps (e.g. slices of a data set held in memory with ``batch_size=None``).
        **kwargs: ``start_epoch``, ``stop_epoch``, ``off_last_epochs``, ``input_key``,
            ``target_key``, ``seed`` of :class:`BatchTrick`.

    Raises:
        TypeError / ValueError: for arguments of the wrong type or out of range.

    Example::

        >>> cutout = Cutout(length=4, seed=0)
        >>> x, y = cutout.transform_batch(torch.ones(2, 3, 8, 8), torch.tensor([1, 0]))
        >>> bool((x == 0).any()), y.tolist()
        (True, [1, 0])
    """

    batch_p = False

    def __init__(
        self,
        n_holes: int = 1,
        length: int = 16,
        value: float | Sequence[float] | Literal["random"] = 0.0,
        p: float = 1.0,
        inplace: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(p, **kwargs)
        self.n_holes = check_int("n_holes", n_holes, 1)
        self.length = check_int("length", length, 1)
        self.value = check_fill_value(value)
        self.inplace = _check_bool("inplace", inplace)

    @override
    def hparams_for_key(self) -> dict[str, Any]:
        return {
            "n_holes": self.n_holes,
            "length": self.length,
            "value": self.value,
            **super().hparams_for_key(),
        }

    @override
    def apply_batch(
        self, x: Tensor, y: Tensor, generator: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        n, _, h, w = x.shape
        params = draw_cutout_params(n, h, w, self.n_holes, self.length, self.p, generator)
        return fill_boxes(x, params.boxes, self.value, params.noise_seed, self.inplace), y


class RandomErasing(BatchTrick):
    """Erase one random rectangle per image with probability ``p`` (per-sample, vectorised).

    Random Erasing: Zhong et al., "Random Erasing Data Augmentation", AAAI 2020,
    https://arxiv.org/abs/1708.04896. Area fraction uniform in ``scale``, aspect ratio
    log-uniform in ``ratio``, ``attempts`` candidates per image drawn at once. Labels are not
    changed. See :func:`~lightning_tricks.functional.random_erasing_batch`.

    Args:
        p: probability that an image is erased, **per sample**, in [0, 1]. Default 0.5
            (the paper, torchvision, timm).
        scale: (min, max) erased fraction of the area, 0 <= min <= max <= 1.
            Default (0.02, 0.4) (the paper).
        ratio: (min, max) aspect ratio, 0 < min <= max. Default (0.3, 1/0.3) (the paper).
        value: fill: a float, one float per channel (e.g. the data-set mean, as in the
            paper's code), or ``"random"`` (normal noise per pixel). Default 0.0.
        attempts: candidate rectangles per image, >= 1. Default 10 (torchvision).
        inplace: fill the training batch's image tensor in place (only the erased pixels are
            written). Default ``True``; set ``False`` if your loader yields views of tensors it
            keeps (e.g. slices of a data set held in memory with ``batch_size=None``).
        **kwargs: ``start_epoch``, ``stop_epoch``, ``off_last_epochs``, ``input_key``,
            ``target_key``, ``seed`` of :class:`BatchTrick`.

    Raises:
        TypeError / ValueError: for arguments of the wrong type or out of range.

    Example::

        >>> erase = RandomErasing(p=1.0, seed=0)
        >>> x, _ = erase.transform_batch(torch.ones(8, 3, 32, 32), torch.zeros(8, dtype=torch.long))
        >>> int((x[:, 0] == 0).flatten(1).any(1).sum())
        8
    """

    batch_p = False

    def __init__(
        self,
        p: float = 0.5,
        scale: tuple[float, float] = (0.02, 0.4),
        ratio: tuple[float, float] = (0.3, 1 / 0.3),
        value: float | Sequence[float] | Literal["random"] = 0.0,
        attempts: int = 10,
        inplace: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(p, **kwargs)
        self.scale = check_scale(scale)
        self.ratio = check_ratio(ratio)
        self.value = check_fill_value(value)
        self.attempts = check_int("attempts", attempts, 1)
        self.inplace = _check_bool("inplace", inplace)

    @override
    def hparams_for_key(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "ratio": self.ratio,
            "value": self.value,
            "attempts": self.attempts,
            **super().hparams_for_key(),
        }

    @override
    def apply_batch(
        self, x: Tensor, y: Tensor, generator: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        n, _, h, w = x.shape
        params = draw_random_erasing_params(
            n, h, w, self.p, self.scale, self.ratio, self.attempts, generator
        )
        boxes = params.boxes.unsqueeze(1)
        return fill_boxes(x, boxes, self.value, params.noise_seed, self.inplace), y


class LabelSmoothing(BatchTrick):
    """Smooth the training targets: ``(1 - ε)·y + ε/K`` as float32 ``(N, K)``.

    Szegedy et al., "Rethinking the Inception Architecture for Computer Vision", CVPR 2016,
    https://arxiv.org/abs/1512.00567. Equivalent in loss to
    ``F.cross_entropy(..., label_smoothing=ε)``, but works for a module whose loss is plain
    cross-entropy and composes with the mixing tricks in any order (smoothing is linear, so
    smoothing before or after mixing gives the same targets). Do not also set
    ``label_smoothing`` in the loss: that smooths twice (a warning says so when the module
    has a ``label_smoothing`` attribute or hyperparameter > 0).

    Args:
        smoothing: ε in [0, 1). Default 0.1 (Szegedy et al.; Bag of Tricks).
        p: probability that a batch is smoothed, in [0, 1]. Default 1.0.
        **kwargs: ``start_epoch``, ``stop_epoch``, ``off_last_epochs``, ``num_classes``,
            ``input_key``, ``target_key``, ``seed`` of :class:`BatchTrick`.

    Raises:
        TypeError / ValueError: for arguments of the wrong type or out of range.

    Example::

        >>> _, y = LabelSmoothing(0.1).transform_batch(torch.zeros(1, 1, 2, 2), torch.tensor([1]), 4)
        >>> y
        tensor([[0.0250, 0.9250, 0.0250, 0.0250]])
    """

    changes_labels = True
    smooths_labels = True

    def __init__(self, smoothing: float = 0.1, p: float = 1.0, **kwargs: Any) -> None:
        super().__init__(p, **kwargs)
        smoothing = check_probability("smoothing", smoothing)
        if smoothing >= 1.0:
            raise ValueError(f"`smoothing` must be in [0, 1), got {smoothing!r}")
        self.smoothing = smoothing

    @override
    def hparams_for_key(self) -> dict[str, Any]:
        return {"smoothing": self.smoothing, **super().hparams_for_key()}

    @override
    def apply_batch(
        self, x: Tensor, y: Tensor, generator: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        return x, smooth_targets(y, self.smoothing)


class OneOf(BatchTrick):
    """Apply one of several batch tricks per batch, chosen with the given probabilities.

    The usual "MixUp or CutMix" switch (as timm's ``switch_prob`` and torchvision's
    ``RandomChoice([MixUp(), CutMix()])``): a batch is transformed with probability ``p``,
    and then by exactly one of ``tricks``, picked with probability proportional to
    ``weights``. The children are used only for their :meth:`~BatchTrick.apply_batch`: they
    draw from this callback's generator, and its ``num_classes``, keys and window apply, so
    each child must keep ``p=1`` (per-batch tricks) and the default window.

    Args:
        tricks: the batch tricks to choose from (at least one ``BatchTrick``).
        weights: non-negative weights, one per trick, not all zero; ``None`` for uniform.
            Default ``None``.
        p: probability that a batch is transformed at all, in [0, 1]. Default 1.0.
        **kwargs: ``start_epoch``, ``stop_epoch``, ``off_last_epochs``, ``num_classes``,
            ``input_key``, ``target_key``, ``seed`` of :class:`BatchTrick`.

    Raises:
        TypeError: if ``tricks`` is not a non-empty sequence of ``BatchTrick``.
        ValueError: bad ``weights``, or a child with ``p != 1`` or a non-default window.

    Example::

        >>> switch = OneOf([MixUp(alpha=0.8), CutMix(alpha=1.0)], weights=[0.5, 0.5], seed=0)
        >>> x, y = switch.transform_batch(torch.rand(4, 3, 8, 8), torch.arange(4), 4)
        >>> y.shape
        torch.Size([4, 4])
    """

    def __init__(
        self,
        tricks: Sequence[BatchTrick],
        weights: Sequence[float] | None = None,
        p: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(p, **kwargs)
        if isinstance(tricks, (str, bytes)) or not isinstance(tricks, Sequence) or not tricks:
            raise TypeError(f"`tricks` must be a non-empty list of BatchTrick, got {tricks!r}")
        for i, trick in enumerate(tricks):
            if not isinstance(trick, BatchTrick):
                raise TypeError(
                    f"`tricks[{i}]` must be a BatchTrick (MixUp, CutMix, ...), "
                    f"got {type(trick).__name__}"
                )
            if trick.batch_p and trick.p != 1.0:
                raise ValueError(
                    f"`tricks[{i}]` ({type(trick).__name__}) has p={trick.p}; inside OneOf a "
                    "chosen trick always applies: set its p=1 and use OneOf's `p` / `weights`"
                )
            if trick.start_epoch != 0 or trick.stop_epoch is not None or trick.off_last_epochs:
                raise ValueError(
                    f"`tricks[{i}]` ({type(trick).__name__}) has its own activity window; "
                    "inside OneOf only OneOf's `start_epoch`/`stop_epoch`/`off_last_epochs` apply"
                )
        self.tricks = list(tricks)
        if weights is None:
            weights = [1.0] * len(self.tricks)
        if isinstance(weights, (str, bytes)) or not isinstance(weights, Sequence):
            raise TypeError(f"`weights` must be a list of floats or None, got {weights!r}")
        if len(weights) != len(self.tricks):
            raise ValueError(
                f"`weights` must have one entry per trick ({len(self.tricks)}), "
                f"got {len(weights)}: {list(weights)!r}"
            )
        for w in weights:
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not w >= 0:
                raise ValueError(f"`weights` must be floats >= 0, got {list(weights)!r}")
        total = float(sum(weights))
        if total <= 0:
            raise ValueError(f"`weights` must not all be zero, got {list(weights)!r}")
        self.weights = [float(w) / total for w in weights]
        self.changes_labels = any(t.changes_labels for t in self.tricks)  # type: ignore[misc]
        self.mixes_labels = any(t.mixes_labels for t in self.tricks)  # type: ignore[misc]
        self.smooths_labels = any(t.smooths_labels for t in self.tricks)  # type: ignore[misc]
        self._cumulative = torch.tensor(self.weights, dtype=torch.float64).cumsum(0)

    @property
    @override
    def modifies_input(self) -> bool:
        return any(t.modifies_input for t in self.tricks)

    @property
    @override
    def always_mixes(self) -> bool:
        """True when every batch is mixed: ``p == 1`` and every possible choice mixes labels."""
        return self.p == 1.0 and all(
            t.mixes_labels for t, w in zip(self.tricks, self.weights, strict=True) if w > 0
        )

    @override
    def hparams_for_key(self) -> dict[str, Any]:
        return {
            "tricks": [t.state_key for t in self.tricks],
            "weights": self.weights,
            **super().hparams_for_key(),
        }

    def choose(self, generator: torch.Generator) -> int:
        """Index of the trick used for this batch, drawn from ``generator``."""
        u = torch.rand((), dtype=torch.float64, generator=generator)
        index = int(torch.searchsorted(self._cumulative, u, right=True))
        return min(index, len(self.tricks) - 1)

    @override
    def apply_batch(
        self, x: Tensor, y: Tensor, generator: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        return self.tricks[self.choose(generator)].apply_batch(x, y, generator)
