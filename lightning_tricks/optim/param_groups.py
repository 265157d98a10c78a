"""Weight-decay helpers: no-bias-decay param groups and an L1 gradient term.

"No bias decay" (`He et al., 2019 <https://arxiv.org/abs/1812.01187>`_, §3.1) applies weight
decay only to the weights of convolution and fully connected layers; biases and the scale and
shift (γ, β) of normalisation layers are left unregularised.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .._checks import check_float

__all__ = ["add_l1_grad_", "no_decay_names", "param_groups"]

#: normalisation layers whose weight and bias are exempt from decay
NORM_LAYERS: tuple[type[nn.Module], ...] = tuple(
    t
    for t in (
        nn.modules.batchnorm._NormBase,  # BatchNorm*, SyncBatchNorm, InstanceNorm*
        nn.GroupNorm,
        nn.LayerNorm,
        getattr(nn, "RMSNorm", None),
        nn.LocalResponseNorm,
    )
    if t is not None
)


def no_decay_names(
    model: nn.Module,
    *,
    bias: bool = True,
    norm: bool = True,
    patterns: Sequence[str] = (),
) -> set[str]:
    """Names of the parameters of ``model`` that should get no weight decay.

    Args:
        model: the module.
        bias: exempt every parameter named ``bias``. Default ``True``.
        norm: exempt every parameter of a normalisation layer (BatchNorm, GroupNorm,
            LayerNorm, InstanceNorm, RMSNorm). Default ``True``.
        patterns: extra ``fnmatch`` patterns of parameter names to exempt, e.g.
            ``("*.pos_embed",)``. Names returned by a ``model.no_weight_decay()`` method (the
            timm convention) are exempt as well.

    Returns:
        The set of exempt names, as in ``model.named_parameters()``.

    Raises:
        TypeError: if ``model`` is not an ``nn.Module``.

    Example::

        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8))
        >>> sorted(no_decay_names(net))
        ['0.bias', '1.bias', '1.weight']
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"`model` must be an nn.Module, got {type(model).__name__}")
    if isinstance(patterns, str):
        raise TypeError(f"`patterns` must be a sequence of strings, got the string {patterns!r}")
    names: set[str] = set()
    for module_name, module in model.named_modules():
        is_norm = norm and isinstance(module, NORM_LAYERS)
        for param_name, _ in module.named_parameters(recurse=False):
            full = f"{module_name}.{param_name}" if module_name else param_name
            if is_norm or (bias and param_name == "bias"):
                names.add(full)
    exempt = getattr(model, "no_weight_decay", None)
    extra = set(exempt()) if callable(exempt) else set()
    for name, _ in model.named_parameters():
        if name in extra or any(fnmatch.fnmatchcase(name, pat) for pat in patterns):
            names.add(name)
    return names


def param_groups(
    model: nn.Module,
    weight_decay: float,
    *,
    bias: bool = True,
    norm: bool = True,
    patterns: Sequence[str] = (),
    **options: Any,
) -> list[dict[str, Any]]:
    """Two param groups for an optimizer: decayed weights and exempt biases/norms.

    Only trainable parameters (``requires_grad``) are included; empty groups are left out.
    Pass the result straight to any optimizer.

    Args:
        model: the module.
        weight_decay: decay of the ``"decay"`` group (>= 0); the ``"no_decay"`` group gets 0.
        bias: exempt biases. Default ``True``.
        norm: exempt normalisation-layer parameters. Default ``True``.
        patterns: extra ``fnmatch`` patterns of exempt names (see :func:`no_decay_names`).
        **options: other per-group options, copied into both groups (e.g. ``lr``).

    Returns:
        ``[{"params": [...], "weight_decay": weight_decay, "name": "decay", ...},``
        ``{"params": [...], "weight_decay": 0.0, "name": "no_decay", ...}]``.

    Raises:
        TypeError: if ``model`` is not a module or ``weight_decay`` not a number.
        ValueError: if ``weight_decay < 0``.

    Example::

        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
        >>> groups = param_groups(net, weight_decay=5e-4)
        >>> [(g["name"], len(g["params"]), g["weight_decay"]) for g in groups]
        [('decay', 1, 0.0005), ('no_decay', 3, 0.0)]
        >>> opt = torch.optim.SGD(groups, lr=0.1, momentum=0.9)
    """
    weight_decay = check_float("weight_decay", weight_decay, low=0.0)
    exempt = no_decay_names(model, bias=bias, norm=norm, patterns=patterns)
    decay: list[Tensor] = []
    no_decay: list[Tensor] = []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if name in exempt else decay).append(p)
    groups = []
    if decay:
        groups.append(
            {**options, "params": decay, "weight_decay": float(weight_decay), "name": "decay"}
        )
    if no_decay:
        groups.append({**options, "params": no_decay, "weight_decay": 0.0, "name": "no_decay"})
    return groups


@torch.no_grad()
def add_l1_grad_(params: Iterable[Tensor], weight: float) -> None:
    """Add the L1 penalty's gradient ``weight × sign(p)`` to ``p.grad``, in place.

    Equivalent to adding ``weight × Σ|p|`` to the loss (whose gradient is ``weight ×
    sign(p)``, 0 at 0), but done after the backward pass, in one vectorised ``_foreach`` op.
    Parameters without a gradient are skipped.

    Args:
        params: parameters whose gradients to update.
        weight: the L1 coefficient λ (>= 0).

    Raises:
        ValueError: if ``weight < 0``.

    Example::

        >>> import torch
        >>> w = torch.nn.Parameter(torch.tensor([-2.0, 0.0, 3.0]))
        >>> w.grad = torch.zeros(3)
        >>> add_l1_grad_([w], weight=0.1)
        >>> w.grad
        tensor([-0.1000,  0.0000,  0.1000])
    """
    weight = check_float("weight", weight, low=0.0)
    with_grad = [p for p in params if p.grad is not None]
    if not with_grad or weight == 0:
        return
    grads = [p.grad for p in with_grad if p.grad is not None]
    torch._foreach_add_(grads, torch._foreach_sign(with_grad), alpha=weight)
