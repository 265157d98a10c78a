"""Label-mixing batch tricks: MixUp, CutMix and RICAP as pure, vectorised torch functions.

Each trick is split in two (the torchvision ``make_params`` / ``transform`` split):

* ``sample_*_params(..., generator=None)`` draws all randomness into a small frozen
  dataclass, on the generator's device (CPU by default);
* ``*_batch(x, y, params, num_classes=None, inplace=False)`` is deterministic, vectorised
  over the batch (no Python loop over samples), works on ``x``'s device and dtype, keeps its
  memory format and, unless ``inplace``, never modifies its inputs. Targets go through
  :func:`~lightning_tricks.functional.mix_targets`: index targets come back as
  :class:`~lightning_tricks.functional.MixedTargets` (hard labels carrying the mixture),
  ``(N, K)`` targets as float32 ``(N, K)``, and with ``num_classes`` as float32 ``(N, K)``.

Convention: ``lam`` is the weight of the *original* sample ``i``; ``1 - lam`` that of its
partner ``perm[i]`` (as in torchvision v2 ``MixUp``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from ._batch import (
    check_boxes,
    check_generator,
    check_hw,
    check_images,
    check_inplace,
    check_int,
    check_mode,
    check_params,
    check_positive,
    check_probability,
    check_size,
    device_of,
    like,
    sample_beta,
)
from .targets import mix_targets

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


def _check_perm(cls: str, name: str, perm: object, shape: tuple[int, ...]) -> None:
    if not isinstance(perm, Tensor):
        raise TypeError(f"`{cls}`: `{name}` must be an int64 tensor, got {type(perm).__name__}")
    if perm.dtype != torch.int64 or perm.shape != shape:
        raise ValueError(
            f"`{cls}`: `{name}` must be int64 of shape {shape}, got {perm.dtype} of shape "
            f"{tuple(perm.shape)}"
        )
    if perm.numel() and not bool(((perm >= 0) & (perm < shape[-1])).all()):
        raise ValueError(f"`{cls}`: `{name}` entries must be in [0, {shape[-1] - 1}]")


# --------------------------------------------------------------------------------- MixUp
@dataclass(frozen=True)
class MixUpParams:
    """Randomness of one MixUp call.

    Attributes:
        lam: weight of the original sample in [0, 1]: a Python ``float`` (one for the
            batch) or a float tensor ``(N,)`` (one per sample).
        perm: int64 permutation ``(N,)``; sample ``i`` is mixed with ``perm[i]``.

    Raises:
        ValueError: ``lam`` outside [0, 1] (or not finite), a malformed ``perm``.
    """

    lam: float | Tensor
    perm: Tensor

    def __post_init__(self) -> None:
        n = self.perm.shape[0] if isinstance(self.perm, Tensor) and self.perm.ndim else -1
        _check_perm("MixUpParams", "perm", self.perm, (max(n, 0),))
        if isinstance(self.lam, Tensor):
            if self.lam.shape != (n,) or not bool(((self.lam >= 0) & (self.lam <= 1)).all()):
                raise ValueError(f"`lam` must be a tensor ({n},) of values in [0, 1]")
        elif isinstance(self.lam, bool) or not isinstance(self.lam, (int, float)):
            raise TypeError(f"`lam` must be a float or a tensor, got {type(self.lam).__name__}")
        else:
            check_probability("lam", self.lam)


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
    mode = check_mode(mode)
    generator = check_generator(generator)
    lam = sample_beta(alpha, 1 if mode == "batch" else n, generator)
    perm = torch.randperm(n, generator=generator, device=device_of(generator))
    return MixUpParams(lam=float(lam) if mode == "batch" else lam.float(), perm=perm)


def mixup_batch(
    x: Tensor,
    y: Tensor,
    params: MixUpParams,
    num_classes: int | None = None,
    inplace: bool = False,
) -> tuple[Tensor, Tensor]:
    """Mix images and targets: ``lam * x + (1 - lam) * x[perm]`` (same for targets).

    MixUp: Zhang et al., ICLR 2018, https://arxiv.org/abs/1710.09412. One gather of the
    partners and one ``lerp``; λ stays a Python float in batch mode, so float16 / bfloat16
    images keep their dtype.

    Args:
        x: float images ``(N, C, H, W)`` (any memory format).
        y: index targets ``(N,)`` (plain or mixed) or probability / multi-hot ``(N, K)``.
        params: from :func:`sample_mixup_params` with ``batch_size=N``.
        num_classes: K, to get float32 ``(N, K)`` probabilities (dense mode).
        inplace: write the mixed images into ``x`` (refused for a view or for images that
            require grad). Default ``False``.

    Returns:
        ``(x_mixed, y_mixed)``: images like ``x`` (``x`` itself when ``inplace``); targets as
        :func:`~lightning_tricks.functional.mix_targets` gives them.

    Raises:
        TypeError: non-tensor or non-float images, bad targets, ``params`` of another type.
        ValueError: wrong ranks, params drawn for another batch size, targets out of range.

    Example::

        >>> x = torch.stack([torch.zeros(1, 2, 2), torch.ones(1, 2, 2)])
        >>> params = MixUpParams(lam=0.75, perm=torch.tensor([1, 0]))
        >>> xm, ym = mixup_batch(x, torch.tensor([0, 1]), params)
        >>> xm[:, 0, 0, 0].tolist(), ym.tolist(), ym.to_dense(2).tolist()
        ([0.25, 0.75], [0, 1], [[0.75, 0.25], [0.25, 0.75]])
    """
    fn = "mixup_batch"
    check_images(fn, x)
    check_params(fn, params, MixUpParams)
    check_size(fn, x, params.perm.shape[0], x.shape[2], x.shape[3])
    inplace = check_inplace(fn, x, inplace)
    y_out = mix_targets(y, [(None, params.lam), (params.perm, 1.0 - params.lam)], num_classes)
    perm = params.perm.to(x.device, non_blocking=True)
    lam = params.lam
    if isinstance(lam, Tensor):
        lam = lam.to(x.device, x.dtype, non_blocking=True).view(-1, 1, 1, 1)
    partners = x.index_select(0, perm)
    if inplace:  # the same kernel and rounding as out of place
        return torch.lerp(partners, x, lam, out=x), y_out
    return like(x, torch.lerp(partners, x, lam)), y_out


# -------------------------------------------------------------------------------- CutMix
@dataclass(frozen=True)
class CutMixParams:
    """Randomness of one CutMix call.

    Attributes:
        perm: int64 permutation ``(N,)``; sample ``i`` receives a patch of ``perm[i]``.
        boxes: int64 ``(B, 4)`` boxes ``(top, left, bottom, right)``, half-open, inside the
            image, B = 1 (one box for the batch) or N (one per sample).
        height: image height H the boxes were drawn for.
        width: image width W.

    Raises:
        TypeError / ValueError: malformed permutation or boxes, boxes outside the image.
    """

    perm: Tensor
    boxes: Tensor
    height: int
    width: int

    def __post_init__(self) -> None:
        h, w = check_hw(self.height, self.width)
        n = self.perm.shape[0] if isinstance(self.perm, Tensor) and self.perm.ndim else -1
        _check_perm("CutMixParams", "perm", self.perm, (max(n, 0),))
        check_boxes("CutMixParams", self.boxes, h, w, 2)
        if self.boxes.shape[0] not in (1, n):
            raise ValueError(f"`CutMixParams`: `boxes` must have 1 or N={n} rows")

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
    b = 1 if check_mode(mode) == "batch" else n
    generator = check_generator(generator)
    device = device_of(generator)
    cut = torch.sqrt(1.0 - sample_beta(alpha, b, generator))
    u = torch.rand((2, b), dtype=torch.float64, device=device, generator=generator)
    perm = torch.randperm(n, generator=generator, device=device)
    half_h, half_w = (h * cut).long() // 2, (w * cut).long() // 2
    cy = (u[0] * h).long().clamp_(max=h - 1)
    cx = (u[1] * w).long().clamp_(max=w - 1)
    boxes = torch.stack(
        [(cy - half_h).clamp(0, h), (cx - half_w).clamp(0, w), (cy + half_h).clamp(0, h),
         (cx + half_w).clamp(0, w)],
        dim=1,
    )  # fmt: skip
    return CutMixParams(perm=perm, boxes=boxes, height=h, width=w)


def box_mask(boxes: Tensor, height: int, width: int) -> Tensor:
    """Boolean ``(B, 1, H, W)`` mask of the union of boxes ``(B, M, 4)`` (on their device)."""
    rows = torch.arange(height, device=boxes.device)
    cols = torch.arange(width, device=boxes.device)
    in_rows = (rows >= boxes[..., 0:1]) & (rows < boxes[..., 2:3])  # (B, M, H)
    in_cols = (cols >= boxes[..., 1:2]) & (cols < boxes[..., 3:4])  # (B, M, W)
    return (in_rows.unsqueeze(-1) & in_cols.unsqueeze(-2)).any(dim=1, keepdim=True)


def cutmix_batch(
    x: Tensor,
    y: Tensor,
    params: CutMixParams,
    num_classes: int | None = None,
    inplace: bool = False,
) -> tuple[Tensor, Tensor]:
    """Paste the box of the partner ``perm[i]`` into image ``i``; mix targets by box area.

    CutMix: Yun et al., ICCV 2019, https://arxiv.org/abs/1905.04899. With one box for the
    batch only the box region is copied; with one box per sample a broadcast mask selects
    the partner's pixels (one ``where`` pass). Targets get the area-corrected λ.

    Args:
        x: float images ``(N, C, H, W)`` (any memory format).
        y: index targets ``(N,)`` (plain or mixed) or probability / multi-hot ``(N, K)``.
        params: from :func:`sample_cutmix_params` for this batch size and image size.
        num_classes: K, to get float32 ``(N, K)`` probabilities (dense mode).
        inplace: paste into ``x`` itself (refused for a view or for images that require
            grad). Default ``False``.

    Returns:
        ``(x_mixed, y_mixed)``: images like ``x`` (``x`` itself when ``inplace``); targets as
        :func:`~lightning_tricks.functional.mix_targets` gives them.

    Raises:
        TypeError: non-tensor or non-float images, bad targets, ``params`` of another type.
        ValueError: wrong ranks, params drawn for another batch / image size, targets out of
            range.

    Example::

        >>> x = torch.stack([torch.zeros(1, 4, 4), torch.ones(1, 4, 4)])
        >>> params = CutMixParams(torch.tensor([1, 0]), torch.tensor([[0, 0, 2, 2]]), 4, 4)
        >>> xm, ym = cutmix_batch(x, torch.tensor([0, 1]), params)
        >>> xm[0, 0].sum().item(), ym.to_dense(2).tolist()
        (4.0, [[0.75, 0.25], [0.25, 0.75]])
    """
    fn = "cutmix_batch"
    check_images(fn, x)
    check_params(fn, params, CutMixParams)
    check_size(fn, x, params.perm.shape[0], params.height, params.width)
    inplace = check_inplace(fn, x, inplace)
    box_lam = params.lam()
    lam: float | Tensor = float(box_lam) if params.boxes.shape[0] == 1 else box_lam.float()
    y_out = mix_targets(y, [(None, lam), (params.perm, 1.0 - lam)], num_classes)
    perm = params.perm.to(x.device, non_blocking=True)
    if params.boxes.shape[0] == 1:
        top, left, bottom, right = params.boxes[0].tolist()
        out = x if inplace else x.clone()
        # the partners' boxes are copied out first: the paste must read the original batch
        out[:, :, top:bottom, left:right] = x[:, :, top:bottom, left:right].index_select(0, perm)
        return out, y_out
    boxes = params.boxes.to(x.device, non_blocking=True).unsqueeze(1)
    mask = box_mask(boxes, params.height, params.width)
    mixed = like(x, torch.where(mask, x.index_select(0, perm), x))
    return (x.copy_(mixed) if inplace else mixed), y_out


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
        offsets: int64 ``(4, N, 2)``, crop corners, inside the image for the patch's size.
        height: H.
        width: W.

    Raises:
        TypeError / ValueError: a boundary outside the image, malformed permutations,
            corners that put a crop outside the image.
    """

    h: int
    w: int
    perms: Tensor
    offsets: Tensor
    height: int
    width: int

    def __post_init__(self) -> None:
        hgt, wid = check_hw(self.height, self.width)
        for name, value, size in (("h", self.h, hgt), ("w", self.w, wid)):
            if check_int(name, value, 0) > size:
                raise ValueError(
                    f"`RICAPParams`: the boundary `{name}` must be in [0, {size}] (the image "
                    f"size), got {value}"
                )
        n = self.perms.shape[-1] if isinstance(self.perms, Tensor) and self.perms.ndim else 0
        _check_perm("RICAPParams", "perms", self.perms, (4, n))
        off = self.offsets
        if not isinstance(off, Tensor) or off.dtype != torch.int64 or off.shape != (4, n, 2):
            raise ValueError(f"`RICAPParams`: `offsets` must be int64 of shape (4, {n}, 2)")
        sizes = torch.tensor(self.patch_sizes(), device=off.device).view(4, 1, 2)
        room = torch.tensor([hgt, wid], device=off.device) - sizes
        if not bool(((off >= 0) & (off <= room)).all()):
            raise ValueError("`RICAPParams`: `offsets` put a crop outside the image")

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
    beta = check_positive("beta", beta)
    generator = check_generator(generator)
    device = device_of(generator)
    f_w, f_h = sample_beta(beta, 2, generator).tolist()
    w, h = round(wid * f_w), round(hgt * f_h)  # round half to even, as torch.round
    perms = torch.stack([torch.randperm(n, generator=generator, device=device) for _ in range(4)])
    # crop corners: uniform integers in [0, room] per axis, room = image size - patch size
    sizes = torch.tensor(
        [(h, w), (h, wid - w), (hgt - h, w), (hgt - h, wid - w)], device=device
    ).view(4, 1, 2)
    room = torch.tensor([hgt, wid], device=device) - sizes
    u = torch.rand((4, n, 2), dtype=torch.float64, device=device, generator=generator)
    offsets = torch.minimum((u * (room + 1)).long(), room)  # u < 1, but u * c may round to c
    return RICAPParams(h=h, w=w, perms=perms, offsets=offsets, height=hgt, width=wid)


def ricap_batch(
    x: Tensor,
    y: Tensor,
    params: RICAPParams,
    num_classes: int | None = None,
    inplace: bool = False,
) -> tuple[Tensor, Tensor]:
    """Patch four crops of four shuffles of the batch into each image; targets by patch area.

    RICAP: Takahashi et al., IEEE TCSVT 2019, https://arxiv.org/abs/1811.09030. One
    ``index_select`` per patch, in any memory format, and no loop over samples: each patch
    reads every sample's own crop window straight into the output slice, from an
    ``as_strided`` view of the batch in which every window is one index.

    Args:
        x: float images ``(N, C, H, W)`` (any memory format).
        y: index targets ``(N,)`` (plain or mixed) or probability / multi-hot ``(N, K)``.
        params: from :func:`sample_ricap_params` for this batch size and image size.
        num_classes: K, to get float32 ``(N, K)`` probabilities (dense mode).
        inplace: copy the patched images back into ``x`` (refused for a view or for images
            that require grad). Default ``False``.

    Returns:
        ``(x_patched, y_mixed)``: images like ``x``; targets
        ``Σ_k area_k / (H * W) · y[perms[k]]`` as
        :func:`~lightning_tricks.functional.mix_targets` gives them.

    Raises:
        TypeError: non-tensor or non-float images, bad targets, ``params`` of another type.
        ValueError: wrong ranks, params drawn for another batch / image size, targets out of
            range.

    Example::

        >>> x = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 1, 2, 2)
        >>> params = RICAPParams(1, 1, torch.arange(4).repeat(4, 1),
        ...                      torch.zeros(4, 4, 2, dtype=torch.long), 2, 2)
        >>> xp, yp = ricap_batch(x, torch.arange(4), params)
        >>> xp[0, 0].tolist(), yp.to_dense(4)[0].tolist()
        ([[0.0, 0.0], [0.0, 0.0]], [1.0, 0.0, 0.0, 0.0])
    """
    fn = "ricap_batch"
    check_images(fn, x)
    check_params(fn, params, RICAPParams)
    check_size(fn, x, params.perms.shape[1], params.height, params.width)
    inplace = check_inplace(fn, x, inplace)
    parts = list(zip(params.perms, params.weights(), strict=True))
    y_out = mix_targets(y, parts, num_classes)
    n, c, hgt, wid = x.shape
    out = torch.empty_like(x)
    s_n, s_c, s_h, s_w = x.stride()
    o_n, o_c, o_h, o_w = out.stride()
    perms = params.perms.to(x.device, non_blocking=True)
    offsets = params.offsets.to(x.device, non_blocking=True)
    # flat offset of every crop's top-left element, (4, N)
    first = offsets[..., 0] * s_h + offsets[..., 1] * s_w + perms * s_n
    starts = [(0, 0), (0, params.w), (params.h, 0), (params.h, params.w)]
    for first_k, (ph, pw), (r0, c0) in zip(first, params.patch_sizes(), starts, strict=True):
        if ph == 0 or pw == 0:
            continue
        # windows[t] is the (C, ph, pw) window whose top-left element is at flat offset t
        span = (n - 1) * s_n + (hgt - ph) * s_h + (wid - pw) * s_w + 1
        windows = x.as_strided((span, c, ph, pw), (1, s_c, s_h, s_w), x.storage_offset())
        dest = out.as_strided((n, c, ph, pw), (o_n, o_c, o_h, o_w), r0 * o_h + c0 * o_w)
        dest.copy_(windows.index_select(0, first_k))
    return (x.copy_(out) if inplace else out), y_out
