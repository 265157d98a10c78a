"""Label-mixing batch tricks: MixUp, CutMix and RICAP as pure, vectorised torch functions.

Each trick is split in two (the torchvision ``make_params`` / ``transform`` split):

* ``sample_*_params(..., generator=None)`` draws all randomness into a small frozen
  dataclass, on the generator's device (CPU by default, so Python-float λ and box corners
  need no device sync);
* ``*_batch(x, y, params, num_classes=None)`` is deterministic, vectorised over the batch
  (no Python loop over samples), creates tensors on ``x.device`` with ``x.dtype``, keeps the
  memory format of ``x`` (``channels_last`` stays ``channels_last``) and never modifies its
  inputs. Targets come in as indices ``(N,)`` (then ``num_classes`` is required) or
  probabilities / multi-hot ``(N, K)`` and go out as float32 ``(N, K)`` whose rows keep
  their totals (DESIGN.md §1).

Convention: ``lam`` is the weight of the *original* sample ``i``; ``1 - lam`` that of its
partner ``perm[i]`` (as in torchvision v2 ``MixUp``).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from ._batch import (
    check_hw,
    check_images,
    check_int,
    check_mode,
    check_positive,
    check_size,
    generator_device,
    sample_beta,
    sample_beta_float,
    sample_beta_floats,
    soft_targets,
)

__all__ = [
    "CutMixParams",
    "MixUpParams",
    "RICAPParams",
    "cutmix_batch",
    "mixup_batch",
    "ricap_batch",
    "sample_cutmix_params",
    "sample_mixup_params",
    "sample_ricap_params",
]

MixMode = Literal["batch", "elem"]


def _check_perm(fn: str, perm: Tensor, n: int) -> None:
    if perm.ndim != 1 or perm.shape[0] != n:
        raise ValueError(
            f"`{fn}`: the params were drawn for batch_size={perm.shape[0]}, but the images "
            f"have N={n}; draw them with the batch's own size"
        )


def _check_scratch(fn: str, x: Tensor, scratch: Tensor) -> None:
    if not isinstance(scratch, Tensor):
        raise TypeError(f"`{fn}`: `scratch` must be a Tensor or None, got {type(scratch).__name__}")
    if (scratch.shape, scratch.dtype, scratch.device) != (x.shape, x.dtype, x.device):
        raise ValueError(
            f"`{fn}`: `scratch` must match the images, expected shape {tuple(x.shape)}, "
            f"{x.dtype} on {x.device}, got {tuple(scratch.shape)}, {scratch.dtype} on "
            f"{scratch.device}"
        )
    if scratch.data_ptr() == x.data_ptr():
        raise ValueError(f"`{fn}`: `scratch` must not be the images tensor itself")


def _gather(x: Tensor, perm: Tensor, scratch: Tensor | None) -> Tensor:
    """``x[perm]`` (along the batch), into ``scratch`` when one is given (checked by the caller)."""
    if scratch is None:
        return x.index_select(0, perm)
    return torch.index_select(x, 0, perm, out=scratch)


def _on(t: Tensor, device: torch.device) -> Tensor:
    """``t`` on ``device`` (no dispatch when it is there already)."""
    return t if t.device == device else t.to(device, non_blocking=True)


def _on_both(perm: Tensor, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """``perm`` on the device of ``x`` and on that of ``y`` (three device reads when all
    three are on one device, the usual case: this runs on every training step)."""
    device = perm.device
    on_x = perm if x.device == device else perm.to(x.device, non_blocking=True)
    return on_x, perm if y.device == device else perm.to(y.device)


# --------------------------------------------------------------------------------- MixUp
@dataclass(frozen=True)
class MixUpParams:
    """Randomness of one MixUp call.

    Attributes:
        lam: weight of the original sample; a Python ``float`` (``mode="batch"``) or a
            float32 tensor ``(N,)`` (``mode="elem"``), values in [0, 1].
        perm: int64 permutation ``(N,)``; sample ``i`` is mixed with ``perm[i]``.
    """

    lam: float | Tensor
    perm: Tensor


def sample_mixup_params(
    batch_size: int,
    alpha: float = 1.0,
    mode: MixMode = "batch",
    generator: torch.Generator | None = None,
) -> MixUpParams:
    """Draw λ ~ Beta(α, α) (one per batch or one per sample) and a random pairing.

    MixUp: Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018,
    https://arxiv.org/abs/1710.09412.

    Args:
        batch_size: N, >= 1.
        alpha: Beta concentration α, > 0. Default 1.0 (0.2 in Bag of Tricks for ImageNet).
        mode: ``"batch"`` (one λ for the batch, as in the paper) or ``"elem"`` (one λ per
            sample). Default ``"batch"``.
        generator: source of randomness (its device is where the params live); ``None`` uses
            the global CPU generator.

    Raises:
        TypeError / ValueError: for arguments of the wrong type or out of range.

    Example::

        >>> g = torch.Generator().manual_seed(0)
        >>> params = sample_mixup_params(4, alpha=0.2, generator=g)
        >>> 0.0 <= params.lam <= 1.0, sorted(params.perm.tolist())
        (True, [0, 1, 2, 3])
    """
    n = check_int("batch_size", batch_size, 1)
    alpha = check_positive("alpha", alpha)
    return draw_mixup_params(n, alpha, check_mode(mode), generator)


def draw_mixup_params(
    n: int, alpha: float, mode: str, generator: torch.Generator | None
) -> MixUpParams:
    """:func:`sample_mixup_params` for arguments the caller has already validated."""
    device = generator_device(generator)
    if mode == "batch":
        lam_f = sample_beta_float(alpha, generator)
        return MixUpParams(lam=lam_f, perm=torch.randperm(n, generator=generator, device=device))
    lam = sample_beta(alpha, n, generator)
    perm = torch.randperm(n, generator=generator, device=device)
    return MixUpParams(lam=lam.float(), perm=perm)


def mixup_batch(
    x: Tensor,
    y: Tensor,
    params: MixUpParams,
    num_classes: int | None = None,
    inplace: bool = False,
    scratch: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Mix images and targets: ``lam * x + (1 - lam) * x[perm]`` (same for targets).

    MixUp: Zhang et al., ICLR 2018, https://arxiv.org/abs/1710.09412. One fused ``lerp``
    pass after one gather of the partners; λ stays a Python float in batch mode, so
    float16 / bfloat16 images keep their dtype.

    Args:
        x: float images ``(N, C, H, W)`` (any memory format).
        y: index targets ``(N,)`` or probability / multi-hot targets ``(N, K)``.
        params: from :func:`sample_mixup_params` with ``batch_size=N``.
        num_classes: K for index targets (ignored for ``(N, K)`` targets other than a check).
        inplace: write the mixed images into ``x`` (saves an allocation). Default ``False``.
        scratch: optional preallocated tensor with the shape, dtype and device of ``x``
            (not ``x`` itself) used as working memory, so that repeated calls do not allocate
            a batch-sized tensor each time (on CPU, fresh large allocations also cost page
            faults). Its content afterwards is unspecified. Default ``None``.

    Returns:
        ``(x_mixed, y_mixed)``: images like ``x`` (``x`` itself when ``inplace``); float32
        targets ``(N, K)``.

    Raises:
        TypeError: non-float images, non-integer index targets.
        ValueError: wrong ranks, params drawn for another batch size, missing or wrong
            ``num_classes``, targets out of range.

    Example::

        >>> x = torch.stack([torch.zeros(1, 2, 2), torch.ones(1, 2, 2)])
        >>> params = MixUpParams(lam=0.75, perm=torch.tensor([1, 0]))
        >>> xm, ym = mixup_batch(x, torch.tensor([0, 1]), params, num_classes=2)
        >>> xm[:, 0, 0, 0].tolist(), ym.tolist()
        ([0.25, 0.75], [[0.75, 0.25], [0.25, 0.75]])
    """
    fn = "mixup_batch"
    check_images(fn, x)
    n = x.shape[0]
    _check_perm(fn, params.perm, n)
    y_soft = soft_targets(fn, y, n, num_classes)
    if scratch is not None:
        _check_scratch(fn, x, scratch)
    if isinstance(params.lam, Tensor) and params.lam.shape != (n,):
        raise ValueError(
            f"`{fn}`: `lam` must be a float or a tensor of shape (N,)=({n},), "
            f"got shape {tuple(params.lam.shape)}"
        )
    return apply_mixup(x, y_soft, params, inplace, scratch)


def apply_mixup(
    x: Tensor, y_soft: Tensor, params: MixUpParams, inplace: bool, scratch: Tensor | None
) -> tuple[Tensor, Tensor]:
    """:func:`mixup_batch` for validated inputs: float32 ``(N, K)`` targets, params drawn
    for this batch, a ``scratch`` (or ``None``) that fits ``x``."""
    perm, perm_y = _on_both(params.perm, x, y_soft)
    partners = _gather(x, perm, scratch)
    out = x if inplace else torch.empty_like(x)
    lam: float | Tensor = params.lam
    if isinstance(lam, Tensor):
        torch.lerp(
            partners, x, lam.to(x.device, x.dtype, non_blocking=True).view(-1, 1, 1, 1), out=out
        )
        lam = lam.to(y_soft.device, torch.float32, non_blocking=True).view(-1, 1)
    else:
        lam = float(lam)
        torch.lerp(partners, x, lam, out=out)
    return out, torch.lerp(y_soft.index_select(0, perm_y), y_soft, lam)


# -------------------------------------------------------------------------------- CutMix
@dataclass(frozen=True)
class CutMixParams:
    """Randomness of one CutMix call.

    Attributes:
        perm: int64 permutation ``(N,)``; sample ``i`` receives a patch of ``perm[i]``.
        boxes: int64 ``(B, 4)`` boxes ``(top, left, bottom, right)``, half-open and already
            clipped to the image, B = 1 (one box for the batch) or N (one per sample).
        height: image height H the boxes were drawn for.
        width: image width W.
    """

    perm: Tensor
    boxes: Tensor
    height: int
    width: int

    def lam(self) -> Tensor:
        """Area-corrected λ per box (float64 ``(B,)``): 1 - box area / (H * W)."""
        b = self.boxes.double()
        area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        return 1.0 - area / (self.height * self.width)


def sample_cutmix_params(
    batch_size: int,
    height: int,
    width: int,
    alpha: float = 1.0,
    mode: MixMode = "batch",
    generator: torch.Generator | None = None,
) -> CutMixParams:
    """Draw λ ~ Beta(α, α), a box of area ``(1 - λ) * H * W`` centred anywhere, and a pairing.

    CutMix: Yun et al., "CutMix: Regularization Strategy to Train Strong Classifiers with
    Localizable Features", ICCV 2019, https://arxiv.org/abs/1905.04899. As in the paper's
    code, the box side is ``int(H * sqrt(1 - λ))`` by ``int(W * sqrt(1 - λ))`` around a
    uniformly drawn centre and is clipped at the borders; :meth:`CutMixParams.lam` then
    gives the area-corrected λ used for the targets.

    Args:
        batch_size: N, >= 1.
        height: H, >= 1.
        width: W, >= 1.
        alpha: Beta concentration α, > 0. Default 1.0 (the paper).
        mode: ``"batch"`` (one box and λ for the batch, as in the paper) or ``"elem"``
            (one per sample). Default ``"batch"``.
        generator: source of randomness; ``None`` uses the global CPU generator.

    Raises:
        TypeError / ValueError: for arguments of the wrong type or out of range.

    Example::

        >>> g = torch.Generator().manual_seed(0)
        >>> params = sample_cutmix_params(8, 32, 32, mode="elem", generator=g)
        >>> params.boxes.shape, bool((params.lam() >= 0).all())
        (torch.Size([8, 4]), True)
    """
    n = check_int("batch_size", batch_size, 1)
    h, w = check_hw(height, width)
    alpha = check_positive("alpha", alpha)
    return draw_cutmix_params(n, h, w, alpha, check_mode(mode), generator)


def draw_cutmix_params(
    n: int, h: int, w: int, alpha: float, mode: str, generator: torch.Generator | None
) -> CutMixParams:
    """:func:`sample_cutmix_params` for arguments the caller has already validated."""
    b = 1 if mode == "batch" else n
    device = generator_device(generator)
    if b == 1 and device.type == "cpu":  # one box: the same arithmetic in Python (cheaper)
        lam_f = sample_beta_float(alpha, generator)
        u = torch.rand((2, 1), dtype=torch.float64, generator=generator)
        perm = torch.randperm(n, generator=generator)
        cut = math.sqrt(1.0 - lam_f)
        half_h, half_w = int(h * cut) // 2, int(w * cut) // 2
        (uy,), (ux,) = u.tolist()
        cy, cx = min(int(uy * h), h - 1), min(int(ux * w), w - 1)
        box = [
            min(max(cy - half_h, 0), h),
            min(max(cx - half_w, 0), w),
            min(max(cy + half_h, 0), h),
            min(max(cx + half_w, 0), w),
        ]
        return CutMixParams(perm=perm, boxes=torch.tensor([box]), height=h, width=w)
    lam = sample_beta(alpha, b, generator)
    u = torch.rand((2, b), dtype=torch.float64, device=device, generator=generator)
    perm = torch.randperm(n, generator=generator, device=device)
    cut = torch.sqrt(1.0 - lam)
    half_h = (h * cut).long() // 2
    half_w = (w * cut).long() // 2
    cy = (u[0] * h).long().clamp_(max=h - 1)
    cx = (u[1] * w).long().clamp_(max=w - 1)
    top = (cy - half_h).clamp(0, h)
    bottom = (cy + half_h).clamp(0, h)
    left = (cx - half_w).clamp(0, w)
    right = (cx + half_w).clamp(0, w)
    return CutMixParams(
        perm=perm, boxes=torch.stack([top, left, bottom, right], dim=1), height=h, width=w
    )


def cutmix_batch(
    x: Tensor,
    y: Tensor,
    params: CutMixParams,
    num_classes: int | None = None,
    inplace: bool = False,
    scratch: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Paste the box of the partner ``perm[i]`` into image ``i``; mix targets by box area.

    CutMix: Yun et al., ICCV 2019, https://arxiv.org/abs/1905.04899. With one box for the
    batch only the box region is copied; with one box per sample a broadcast mask selects
    the partner's pixels (one ``where`` pass). Targets get the area-corrected λ.

    Args:
        x: float images ``(N, C, H, W)`` (any memory format).
        y: index targets ``(N,)`` or probability / multi-hot targets ``(N, K)``.
        params: from :func:`sample_cutmix_params` for this batch size and image size.
        num_classes: K for index targets.
        inplace: paste into ``x`` itself; with one box per batch only the box region is then
            read and written. Default ``False``.
        scratch: optional preallocated tensor with the shape, dtype and device of ``x``
            (not ``x`` itself) used for the partners with one box per sample, so that repeated
            calls do not allocate a batch-sized tensor each time (on CPU, fresh large
            allocations also cost page faults). Its content afterwards is unspecified.
            Default ``None``.

    Returns:
        ``(x_mixed, y_mixed)``: images like ``x`` (``x`` itself when ``inplace``); float32
        targets ``(N, K)``.

    Raises:
        TypeError: non-float images, non-integer index targets.
        ValueError: wrong ranks, params drawn for another batch / image size, missing or
            wrong ``num_classes``, targets out of range.

    Example::

        >>> x = torch.stack([torch.zeros(1, 4, 4), torch.ones(1, 4, 4)])
        >>> params = CutMixParams(torch.tensor([1, 0]), torch.tensor([[0, 0, 2, 2]]), 4, 4)
        >>> xm, ym = cutmix_batch(x, torch.tensor([0, 1]), params, num_classes=2)
        >>> xm[0, 0].sum().item(), ym.tolist()
        (4.0, [[0.75, 0.25], [0.25, 0.75]])
    """
    fn = "cutmix_batch"
    check_images(fn, x)
    n = x.shape[0]
    _check_perm(fn, params.perm, n)
    check_size(fn, x, params.height, params.width)
    boxes = params.boxes
    if boxes.ndim != 2 or boxes.shape[1] != 4 or boxes.shape[0] not in (1, n):
        raise ValueError(
            f"`{fn}`: `boxes` must have shape (1, 4) or (N, 4) with N={n}, got {tuple(boxes.shape)}"
        )
    y_soft = soft_targets(fn, y, n, num_classes)
    if scratch is not None:
        _check_scratch(fn, x, scratch)
    return apply_cutmix(x, y_soft, params, inplace, scratch)


def apply_cutmix(
    x: Tensor, y_soft: Tensor, params: CutMixParams, inplace: bool, scratch: Tensor | None
) -> tuple[Tensor, Tensor]:
    """:func:`cutmix_batch` for validated inputs: float32 ``(N, K)`` targets, params drawn
    for this batch, a ``scratch`` (or ``None``) that fits ``x``."""
    n = x.shape[0]
    boxes = params.boxes
    perm, perm_y = _on_both(params.perm, x, y_soft)
    if boxes.shape[0] == 1:
        top, left, bottom, right = (int(v) for v in boxes[0].tolist())
        lam = 1.0 - (bottom - top) * (right - left) / (params.height * params.width)
        out = x if inplace else x.clone()
        if bottom > top and right > left:
            # a contiguous copy of the partners' boxes (faster to fill and to read back than
            # the same window of a batch-sized buffer), then pasted into the box
            partners = x[:, :, top:bottom, left:right].index_select(0, perm)
            out[:, :, top:bottom, left:right] = partners
        y_out = torch.lerp(y_soft.index_select(0, perm_y), y_soft, lam)
        return out, y_out
    bx = _on(boxes, x.device).expand(n, 4)
    rows = torch.arange(x.shape[2], device=x.device)
    cols = torch.arange(x.shape[3], device=x.device)
    in_rows = (rows >= bx[:, 0:1]) & (rows < bx[:, 2:3])  # (N, H)
    in_cols = (cols >= bx[:, 1:2]) & (cols < bx[:, 3:4])  # (N, W)
    mask = (in_rows[:, :, None] & in_cols[:, None, :]).unsqueeze(1)  # (N, 1, H, W)
    out = x if inplace else torch.empty_like(x)
    torch.where(mask, _gather(x, perm, scratch), x, out=out)
    lam_y = params.lam().to(y_soft.device, torch.float32, non_blocking=True).view(-1, 1)
    y_out = torch.lerp(y_soft.index_select(0, perm_y), y_soft, lam_y)
    return out, y_out


# --------------------------------------------------------------------------------- RICAP
@dataclass(frozen=True)
class RICAPParams:
    """Randomness of one RICAP call.

    The output image is split at row ``h`` and column ``w`` into four patches, in order
    top-left ``(h, w)``, top-right ``(h, W - w)``, bottom-left ``(H - h, w)`` and
    bottom-right ``(H - h, W - w)``. Patch ``k`` of output sample ``i`` is cropped from
    sample ``perms[k, i]`` with its top-left corner at ``offsets[k, i]`` = (row, col).

    Attributes:
        h: boundary row, in [0, H].
        w: boundary column, in [0, W].
        perms: int64 ``(4, N)``, one shuffle of the batch per patch.
        offsets: int64 ``(4, N, 2)``, crop corners drawn independently per sample.
        height: H.
        width: W.
    """

    h: int
    w: int
    perms: Tensor
    offsets: Tensor
    height: int
    width: int

    def patch_sizes(self) -> list[tuple[int, int]]:
        """``(rows, cols)`` of the four patches, in the order documented above."""
        hh, ww = self.height - self.h, self.width - self.w
        return [(self.h, self.w), (self.h, ww), (hh, self.w), (hh, ww)]

    def weights(self) -> list[float]:
        """Area fraction of each patch (sums to 1): the target weight of each shuffle."""
        area = self.height * self.width
        return [r * c / area for r, c in self.patch_sizes()]


def sample_ricap_params(
    batch_size: int,
    height: int,
    width: int,
    beta: float = 0.3,
    generator: torch.Generator | None = None,
) -> RICAPParams:
    """Draw the RICAP boundary from Beta(β, β), four shuffles and per-sample crop corners.

    RICAP: Takahashi et al., "Data Augmentation using Random Image Cropping and Patching for
    Deep CNNs", IEEE TCSVT 2019, https://arxiv.org/abs/1811.09030. The boundary is
    ``w = round(W * Beta(β, β))``, ``h = round(H * Beta(β, β))``; unlike the paper's listing
    (one crop position per patch for the whole batch) every sample gets its own positions.

    Args:
        batch_size: N, >= 1.
        height: H, >= 1.
        width: W, >= 1.
        beta: Beta concentration β, > 0. Default 0.3 (the paper's choice).
        generator: source of randomness; ``None`` uses the global CPU generator.

    Raises:
        TypeError / ValueError: for arguments of the wrong type or out of range.

    Example::

        >>> g = torch.Generator().manual_seed(0)
        >>> params = sample_ricap_params(4, 32, 32, generator=g)
        >>> round(sum(params.weights()), 6), params.offsets.shape
        (1.0, torch.Size([4, 4, 2]))
    """
    n = check_int("batch_size", batch_size, 1)
    hgt, wid = check_hw(height, width)
    return draw_ricap_params(n, hgt, wid, check_positive("beta", beta), generator)


def draw_ricap_params(
    n: int, hgt: int, wid: int, beta: float, generator: torch.Generator | None
) -> RICAPParams:
    """:func:`sample_ricap_params` for arguments the caller has already validated."""
    device = generator_device(generator)
    f_w, f_h = sample_beta_floats(beta, 2, generator)
    w = round(wid * f_w)  # Python's round is round-half-to-even, as torch.round
    h = round(hgt * f_h)
    perms = torch.empty(4, n, dtype=torch.long, device=device)
    for k in range(4):
        torch.randperm(n, generator=generator, device=device, out=perms[k])
    # crop corners (row, col) of the four patches: uniform integers in [0, count), where
    # count is the number of valid corners along that axis, as floor(u * count) for float64
    # uniforms u (four tensor ops for all 8 * N corners, mostly of kinds the call runs anyway)
    counts = [
        [hgt - h + 1, wid - w + 1],
        [hgt - h + 1, w + 1],
        [h + 1, wid - w + 1],
        [h + 1, w + 1],
    ]
    below = _just_below(counts)
    if device.type == "cpu":  # from a buffer: cheaper than parsing a list, from cold caches
        scale = torch.frombuffer(array("d", below), dtype=torch.float64).view(4, 1, 2)
    else:
        scale = torch.tensor(below, dtype=torch.float64, device=device).view(4, 1, 2)
    u = torch.rand((4, n, 2), dtype=torch.float64, device=device, generator=generator)
    offsets = u.mul_(scale).long()  # u * scale >= 0: the conversion truncates = floors
    return RICAPParams(h=h, w=w, perms=perms, offsets=offsets, height=hgt, width=wid)


def _just_below(counts: list[list[int]]) -> list[float]:
    """The counts, flattened, each scaled to just below itself, ``c' = c * (1 - 2**-52)``:
    ``floor(u * c') <= c - 1`` for every ``u <= 1``, whichever sampler made ``u``.

    Why: ``c * 2**-52`` is at least the spacing of float64 just below ``c``, so the rounded
    ``c'`` is strictly below ``c``; ``u * c' <= c'`` rounds to at most ``c'`` (rounding is
    monotonic and ``c'`` is a float64). The values differ from ``floor(u * c)`` only for
    ``u`` within about ``2**-52`` of an integer step: no measurable bias. The CPU sampler
    gives ``u <= 1 - 2**-53``, for which ``floor(u * c)`` would do too; the scaled count
    keeps the bound for a sampler whose ``u`` comes closer to 1 (another device), where
    ``u * c`` can round up to ``c``.
    """
    return [c * (1.0 - 2.0**-52) for row in counts for c in row]


def _ricap_gather(
    x: Tensor,
    perms: Tensor,
    offsets: Tensor,
    patches: Iterable[tuple[tuple[int, int], tuple[int, int]]],
    out: Tensor,
) -> None:
    """Copy the four RICAP patches of every sample into ``out``: one ``index_select`` each.

    Works for any strides (contiguous, channels_last, views). For patch ``k`` of size
    ``(ph, pw)``, ``x``'s memory is seen through an ``as_strided`` view ``V`` of shape
    ``(L, C, ph, pw)`` with strides ``(1, s_C, s_H, s_W)``: ``V[t]`` is the ``(C, ph, pw)``
    window whose top-left element sits at flat offset ``t``. The window of source image
    ``m`` with top-left corner ``(top, left)`` is ``V[m*s_N + top*s_H + left*s_W]``, so one
    ``index_select`` over the batch (written straight into the output slice) copies every
    sample's own crop: a single pass over the patch, no intermediate copy, parallel over
    the samples (or within a window for large images). ``L`` is chosen so that the last
    window ends exactly at the last element of ``x``.
    """
    n, c, hgt, wid = x.shape
    if x.numel() == 0:
        return
    s_n, s_c, s_h, s_w = x.stride()
    # flat offset of every crop's top-left element, (4, N), for the four patches at once
    first = (offsets[..., 0] * s_h).add_(offsets[..., 1], alpha=s_w).add_(perms, alpha=s_n)
    o_n, o_c, o_h, o_w = out.stride()
    for first_k, ((ph, pw), (r0, c0)) in zip(first.unbind(0), patches, strict=True):
        if ph == 0 or pw == 0:
            continue
        span = (n - 1) * s_n + (hgt - ph) * s_h + (wid - pw) * s_w + 1
        windows = x.as_strided((span, c, ph, pw), (1, s_c, s_h, s_w))
        # out[:, :, r0 : r0 + ph, c0 : c0 + pw], as one view
        dest = out.as_strided(
            (n, c, ph, pw), (o_n, o_c, o_h, o_w), out.storage_offset() + r0 * o_h + c0 * o_w
        )
        torch.index_select(windows, 0, first_k, out=dest)


def ricap_batch(
    x: Tensor,
    y: Tensor,
    params: RICAPParams,
    num_classes: int | None = None,
    inplace: bool = False,
    scratch: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Patch four crops of four shuffles of the batch into each image; targets by patch area.

    RICAP: Takahashi et al., IEEE TCSVT 2019, https://arxiv.org/abs/1811.09030. One
    ``index_select`` per patch, in any memory format, and no loop over samples: each patch
    reads every sample's own crop window straight into the output slice (from an
    ``as_strided`` view of the batch in which every window is one index, see
    ``_ricap_gather``).

    Args:
        x: float images ``(N, C, H, W)`` (any memory format).
        y: index targets ``(N,)`` or probability / multi-hot targets ``(N, K)``.
        params: from :func:`sample_ricap_params` for this batch size and image size.
        num_classes: K for index targets.
        inplace: copy the patched images back into ``x`` (they are assembled in ``scratch``
            or a new tensor first, since every patch reads the original batch). Default
            ``False``.
        scratch: optional preallocated tensor with the shape, dtype and device of ``x``
            (not ``x`` itself) used to assemble the result when ``inplace``, so that repeated
            calls do not allocate a batch-sized tensor each time (on CPU, fresh large
            allocations also cost page faults). Its content afterwards is unspecified.
            Default ``None``.

    Returns:
        ``(x_patched, y_mixed)``: images like ``x``; float32 targets ``(N, K)``,
        ``sum_k area_k / (H * W) * y[perms[k]]``.

    Raises:
        TypeError: non-float images, non-integer index targets.
        ValueError: wrong ranks, params drawn for another batch / image size, missing or
            wrong ``num_classes``, targets out of range.

    Example::

        >>> x = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 1, 2, 2).contiguous()
        >>> params = RICAPParams(1, 1, torch.arange(4).repeat(4, 1),
        ...                      torch.zeros(4, 4, 2, dtype=torch.long), 2, 2)
        >>> xp, yp = ricap_batch(x, torch.arange(4), params, num_classes=4)
        >>> xp[0, 0].tolist(), yp[0].tolist()
        ([[0.0, 0.0], [0.0, 0.0]], [1.0, 0.0, 0.0, 0.0])
    """
    fn = "ricap_batch"
    check_images(fn, x)
    n = x.shape[0]
    check_size(fn, x, params.height, params.width)
    if params.perms.shape != (4, n) or params.offsets.shape != (4, n, 2):
        raise ValueError(
            f"`{fn}`: the params were drawn for batch_size={params.perms.shape[-1]}, but the "
            f"images have N={n}; draw them with the batch's own size"
        )
    y_soft = soft_targets(fn, y, n, num_classes)
    if inplace and scratch is not None:
        _check_scratch(fn, x, scratch)
    return apply_ricap(x, y_soft, params, inplace, scratch)


def apply_ricap(
    x: Tensor, y_soft: Tensor, params: RICAPParams, inplace: bool, scratch: Tensor | None
) -> tuple[Tensor, Tensor]:
    """:func:`ricap_batch` for validated inputs: float32 ``(N, K)`` targets, params drawn
    for this batch, a ``scratch`` (or ``None``) that fits ``x``."""
    n = x.shape[0]
    h, w = params.h, params.w
    perms = _on(params.perms, x.device)
    offsets = _on(params.offsets, x.device)
    out = scratch if inplace and scratch is not None else torch.empty_like(x)
    starts = [(0, 0), (0, w), (h, 0), (h, w)]
    patches = zip(params.patch_sizes(), starts, strict=True)
    _ricap_gather(x, perms, offsets, patches, out)
    if inplace:
        out = x.copy_(out)
    # sum_k weight_k * y[perms[k]]: one gather of the four shuffles, then a chain of
    # multiply-adds with the weights as Python floats (elementwise, not a matmul: no BLAS
    # call, deterministic on every device; no weights tensor to copy to the device; and on
    # CPU the same kernels as the rest of the call, cheaper from cold caches than a sum)
    w0, w1, w2, w3 = params.weights()
    s0, s1, s2, s3 = y_soft.index_select(0, _on(params.perms, y_soft.device).view(-1)).view(
        4, n, -1
    )
    y_out = s0.mul(w0).add_(s1, alpha=w1).add_(s2, alpha=w2).add_(s3, alpha=w3)
    return out, y_out
