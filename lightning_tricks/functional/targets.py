"""Targets of the label tricks: the mixed-label tensor and its helpers (DESIGN.md §1).

A label-changing trick (MixUp, CutMix, RICAP, label smoothing) must not change what the
targets *look like*, because modules do more with them than call a loss: they update
torchmetrics, compare ``argmax == y``, call ``nll_loss``, reshape them for a one-logit head.
So index targets ``(N,)`` become a :class:`MixedTargets`: a tensor whose values are the hard
labels (int64 ``(N,)``, the largest-weight label of each sample) and which carries the
mixture. The losses that can use the mixture do, through ``__torch_function__``:

* ``F.cross_entropy`` / ``nn.CrossEntropyLoss`` (``weight``, ``ignore_index``,
  ``reduction``, ``label_smoothing``) and ``F.nll_loss`` / ``nn.NLLLoss``: one
  ``log_softmax`` plus one gather per component, never an ``(N, K)`` one-hot;
* ``F.binary_cross_entropy_with_logits`` / ``nn.BCEWithLogitsLoss``: a one-logit binary
  head (targets ``y.float()`` or ``y.view(-1, 1).float()``) or one logit per class
  (targets ``F.one_hot(y, K).float()``).

Each equals the same loss on the equivalent dense probabilities (:func:`to_dense`). Every
other operation sees the plain hard labels and returns a plain tensor; only casts and
reshapes that keep one entry per sample (``float``, ``long``, ``to``, ``view``,
``reshape``, ``unsqueeze``, ``squeeze``, ``flatten``, ``clone``, ``detach``,
``contiguous``, ``cpu``, ``F.one_hot``) keep the mixture, so that it reaches the loss.
Probability targets ``(N, K)`` stay probabilities: the tricks return float32 ``(N, K)``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .._checks import check_float

__all__ = [
    "MixedTargets",
    "hard_targets",
    "mix_targets",
    "one_hot",
    "smooth_targets",
    "to_dense",
]

# a part of a mix: (permutation of the batch or None for the identity, weight: a Python
# float for the whole batch or a float32 tensor (N,))
MixPart = tuple[Tensor | None, float | Tensor]


class _Ledger:
    """Shared by a mixture and everything derived from it: did a loss consume it?"""

    __slots__ = ("consumed", "owners", "reported")

    def __init__(self) -> None:
        self.consumed = False
        self.reported = False
        self.owners: list[str] = []


def _is_index(y: Tensor) -> bool:
    return not (y.is_floating_point() or y.is_complex() or y.dtype == torch.bool)


class MixedTargets(Tensor):
    """Hard labels that carry a label mixture: what MixUp, CutMix, RICAP and smoothing return.

    The tensor's values are the hard labels, int64 ``(N,)``: for each sample the class with
    the largest total weight (the sample's own label on a tie). It also carries the mixture
    ``q = (1 - ε) · Σ_c w_c · onehot(l_c) + ε / K``: components of class indices ``l_c``
    ``(N,)`` and weights ``w_c`` ``(N,)`` (float32, summing to 1 per sample) and a smoothing
    ``ε``. The number of classes K comes from the logits when a loss runs, so no trick needs
    it. See the module docstring for which operations use the mixture.

    Build one with :func:`mix_targets` or :func:`smooth_targets`; turn one into
    probabilities with :meth:`to_dense`.

    Example::

        >>> y = mix_targets(torch.tensor([0, 2]), [(None, 0.7), (torch.tensor([1, 0]), 0.3)])
        >>> y.tolist(), type(y + 0).__name__                   # labels; other ops: plain
        ([0, 2], 'Tensor')
        >>> y.to_dense(3)
        tensor([[0.7000, 0.0000, 0.3000],
                [0.3000, 0.0000, 0.7000]])
        >>> import torch.nn.functional as F
        >>> logits = torch.zeros(2, 3)
        >>> round(float(F.cross_entropy(logits, y)), 4)       # the mixed loss: log(3)
        1.0986
    """

    _labels: tuple[Tensor, ...]
    _weights: tuple[Tensor, ...]
    _smoothing: float
    _ledger: _Ledger

    @staticmethod
    def _make(
        labels: Sequence[Tensor],
        weights: Sequence[Tensor],
        smoothing: float,
        ledger: _Ledger | None,
        values: Tensor | None = None,
    ) -> MixedTargets:
        if values is None:
            values = _largest_weight_label(labels, weights)
        out = Tensor._make_subclass(MixedTargets, values)
        out._labels, out._weights = tuple(labels), tuple(weights)
        out._smoothing = smoothing
        out._ledger = ledger if ledger is not None else _Ledger()
        return out

    @property
    def components(self) -> list[tuple[Tensor, Tensor]]:
        """The mixture's ``(class indices (N,), weights (N,))`` pairs (plain tensors)."""
        return list(zip(self._labels, self._weights, strict=True))

    @property
    def smoothing(self) -> float:
        """The label-smoothing ε of the mixture (0 when not smoothed)."""
        return self._smoothing

    def hard(self) -> Tensor:
        """The hard labels as a plain tensor (what every non-loss operation sees)."""
        return self.as_subclass(Tensor)

    def to_dense(self, num_classes: int | None = None) -> Tensor:  # type: ignore[override]
        """The mixture as float32 probabilities ``(N, num_classes)`` (for a loss of your own).

        Marks the mixture as consumed (no "loss saw hard labels" warning for this step).

        Raises:
            ValueError: if ``num_classes`` is missing, < 1 or smaller than a label + 1.
        """
        if num_classes is None:
            raise ValueError(
                "`num_classes` is needed to turn mixed targets into (N, K) probabilities: "
                "call `y.to_dense(num_classes)`"
            )
        self._ledger.consumed = True
        return _dense(self, num_classes)

    def __deepcopy__(self, memo: dict[int, Any]) -> MixedTargets:
        return MixedTargets._make(
            [t.clone() for t in self._labels],
            [t.clone() for t in self._weights],
            self._smoothing,
            copy.deepcopy(self._ledger, memo),
            self.hard().clone(),
        )

    def __repr__(self, *, tensor_contents: Any = None) -> str:  # type: ignore[override]
        return (
            f"MixedTargets({self.hard()!r}, components={len(self._labels)}, "
            f"smoothing={self._smoothing:g})"
        )

    @classmethod
    def __torch_function__(
        cls,
        func: Callable[..., Any],
        types: Any,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        loss = _LOSSES.get(func)
        if loss is not None:
            return loss(*args, **kwargs)
        with torch._C.DisableTorchFunctionSubclass():
            out = func(*args, **kwargs)
        source = args[0] if args and isinstance(args[0], MixedTargets) else None
        if source is None:
            return out
        name = getattr(func, "__name__", "")
        if name in _KEEP_MIXTURE:
            if out is source:  # e.g. `.long()` of int64 labels returns the tensor itself
                return out
            if (
                isinstance(out, Tensor)
                and out.ndim >= 1
                and out.shape[0] == source.shape[0]
                and source._labels
            ):
                return MixedTargets._make(
                    source._labels, source._weights, source._smoothing, source._ledger, out
                )
            return out
        if out is source or func is Tensor.__setitem__ or (name.endswith("_") and name[:2] != "__"):
            # written in place: the labels no longer match the mixture, so drop it (a loss
            # then sees hard labels, and the trick warns)
            source._labels, source._weights = (), ()
        return out


# operations that keep one entry per sample: their result carries the mixture on
_KEEP_MIXTURE = frozenset(
    {
        "float",
        "double",
        "half",
        "bfloat16",
        "long",
        "int",
        "to",
        "type",
        "type_as",
        "view",
        "view_as",
        "reshape",
        "reshape_as",
        "unsqueeze",
        "squeeze",
        "flatten",
        "clone",
        "detach",
        "contiguous",
        "cpu",
        "cuda",
        "one_hot",
    }
)


def _largest_weight_label(labels: Sequence[Tensor], weights: Sequence[Tensor]) -> Tensor:
    """Per sample, the label of the largest total weight (the first component's on a tie)."""
    if len(labels) == 1:
        return labels[0]
    lab = torch.stack(list(labels))  # (C, N)
    wts = torch.stack(list(weights))
    same = lab.unsqueeze(1) == lab.unsqueeze(0)  # (C, C, N)
    totals = (same * wts.unsqueeze(0)).sum(1)  # total weight of each component's label
    return lab.gather(0, totals.argmax(0, keepdim=True)).squeeze(0)  # argmax: first maximum


def _check_targets(fn: str, y: Any, n: int | None = None) -> None:
    if not isinstance(y, Tensor):
        raise TypeError(f"`{fn}` expects targets as a torch.Tensor, got {type(y).__name__}")
    if y.ndim not in (1, 2) or (n is not None and y.shape[0] != n):
        expected = "N" if n is None else f"N={n}"
        raise ValueError(
            f"`{fn}` expects targets of shape (N,) or (N, K) with {expected}, "
            f"got shape {tuple(y.shape)}"
        )
    if y.ndim == 1 and not _is_index(y):
        raise TypeError(
            f"`{fn}` expects index targets (N,) of an integer dtype, got dtype {y.dtype}; "
            "probabilities must have shape (N, K)"
        )


def _mixture(y: Tensor) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...], float, _Ledger | None]:
    """Components, smoothing and ledger of index targets (plain or mixed)."""
    if isinstance(y, MixedTargets) and y._labels:
        return y._labels, y._weights, y._smoothing, y._ledger
    labels = y.as_subclass(Tensor).long()
    return (labels,), (torch.ones(labels.shape, device=labels.device),), 0.0, None


def mix_targets(y: Tensor, parts: Sequence[MixPart], num_classes: int | None = None) -> Tensor:
    """Targets of a batch made of weighted, permuted copies of itself: ``Σ_j w_j · y[perm_j]``.

    The single place where the mixing tricks turn targets into a mixture. Index targets
    (plain or already mixed) give a :class:`MixedTargets` (its smoothing ε carried over,
    since smoothing is linear); probability / multi-hot targets ``(N, K)`` give float32
    ``(N, K)``; with ``num_classes`` the result is float32 ``(N, num_classes)`` either way
    (the dense mode).

    Args:
        y: index targets ``(N,)`` (integer or :class:`MixedTargets`) or ``(N, K)`` targets.
        parts: ``(perm, weight)`` pairs: ``perm`` an int64 permutation ``(N,)`` or ``None``
            for the batch as it is, ``weight`` a float or a float tensor ``(N,)``; the
            weights of a sample should sum to 1.
        num_classes: K, to get float32 ``(N, K)`` probabilities instead (dense mode).

    Raises:
        TypeError: non-tensor or non-integer index targets.
        ValueError: a wrong shape, or targets out of range for ``num_classes``.

    Example::

        >>> mix_targets(torch.tensor([0, 1]), [(None, 0.5), (torch.tensor([1, 0]), 0.5)], 2)
        tensor([[0.5000, 0.5000],
                [0.5000, 0.5000]])
    """
    fn = "mix_targets"
    sizes = {perm.shape[0] for perm, _ in parts if perm is not None}
    _check_targets(fn, y, sizes.pop() if len(sizes) == 1 else None)
    if y.ndim == 2:
        dense = _dense(y, num_classes)
        out = torch.zeros_like(dense)
        for perm, weight in parts:
            rows = (
                dense
                if perm is None
                else dense.index_select(0, perm.to(dense.device, non_blocking=True))
            )
            out += rows * _column(weight, dense.device)
        return out
    labels, weights, eps, ledger = _mixture(y)
    new_labels, new_weights = [], []
    for perm, weight in parts:
        if isinstance(weight, Tensor):
            weight = weight.to(labels[0].device, torch.float32, non_blocking=True)
        else:
            weight = float(weight)
        for lab, wt in zip(labels, weights, strict=True):
            if perm is not None:
                perm = perm.to(lab.device, non_blocking=True)
                lab, wt = lab.index_select(0, perm), wt.index_select(0, perm)
            new_labels.append(lab)
            new_weights.append(wt * weight)
    mixed = MixedTargets._make(new_labels, new_weights, eps, ledger)
    return mixed if num_classes is None else _dense(mixed, num_classes)


def _column(weight: float | Tensor, device: torch.device) -> float | Tensor:
    if isinstance(weight, Tensor):
        return weight.to(device, torch.float32, non_blocking=True).view(-1, 1)
    return float(weight)


def smooth_targets(y: Tensor, smoothing: float, num_classes: int | None = None) -> Tensor:
    """Label smoothing: ``(1 - ε) · y + ε / K``.

    Szegedy et al., "Rethinking the Inception Architecture for Computer Vision", CVPR 2016,
    https://arxiv.org/abs/1512.00567 (section 7). Index targets (plain or mixed) give a
    :class:`MixedTargets` whose losses equal ``F.cross_entropy(..., label_smoothing=ε)``
    (smoothing twice composes: ``1 - (1 - ε₁)(1 - ε₂)``); ``(N, K)`` targets give float32
    ``(N, K)`` where a row of total ``s`` gets ``ε · s / K`` (its total is kept); with
    ``num_classes`` the result is float32 ``(N, num_classes)`` either way (dense mode).

    Args:
        y: index targets ``(N,)`` (integer or :class:`MixedTargets`) or ``(N, K)`` targets.
        smoothing: ε in [0, 1]. 0.1 is the usual value (Szegedy et al.; Bag of Tricks).
        num_classes: K, to get float32 ``(N, K)`` probabilities (dense mode).

    Raises:
        TypeError: if ``smoothing`` is not a number, or bad targets.
        ValueError: if ``smoothing`` is outside [0, 1], or bad targets / ``num_classes``.

    Example::

        >>> smooth_targets(torch.tensor([0, 2]), 0.3, num_classes=3)
        tensor([[0.8000, 0.1000, 0.1000],
                [0.1000, 0.1000, 0.8000]])
    """
    eps = check_float("smoothing", smoothing, low=0.0, high=1.0)
    _check_targets("smooth_targets", y)
    if y.ndim == 2:
        soft = _dense(y, num_classes)
        total = soft.sum(dim=1, keepdim=True)
        return soft.mul(1.0 - eps).add_(total * (eps / soft.shape[1]))
    labels, weights, old, ledger = _mixture(y)
    values = y.as_subclass(Tensor).long() if isinstance(y, MixedTargets) and y._labels else None
    smoothed = MixedTargets._make(labels, weights, 1.0 - (1.0 - old) * (1.0 - eps), ledger, values)
    return smoothed if num_classes is None else _dense(smoothed, num_classes)


def hard_targets(y: Tensor) -> Tensor:
    """Class indices for metrics: the plain labels of any targets a trick may produce.

    :class:`MixedTargets` give their hard labels as a plain tensor, ``(N, K)`` probabilities
    their argmax, index targets ``(N,)`` themselves.

    Raises:
        TypeError: if ``y`` is not a tensor.
        ValueError: if ``y`` is neither 1-D nor 2-D.

    Example::

        >>> hard_targets(torch.tensor([[0.2, 0.8], [0.9, 0.1]]))
        tensor([1, 0])
        >>> hard_targets(torch.tensor([3, 1]))
        tensor([3, 1])
    """
    if not isinstance(y, Tensor):
        raise TypeError(f"`y` must be a torch.Tensor of targets, got {type(y).__name__} {y!r}")
    if isinstance(y, MixedTargets):
        return y.hard()
    if y.ndim == 1:
        return y
    if y.ndim == 2:
        return y.argmax(dim=1)
    raise ValueError(
        f"targets must be class indices of shape (N,) or probabilities of shape (N, K), "
        f"got shape {tuple(y.shape)}"
    )


def one_hot(y: Tensor, num_classes: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """One-hot encode index targets ``(N,)`` into ``(N, num_classes)`` (float32 by default).

    Args:
        y: integer class indices in ``[0, num_classes)``.
        num_classes: number of classes K (>= 1).
        dtype: floating dtype of the result.

    Raises:
        TypeError: if ``y`` is not an integer tensor.
        ValueError: if ``num_classes < 1``, ``y`` is not 1-D, or a class index is out of range.

    Example::

        >>> one_hot(torch.tensor([0, 2]), 3)
        tensor([[1., 0., 0.],
                [0., 0., 1.]])
    """
    _check_num_classes(num_classes)
    if not isinstance(y, Tensor) or not _is_index(y):
        what = f"dtype {y.dtype}" if isinstance(y, Tensor) else type(y).__name__
        raise TypeError(f"index targets must be an integer tensor, got {what}")
    if y.ndim != 1:
        raise ValueError(f"index targets must have shape (N,), got shape {tuple(y.shape)}")
    y = y.as_subclass(Tensor).long()
    _check_range(y, num_classes, "`num_classes`")
    out = torch.zeros(y.shape[0], num_classes, dtype=dtype, device=y.device)
    return out.scatter_(1, y.unsqueeze(1), 1.0)


def to_dense(y: Tensor, num_classes: int | None = None) -> Tensor:
    """Any targets as float32 probabilities ``(N, K)``: the dense form of the mixture.

    Args:
        y: index targets ``(N,)`` (plain or :class:`MixedTargets`; ``num_classes`` required)
            or ``(N, K)`` targets (``num_classes`` checked when given).
        num_classes: K.

    Raises:
        TypeError / ValueError: bad targets, a missing or mismatched ``num_classes``.

    Example::

        >>> to_dense(smooth_targets(torch.tensor([1]), 0.2), 2)
        tensor([[0.1000, 0.9000]])
    """
    _check_targets("to_dense", y)
    if isinstance(y, MixedTargets):
        return y.to_dense(num_classes)
    return _dense(y, num_classes)


def _check_num_classes(num_classes: Any) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"`num_classes` must be an integer >= 1, got {num_classes!r}")
    return num_classes


def _check_range(labels: Tensor, k: int, what: str, ignore_index: int | None = None) -> None:
    """Class indices must be in ``[0, k)``; on an accelerator the check does not sync."""
    bad = (labels < 0) | (labels >= k)
    if ignore_index is not None:
        bad &= labels != ignore_index
    if labels.device.type != "cpu":
        torch._assert_async(~bad.any())
        return
    if bool(bad.any()):
        value = int(labels[bad][0])
        raise ValueError(
            f"target class {value} is out of range for {what}={k}: expected indices in [0, {k - 1}]"
        )


def _dense(y: Tensor, num_classes: int | None) -> Tensor:
    """float32 ``(N, K)`` of any validated targets."""
    if y.ndim == 2 and not (isinstance(y, MixedTargets) and y._labels):
        if num_classes is not None and y.shape[1] != _check_num_classes(num_classes):
            raise ValueError(
                f"targets have {y.shape[1]} columns but `num_classes`={num_classes}: "
                "expected shape (N, num_classes)"
            )
        y = y.as_subclass(Tensor)
        return y if y.dtype == torch.float32 else y.float()
    if num_classes is None:
        raise ValueError(
            "index targets of shape (N,) need `num_classes` to become (N, K) probabilities"
        )
    k = _check_num_classes(num_classes)
    labels, weights, eps, _ = _mixture(y)
    out = torch.zeros(labels[0].shape[0], k, device=labels[0].device)
    for lab, wt in zip(labels, weights, strict=True):
        _check_range(lab, k, "`num_classes`")
        out.scatter_add_(1, lab.unsqueeze(1), wt.unsqueeze(1))
    if eps:  # a row of total s gets ε · s / K (s = 1 for a mixture of labels)
        total = out.sum(1, keepdim=True)
        out.mul_(1.0 - eps).add_(total * (eps / k))
    return out


# ----------------------------------------------------------------------------- the losses
def _reduction(size_average: Any, reduce: Any, reduction: str) -> str:
    if size_average is not None or reduce is not None:
        return torch.nn._reduction.legacy_get_string(size_average, reduce)
    return reduction


def _cross_entropy(
    input: Tensor,
    target: MixedTargets,
    weight: Tensor | None = None,
    size_average: Any = None,
    ignore_index: int = -100,
    reduce: Any = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    reduction = _reduction(size_average, reduce, reduction)
    if not target._labels:  # the mixture was dropped (targets written in place)
        return F.cross_entropy(
            input, target.hard(), weight, None, ignore_index, None, reduction, label_smoothing
        )
    return _mixed_nll("cross_entropy", input, target, weight, ignore_index, reduction,
                      label_smoothing, normalize=True)  # fmt: skip


def _nll_loss(
    input: Tensor,
    target: MixedTargets,
    weight: Tensor | None = None,
    size_average: Any = None,
    ignore_index: int = -100,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    reduction = _reduction(size_average, reduce, reduction)
    if not target._labels:
        return F.nll_loss(input, target.hard(), weight, None, ignore_index, None, reduction)
    return _mixed_nll("nll_loss", input, target, weight, ignore_index, reduction, 0.0,
                      normalize=False)  # fmt: skip


def _mixed_nll(
    fn: str,
    scores: Tensor,
    target: MixedTargets,
    weight: Tensor | None,
    ignore_index: int,
    reduction: str,
    label_smoothing: float,
    normalize: bool,
) -> Tensor:
    """``-Σ_k weight_k q_ik log p_ik`` for the mixture ``q`` (ignored labels dropped), with
    ``log p = log_softmax(scores)`` (``normalize``) or ``scores`` (log-probabilities)."""
    n = target._labels[0].shape[0]
    if scores.ndim != 2 or scores.shape[0] != n:
        raise ValueError(
            f"`{fn}` with mixed targets (from a label trick) expects scores of shape (N, K) "
            f"with N={n}, got shape {tuple(scores.shape)}"
        )
    check_float("label_smoothing", label_smoothing, low=0.0, high=1.0)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"`reduction` must be 'none', 'mean' or 'sum', got {reduction!r}")
    k, device = scores.shape[1], scores.device
    labels = torch.stack(target._labels, 1).to(device)  # (N, C)
    weights = torch.stack(target._weights, 1).to(device)
    low, high = (int(v) for v in labels.aminmax()) if device.type == "cpu" else (-1, k)
    if low < 0 or high >= k or low <= ignore_index <= high:
        # an ignored label, or one out of range (a clear error), or an accelerator, where
        # the check must not sync: the general path
        _check_range(labels, k, f"the {k} scores of the loss (K)", ignore_index)
        keep = labels != ignore_index
        labels = torch.where(keep, labels, 0)
        weights = weights * keep  # ignored labels weigh 0
    omega = None if weight is None else weight.to(device, torch.float32)
    eps = 1.0 - (1.0 - target._smoothing) * (1.0 - label_smoothing)
    target._ledger.consumed = True
    loss, mass = _MixedNLL.apply(scores, labels, weights, omega, eps, normalize)
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.sum() / mass.sum()


class _MixedNLL(torch.autograd.Function):
    """Per-sample ``-Σ_k ω_k q_ik log p_ik`` with an analytic backward.

    ``q_ik = (1 - ε) Σ_c w_ic [l_ic = k] + ε m_i / K`` (``m_i = Σ_c w_ic``, the label weight
    that is not ignored). With ``log p = log_softmax(x)`` the gradient is
    ``A_i p_ik - ω_k q_ik`` (``A_i = Σ_k ω_k q_ik``); for log-probability scores it is
    ``-ω_k q_ik``. Forward: one ``log_softmax`` and one gather of all components; backward:
    one ``exp`` and one scatter, as index cross-entropy: no ``(N, K)`` one-hot, in float32.
    """

    @staticmethod
    def forward(
        ctx: Any,
        scores: Tensor,
        labels: Tensor,
        weights: Tensor,
        omega: Tensor | None,
        eps: float,
        normalize: bool,
    ) -> tuple[Tensor, Tensor]:
        log_p = torch.log_softmax(scores.float(), 1) if normalize else scores.float()
        k = log_p.shape[1]
        coef = weights if omega is None else weights * omega[labels]  # (N, C)
        mass = weights.sum(1)
        spread = mass * (eps / k)  # the smoothing weight of each class
        loss = (log_p.gather(1, labels) * coef).sum(1).mul_(-(1.0 - eps))
        if eps:
            loss -= spread * (log_p.sum(1) if omega is None else (log_p * omega).sum(1))
        total = None
        if normalize:  # Σ_k ω_k q_ik
            total = (1.0 - eps) * coef.sum(1) + spread * (k if omega is None else omega.sum())
        ctx.save_for_backward(log_p if normalize else None, labels, coef, spread, omega, total)
        ctx.eps, ctx.dtype, ctx.shape = eps, scores.dtype, scores.shape
        ctx.mark_non_differentiable(mass)
        return loss, mass

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: Tensor, _: Tensor) -> tuple[Tensor | None, ...]:
        log_p, labels, coef, spread, omega, total = ctx.saved_tensors
        g = grad.float().unsqueeze(1)
        if log_p is not None:
            out = torch.exp(log_p).mul_(total.unsqueeze(1) * g)
        else:
            out = torch.zeros(ctx.shape, device=grad.device)
        if ctx.eps:
            smooth = (spread.unsqueeze(1) * g).expand_as(out)
            out -= smooth if omega is None else smooth * omega
        out.scatter_add_(1, labels, coef.mul(-(1.0 - ctx.eps)) * g)
        return out.to(ctx.dtype), None, None, None, None, None


def _bce_with_logits(
    input: Tensor,
    target: MixedTargets,
    weight: Tensor | None = None,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    reduction = _reduction(size_average, reduce, reduction)
    values = target.as_subclass(Tensor)
    if not target._labels:
        return F.binary_cross_entropy_with_logits(
            input, values, weight, reduction=reduction, pos_weight=pos_weight
        )
    n = target._labels[0].shape[0]
    if input.numel() == n and values.numel() == n:  # one logit per sample: P(label == 1)
        for lab in target._labels:
            _check_range(lab, 2, "a one-logit binary head (K)")
        prob = sum(wt * (lab == 1) for lab, wt in zip(target._labels, target._weights, strict=True))
        probs = torch.as_tensor(prob).float().mul(1.0 - target._smoothing) + target._smoothing / 2
        probs = probs.view(values.shape)
    elif input.ndim == 2 and input.shape[0] == n and values.shape == input.shape:
        probs = _dense(target, input.shape[1])  # one logit per class: BCE is elementwise
    else:
        raise ValueError(
            "`binary_cross_entropy_with_logits` with mixed targets (from a label trick) "
            f"expects one logit per sample with targets like `y.float()` or "
            f"`y.view(-1, 1).float()`, or logits (N, K) with targets `F.one_hot(y, K).float()`; "
            f"got logits {tuple(input.shape)} and targets {tuple(values.shape)}"
        )
    target._ledger.consumed = True
    return F.binary_cross_entropy_with_logits(
        input, probs.to(input.device), weight, reduction=reduction, pos_weight=pos_weight
    )


_LOSSES: dict[Callable[..., Any], Callable[..., Tensor]] = {
    F.cross_entropy: _cross_entropy,
    F.nll_loss: _nll_loss,
    F.binary_cross_entropy_with_logits: _bce_with_logits,
}
