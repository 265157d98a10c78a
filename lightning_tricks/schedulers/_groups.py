"""Helpers that keep a scheduler's per-param-group lists in step with its optimizer.

Used when param groups are split (no-bias-decay), when LRs are rescaled after the
scheduler was built (linear scaling rule, warmup multiplier) and when groups are added after
construction (e.g. Lightning's ``BackboneFinetuning``). Pure torch, no Lightning.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from torch.optim import Optimizer

__all__: list[str] = []

#: attributes of torch / timm / lightning-tricks schedulers that hold one value per param group
PER_GROUP_LR_ATTRS: tuple[str, ...] = ("base_lrs", "_last_lr", "max_lrs", "_handover_lrs")
#: per-group attributes that are not learning rates (copied, never rescaled)
PER_GROUP_OTHER_ATTRS: tuple[str, ...] = ("lr_lambdas", "min_lrs")
#: param-group keys that hold learning rates (torch's ``initial_lr``; OneCycleLR's ``max_lr``/``min_lr``)
GROUP_LR_KEYS: tuple[str, ...] = ("lr", "initial_lr", "max_lr", "min_lr")


def iter_schedulers(scheduler: Any) -> Iterator[Any]:
    """Yield ``scheduler`` and every scheduler nested in it (SequentialLR, ChainedScheduler,
    GradualWarmup's follow-on scheduler)."""
    yield scheduler
    for child in getattr(scheduler, "_schedulers", ()) or ():
        yield from iter_schedulers(child)
    after = getattr(scheduler, "after_scheduler", None)
    if after is not None:
        yield from iter_schedulers(after)


def scale_scheduler_lrs(scheduler: Any, factor: float) -> None:
    """Multiply every per-group LR list of ``scheduler`` (and nested ones) by ``factor``."""
    for sched in iter_schedulers(scheduler):
        for attr in PER_GROUP_LR_ATTRS:
            values = getattr(sched, attr, None)
            if isinstance(values, list):
                setattr(sched, attr, [v * factor for v in values])


def extend_scheduler_groups(scheduler: Any, sources: Sequence[int], n_before: int) -> None:
    """Append, to every per-group list of ``scheduler``, copies of the entries at ``sources``.

    Call after new param groups were appended to the optimizer, group ``n_before + j`` being a
    split of group ``sources[j]``; lists whose length is not ``n_before`` are left alone.
    """
    for sched in iter_schedulers(scheduler):
        for attr in PER_GROUP_LR_ATTRS + PER_GROUP_OTHER_ATTRS:
            values = getattr(sched, attr, None)
            if isinstance(values, list) and len(values) == n_before:
                values.extend(values[i] for i in sources)


def sync_new_groups(optimizer: Optimizer, base_lrs: list[Any]) -> None:
    """Extend ``base_lrs`` with the LR of groups added to ``optimizer`` after construction.

    A new group's base LR is its ``initial_lr`` (set here to its current LR if missing), the
    convention of torch's schedulers.
    """
    for group in optimizer.param_groups[len(base_lrs) :]:
        base_lrs.append(group.setdefault("initial_lr", group["lr"]))
