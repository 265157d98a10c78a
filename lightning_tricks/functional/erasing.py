"""Erasing batch tricks: Cutout and Random Erasing, per-sample rectangles, vectorised.

Same split as :mod:`lightning_tricks.functional.mixing`: ``sample_*_params(...)`` draws the
rectangles (on the generator's device, CPU by default) and ``*_batch(x, y, params, value)``
is deterministic. On accelerators it is one broadcast-mask fill over the batch (no loop, no
sync). On CPU, for images of 32x32 pixels and more, each rectangle is filled through a
slice instead: a memset of the erased pixels only, which is several times faster there than
any formulation touching every pixel (see ``benchmarks/batch_tricks.py``). Labels are not
changed: ``y`` is returned as it came (it may be ``None``).

Boxes are int64 ``(top, left, bottom, right)``, half-open, inside the image; an empty box
(``bottom == top``) means "nothing erased" for that sample.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np
import torch
from torch import Tensor

from ._batch import (
    check_batch_size,
    check_hw,
    check_images,
    check_int,
    check_probability,
    check_size,
    generator_device,
)

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
    """Validate a fill ``value``: a float, a per-channel sequence of floats, or ``"random"``."""
    if isinstance(value, str):
        if value != "random":
            raise ValueError(
                f"`value` must be a float, a sequence of per-channel floats or 'random', "
                f"got {value!r}"
            )
        return value
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


def _box_mask(boxes: Tensor, height: int, width: int, device: torch.device) -> Tensor:
    """Boolean ``(N, 1, H, W)`` mask of the union of ``boxes`` ``(N, B, 4)``."""
    rows = torch.arange(height, device=device)
    cols = torch.arange(width, device=device)
    in_rows = (rows >= boxes[..., 0:1]) & (rows < boxes[..., 2:3])  # (N, B, H)
    in_cols = (cols >= boxes[..., 1:2]) & (cols < boxes[..., 3:4])  # (N, B, W)
    if boxes.shape[1] == 1:
        mask = in_rows[:, 0, :, None] & in_cols[:, 0, None, :]
    else:
        mask = (in_rows[..., :, None] & in_cols[..., None, :]).any(dim=1)
    return mask.unsqueeze(1)


# On CPU, filling each rectangle through a slice is a memset over the erased pixels only,
# while any vectorised formulation touches every pixel of the batch (a broadcast mask) or
# computes an index per erased pixel. Measured on CPU (benchmarks/batch_tricks.py), slicing
# wins from 32x32 images up (~1.5 us per rectangle), the mask below that. On every other device
# the mask is used: one kernel, no loop, no host-device sync.
_SLICE_MIN_PIXELS = 32 * 32


def _fill_value(x: Tensor, value: FillValue) -> Tensor | None:
    """The fill as a tensor broadcastable to ``(C, h, w)``; ``None`` for ``"random"``."""
    if isinstance(value, float):
        return x.new_full((), value)
    if value == "random":
        return None
    vals = tuple(value)  # type: ignore[arg-type]
    if len(vals) not in (1, x.shape[1]):
        raise ValueError(
            f"`value` has {len(vals)} per-channel entries but the images have "
            f"C={x.shape[1]} channels; give 1 or C values"
        )
    return torch.tensor(vals, dtype=x.dtype).to(x.device, non_blocking=True).view(-1, 1, 1)


def fill_boxes(
    x: Tensor, boxes: Tensor, value: FillValue, noise_seed: int, inplace: bool
) -> Tensor:
    """Fill the union of ``boxes`` ``(N, B, 4)`` of every image; memory format kept.

    The kernel of :func:`cutout_batch` and :func:`random_erasing_batch`, for validated
    inputs (float images, boxes drawn for them, a checked ``value``).
    """
    h, w = x.shape[2], x.shape[3]
    if x.device.type == "cpu" and h * w >= _SLICE_MIN_PIXELS:
        scalar = value if isinstance(value, float) else None  # fill_ is the fastest path
        fill = None if scalar is not None else _fill_value(x, value)
        out = x if inplace else x.clone()
        gen = torch.Generator().manual_seed(noise_seed) if value == "random" else None
        # each rectangle as one ``as_strided`` view of its image (cheaper than slicing)
        s_n, s_c, s_h, s_w = out.stride()
        per_image = boxes.shape[1]
        corners = boxes.reshape(-1, 4).cpu().numpy().tolist()  # NumPy's tolist is cheaper
        for flat, (top, left, bottom, right) in enumerate(corners):
            if bottom > top and right > left:
                region = out.as_strided(
                    (x.shape[1], bottom - top, right - left),
                    (s_c, s_h, s_w),
                    out.storage_offset() + (flat // per_image) * s_n + top * s_h + left * s_w,
                )
                if scalar is not None:
                    region.fill_(scalar)
                elif fill is None:
                    shape = (x.shape[1], bottom - top, right - left)
                    region.copy_(torch.randn(shape, generator=gen))
                else:
                    region.copy_(fill)
        return out
    fill = _fill_value(x, value)
    mask = _box_mask(boxes.to(x.device, non_blocking=True), h, w, x.device)
    if fill is None:
        gen = torch.Generator(device=x.device).manual_seed(noise_seed)
        fill = torch.empty_like(x).normal_(generator=gen)
    else:
        fill = fill.unsqueeze(0)
    out = x if inplace else torch.empty_like(x)
    return torch.where(mask, fill, x, out=out)


def _draw_boxes(
    generator: torch.Generator | None, uniforms: int, arithmetic: Any, *args: Any
) -> tuple[Tensor, int]:
    """Boxes and a fill-noise seed from one draw of ``uniforms + 1`` float64 uniforms.

    ``arithmetic(uv, *args)`` turns the first ``uniforms`` into boxes; the last one gives the
    seed. The arithmetic runs on the generator's device in torch, or in NumPy for a CPU
    generator (for a few hundred numbers its per-call cost is several times lower than a
    tensor op's); both give the same boxes.
    """
    device = generator_device(generator)
    uv = torch.rand(uniforms + 1, dtype=torch.float64, device=device, generator=generator)
    if device.type != "cpu":  # the arithmetic stays on the device
        return arithmetic(uv[:-1], *args), int(float(uv[-1]) * 2**53)
    array = uv.numpy()
    return torch.from_numpy(arithmetic(array[:-1], *args)), int(float(array[-1]) * 2**53)


def _empty(like: Tensor | np.ndarray, shape: tuple[int, ...], dtype: Any) -> Any:
    """An uninitialised array of the library (and device) of ``like``."""
    if isinstance(like, np.ndarray):
        return np.empty(shape, dtype=dtype)
    return torch.empty(shape, dtype=dtype, device=like.device)


def _constant(like: Tensor | np.ndarray, values: list) -> Any:
    """``values`` as a float64 array of the library (and device) of ``like``."""
    return (
        np.array(values, dtype=np.float64)
        if isinstance(like, np.ndarray)
        else like.new_tensor(values)
    )


# -------------------------------------------------------------------------------- Cutout
@dataclass(frozen=True)
class CutoutParams:
    """Randomness of one Cutout call.

    Attributes:
        boxes: int64 ``(N, n_holes, 4)`` boxes ``(top, left, bottom, right)``, clipped.
        height: H.
        width: W.
        noise_seed: seed of the fill noise when ``value="random"``.
    """

    boxes: Tensor
    height: int
    width: int
    noise_seed: int = 0


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
        p: probability that a given image is cut, in [0, 1]. Default 1.0 (the paper).
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
    return draw_cutout_params(n, h, w, n_holes, length, p, generator)


def draw_cutout_params(
    n: int, h: int, w: int, n_holes: int, length: int, p: float, generator: torch.Generator | None
) -> CutoutParams:
    """:func:`sample_cutout_params` for arguments the caller has already validated."""
    # the centres (2, N, n_holes), then the gates (N,)
    uniforms = n * (2 * n_holes + 1)
    boxes, seed = _draw_boxes(generator, uniforms, _cutout_boxes, n, h, w, length, p)
    return CutoutParams(boxes=boxes, height=h, width=w, noise_seed=seed)


def _cutout_boxes(
    uv: Tensor | np.ndarray, n: int, h: int, w: int, length: int, p: float
) -> Tensor | np.ndarray:
    """Cutout boxes ``(N, n_holes, 4)`` int64 from uniforms ``uv``, in NumPy or torch alike.

    ``uv`` holds ``2 * N * n_holes`` centre uniforms (row, column) then ``N`` gates; the
    result has the array type of ``uv``. The centre is ``min(floor(u * H), H - 1)`` (uniform
    over the rows), the square spans ``[c - length // 2, c - length // 2 + length)`` clipped
    to the image, and an image whose gate is ``>= p`` gets empty boxes.
    """
    is_np = isinstance(uv, np.ndarray)
    xp: Any = np if is_np else torch
    n_holes = (uv.shape[0] // n - 1) // 2
    limit = [[[float(h)]], [[float(w)]]]
    size = _constant(uv, limit)  # (2, 1, 1)
    start = uv[: 2 * n * n_holes].reshape(2, n, n_holes) * size
    xp.floor(start, out=start)
    xp.minimum(start, size - 1.0, out=start)  # the centres
    start -= length // 2
    end = start + length
    for edge in (start, end):  # clipped to [0, H] (rows), [0, W] (columns)
        np.maximum(edge, 0.0, out=edge) if is_np else edge.clamp_(min=0.0)
        xp.minimum(edge, size, out=edge)
    end[0] -= start[0]  # erased rows: zero for images not cut
    end[0] *= (uv[2 * n * n_holes :] < p)[:, None]
    end[0] += start[0]
    boxes = _empty(uv, (n, n_holes, 4), xp.int64)
    # (2, N, n_holes) -> (N, n_holes, 2); float64 -> int64 truncates: exact for these integers
    boxes[..., :2] = start.transpose(1, 2, 0) if is_np else start.permute(1, 2, 0)
    boxes[..., 2:] = end.transpose(1, 2, 0) if is_np else end.permute(1, 2, 0)
    return boxes


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
        inplace: write into ``x`` instead of a copy. Default ``False``.

    Returns:
        ``(x_cut, y)`` with ``x_cut`` like ``x`` (``x`` itself when ``inplace``).

    Raises:
        TypeError: non-float images or a bad ``value``.
        ValueError: wrong rank, params drawn for another batch / image size, bad ``value``.

    Example::

        >>> params = CutoutParams(torch.tensor([[[0, 0, 2, 2]]]), 4, 4)
        >>> out, _ = cutout_batch(torch.ones(1, 3, 4, 4), None, params)
        >>> out[0, 0].tolist()[:3]
        [[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]]
    """
    fn = "cutout_batch"
    check_images(fn, x)
    value = check_fill_value(value)
    check_size(fn, x, params.height, params.width)
    boxes = params.boxes
    if boxes.ndim != 3 or boxes.shape[2] != 4:
        raise ValueError(
            f"`{fn}`: `boxes` must have shape (N, n_holes, 4), got {tuple(boxes.shape)}"
        )
    check_batch_size(fn, x, boxes.shape[0], "batch_size")
    return fill_boxes(x, boxes, value, params.noise_seed, inplace), y


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
    """

    boxes: Tensor
    height: int
    width: int
    noise_seed: int = 0


def _check_pair(name: str, value: object) -> tuple[float, float]:
    if (
        not isinstance(value, Sequence)
        or isinstance(value, str)
        or len(value) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        raise TypeError(f"`{name}` must be a pair of floats (min, max), got {value!r}")
    lo, hi = float(value[0]), float(value[1])
    if lo > hi:
        raise ValueError(f"`{name}` must be (min, max) with min <= max, got {value!r}")
    return lo, hi


def check_scale(scale: object) -> tuple[float, float]:
    """Validate Random Erasing's ``scale``: 0 <= min <= max <= 1."""
    lo, hi = _check_pair("scale", scale)
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"`scale` values must be in [0, 1], got {scale!r}")
    return lo, hi


def check_ratio(ratio: object) -> tuple[float, float]:
    """Validate Random Erasing's ``ratio``: 0 < min <= max."""
    lo, hi = _check_pair("ratio", ratio)
    if lo <= 0.0 or not math.isfinite(hi):
        raise ValueError(f"`ratio` values must be > 0 and finite, got {ratio!r}")
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
    Images with no fitting candidate are left as they are. All uniforms come from one call on
    the generator; the arithmetic on them is vectorised over all candidates, on the
    generator's device in torch, or in NumPy for a CPU generator (cheaper per call than tensor
    ops on a few hundred numbers); both give the same boxes.

    Args:
        batch_size: N, >= 1.
        height: H, >= 1.
        width: W, >= 1.
        p: probability that a given image is erased, in [0, 1]. Default 0.5 (the paper).
        scale: (min, max) erased fraction of the image area, 0 <= min <= max <= 1.
            Default (0.02, 0.4) (the paper).
        ratio: (min, max) aspect ratio h / w, 0 < min <= max. Default (0.3, 1 / 0.3).
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
    scale = check_scale(scale)
    ratio = check_ratio(ratio)
    attempts = check_int("attempts", attempts, 1)
    return draw_random_erasing_params(n, h, w, p, scale, ratio, attempts, generator)


def draw_random_erasing_params(
    n: int,
    h: int,
    w: int,
    p: float,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    attempts: int,
    generator: torch.Generator | None,
) -> RandomErasingParams:
    """:func:`sample_random_erasing_params` for arguments the caller has already validated."""
    # the candidates (2, N, attempts), then (gate, top, left) (3, N)
    uniforms = n * (2 * attempts + 3)
    boxes, seed = _draw_boxes(generator, uniforms, _erasing_boxes, n, h, w, p, scale, ratio)
    return RandomErasingParams(boxes=boxes, height=h, width=w, noise_seed=seed)


def _erasing_boxes(
    uv: Tensor | np.ndarray,
    n: int,
    h: int,
    w: int,
    p: float,
    scale: tuple[float, float],
    ratio: tuple[float, float],
) -> Tensor | np.ndarray:
    """Random Erasing boxes ``(N, 4)`` int64 from uniforms ``uv``, in NumPy or torch alike.

    ``uv`` holds ``2 * N * attempts`` candidate uniforms (area, log-aspect) then ``3 * N``
    (gate, top, left); the result has the array type of ``uv``. Every operation below has
    the same meaning in both libraries (IEEE float64, round half to even).
    """
    is_np = isinstance(uv, np.ndarray)
    xp: Any = np if is_np else torch
    attempts = (uv.shape[0] // n - 3) // 2
    u = uv[: 2 * n * attempts].reshape(2, n, attempts)
    v = uv[2 * n * attempts :].reshape(3, n)
    (s_lo, s_hi), (r_lo, r_hi) = scale, ratio
    log_lo, log_hi = math.log(r_lo), math.log(r_hi)
    # Only ufuncs / tensor ops, written into existing arrays where possible: for a few hundred
    # numbers the cost is the number of calls (NumPy's Python-level helpers such as stack,
    # round and all cost several times a ufunc from cold caches).
    area = u[0] * (s_hi - s_lo)
    area += s_lo
    area *= h * w
    aspect = u[1] * (log_hi - log_lo)
    aspect += log_lo
    xp.exp(aspect, out=aspect)
    # candidate (height, width) of every attempt, (2, N, attempts), kept in float64 (exact
    # integers) until the end
    size = _empty(uv, (2, n, attempts), area.dtype)
    xp.multiply(area, aspect, out=size[0])
    xp.divide(area, aspect, out=size[1])
    xp.sqrt(size, out=size)
    (np.rint if is_np else torch.round)(size, out=size)  # both round half to even
    fits = size[0] < h  # as torchvision: h < H and w < W
    fits &= size[1] < w
    # the first fitting attempt (0 if none fits); torch's argmax takes no bool
    first = fits.argmax(1) if is_np else fits.byte().argmax(1)
    rows = np.arange(n) if is_np else torch.arange(n, device=uv.device)
    erase = fits[rows, first]
    erase &= v[0] < p
    chosen = size[:, rows, first]  # (2, N): erased height, width (a copy) ...
    chosen *= erase  # ... zero where nothing is erased (sizes are finite)
    # top / left uniform in [0, room], room = H - h (W - w); u < 1 but u * (room + 1) may
    # round up to room + 1, hence the minimum
    limit = [[float(h)], [float(w)]]
    room = _constant(uv, limit) - chosen
    corner = room + 1.0
    corner *= v[1:]
    xp.floor(corner, out=corner)
    xp.minimum(corner, room, out=corner)
    boxes = _empty(uv, (n, 4), xp.int64)
    boxes[:, :2] = corner.T  # float64 -> int64 truncates: exact for these integers
    corner += chosen
    boxes[:, 2:] = corner.T
    return boxes


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
        inplace: write into ``x`` instead of a copy. Default ``False``.

    Returns:
        ``(x_erased, y)`` with ``x_erased`` like ``x`` (``x`` itself when ``inplace``).

    Raises:
        TypeError: non-float images or a bad ``value``.
        ValueError: wrong rank, params drawn for another batch / image size, bad ``value``.

    Example::

        >>> params = RandomErasingParams(torch.tensor([[1, 1, 3, 2], [0, 0, 0, 0]]), 4, 4)
        >>> out, _ = random_erasing_batch(torch.ones(2, 1, 4, 4), None, params, value=(0.5,))
        >>> out[0, 0, :, 1].tolist(), float(out[1].sum())
        ([1.0, 0.5, 0.5, 1.0], 16.0)
    """
    fn = "random_erasing_batch"
    check_images(fn, x)
    value = check_fill_value(value)
    check_size(fn, x, params.height, params.width)
    boxes = params.boxes
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"`{fn}`: `boxes` must have shape (N, 4), got {tuple(boxes.shape)}")
    check_batch_size(fn, x, boxes.shape[0], "batch_size")
    return fill_boxes(x, boxes.unsqueeze(1), value, params.noise_seed, inplace), y
