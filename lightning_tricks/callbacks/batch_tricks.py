"""MixUp, CutMix, RICAP, Cutout, RandomErasing, LabelSmoothing and OneOf callbacks.

Thin hooks over :mod:`lightning_tricks.functional`: each callback draws its params from its
own generator and calls the matching ``*_batch`` function on the training batch, after
Lightning moved it to the device. Layouts, window, seeds, resume and the label contract
live in :class:`~lightning_tricks.callbacks.BatchTrick`.

A module trains unchanged with any stack of these callbacks, in any order: label tricks
write :class:`~lightning_tricks.functional.MixedTargets`, hard labels for metrics that
``F.cross_entropy``, ``F.nll_loss`` and ``F.binary_cross_entropy_with_logits`` read as the
mixture.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import Tensor
from typing_extensions import override

from .._checks import check_float
from ..functional._batch import check_mode, check_positive, check_probability
from ..functional.erasing import (
    FillValue,
    check_fill_value,
    check_ratio,
    check_scale,
    cutout_batch,
    random_erasing_batch,
    sample_cutout_params,
    sample_random_erasing_params,
)
from ..functional.mixing import (
    cutmix_batch,
    mixup_batch,
    ricap_batch,
    sample_cutmix_params,
    sample_mixup_params,
    sample_ricap_params,
)
from ..functional.targets import smooth_targets
from .base import BatchTrick

__all__ = ["RICAP", "CutMix", "Cutout", "LabelSmoothing", "MixUp", "OneOf", "RandomErasing"]


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
        p: probability that a batch is mixed (**per batch**), in [0, 1]. Default 1.0.
        **kwargs: ``start_epoch``, ``stop_epoch``, ``off_last_epochs``, ``input_key``,
            ``target_key``, ``seed``, ``inplace``, ``targets``, ``num_classes`` of
            :class:`BatchTrick`.

    Raises:
        TypeError / ValueError: for arguments of the wrong type or out of range.

    Example::

        >>> mixup = MixUp(alpha=0.2, seed=0)
        >>> x, y = mixup.transform_batch(torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 0]))
        >>> y.shape, y.to_dense(3).sum(1).tolist()
        (torch.Size([4]), [1.0, 1.0, 1.0, 1.0])
    """

    changes_labels = True
    mixes_labels = True

    def __init__(
        self,
        alpha: float = 0.2,
        mode: Literal["batch", "elem"] = "batch",
        p: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.alpha = check_positive("alpha", alpha)
        self.mode = check_mode(mode)
        self.p = check_probability("p", p)

    @override
    def apply_batch(
        self, x: Tensor, y: Tensor, generator: torch.Generator, inplace: bool
    ) -> tuple[Tensor, Tensor]:
        if not self.coin(self.p, generator):
            return x, y
        params = sample_mixup_params(x.shape[0], self.alpha, self.mode, generator)
        return mixup_batch(x, y, params, inplace=inplace)


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
        p: probability that a batch is cut and mixed (**per batch**), in [0, 1]. Default 1.0.
        **kwargs: the keyword arguments of :class:`BatchTrick`.

    Raises:
        TypeError / ValueError: for arguments of the wrong type or out of range.

    Example::

        >>> cutmix = CutMix(seed=0)
        >>> x, y = cutmix.transform_batch(torch.rand(4, 3, 32, 32), torch.arange(4))
        >>> x.shape, y.to_dense(10).shape
        (torch.Size([4, 3, 32, 32]), torch.Size([4, 10]))
    """

    changes_labels = True
    mixes_labels = True

    def __init__(
        self,
        alpha: float = 1.0,
        mode: Literal["batch", "elem"] = "batch",
        p: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.alpha = check_positive("alpha", alpha)
        self.mode = check_mode(mode)
        self.p = check_probability("p", p)

    @override
    def apply_batch(
        self, x: Tensor, y: Tensor, generator: torch.Generator, inplace: bool
    ) -> tuple[Tensor, Tensor]:
        if not self.coin(self.p, generator):
            return x, y
        n, _, h, w = x.shape
        params = sample_cutmix_params(n, h, w, self.alpha, self.mode, generator)
        return cutmix_batch(x, y, params, inplace=inplace)


class RICAP(BatchTrick):
    """Random image cropping and patching: four crops of four shuffles form each image.

    RICAP: Takahashi et al., "Data Augmentation using Random Image Cropping and Patching for
    Deep CNNs", IEEE TCSVT 2019, https://arxiv.org/abs/1811.09030. The boundary is drawn
    from Beta(β, β), crop positions independently per sample, and the targets are weighted by
    patch area. See :func:`~lightning_tricks.functional.ricap_batch`.

    Args:
        beta: Beta concentration β, > 0. Default 0.3 (the paper).
        p: probability that a batch is patched (**per batch**), in [0, 1]. Default 1.0.
        **kwargs: the keyword arguments of :class:`BatchTrick`.

    Raises:
        TypeError / ValueError: for arguments of the wrong type or out of range.

    Example::

        >>> ricap = RICAP(seed=0)
        >>> x, y = ricap.transform_batch(torch.rand(4, 3, 32, 32), torch.arange(4))
        >>> torch.allclose(y.to_dense(4).sum(1), torch.ones(4))
        True
    """

    changes_labels = True
    mixes_labels = True

    def __init__(self, beta: float = 0.3, p: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.beta = check_positive("beta", beta)
        self.p = check_probability("p", p)

    @override
    def apply_batch(
        self, x: Tensor, y: Tensor, generator: torch.Generator, inplace: bool
    ) -> tuple[Tensor, Tensor]:
        if not self.coin(self.p, generator):
            return x, y
        n, _, h, w = x.shape
        params = sample_ricap_params(n, h, w, self.beta, generator)
        return ricap_batch(x, y, params, inplace=inplace)


class Cutout(BatchTrick):
    """Cut ``n_holes`` squares of side ``length`` out of each image (per-sample positions).

    Cutout: DeVries & Taylor, "Improved Regularization of Convolutional Neural Networks with
    Cutout", 2017, https://arxiv.org/abs/1708.04552. Centres are uniform over the image and
    squares are clipped at the borders. Labels are not changed. See
    :func:`~lightning_tricks.functional.cutout_batch`.

    Args:
        n_holes: squares per image, >= 1. Default 1.
        length: side in pixels, >= 1. Default 16 (the paper, CIFAR-10; 8 for CIFAR-100).
        value: fill: a float, one float per channel, or ``"random"`` (normal noise).
            Default 0.0 (the normalised mean, as in the paper).
        p: probability that an image is cut (**per image**), in [0, 1]. Default 1.0 (the
            paper cuts every image).
        **kwargs: ``start_epoch``, ``stop_epoch``, ``off_last_epochs``, ``input_key``,
            ``target_key``, ``seed``, ``inplace`` of :class:`BatchTrick`.

    Raises:
        TypeError / ValueError: for arguments of the wrong type or out of range.

    Example::

        >>> cutout = Cutout(length=4, seed=0)
        >>> x, y = cutout.transform_batch(torch.ones(2, 3, 8, 8), torch.tensor([1, 0]))
        >>> bool((x == 0).any()), y.tolist()
        (True, [1, 0])
    """

    p_per_image = True

    def __init__(
        self,
        n_holes: int = 1,
        length: int = 16,
        value: FillValue = 0.0,
        p: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.n_holes = n_holes
        self.length = length
        sample_cutout_params(1, 1, 1, n_holes, length, p)  # validates them
        self.value = check_fill_value(value)
        self.p = check_probability("p", p)

    @override
    def apply_batch(
        self, x: Tensor, y: Tensor, generator: torch.Generator, inplace: bool
    ) -> tuple[Tensor, Tensor]:
        n, _, h, w = x.shape
        params = sample_cutout_params(n, h, w, self.n_holes, self.length, self.p, generator)
        return cutout_batch(x, y, params, self.value, inplace=inplace)


class RandomErasing(BatchTrick):
    """Erase one random rectangle per image with probability ``p`` (per-sample, vectorised).

    Random Erasing: Zhong et al., "Random Erasing Data Augmentation", AAAI 2020,
    https://arxiv.org/abs/1708.04896. Area fraction uniform in ``scale``, aspect ratio
    log-uniform in ``ratio``, ``attempts`` candidates per image drawn at once. Labels are not
    changed. See :func:`~lightning_tricks.functional.random_erasing_batch`.

    Args:
        p: probability that an image is erased (**per image**), in [0, 1]. Default 0.5
            (the paper, torchvision, timm).
        scale: (min, max) erased fraction of the area, 0 <= min <= max <= 1.
            Default (0.02, 0.4) (the paper).
        ratio: (min, max) aspect ratio, 0 < min <= max, finite. Default (0.3, 1/0.3).
        value: fill: a float, one float per channel (e.g. the data-set mean, as in the
            paper's code), or ``"random"`` (normal noise per pixel). Default 0.0.
        attempts: candidate rectangles per image, >= 1. Default 10 (torchvision).
        **kwargs: ``start_epoch``, ``stop_epoch``, ``off_last_epochs``, ``input_key``,
            ``target_key``, ``seed``, ``inplace`` of :class:`BatchTrick`.

    Raises:
        TypeError / ValueError: for arguments of the wrong type or out of range.

    Example::

        >>> erase = RandomErasing(p=1.0, seed=0)
        >>> x, _ = erase.transform_batch(torch.ones(8, 3, 32, 32), torch.zeros(8, dtype=torch.long))
        >>> int((x[:, 0] == 0).flatten(1).any(1).sum())
        8
    """

    p_per_image = True

    def __init__(
        self,
        p: float = 0.5,
        scale: tuple[float, float] = (0.02, 0.4),
        ratio: tuple[float, float] = (0.3, 1 / 0.3),
        value: FillValue = 0.0,
        attempts: int = 10,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.p = check_probability("p", p)
        self.scale = check_scale(scale)
        self.ratio = check_ratio(ratio)
        self.value = check_fill_value(value)
        self.attempts = attempts
        sample_random_erasing_params(1, 1, 1, attempts=attempts)  # validates it

    @override
    def apply_batch(
        self, x: Tensor, y: Tensor, generator: torch.Generator, inplace: bool
    ) -> tuple[Tensor, Tensor]:
        n, _, h, w = x.shape
        params = sample_random_erasing_params(
            n, h, w, self.p, self.scale, self.ratio, self.attempts, generator
        )
        return random_erasing_batch(x, y, params, self.value, inplace=inplace)


class LabelSmoothing(BatchTrick):
    """Smooth the training targets: ``(1 - ε)·y + ε/K``, K read from the logits.

    Szegedy et al., "Rethinking the Inception Architecture for Computer Vision", CVPR 2016,
    https://arxiv.org/abs/1512.00567. Equivalent in loss to
    ``F.cross_entropy(..., label_smoothing=ε)``, but works for a module whose loss has no
    smoothing of its own (``nll_loss``, a one-logit BCE head, plain cross-entropy) and
    composes with the mixing tricks in any order (smoothing is linear). Do not also smooth
    in the loss: that smooths twice (a warning says so when the module has a
    ``label_smoothing`` attribute / hyperparameter or an ``nn.CrossEntropyLoss`` with one).

    Args:
        smoothing: ε in [0, 1). Default 0.1 (Szegedy et al.; Bag of Tricks).
        p: probability that a batch is smoothed (**per batch**), in [0, 1]. Default 1.0.
        **kwargs: the keyword arguments of :class:`BatchTrick`.

    Raises:
        TypeError / ValueError: for arguments of the wrong type or out of range.

    Example::

        >>> _, y = LabelSmoothing(0.1).transform_batch(torch.zeros(1, 1, 2, 2), torch.tensor([1]))
        >>> y.to_dense(4)
        tensor([[0.0250, 0.9250, 0.0250, 0.0250]])
    """

    changes_labels = True
    smooths_labels = True

    def __init__(self, smoothing: float = 0.1, p: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.smoothing = check_float(
            "smoothing", smoothing, low=0.0, high=1.0, high_inclusive=False
        )
        self.p = check_probability("p", p)

    @override
    def apply_batch(
        self, x: Tensor, y: Tensor, generator: torch.Generator, inplace: bool
    ) -> tuple[Tensor, Tensor]:
        return x, smooth_targets(y, self.smoothing) if self.coin(self.p, generator) else y


class OneOf(BatchTrick):
    """Apply one of several batch tricks per batch, chosen with the given probabilities.

    The usual "MixUp or CutMix" switch (as timm's ``switch_prob`` and torchvision's
    ``RandomChoice([MixUp(), CutMix()])``): a batch is transformed with probability ``p``
    (per batch), and then by exactly one of ``tricks``, picked with probability proportional
    to ``weights``. A chosen trick draws from this callback's generator; the batch keys,
    seed, window, ``inplace`` and ``targets`` are this callback's, so a child that sets one
    of them is refused (set it on ``OneOf``), as is a per-batch child with ``p != 1``.

    Args:
        tricks: the batch tricks to choose from (at least one ``BatchTrick``).
        weights: finite weights >= 0, one per trick, not all zero; ``None`` for uniform.
            Default ``None``.
        p: probability that a batch is transformed at all (**per batch**), in [0, 1].
            Default 1.0.
        **kwargs: the keyword arguments of :class:`BatchTrick`.

    Raises:
        TypeError: if ``tricks`` is not a non-empty sequence of ``BatchTrick``.
        ValueError: bad ``weights``, or a child that sets ``p`` or an argument of OneOf's.

    Example::

        >>> switch = OneOf([MixUp(alpha=0.8), CutMix(alpha=1.0)], weights=[0.5, 0.5], seed=0)
        >>> x, y = switch.transform_batch(torch.rand(4, 3, 8, 8), torch.arange(4))
        >>> y.to_dense(4).shape
        torch.Size([4, 4])
    """

    def __init__(
        self,
        tricks: Sequence[BatchTrick],
        weights: Sequence[float] | None = None,
        p: float = 1.0,
        **kwargs: Any,
    ) -> None:
        if isinstance(tricks, (str, bytes)) or not isinstance(tricks, Sequence) or not tricks:
            raise TypeError(f"`tricks` must be a non-empty list of BatchTrick, got {tricks!r}")
        for i, trick in enumerate(tricks):
            if not isinstance(trick, BatchTrick):
                raise TypeError(
                    f"`tricks[{i}]` must be a BatchTrick (MixUp, CutMix, ...), "
                    f"got {type(trick).__name__}"
                )
        self.changes_labels = any(t.changes_labels for t in tricks)  # type: ignore[misc]
        self.mixes_labels = any(t.mixes_labels for t in tricks)  # type: ignore[misc]
        self.smooths_labels = any(t.smooths_labels for t in tricks)  # type: ignore[misc]
        super().__init__(**kwargs)
        defaults = {
            name: param.default
            for name, param in inspect.signature(BatchTrick.__init__).parameters.items()
            if name != "self"
        }
        for i, trick in enumerate(tricks):
            name = type(trick).__name__
            if not trick.p_per_image and getattr(trick, "p", 1.0) != 1.0:
                raise ValueError(
                    f"`tricks[{i}]` ({name}) has p={trick.p}; inside OneOf a chosen trick "  # type: ignore[attr-defined]
                    "always applies: set its p=1 and use OneOf's `p` / `weights`"
                )
            for arg, default in defaults.items():
                if getattr(trick, arg) != default:
                    raise ValueError(
                        f"`tricks[{i}]` ({name}) sets `{arg}`={getattr(trick, arg)!r}, which "
                        f"OneOf ignores for its children: set `{arg}` on OneOf instead"
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
            if isinstance(w, bool) or not isinstance(w, (int, float)):
                raise TypeError(f"`weights` must be floats, got {list(weights)!r}")
            if not (w >= 0 and math.isfinite(w)):
                raise ValueError(f"`weights` must be finite floats >= 0, got {list(weights)!r}")
        total = float(sum(weights))
        if total <= 0:
            raise ValueError(f"`weights` must not all be zero, got {list(weights)!r}")
        self.weights = [float(w) / total for w in weights]
        self.p = check_probability("p", p)

    @property
    @override
    def always_mixes(self) -> bool:
        """True when every batch is mixed: ``p == 1`` and every possible choice mixes labels."""
        return self.p == 1.0 and all(
            t.mixes_labels for t, w in zip(self.tricks, self.weights, strict=True) if w > 0
        )

    def choose(self, generator: torch.Generator) -> int:
        """Index of the trick used for this batch, drawn from ``generator``."""
        return int(torch.multinomial(torch.tensor(self.weights), 1, generator=generator))

    @override
    def apply_batch(
        self, x: Tensor, y: Tensor, generator: torch.Generator, inplace: bool
    ) -> tuple[Tensor, Tensor]:
        if not self.coin(self.p, generator):
            return x, y
        return self.tricks[self.choose(generator)].apply_batch(x, y, generator, inplace)
