"""``WarmupCosineLR`` and ``GradualWarmup``: ordinary ``LRScheduler`` subclasses.

Both are stepped once per optimizer step (``interval="step"`` in Lightning) or once per epoch,
whatever the caller chooses; all lengths are counted in calls to ``step()``. Their
``state_dict`` round-trips exactly, so Lightning's checkpoints restore them natively.
"""

from __future__ import annotations

import warnings
from typing import Any, SupportsFloat, cast

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from ._groups import scale_scheduler_lrs, sync_new_groups
from .functional import _check_float, _check_int, linear_warmup, warmup_cosine

__all__ = ["GradualWarmup", "WarmupCosineLR"]


def _check_optimizer(optimizer: object) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"`optimizer` must be a torch.optim.Optimizer, got {type(optimizer).__name__}"
        )


class WarmupCosineLR(LRScheduler):
    """Linear warmup then cosine decay to ``min_lr``, clamped at ``min_lr`` after the end.

    Cosine decay: `Loshchilov & Hutter, 2017 <https://arxiv.org/abs/1608.03983>`_; with a
    linear warmup as in the Bag of Tricks paper (`He et al., 2019
    <https://arxiv.org/abs/1812.01187>`_). Each param group follows
    :func:`~lightning_tricks.schedulers.warmup_cosine` with its own base LR; the values equal
    timm's ``CosineLRScheduler`` with ``warmup_prefix=True`` and torch's
    ``SequentialLR(LinearLR, CosineAnnealingLR)``. The schedule is closed-form (not chainable):
    it sets every group's LR from its base LR at each step. Param groups added after
    construction (e.g. by ``BackboneFinetuning``) are scheduled from the LR they were added with.

    In Lightning, step it per optimizer step (``{"scheduler": s, "interval": "step"}``) with
    ``total_steps=trainer.estimated_stepping_batches``, or let the
    :class:`~lightning_tricks.callbacks.WarmupCosine` callback do all of that. From
    LightningCLI's ``--lr_scheduler`` it is stepped once per epoch, so give lengths in epochs.

    Args:
        optimizer: the wrapped optimizer.
        total_steps: number of ``step()`` calls planned (>= 1).
        warmup_steps: warmup length, in ``[0, total_steps]``. Default 0.
        warmup_start_factor: LR factor at step 0, in ``[0, 1]``. Default 0.
        min_lr: final LR, absolute and the same for every group (>= 0). Default 0.
        last_epoch: index of the last step; ``-1`` (default) starts a new schedule.

    Raises:
        TypeError: if ``optimizer`` is not an optimizer or a length is not an int.
        ValueError: for values outside the ranges above.

    Example::

        >>> import torch
        >>> opt = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
        >>> sched = WarmupCosineLR(opt, total_steps=10, warmup_steps=2)
        >>> lrs = []
        >>> for _ in range(10):
        ...     lrs.append(sched.get_last_lr()[0])
        ...     opt.step()
        ...     sched.step()
        >>> [round(lr, 4) for lr in lrs[:4]], round(sched.get_last_lr()[0], 4)
        ([0.0, 0.05, 0.1, 0.0962], 0.0)
    """

    def __init__(
        self,
        optimizer: Optimizer,
        total_steps: int,
        warmup_steps: int = 0,
        warmup_start_factor: float = 0.0,
        min_lr: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(optimizer)
        _check_int("last_epoch", last_epoch, -1)
        # validates every argument with the messages of the pure function
        warmup_cosine(0, 1.0, total_steps, warmup_steps, warmup_start_factor, min_lr)
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps
        self.warmup_start_factor = float(warmup_start_factor)
        self.min_lr = float(min_lr)
        super().__init__(optimizer, last_epoch)
        low = [i for i, base in enumerate(self.base_lrs) if float(base) < self.min_lr]
        if low:
            warnings.warn(
                f"WarmupCosineLR: `min_lr`={self.min_lr} is above the base LR of param "
                f"group(s) {low}; their LR will rise, not decay",
                UserWarning,
                stacklevel=2,
            )

    def get_lr(self) -> list[float]:  # type: ignore[override]
        """LRs at step ``last_epoch`` (closed form)."""
        sync_new_groups(self.optimizer, self.base_lrs)
        return [
            warmup_cosine(
                self.last_epoch,
                float(base),
                self.total_steps,
                self.warmup_steps,
                self.warmup_start_factor,
                self.min_lr,
            )
            for base in self.base_lrs
        ]

    _get_closed_form_lr = get_lr


def _needs_metrics(scheduler: Any) -> bool:
    if isinstance(scheduler, ReduceLROnPlateau):
        return True
    return _needs_metrics(getattr(scheduler, "after_scheduler", None)) if scheduler else False


class GradualWarmup(LRScheduler):
    """Gradual warmup to ``multiplier × base LR``, then hand-over to any follow-on scheduler.

    The "gradual warmup" of `Goyal et al., 2017 <https://arxiv.org/abs/1706.02677>`_ (as
    popularised by the Bag of Tricks article): the LR rises linearly from
    ``start_factor × base`` to ``multiplier × base`` over ``warmup_steps`` calls of ``step()``;
    at that point ``after_scheduler`` takes over, starting from ``multiplier ×`` its own
    initial LR (its base LRs are multiplied by ``multiplier``). Any ``LRScheduler`` works,
    ``ReduceLROnPlateau`` included: pass the monitored value to ``step(metrics)``; it is
    ignored during the warmup. Without a follow-on scheduler the LR stays at
    ``multiplier × base`` and ``step()`` no longer touches it after the warmup.

    The follow-on scheduler must be built on the same optimizer *before* this one. Its state
    is part of this scheduler's ``state_dict``, which round-trips exactly. There is no
    deprecated ``step(epoch)``.

    Args:
        optimizer: the wrapped optimizer.
        warmup_steps: number of ``step()`` calls of the ramp (>= 0).
        multiplier: target LR factor at the end of the warmup (>= 1). Default 1.
        after_scheduler: scheduler that continues after the warmup. Default ``None``.
        start_factor: LR factor at step 0, in ``[0, multiplier]``. Default ``None``: 1 when
            ``multiplier > 1`` (the article's ramp from the base LR up to ``multiplier ×``
            base, e.g. the small-batch LR up to the linearly scaled one), else 0.
        last_epoch: index of the last step; ``-1`` (default) starts a new schedule.

    Raises:
        TypeError: for a wrong argument type, or ``step(metrics)`` with a metric when no
            ``ReduceLROnPlateau`` follows / without one when it does, after the warmup.
        ValueError: for ``warmup_steps < 0``, ``multiplier < 1``, ``start_factor`` outside
            ``[0, multiplier]`` or a follow-on scheduler of another optimizer.

    Example::

        >>> import torch
        >>> opt = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
        >>> after = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        >>> sched = GradualWarmup(opt, warmup_steps=3, after_scheduler=after)
        >>> lrs = []
        >>> for _ in range(8):
        ...     lrs.append(round(sched.get_last_lr()[0], 4))
        ...     opt.step()
        ...     sched.step()
        >>> lrs
        [0.0, 0.0333, 0.0667, 0.1, 0.1, 0.05, 0.05, 0.025]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        warmup_steps: int,
        multiplier: float = 1.0,
        after_scheduler: LRScheduler | ReduceLROnPlateau | None = None,
        start_factor: float | None = None,
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(optimizer)
        _check_int("last_epoch", last_epoch, -1)
        _check_int("warmup_steps", warmup_steps, 0)
        multiplier = _check_float("multiplier", multiplier)
        if multiplier < 1.0:
            raise ValueError(f"`multiplier` must be >= 1, got {multiplier}")
        if start_factor is None:
            start_factor = 1.0 if multiplier > 1.0 else 0.0
        start_factor = _check_float("start_factor", start_factor)
        if not 0.0 <= start_factor <= multiplier:
            raise ValueError(
                f"`start_factor` must be in [0, multiplier={multiplier}], got {start_factor}"
            )
        if after_scheduler is not None:
            if not isinstance(after_scheduler, (LRScheduler, ReduceLROnPlateau)):
                raise TypeError(
                    "`after_scheduler` must be a torch LRScheduler or ReduceLROnPlateau, got "
                    f"{type(after_scheduler).__name__}"
                )
            if after_scheduler.optimizer is not optimizer:
                raise ValueError(
                    "`after_scheduler` must be built on the same optimizer as GradualWarmup"
                )
        self.warmup_steps = warmup_steps
        self.multiplier = multiplier
        self.start_factor = start_factor
        self.after_scheduler = after_scheduler
        # the follow-on scheduler's own initial LRs (set when it was built), times multiplier
        self._handover_lrs: list[Any] | None = None
        if after_scheduler is not None:
            self._handover_lrs = [multiplier * g["lr"] for g in optimizer.param_groups]
            if multiplier != 1.0:
                scale_scheduler_lrs(after_scheduler, multiplier)
        super().__init__(optimizer, last_epoch)

    @property
    def finished(self) -> bool:
        """Whether the warmup (hand-over step included) is over."""
        return self.last_epoch >= self.warmup_steps

    def _handover(self) -> list[Any]:
        lrs = (
            list(self._handover_lrs)
            if self._handover_lrs is not None
            else [self.multiplier * b for b in self.base_lrs]
        )
        lrs.extend(self.multiplier * b for b in self.base_lrs[len(lrs) :])
        return lrs

    def get_lr(self) -> list[Any]:
        """LRs at step ``last_epoch`` of the warmup (current LRs once released)."""
        sync_new_groups(self.optimizer, self.base_lrs)
        step = self.last_epoch
        if step < self.warmup_steps:
            return [
                linear_warmup(step, float(b), self.warmup_steps, self.start_factor, self.multiplier)
                for b in self.base_lrs
            ]
        if step == self.warmup_steps:
            return self._handover()
        return [g["lr"] for g in self.optimizer.param_groups]

    def step(self, metrics: SupportsFloat | None = None) -> None:
        """Advance one step; ``metrics`` is the monitored value for a ``ReduceLROnPlateau``."""
        after = self.after_scheduler
        needs = _needs_metrics(after)
        if metrics is not None and not needs:
            raise TypeError(
                "GradualWarmup.step() takes a metric only when a ReduceLROnPlateau follows the "
                "warmup (the deprecated step(epoch) is not supported)"
            )
        if after is None or self.last_epoch < self.warmup_steps:
            super().step()
            return
        if needs:
            if metrics is None:
                raise TypeError(
                    "GradualWarmup hands over to a ReduceLROnPlateau: call step(metrics) with "
                    "the monitored value"
                )
            self._step_count += 1
            self.last_epoch += 1
            cast(ReduceLROnPlateau, after).step(metrics)
        else:
            self._step_count += 1
            self.last_epoch += 1
            after.step()
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """This scheduler's state, the follow-on scheduler's state nested under its key."""
        state = {
            k: v for k, v in self.__dict__.items() if k not in ("optimizer", "after_scheduler")
        }
        after = self.after_scheduler
        state["after_scheduler"] = after.state_dict() if after is not None else None
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the state written by :meth:`state_dict` (follow-on scheduler included)."""
        state = dict(state_dict)
        after_state = state.pop("after_scheduler", None)
        self.__dict__.update(state)
        if after_state is not None:
            if self.after_scheduler is None:
                raise ValueError(
                    "the state holds a follow-on scheduler but this GradualWarmup has none"
                )
            self.after_scheduler.load_state_dict(after_state)


class _AfterWarmup(LRScheduler):
    """Steps ``scheduler`` only after ``warmup`` has finished (private, for the Warmup callback).

    Lets a step-level :class:`GradualWarmup` (no follow-on) precede a scheduler stepped at
    another cadence (per epoch, ``ReduceLROnPlateau`` after validation): the two get separate
    Lightning configs and this proxy holds the original one's place. The wrapped scheduler's
    base LRs are multiplied by the warmup's ``multiplier``.
    """

    def __init__(self, scheduler: LRScheduler | ReduceLROnPlateau, warmup: GradualWarmup) -> None:
        if scheduler.optimizer is not warmup.optimizer:
            raise ValueError("the scheduler and its warmup must share one optimizer")
        if warmup.after_scheduler is not None:
            raise ValueError("the warmup must not have a follow-on scheduler of its own")
        self.optimizer = scheduler.optimizer
        self.after_scheduler = scheduler
        self.warmup = warmup
        self.last_epoch = 0
        self._step_count = 1
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]
        if warmup.multiplier != 1.0:
            scale_scheduler_lrs(scheduler, warmup.multiplier)

    def get_lr(self) -> list[Any]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def step(self, metrics: SupportsFloat | None = None) -> None:
        self._step_count += 1
        self.last_epoch += 1
        warmup = self.warmup
        # the warmup is stepped first; its hand-over step is the wrapped scheduler's step 0
        if warmup.last_epoch > warmup.warmup_steps:
            if isinstance(self.after_scheduler, ReduceLROnPlateau) or _needs_metrics(
                self.after_scheduler
            ):
                if metrics is None:
                    raise TypeError("pass the monitored value: step(metrics)")
                cast(ReduceLROnPlateau, self.after_scheduler).step(metrics)
            else:
                self.after_scheduler.step()
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        return {
            "last_epoch": self.last_epoch,
            "_step_count": self._step_count,
            "_last_lr": self._last_lr,
            "after_scheduler": self.after_scheduler.state_dict(),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        self.after_scheduler.load_state_dict(state.pop("after_scheduler"))
        self.__dict__.update(state)


class _HookStepped(LRScheduler):
    """A scheduler slot for modules that step their optimizers themselves (private).

    Under Lightning's manual optimization nothing steps the schedulers but the module's own
    ``self.lr_schedulers().step()``. This slot takes the place of a scheduler the module sees:

    * ``owned`` (a scheduler a callback added: ``WarmupCosineLR``, ``GradualWarmup``) is
      stepped after every real step of the optimizer, through a step post-hook, whatever the
      module does with its schedulers (a step the AMP grad scaler skips does not count);
    * ``user`` (the module's own scheduler, or None) receives the module's ``step(...)`` calls
      once ``owned`` has finished its warmup (its hand-over step is over); before that, or
      when ``user`` is None (a scheduler the callback replaced), they are dropped.

    Its ``state_dict`` holds both schedulers' states, so Lightning checkpoints it natively.
    Call :meth:`detach` to remove the hook.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        owned: LRScheduler | None = None,
        user: LRScheduler | ReduceLROnPlateau | None = None,
    ) -> None:
        for sched in (owned, user):
            if sched is not None and sched.optimizer is not optimizer:
                raise ValueError("the schedulers of a slot must share its optimizer")
        self.optimizer = optimizer
        self.owned = owned
        self.user = user
        self.last_epoch = 0
        self._step_count = 1
        self._last_lr = [g["lr"] for g in optimizer.param_groups]
        self._handle: Any = None
        if owned is not None:
            self._handle = optimizer.register_step_post_hook(self._after_optimizer_step)

    def _after_optimizer_step(self, optimizer: Optimizer, args: Any, kwargs: Any) -> None:
        if self.owned is not None:
            self.owned.step()
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def detach(self) -> None:
        """Remove the optimizer hook (the slot no longer steps ``owned``)."""
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    @property
    def released(self) -> bool:
        """Whether the module's own ``step()`` calls reach ``user`` now."""
        owned = self.owned
        if self.user is None:
            return False
        if owned is None:
            return True
        warmup_steps = getattr(owned, "warmup_steps", 0)
        return owned.last_epoch > warmup_steps

    def get_lr(self) -> list[Any]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def step(self, *args: Any, **kwargs: Any) -> None:
        """The module's step: forwarded to its own scheduler once released, else dropped."""
        self._step_count += 1
        self.last_epoch += 1
        if self.released:
            assert self.user is not None
            self.user.step(*args, **kwargs)
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        return {
            "last_epoch": self.last_epoch,
            "_step_count": self._step_count,
            "_last_lr": self._last_lr,
            "owned": None if self.owned is None else self.owned.state_dict(),
            "user": None if self.user is None else self.user.state_dict(),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        for name in ("owned", "user"):
            sub_state = state.pop(name, None)
            sched = getattr(self, name)
            if sub_state is not None and sched is not None:
                sched.load_state_dict(sub_state)
        self.__dict__.update(state)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_handle"] = None  # hook handles hold weak references and do not pickle
        return state
