"""EMA of the weights, built on Lightning's ``EMAWeightAveraging``.

Polyak & Juditsky, 1992 (https://doi.org/10.1137/0330046) for averaging iterates; the
exponential moving average with a warmed-up decay as in TensorFlow's
``ExponentialMovingAverage(num_updates=...)`` and timm's ``ModelEmaV3``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from lightning.pytorch.callbacks import EMAWeightAveraging
from lightning.pytorch.utilities import rank_zero_warn
from lightning_utilities.core.overrides import is_overridden
from torch import Tensor
from torch.optim.swa_utils import AveragedModel
from typing_extensions import override

from .._checks import check_int
from ._configure import drop_early_train_data_on_resume, is_manual, warn_missing_transforms

if TYPE_CHECKING:
    import lightning.pytorch as pl

__all__ = ["EMA", "ema_decay"]


def ema_decay(
    num_updates: int, decay: float, warmup: bool = True, gamma: float = 1.0, power: float = 0.75
) -> float:
    """Decay of the ``num_updates``-th blend (``num_updates >= 1`` earlier updates).

    ``min(decay, 1 - (1 + n / gamma) ** -power)`` with warmup, else ``decay``. With the
    defaults the decay is 0.41 after 1 update, 0.83 after 10, 0.97 after 100 and 0.994 after
    1,000 (timm's ``ModelEmaV3`` / diffusers' ``EMAModel`` schedule).

    Example::

        >>> round(ema_decay(10, 0.999), 3), ema_decay(10, 0.999, warmup=False)
        (0.834, 0.999)
    """
    check_int("num_updates", num_updates, 0)
    decay = _check_float("decay", decay, 0.0, 1.0, lo_open=False, hi_open=True)
    gamma = _check_float("gamma", gamma, 0.0, math.inf, True, True)
    power = _check_float("power", power, 0.0, 1.0, True, False)
    if not warmup:
        return decay
    return min(decay, 1.0 - (1.0 + num_updates / gamma) ** -power)


class _EMAUpdate:
    """Picklable ``multi_avg_fn`` for ``AveragedModel`` (``get_ema_avg_fn`` is a closure)."""

    def __init__(self, decay: float, warmup: bool, gamma: float, power: float) -> None:
        self.decay, self.warmup, self.gamma, self.power = decay, warmup, gamma, power

    @torch.no_grad()
    def __call__(self, averaged: list[Tensor], current: list[Tensor], num_averaged: Any) -> None:
        if not averaged:
            return
        if not (torch.is_floating_point(averaged[0]) or torch.is_complex(averaged[0])):
            torch._foreach_copy_(averaged, current)  # counters such as num_batches_tracked
            return
        d = ema_decay(int(num_averaged), self.decay, self.warmup, self.gamma, self.power)
        torch._foreach_lerp_(averaged, current, 1.0 - d)


def _overrides_configure_model(pl_module: Any) -> bool:
    """``is_overridden("configure_model")`` for modules of either Lightning package."""
    for cls in type(pl_module).__mro__:
        if cls.__name__ == "LightningModule" and cls.__module__.endswith("core.module"):
            return is_overridden("configure_model", pl_module, parent=cls)
    return False


def _check_float(
    name: str, value: Any, lo: float, hi: float, lo_open: bool, hi_open: bool
) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"`{name}` must be a float, got {type(value).__name__} {value!r}")
    value = float(value)
    above = value > lo if lo_open else value >= lo
    below = value < hi if hi_open else value <= hi
    if not (math.isfinite(value) and above and below):
        left, right = ("(" if lo_open else "["), (")" if hi_open else "]")
        raise ValueError(f"`{name}` must be in {left}{lo:g}, {hi:g}{right}, got {value:g}")
    return value


class EMA(EMAWeightAveraging):
    """Exponential moving average of the weights; validation and checkpoints use the average.

    After every ``update_every_n_steps``-th optimizer step, ``ema ← d·ema + (1 − d)·θ``
    (parameters and, with ``use_buffers``, BatchNorm statistics). The first update copies
    the weights. With ``warmup`` the decay of the n-th blend is
    ``min(decay, 1 − (1 + n/warmup_gamma)^−warmup_power)`` (:func:`ema_decay`), so early
    averages are not dominated by the random initial weights.

    Built on Lightning's ``EMAWeightAveraging``: validation runs on the averaged weights,
    checkpoints hold them in ``state_dict`` (the raw weights in ``current_model_state``) and
    training ends with the averaged weights in the model. This class adds the decay warmup,
    pickling (ddp_spawn pickles callbacks; Lightning's closure-based ``avg_fn`` does not
    pickle), keeping the average on the training device, and starting the average from the
    weights at ``on_fit_start`` (after init callbacks and the strategy set the model up).
    Resuming restores the average and its update count exactly.

    **Module styles.** Works with modules and Trainers of ``lightning.pytorch`` and of the
    standalone ``pytorch_lightning`` package. Under manual optimization
    (``automatic_optimization = False``) the optimizer steps are counted by a torch step
    post-hook on every optimizer, so the average is updated once per training batch in which
    the module stepped an optimizer, also when it steps the raw optimizer
    (``self.optimizers(use_pl_optimizer=False)``), which Lightning does not count.

    Args:
        decay: the (final) decay, in [0, 1). Default 0.999; 0.9999 for long ImageNet runs
            (timm), 0.99–0.999 for short CIFAR runs.
        warmup: warm the decay up over the first updates. Default True.
        warmup_gamma: the schedule's γ (> 0); larger is a slower warmup. Default 1.
        warmup_power: the schedule's power, in (0, 1]; 3/4 for long runs, 2/3 for runs of a
            few thousand steps (diffusers' advice). Default 0.75.
        update_every_n_steps: update after every N-th optimizer step (>= 1). Default 1.
        update_starting_at_step: first 0-based optimizer step to update at (>= 0), or None
            for the first step. Default None.
        device: where to keep the average (e.g. ``"cpu"`` to save accelerator memory), or
            None for the training device. Default None.
        use_buffers: also average buffers (BatchNorm running statistics). Default True.

    Raises:
        TypeError: for arguments of the wrong type.
        ValueError: for out-of-range arguments.

    Example::

        >>> from lightning.pytorch import Trainer
        >>> ema = EMA(decay=0.99, update_every_n_steps=2)
        >>> trainer = Trainer(callbacks=[ema], max_epochs=1, logger=False)  # doctest: +SKIP
    """

    def __init__(
        self,
        decay: float = 0.999,
        warmup: bool = True,
        warmup_gamma: float = 1.0,
        warmup_power: float = 0.75,
        update_every_n_steps: int = 1,
        update_starting_at_step: int | None = None,
        device: str | None = None,
        use_buffers: bool = True,
    ) -> None:
        decay = _check_float("decay", decay, 0.0, 1.0, lo_open=False, hi_open=True)
        warmup_gamma = _check_float("warmup_gamma", warmup_gamma, 0.0, math.inf, True, True)
        warmup_power = _check_float("warmup_power", warmup_power, 0.0, 1.0, True, False)
        if not isinstance(warmup, bool):
            raise TypeError(f"`warmup` must be a bool, got {type(warmup).__name__}")
        if not isinstance(use_buffers, bool):
            raise TypeError(f"`use_buffers` must be a bool, got {type(use_buffers).__name__}")
        for name, value, minimum, allow_none in (
            ("update_every_n_steps", update_every_n_steps, 1, False),
            ("update_starting_at_step", update_starting_at_step, 0, True),
        ):
            if value is None and allow_none:
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"`{name}` must be an integer, got {type(value).__name__}")
            if value < minimum:
                raise ValueError(f"`{name}` must be >= {minimum}, got {value}")
        if device is not None and not isinstance(device, str):
            raise TypeError(f"`device` must be a str such as 'cpu' or None, got {device!r}")
        super().__init__(
            device=device,
            use_buffers=use_buffers,
            decay=decay,
            update_every_n_steps=update_every_n_steps,
            update_starting_at_step=update_starting_at_step,
        )
        # Replace the parent's closure (not picklable) by an equivalent picklable update.
        self._kwargs = {"multi_avg_fn": _EMAUpdate(decay, warmup, warmup_gamma, warmup_power)}
        self.decay = decay
        self.warmup = warmup
        self.warmup_gamma = warmup_gamma
        self.warmup_power = warmup_power

    @property
    @override
    def state_key(self) -> str:
        return self._generate_state_key(
            decay=self.decay, every=self.update_every_n_steps, start=self.update_starting_at_step
        )

    @property
    def num_updates(self) -> int:
        """How many times the average has been updated (0 before the first update)."""
        model = self._average_model
        return 0 if model is None else int(model.n_averaged)

    @property
    def average_model(self) -> torch.nn.Module | None:
        """The averaged copy of the LightningModule (None outside ``fit``)."""
        return None if self._average_model is None else self._average_model.module

    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        # Lightning's own setup calls lightning.pytorch's ``is_overridden``, which rejects
        # modules of the standalone ``pytorch_lightning`` package ("Expected a parent")
        if stage != "fit":
            return
        if _overrides_configure_model(pl_module):
            rank_zero_warn(
                "EMA: the module overrides configure_model; the averaged copy is not sharded, "
                "so it may not fit in memory",
                category=UserWarning,
            )
            pl_module.configure_model()
        self._average_model = AveragedModel(
            model=pl_module,
            device=self._device or pl_module.device,
            use_buffers=self._use_buffers,
            **self._kwargs,
        )
        self._optimizer_steps = 0
        self._remove_hooks()

    @override
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        drop_early_train_data_on_resume(trainer)
        model = self._average_model
        if model is None:
            return
        if self._device is None and model.n_averaged.device != pl_module.device:
            model.to(pl_module.device)  # ``setup`` ran before the strategy moved the model
        if int(model.n_averaged) == 0:  # fresh start: begin from the weights actually used
            self._copy_current_to_average(pl_module)
        if is_manual(pl_module):
            self._remove_hooks()
            self._hooks = [
                opt.register_step_post_hook(self._count_step) for opt in trainer.optimizers
            ]

    def _count_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        self._optimizer_steps = getattr(self, "_optimizer_steps", 0) + 1

    def _remove_hooks(self) -> None:
        for handle in getattr(self, "_hooks", []):
            handle.remove()
        self._hooks = []

    @override
    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if not is_manual(pl_module):
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
            return
        # manual optimization: count the optimizer's real steps (Lightning's global_step
        # misses steps of the raw optimizer)
        steps = getattr(self, "_optimizer_steps", 0)
        if steps > self._latest_update_step and self.should_update(step_idx=steps - 1):
            assert self._average_model is not None
            self._average_model.update_parameters(pl_module)
            self._latest_update_step = steps

    @override
    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._remove_hooks()
        super().on_train_end(trainer, pl_module)

    @override
    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        self._remove_hooks()

    @override
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["optimizer_steps"] = getattr(self, "_optimizer_steps", 0)
        return state

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self._optimizer_steps = int(state_dict.get("optimizer_steps", 0))

    @override
    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        super().on_load_checkpoint(trainer, pl_module, checkpoint)
        warn_missing_transforms(trainer, checkpoint)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_hooks"] = []  # hook handles hold weak references and do not pickle
        return state

    @torch.no_grad()
    def _copy_current_to_average(self, pl_module: pl.LightningModule) -> None:
        assert self._average_model is not None
        avg = self._average_model.module
        pairs = zip(
            [*avg.parameters(), *avg.buffers()],
            [*pl_module.parameters(), *pl_module.buffers()],
        )
        for a, c in pairs:
            a.copy_(c.detach().to(a.device))
