"""Private helpers shared by the batch functionals: validation, soft targets, Beta draws."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from .._checks import check_int
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


def check_hw(height: object, width: object) -> tuple[int, int]:
    """Validate an image size: two integers ``>= 1``."""
    return check_int("height", height, 1), check_int("width", width, 1)


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
    """``size`` draws from Beta(alpha, alpha) as a float64 tensor on the generator's device.

    Works in log space (``Gamma(a) = Gamma(a + 1) * U ** (1 / a)``), so small ``alpha`` such
    as 0.2 or 0.3 never gives ``0 / 0``. Vectorised (one sample per element); for a handful
    of draws on a CPU generator :func:`sample_beta_floats` is cheaper.
    """
    device = generator.device if generator is not None else torch.device("cpu")
    conc = torch.full((2, size), alpha + 1.0, dtype=torch.float64, device=device)
    gamma = torch._standard_gamma(conc, generator=generator)
    u = torch.rand((2, size), dtype=torch.float64, device=device, generator=generator)
    log_gamma = gamma.log() + u.log() / alpha
    return torch.sigmoid(log_gamma[0] - log_gamma[1])


def sample_beta_float(alpha: float, generator: torch.Generator | None) -> float:
    """One draw from Beta(alpha, alpha) as a Python float; see :func:`sample_beta_floats`."""
    return sample_beta_floats(alpha, 1, generator)[0]


# uniforms drawn per Beta sample: two Gamma variates of ~4.2 uniforms each on average (the
# Marsaglia-Tsang acceptance rate is above 95 % for shapes >= 1); more are drawn if needed
_UNIFORMS_PER_DRAW = 16


def sample_beta_floats(alpha: float, size: int, generator: torch.Generator | None) -> list[float]:
    """``size`` draws from Beta(alpha, alpha) as Python floats (for a handful of draws).

    On a CPU generator the draws cost one tensor op: a block of uniforms is drawn at once and
    the rest is Python arithmetic (Marsaglia & Tsang's Gamma sampler, in log space as in
    :func:`sample_beta`): a per-batch λ then needs no chain of small tensor ops, which matter
    on CPU, where each costs microseconds and more when the caches are cold after a training
    step. Other generators use :func:`sample_beta` on their device.
    """
    if generator is not None and generator.device.type != "cpu":
        return sample_beta(alpha, size, generator).tolist()
    uniforms = _Uniforms(generator, _UNIFORMS_PER_DRAW * size)
    out = []
    for _ in range(size):
        d = _log_gamma(alpha, uniforms) - _log_gamma(alpha, uniforms)
        out.append(1.0 / (1.0 + math.exp(d)) if d < 700 else 0.0)
    return out


class _Uniforms:
    """Uniforms in (0, 1] from a CPU generator, drawn in blocks of ``block`` float64s."""

    def __init__(self, generator: torch.Generator | None, block: int) -> None:
        self.generator, self.block = generator, block
        self.values: list[float] = []

    def __call__(self) -> float:
        if not self.values:
            block = torch.rand(self.block, dtype=torch.float64, generator=self.generator)
            self.values = block.tolist()[::-1]
        return 1.0 - self.values.pop()  # torch.rand is in [0, 1)


def _log_gamma(alpha: float, uniform: _Uniforms) -> float:
    """log of a Gamma(alpha, 1) variate: Gamma(alpha + 1) by Marsaglia & Tsang (2000), "A
    simple method for generating gamma variables", then ``+ log(U) / alpha``."""
    d = alpha + 1.0 - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    while True:
        # a standard normal variate by Box-Muller
        x = math.sqrt(-2.0 * math.log(uniform())) * math.cos(2.0 * math.pi * uniform())
        v = 1.0 + c * x
        if v <= 0.0:
            continue
        v = v * v * v
        if math.log(uniform()) < 0.5 * x * x + d - d * v + d * math.log(v):
            return math.log(d * v) + math.log(uniform()) / alpha


def generator_device(generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")
