"""Erasing batch tricks: Cutout and Random Erasing, per-sample rectangles, vectorised.

Same split as :mod:`lightning_tricks.functional.mixing`: ``sample_*_params(...)`` draws the
rectangles (in torch, on the generator's device, CPU by default) and
``*_batch(x, y, params, value)`` is deterministic: one broadcast-mask fill over the batch,
no loop over samples, no host-device sync. Labels are not changed: ``y`` is returned as it
came (it may be ``None``).

Boxes are int64 ``(top, left, bottom, right)``, half-open, inside the image; an empty box
(``bottom == top``) means "nothing erased" for that sample. The probability ``p`` of both
tricks is **per image**, as in the Cutout and Random Erasing papers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

import torch
from torch import Tensor

from ._batch import (
    check_boxes,
    check_generator,
    check_hw,
    check_images,
    check_inplace,
    check_int,
    check_params,
    check_probability,
    check_size,
    device_of,
    like,
)
from .mixing import box_mask

__all__ = [
    "CutoutParams",
    "RandomErasingParams",
    "cutout_batch",
    "random_erasing_batch",
    "sample_cutout_params",
    "sample_random_erasing_params",
]

FillValue = float | Sequence[float] | Literal["random"]
_Y = TypeVar("_Y", Tensor, None)


def check_fill_value(value: object) -> FillValue:
    """Validate a fill ``value``: a finite float, per-channel finite floats, or ``"random"``."""
    if isinstance(value, str):
        if value != "random":
            raise ValueError(
                f"`value` must be a float, a sequence of per-channel floats or 'random', "
                f"got {value!r}"
            )
        return "random"
    if isinstance(value, bool):
        raise TypeError(f"`value` must be a float, a sequence of floats or 'random', got {value!r}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"`value` must be finite, got {value!r}")
        return float(value)
    if isinstance(value, Sequence) and len(value) > 0:
        out = []
        for v in value:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"`value` must contain finite floats, got {list(value)!r}")
            out.append(float(v))
        return tuple(out)
    raise TypeError(
        f"`value` must be a float, a non-empty sequence of floats or 'random', got "
        f"{type(value).__name__} {value!r}"
    )


def _fill(fn: str, x: Tensor, boxes: Tensor, value: FillValue, seed: int, inplace: bool) -> Tensor:
    """Fill the union of ``boxes`` ``(N, M, 4)`` of every image with ``value``."""
    value = check_fill_value(value)
    inplace = check_inplace(fn, x, inplace)
    # parameters go to the device without a sync (non_blocking), so the host runs ahead
    mask = box_mask(boxes.to(x.device, non_blocking=True), x.shape[2], x.shape[3])
    if value == "random":
        generator = torch.Generator(device=x.device).manual_seed(seed)
        fill = torch.empty_like(x).normal_(generator=generator)
    elif isinstance(value, float):
        fill = x.new_full((), value)
    else:
        if len(value) not in (1, x.shape[1]):
            raise ValueError(
                f"`value` has {len(value)} per-channel entries but the images have "
                f"C={x.shape[1]} channels; give 1 or C values"
            )
        fill = torch.tensor(value, dtype=x.dtype).to(x.device, non_blocking=True).view(1, -1, 1, 1)
    if inplace:
        return torch.where(mask, fill, x, out=x)
    return like(x, torch.where(mask, fill, x))


def _noise_seed(generator: torch.Generator | None, device: torch.device) -> int:
    return int(torch.randint(2**62, (), generator=generator, device=device))


# -------------------------------------------------------------------------------- Cutout
@dataclass(frozen=True)
class CutoutParams:
    """Randomness of one Cutout call.

    Attributes:
        boxes: int64 ``(N, n_holes, 4)`` boxes ``(top, left, bottom, right)``, inside the image.
        height: H.
        width: W.
        noise_seed: seed of the fill noise when ``value="random"``.

    Raises:
        TypeError / ValueError: malformed boxes or boxes outside the image.
    """

    boxes: Tensor
    height: int
    width: int
    noise_seed: int = 0

    def __post_init__(self) -> None:
        check_boxes("CutoutParams", self.boxes, *check_hw(self.height, self.width), 3)
        check_int("noise_seed", self.noise_seed, 0)


def sample_cutout_params(
    batch_size: int,
    height: int,
    width: int,
    n_holes: int = 1,
    length: int = 16,
    p: float = 1.0,
    generator: torch.Generator | None = None,
) -> CutoutParams:
    """Draw ``n_holes`` squares of side ``length`` per sample, centred anywhere.

    Cutout: DeVries & Taylor, "Improved Regularization of Convolutional Neural Networks with
    Cutout", 2017, https://arxiv.org/abs/1708.04552. As in the paper the centre is uniform
    over the whole image and the square is clipped at the borders (so partly-outside holes
    are smaller). A square spans rows ``[cy - length // 2, cy - length // 2 + length)``.

    Args:
        batch_size: N, >= 1.
        height: H, >= 1.
        width: W, >= 1.
        n_holes: squares per image, >= 1. Default 1.
        length: side of each square in pixels, >= 1. Default 16 (the paper's CIFAR-10 value).
        p: probability that a given image is cut (per image), in [0, 1]. Default 1.0 (the
            paper cuts every image).
        generator: source of randomness; ``None`` uses the global CPU generator.

    Raises:
        TypeError / ValueError: for arguments of the wrong type or out of range.

    Example::

        >>> g = torch.Generator().manual_seed(0)
        >>> params = sample_cutout_params(2, 32, 32, n_holes=2, length=8, generator=g)
        >>> params.boxes.shape
        torch.Size([2, 2, 4])
    """
    n = check_int("batch_size", batch_size, 1)
    h, w = check_hw(height, width)
    n_holes = check_int("n_holes", n_holes, 1)
    length = check_int("length", length, 1)
    p = check_probability("p", p)
    generator = check_generator(generator)
    device = device_of(generator)
    u = torch.rand((2, n, n_holes), dtype=torch.float64, device=device, generator=generator)
    cut = torch.rand((n, 1), device=device, generator=generator) < p
    size = torch.tensor([h, w], device=device).view(2, 1, 1)
    centre = torch.minimum((u * size).long(), size - 1)
    start = (centre - length // 2).clamp_(min=0)
    end = torch.minimum(centre - length // 2 + length, size).clamp_(min=0)
    end[0] = torch.where(cut, end[0], start[0])  # an image that is not cut: empty boxes
    boxes = torch.cat([start, end]).permute(1, 2, 0).contiguous()
    return CutoutParams(boxes=boxes, height=h, width=w, noise_seed=_noise_seed(generator, device))


def cutout_batch(
    x: Tensor, y: _Y, params: CutoutParams, value: FillValue = 0.0, inplace: bool = False
) -> tuple[Tensor, _Y]:
    """Fill the Cutout squares of every image with ``value``; targets pass through.

    Cutout: DeVries & Taylor 2017, https://arxiv.org/abs/1708.04552. The paper fills with 0
    after normalisation, i.e. the data-set mean.

    Args:
        x: float images ``(N, C, H, W)`` (any memory format).
        y: targets, returned unchanged (may be ``None``).
        params: from :func:`sample_cutout_params` for this batch size and image size.
        value: fill: a float (default 0.0), one float per channel, or ``"random"`` (standard
            normal noise per pixel, seeded by ``params.noise_seed``).
        inplace: write into ``x`` instead of a copy (refused for a view or for images that
            require grad). Default ``False``.

    Returns:
        ``(x_cut, y)`` with ``x_cut`` like ``x`` (``x`` itself when ``inplace``).

    Raises:
        TypeError: non-float images, a bad ``value``, ``params`` of another type.
        ValueError: wrong rank, params drawn for another batch / image size, bad ``value``.

    Example::

        >>> params = CutoutParams(torch.tensor([[[0, 0, 2, 2]]]), 4, 4)
        >>> out, _ = cutout_batch(torch.ones(1, 3, 4, 4), None, params)
        >>> out[0, 0].tolist()[:3]
        [[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]]
    """
    fn = "cutout_batch"
    check_images(fn, x)
    check_params(fn, params, CutoutParams)
    check_size(fn, x, params.boxes.shape[0], params.height, params.width)
    return _fill(fn, x, params.boxes, value, params.noise_seed, inplace), y


# ------------------------------------------------------------------------ Random Erasing
@dataclass(frozen=True)
class RandomErasingParams:
    """Randomness of one Random Erasing call.

    Attributes:
        boxes: int64 ``(N, 4)`` boxes ``(top, left, bottom, right)``; empty for the images
            that are not erased (not drawn with probability ``p``, or no valid attempt).
        height: H.
        width: W.
        noise_seed: seed of the fill noise when ``value="random"``.

    Raises:
        TypeError / ValueError: malformed boxes or boxes outside the image.
    """

    boxes: Tensor
    height: int
    width: int
    noise_seed: int = 0

    def __post_init__(self) -> None:
        check_boxes("RandomErasingParams", self.boxes, *check_hw(self.height, self.width), 2)
        check_int("noise_seed", self.noise_seed, 0)


def _check_pair(name: str, value: object) -> tuple[float, float]:
    if (
        not isinstance(value, Sequence)
        or isinstance(value, str)
        or len(value) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        raise TypeError(f"`{name}` must be a pair of floats (min, max), got {value!r}")
    lo, hi = float(value[0]), float(value[1])
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"`{name}` values must be finite, got {value!r}")
    if lo > hi:
        raise ValueError(f"`{name}` must be (min, max) with min <= max, got {value!r}")
    return lo, hi


def check_scale(scale: object) -> tuple[float, float]:
    """Validate Random Erasing's ``scale``: finite, 0 <= min <= max <= 1."""
    lo, hi = _check_pair("scale", scale)
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"`scale` values must be in [0, 1], got {scale!r}")
    return lo, hi


def check_ratio(ratio: object) -> tuple[float, float]:
    """Validate Random Erasing's ``ratio``: finite, 0 < min <= max."""
    lo, hi = _check_pair("ratio", ratio)
    if lo <= 0.0:
        raise ValueError(f"`ratio` values must be > 0, got {ratio!r}")
    return lo, hi


def sample_random_erasing_params(
    batch_size: int,
    height: int,
    width: int,
    p: float = 0.5,
    scale: tuple[float, float] = (0.02, 0.4),
    ratio: tuple[float, float] = (0.3, 1 / 0.3),
    attempts: int = 10,
    generator: torch.Generator | None = None,
) -> RandomErasingParams:
    """Draw one rectangle per image with probability ``p``, all retries drawn at once.

    Random Erasing: Zhong et al., "Random Erasing Data Augmentation", AAAI 2020,
    https://arxiv.org/abs/1708.04896. For every image, ``attempts`` candidates are drawn at
    once (area fraction uniform in ``scale``, aspect ratio log-uniform in ``ratio``,
    ``h = round(sqrt(area * ratio))``, ``w = round(sqrt(area / ratio))``); the first one that
    fits (``h < H`` and ``w < W``, as in torchvision) is placed uniformly inside the image.
    Images with no fitting candidate are left as they are.

    Args:
        batch_size: N, >= 1.
        height: H, >= 1.
        width: W, >= 1.
        p: probability that a given image is erased (per image), in [0, 1]. Default 0.5 (the
            paper).
        scale: (min, max) erased fraction of the image area, 0 <= min <= max <= 1.
            Default (0.02, 0.4) (the paper).
        ratio: (min, max) aspect ratio h / w, 0 < min <= max, finite. Default (0.3, 1 / 0.3).
        attempts: candidates per image, >= 1. Default 10 (torchvision).
        generator: source of randomness; ``None`` uses the global CPU generator.

    Raises:
        TypeError / ValueError: for arguments of the wrong type or out of range.

    Example::

        >>> g = torch.Generator().manual_seed(0)
        >>> params = sample_random_erasing_params(4, 32, 32, p=1.0, generator=g)
        >>> params.boxes.shape
        torch.Size([4, 4])
    """
    n = check_int("batch_size", batch_size, 1)
    h, w = check_hw(height, width)
    p = check_probability("p", p)
    (s_lo, s_hi), (r_lo, r_hi) = check_scale(scale), check_ratio(ratio)
    attempts = check_int("attempts", attempts, 1)
    generator = check_generator(generator)
    device = device_of(generator)
    u = torch.rand((2, n, attempts), dtype=torch.float64, device=device, generator=generator)
    v = torch.rand((3, n), dtype=torch.float64, device=device, generator=generator)
    area = (u[0] * (s_hi - s_lo) + s_lo) * (h * w)
    aspect = torch.exp(u[1] * (math.log(r_hi) - math.log(r_lo)) + math.log(r_lo))
    size = torch.stack([area * aspect, area / aspect]).sqrt().round()  # (2, N, attempts)
    fits = (size[0] < h) & (size[1] < w)  # as torchvision
    first = fits.byte().argmax(1)  # the first fitting attempt (0 if none fits)
    rows = torch.arange(n, device=device)
    erase = fits[rows, first] & (v[0] < p)
    chosen = size[:, rows, first] * erase  # (2, N): erased height, width; zero if not erased
    room = torch.tensor([[h], [w]], dtype=torch.float64, device=device) - chosen
    corner = torch.minimum(torch.floor((room + 1) * v[1:]), room)  # uniform in [0, room]
    boxes = torch.cat([corner, corner + chosen]).T.long().contiguous()
    seed = _noise_seed(generator, device)
    return RandomErasingParams(boxes=boxes, height=h, width=w, noise_seed=seed)


def random_erasing_batch(
    x: Tensor,
    y: _Y,
    params: RandomErasingParams,
    value: FillValue = 0.0,
    inplace: bool = False,
) -> tuple[Tensor, _Y]:
    """Fill each image's Random Erasing rectangle with ``value``; targets pass through.

    Random Erasing: Zhong et al., AAAI 2020, https://arxiv.org/abs/1708.04896.

    Args:
        x: float images ``(N, C, H, W)`` (any memory format).
        y: targets, returned unchanged (may be ``None``).
        params: from :func:`sample_random_erasing_params` for this batch and image size.
        value: fill: a float (default 0.0, torchvision's default), one float per channel
            (e.g. the data-set mean, as in the paper), or ``"random"`` (standard normal noise
            per pixel, seeded by ``params.noise_seed``).
        inplace: write into ``x`` instead of a copy (refused for a view or for images that
            require grad). Default ``False``.

    Returns:
        ``(x_erased, y)`` with ``x_erased`` like ``x`` (``x`` itself when ``inplace``).

    Raises:
        TypeError: non-float images, a bad ``value``, ``params`` of another type.
        ValueError: wrong rank, params drawn for another batch / image size, bad ``value``.

    Example::

        >>> params = RandomErasingParams(torch.tensor([[1, 1, 3, 2], [0, 0, 0, 0]]), 4, 4)
        >>> out, _ = random_erasing_batch(torch.ones(2, 1, 4, 4), None, params, value=(0.5,))
        >>> out[0, 0, :, 1].tolist(), float(out[1].sum())
        ([1.0, 0.5, 0.5, 1.0], 16.0)
    """
    fn = "random_erasing_batch"
    check_images(fn, x)
    check_params(fn, params, RandomErasingParams)
    check_size(fn, x, params.boxes.shape[0], params.height, params.width)
    return _fill(fn, x, params.boxes.unsqueeze(1), value, params.noise_seed, inplace), y
