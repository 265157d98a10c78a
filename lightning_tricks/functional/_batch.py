"""Private helpers shared by the batch functionals: validation, soft targets, Beta draws."""

from __future__ import annotations

import functools
import math
from typing import Any

import torch
from torch import Tensor

from .._checks import check_int  # noqa: F401  (re-exported for the functionals)
from .targets import one_hot


def check_positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"`{name}` must be a float > 0, got {type(value).__name__} {value!r}")
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"`{name}` must be > 0, got {value!r}")
    return float(value)


def check_probability(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"`{name}` must be a float in [0, 1], got {type(value).__name__} {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"`{name}` must be in [0, 1], got {value!r}")
    return float(value)


def check_mode(value: Any) -> str:
    if value not in ("batch", "elem"):
        raise ValueError(f"`mode` must be one of 'batch', 'elem', got {value!r}")
    return value


def check_images(fn: str, x: Any) -> None:
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


def check_batch_size(fn: str, x: Tensor, expected: int, what: str) -> None:
    if x.shape[0] != expected:
        raise ValueError(
            f"`{fn}`: the params were drawn for {what}={expected}, but the images have "
            f"N={x.shape[0]}; draw them with the batch's own size"
        )


def check_size(fn: str, x: Tensor, height: int, width: int) -> None:
    if (x.shape[2], x.shape[3]) != (height, width):
        raise ValueError(
            f"`{fn}`: the params were drawn for images of size (H, W)=({height}, {width}), "
            f"but the images are {tuple(x.shape[2:])}; draw them with the batch's own size"
        )


def index_to_soft(y: Tensor, num_classes: int) -> Tensor:
    """One-hot encode index targets on their device; on CUDA the range check does not sync.

    On CPU the range check is the one ``scatter_`` does anyway (it raises for an index
    outside ``[0, K)``); only then is :func:`one_hot` called, for its clear error message.
    """
    if y.dtype.is_floating_point or y.dtype == torch.bool or y.is_complex():
        raise TypeError(f"index targets must be an integer tensor, got dtype {y.dtype}")
    index = (y if y.dtype == torch.long else y.long()).view(-1, 1)
    out = torch.zeros(y.shape[0], num_classes, dtype=torch.float32, device=y.device)
    if y.device.type != "cpu":
        torch._assert_async(((y >= 0) & (y < num_classes)).all())
        return out.scatter_(1, index, 1.0)
    try:
        return out.scatter_(1, index, 1.0)
    except (RuntimeError, IndexError):
        return one_hot(y, num_classes)  # raises its clear out-of-range error


def soft_targets(fn: str, y: Any, n: int, num_classes: int | None) -> Tensor:
    """Float32 ``(N, K)`` targets from index ``(N,)`` or ``(N, K)`` targets, with clear errors."""
    if not isinstance(y, Tensor):
        raise TypeError(f"`{fn}` expects targets as a torch.Tensor, got {type(y).__name__}")
    if y.ndim not in (1, 2) or y.shape[0] != n:
        raise ValueError(
            f"`{fn}` expects targets of shape (N,) or (N, K) with N={n}, got shape {tuple(y.shape)}"
        )
    if y.ndim == 2:
        if num_classes is not None and y.shape[1] != num_classes:
            raise ValueError(
                f"`{fn}`: targets have {y.shape[1]} columns but num_classes={num_classes}; "
                "expected shape (N, num_classes)"
            )
        return y if y.dtype == torch.float32 else y.float()
    if y.is_floating_point() or y.dtype == torch.bool or y.is_complex():
        raise TypeError(
            f"`{fn}` expects index targets (N,) of an integer dtype, got dtype {y.dtype}; "
            "probabilities must have shape (N, K)"
        )
    if num_classes is None:
        raise ValueError(
            f"`{fn}` needs `num_classes` to turn index targets (N,) into (N, K) probabilities"
        )
    return index_to_soft(y, num_classes)


def sample_beta(alpha: float, size: int, generator: torch.Generator | None) -> Tensor:
    """``size`` draws from Beta(alpha, alpha) as float64 on the generator's device.

    Works in log space (``Gamma(a) = Gamma(a + 1) * U ** (1 / a)``), so small ``alpha`` such
    as 0.2 or 0.3 never gives ``0 / 0``.
    """
    device = generator.device if generator is not None else torch.device("cpu")
    if size <= 4 and device.type == "cpu":
        return torch.tensor(sample_beta_floats(alpha, size, generator), dtype=torch.float64)
    conc = torch.full((2, size), alpha + 1.0, dtype=torch.float64, device=device)
    gamma = torch._standard_gamma(conc, generator=generator)
    u = torch.rand((2, size), dtype=torch.float64, device=device, generator=generator)
    log_gamma = gamma.log() + u.log() / alpha
    return torch.sigmoid(log_gamma[0] - log_gamma[1])


def sample_beta_float(alpha: float, generator: torch.Generator | None) -> float:
    """One draw from Beta(alpha, alpha) as a Python float.

    The same draw (same stream, same value) as ``float(sample_beta(alpha, 1, generator)[0])``;
    on a CPU generator it is finished in Python floats, which is cheaper than tensor ops.
    """
    return sample_beta_floats(alpha, 1, generator)[0]


def sample_beta_floats(alpha: float, size: int, generator: torch.Generator | None) -> list[float]:
    """``size`` draws from Beta(alpha, alpha) as Python floats (for a handful of draws).

    The same draws (same stream, same values) as ``sample_beta(alpha, size,
    generator).tolist()``; on a CPU generator they are finished in Python floats, which is
    cheaper than tensor ops for a few values.
    """
    if generator is not None and generator.device.type != "cpu":
        return sample_beta(alpha, size, generator).tolist()
    gamma = torch._standard_gamma(_concentration(alpha + 1.0, size), generator=generator)
    u = torch.rand(2 * size, dtype=torch.float64, generator=generator)
    g, v = gamma.view(-1).tolist(), u.tolist()
    out = []
    for i in range(size):
        d = (_log(g[size + i]) + _log(v[size + i]) / alpha) - (_log(g[i]) + _log(v[i]) / alpha)
        out.append(1.0 / (1.0 + math.exp(d)) if d < 700 else 0.0)
    return out


@functools.lru_cache(maxsize=64)
def _concentration(value: float, size: int) -> Tensor:
    """A constant float64 ``(2, size)`` CPU tensor (read-only input of ``_standard_gamma``)."""
    return torch.full((2, size), value, dtype=torch.float64)


def _log(v: float) -> float:
    return math.log(v) if v > 0.0 else -math.inf


def randint_below(high: Tensor, generator: torch.Generator | None) -> Tensor:
    """Uniform integers in ``[0, high)`` elementwise (``high >= 1``), int64, vectorised."""
    u = torch.rand(high.shape, dtype=torch.float64, device=high.device, generator=generator)
    return (u * high).floor().long().clamp_(max=high - 1)


def generator_device(generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")
