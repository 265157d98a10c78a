"""BatchCropFlip: per-sample random translation (pad + crop) and mirroring of a whole batch."""

from __future__ import annotations

from typing import Any, get_args

import torch
from torch import Tensor
from typing_extensions import override

from .._checks import check_float
from ..functional._batch import check_probability
from ..functional.crop_flip import PaddingMode, crop_flip_batch, sample_crop_flip_params
from .base import BatchTrick

__all__ = ["BatchCropFlip"]


class BatchCropFlip(BatchTrick):
    """Random crop with padding and horizontal flip, per sample, on the device, for a batch.

    The standard CIFAR augmentation (He et al., 2016, https://arxiv.org/abs/1512.03385,
    §4.2) done the way the fastest CIFAR-10 training records do it (Page, 2018; Jordan, 2024,
    airbench, https://arxiv.org/abs/2404.00498): after the batch reached the accelerator, in
    one vectorised gather, instead of per image in DataLoader workers. Every sample gets its
    own offset in ``[-padding, padding]``² and its own flip. Labels are not changed. Use it
    *instead of* the crop / flip of :class:`~lightning_tricks.transforms.TrainTransforms`
    (``padding=0, hflip=0``), not on top of it. See
    :func:`~lightning_tricks.functional.crop_flip_batch`.

    Args:
        padding: pixels of padding on each side (>= 0; < H, W for ``"reflect"``). Default 4
            (He et al., 2016; airbench uses 2 with reflect padding).
        padding_mode: ``"reflect"``, ``"constant"`` (``fill``; images are normalised here,
            so 0 is the mean colour), ``"edge"`` or ``"symmetric"``. Default ``"reflect"``.
        flip_p: probability of a horizontal flip per sample, in [0, 1]. Default 0.5.
        fill: value of ``"constant"`` padding. Default 0.
        p: probability that a batch is augmented at all (**per batch**), in [0, 1]. Default 1.
        **kwargs: ``start_epoch``, ``stop_epoch``, ``off_last_epochs``, ``input_key``,
            ``target_key``, ``seed`` of :class:`BatchTrick` (the result is always a new
            tensor, so ``inplace`` has no effect).

    Raises:
        TypeError / ValueError: for arguments of the wrong type or out of range.

    Example::

        >>> crop_flip = BatchCropFlip(padding=2, seed=0)
        >>> x, y = crop_flip.transform_batch(torch.rand(8, 3, 32, 32), torch.arange(8))
        >>> x.shape, y.tolist() == list(range(8))
        (torch.Size([8, 3, 32, 32]), True)
    """

    def __init__(
        self,
        padding: int = 4,
        padding_mode: PaddingMode = "reflect",
        flip_p: float = 0.5,
        fill: float = 0.0,
        p: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(padding, bool) or not isinstance(padding, int):
            raise TypeError(f"`padding` must be an integer >= 0, got {type(padding).__name__}")
        if padding < 0:
            raise ValueError(f"`padding` must be >= 0, got {padding}")
        if padding_mode not in get_args(PaddingMode):
            raise ValueError(
                f"`padding_mode` must be one of {list(get_args(PaddingMode))}, got {padding_mode!r}"
            )
        flip_p = check_probability("flip_p", flip_p)
        fill = check_float("fill", fill)
        self.padding = padding
        self.padding_mode = padding_mode
        self.flip_p = float(flip_p)
        self.fill = float(fill)
        self.p = check_probability("p", p)

    @override
    def apply_batch(
        self, x: Tensor, y: Tensor, generator: torch.Generator, inplace: bool
    ) -> tuple[Tensor, Tensor]:
        if not self.coin(self.p, generator):
            return x, y
        params = sample_crop_flip_params(
            x.shape[0], self.padding, self.flip_p, generator, device=x.device
        )
        return crop_flip_batch(x, params, self.padding_mode, self.fill), y
