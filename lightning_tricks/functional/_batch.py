"""Private helpers of the batch functionals: argument checks and Beta draws (torch only)."""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor

from .._checks import check_float, check_int

__all__ = [
    "check_generator",
    "check_hw",
    "check_images",
    "check_int",
    "check_mode",
    "check_params",
    "check_positive",
    "check_probability",
    "check_size",
    "like",
    "sample_beta",
    "writable",
]


def check_positive(name: str, value: Any) -> float:
    """A finite float > 0 (:func:`~lightning_tricks._checks.check_float`'s message)."""
    return check_float(name, value, low=0.0, low_inclusive=False)


def check_probability(name: str, value: Any) -> float:
    """A finite float in [0, 1]."""
    return check_float(name, value, low=0.0, high=1.0)


def check_hw(height: object, width: object) -> tuple[int, int]:
    """Validate an image size: two integers ``>= 1``."""
    return check_int("height", height, 1), check_int("width", width, 1)


def check_mode(value: Any) -> Literal["batch", "elem"]:
    if value not in ("batch", "elem"):
        raise ValueError(f"`mode` must be one of 'batch', 'elem', got {value!r}")
    return "batch" if value == "batch" else "elem"


def check_generator(generator: Any) -> torch.Generator | None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"`generator` must be a torch.Generator or None, got {type(generator).__name__}"
        )
    return generator


def check_params(fn: str, params: Any, cls: type) -> None:
    if not isinstance(params, cls):
        raise TypeError(
            f"`{fn}`: `params` must be a {cls.__name__} (from `sample_..._params`), "
            f"got {type(params).__name__}"
        )


def check_images(fn: str, x: Any) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"`{fn}` expects images as a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(
            f"`{fn}` expects floating-point images (float32/float16/bfloat16), got dtype "
            f"{x.dtype}; convert them first, e.g. with torchvision `v2.ToDtype(torch.float32, "
            "scale=True)`"
        )
    if x.ndim != 4:
        raise ValueError(f"`{fn}` expects images of shape (N, C, H, W), got shape {tuple(x.shape)}")
    return x


def check_size(fn: str, x: Tensor, n: int, height: int, width: int) -> None:
    """The params were drawn for ``n`` images of ``height x width``."""
    if (x.shape[0], x.shape[2], x.shape[3]) != (n, height, width):
        raise ValueError(
            f"`{fn}`: the params were drawn for N={n} images of size (H, W)=({height}, "
            f"{width}), but the images have shape {tuple(x.shape)}; draw them for this batch"
        )


def writable(x: Tensor) -> bool:
    """Whether a trick may write into ``x``: it owns its memory and needs no gradient."""
    return x._base is None and not x.requires_grad


def check_inplace(fn: str, x: Tensor, inplace: Any) -> bool:
    if not isinstance(inplace, bool):
        raise TypeError(f"`inplace` must be a bool, got {type(inplace).__name__} {inplace!r}")
    if inplace and not writable(x):
        why = "a view of another tensor" if x._base is not None else "a tensor that requires grad"
        raise ValueError(
            f"`{fn}`: `inplace=True` refuses to write into {why}; pass `inplace=False`"
        )
    return inplace


def like(x: Tensor, out: Tensor) -> Tensor:
    """``out`` in the memory format of ``x`` (``channels_last`` stays ``channels_last``)."""
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return out.contiguous(memory_format=torch.channels_last)
    return out


def sample_beta(alpha: float, size: int, generator: torch.Generator | None) -> Tensor:
    """``size`` draws from Beta(alpha, alpha) as a float64 tensor on the generator's device.

    Works in log space (``Gamma(a) = Gamma(a + 1) * U ** (1 / a)``), so small ``alpha`` such
    as 0.2 or 0.3 never gives ``0 / 0``.
    """
    device = generator.device if generator is not None else torch.device("cpu")
    conc = torch.full((2, size), alpha + 1.0, dtype=torch.float64, device=device)
    gamma = torch._standard_gamma(conc, generator=generator)
    u = torch.rand((2, size), dtype=torch.float64, device=device, generator=generator)
    log_gamma = gamma.log() + u.log() / alpha
    return torch.sigmoid(log_gamma[0] - log_gamma[1])


def device_of(generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")


def check_boxes(fn: str, boxes: Any, height: int, width: int, ndim: int) -> Tensor:
    """int64 boxes ``(..., 4)`` = (top, left, bottom, right), half-open, inside the image."""
    if not isinstance(boxes, Tensor) or boxes.dtype != torch.int64 or boxes.ndim != ndim:
        raise TypeError(f"`{fn}`: `boxes` must be an int64 tensor with {ndim} dimensions")
    if boxes.shape[-1] != 4:
        raise ValueError(f"`{fn}`: `boxes` must end in 4 corners, got {tuple(boxes.shape)}")
    top, left, bottom, right = boxes.unbind(-1)
    inside = (top >= 0) & (left >= 0) & (bottom >= top) & (right >= left)
    inside &= (bottom <= height) & (right <= width)
    if not bool(inside.all()):
        raise ValueError(
            f"`{fn}`: `boxes` must satisfy 0 <= top <= bottom <= height={height} and "
            f"0 <= left <= right <= width={width} for every box"
        )
    return boxes
