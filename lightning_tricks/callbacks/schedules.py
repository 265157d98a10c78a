"""WarmupCosine, Warmup and LinearScalingRule callbacks (issue 4).

All three wrap the module's ``configure_optimizers`` during fit (see ``_configure.py``), so
they work on any LightningModule unchanged, stack in any order, and their schedulers are
saved and restored by Lightning's own checkpointing.
"""

from __future__ import annotations

import math
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import CyclicLR, OneCycleLR, ReduceLROnPlateau
from torch.utils.data import DataLoader
from typing_extensions import override

from .._checks import check_float
from ..schedulers._groups import GROUP_LR_KEYS, iter_schedulers, scale_scheduler_lrs
from ..schedulers.warmup import GradualWarmup, WarmupCosineLR, _AfterWarmup, _HookStepped
from ._configure import OptimizerConfig, OptimizerTransform, installed_transforms, is_manual

__all__ = ["LinearScalingRule", "Warmup", "WarmupCosine"]

#: warmup length when neither steps nor epochs are given (He et al., 2019; Goyal et al., 2017)
DEFAULT_WARMUP_EPOCHS = 5.0


def _check_warmup(warmup_steps: Any, warmup_epochs: Any) -> None:
    if warmup_steps is not None and warmup_epochs is not None:
        raise ValueError(
            "give `warmup_steps` or `warmup_epochs`, not both; got "
            f"warmup_steps={warmup_steps}, warmup_epochs={warmup_epochs}"
        )
    if warmup_steps is not None:
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int):
            raise TypeError(f"`warmup_steps` must be an int, got {warmup_steps!r}")
        if warmup_steps < 0:
            raise ValueError(f"`warmup_steps` must be >= 0, got {warmup_steps}")
    if warmup_epochs is not None:
        if isinstance(warmup_epochs, bool) or not isinstance(warmup_epochs, (int, float)):
            raise TypeError(f"`warmup_epochs` must be a float, got {warmup_epochs!r}")
        if not (math.isfinite(warmup_epochs) and warmup_epochs >= 0):
            raise ValueError(f"`warmup_epochs` must be a finite number >= 0, got {warmup_epochs}")


def _check_factor(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"`{name}` must be a float, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"`{name}` must be in [{low}, {high}], got {value}")
    return float(value)


def steps_per_epoch(trainer: pl.Trainer) -> int:
    """Optimizer steps in one training epoch (gradient accumulation included)."""
    if trainer.train_dataloader is None:
        trainer.fit_loop.setup_data()
    batches = trainer.num_training_batches
    if batches == float("inf"):
        raise ValueError(
            "the training data has no length (an iterable dataset), so a warmup cannot be given "
            "in epochs; give `warmup_steps` instead"
        )
    return max(1, math.ceil(batches / trainer.accumulate_grad_batches))


def total_steps(trainer: pl.Trainer, who: str) -> int:
    """``trainer.estimated_stepping_batches`` as an int, or a clear error if unbounded."""
    total = trainer.estimated_stepping_batches
    if total == float("inf"):
        raise ValueError(
            f"{who} needs a finite training length: set `max_epochs` or `max_steps` on the Trainer"
        )
    return max(1, int(total))


class _WarmupLength:
    """Resolves ``warmup_steps`` / ``warmup_epochs`` against a trainer."""

    warmup_steps: int | None
    warmup_epochs: float | None

    def resolve_warmup(self, trainer: pl.Trainer) -> int:
        if self.warmup_steps is not None:
            return self.warmup_steps
        epochs = DEFAULT_WARMUP_EPOCHS if self.warmup_epochs is None else self.warmup_epochs
        return round(epochs * steps_per_epoch(trainer))

    def warn_if_longer(self, warmup: int, total: int | float) -> None:
        if warmup > total:
            rank_zero_warn(
                f"{type(self).__name__}: the warmup ({warmup} steps) is longer than training "
                f"({total} steps), so the LR never reaches its peak; shorten the warmup",
                category=UserWarning,
            )


def _is_plateau(config: dict[str, Any]) -> bool:
    return bool(config.get("reduce_on_plateau")) or any(
        isinstance(s, ReduceLROnPlateau) for s in iter_schedulers(config["scheduler"])
    )


def _names(configs: list[dict[str, Any]]) -> str:
    return ", ".join(type(c["scheduler"]).__name__ for c in configs)


def configured_peaks(
    optimizer: Optimizer, replaced: list[dict[str, Any]]
) -> tuple[list[float], str]:
    """The peak LR of each param group for a schedule replacing ``replaced``, and its source.

    The peak is the LR the user configured, not what a scheduler wrote into the groups at
    construction: the ``max_lr`` of a replaced ``OneCycleLR`` / ``CyclicLR`` (their configured
    peak), else the group's ``initial_lr`` (the LR it had when its first scheduler was built),
    else its current ``lr`` (the optimizer's configured LR when no scheduler was built).
    """
    cyclic = [
        s
        for c in replaced
        for s in iter_schedulers(c["scheduler"])
        if isinstance(s, (OneCycleLR, CyclicLR))
    ]
    groups = optimizer.param_groups
    if cyclic:
        sched = cyclic[0]
        if isinstance(sched, OneCycleLR):
            peaks = [float(g.get("max_lr", g["lr"])) for g in groups]
        else:
            max_lrs = list(getattr(sched, "max_lrs", []))
            peaks = [
                float(max_lrs[i]) if i < len(max_lrs) else float(g["lr"])
                for i, g in enumerate(groups)
            ]
        return peaks, f"{type(sched).__name__}'s max_lr"
    peaks = [float(g.get("initial_lr", g["lr"])) for g in groups]
    return peaks, "the optimizer's configured lr"


def _fmt(values: list[float]) -> str:
    return (
        f"{values[0]:g}"
        if len(set(values)) == 1
        else "[" + ", ".join(f"{v:g}" for v in values) + "]"
    )


class WarmupCosine(_WarmupLength, OptimizerTransform):
    """Per-step linear warmup then cosine decay, on any LightningModule.

    Cosine decay (`Loshchilov & Hutter, 2017 <https://arxiv.org/abs/1608.03983>`_) with a
    linear warmup, as in the Bag of Tricks (`He et al., 2019
    <https://arxiv.org/abs/1812.01187>`_). During ``fit`` it wraps the module's
    ``configure_optimizers`` and attaches a :class:`~lightning_tricks.schedulers.WarmupCosineLR`
    to every optimizer, stepped each optimizer step over ``trainer.estimated_stepping_batches``
    steps. A scheduler the module returns for that optimizer is replaced (with one warning);
    use :class:`Warmup` to keep it. The peak is the LR the user configured: the ``max_lr`` of
    a replaced ``OneCycleLR`` / ``CyclicLR``, else the LR the optimizer was created with (the
    group's ``initial_lr``), never what a scheduler wrote into the groups. Checkpoints restore
    the schedule exactly, mid-epoch too.

    Under manual optimization the schedule is stepped after every real optimizer step (a
    step post-hook), and the module's ``self.lr_schedulers().step()`` calls are dropped.

    Args:
        warmup_steps: warmup length in optimizer steps (>= 0).
        warmup_epochs: warmup length in epochs (>= 0, may be fractional). Give one of the two;
            with neither, 5 epochs (the Bag of Tricks setting).
        warmup_start_factor: LR factor at step 0, in ``[0, 1]``. Default 0.
        min_lr: final LR, absolute (>= 0). Default 0.

    Raises:
        TypeError: for arguments of the wrong type.
        ValueError: for negative lengths, both lengths given, or values out of range; at fit
            time for an unbounded training length.

    A warmup longer than training is legal but gets one warning.

    Example::

        >>> from lightning_tricks.callbacks import WarmupCosine
        >>> callback = WarmupCosine(warmup_epochs=1, min_lr=1e-5)
        >>> # Trainer(max_epochs=30, callbacks=[callback]).fit(model, datamodule)
    """

    transform_order = 20

    def __init__(
        self,
        warmup_steps: int | None = None,
        warmup_epochs: float | None = None,
        warmup_start_factor: float = 0.0,
        min_lr: float = 0.0,
    ) -> None:
        super().__init__()
        _check_warmup(warmup_steps, warmup_epochs)
        self.warmup_steps = warmup_steps
        self.warmup_epochs = warmup_epochs
        self.warmup_start_factor = _check_factor("warmup_start_factor", warmup_start_factor, 0, 1)
        self.min_lr = check_float("min_lr", min_lr, low=0.0)

    @property
    @override
    def state_key(self) -> str:
        return self._generate_state_key(
            warmup_steps=self.warmup_steps,
            warmup_epochs=self.warmup_epochs,
            warmup_start_factor=self.warmup_start_factor,
            min_lr=self.min_lr,
        )

    @override
    def transform_optimizers(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, config: OptimizerConfig
    ) -> None:
        total = total_steps(trainer, "WarmupCosine")
        warmup = self.resolve_warmup(trainer)
        self.warn_if_longer(warmup, total)
        manual = is_manual(pl_module)
        for optimizer in config.optimizers:
            existing = config.schedulers_of(optimizer)
            if existing:
                peaks, source = configured_peaks(optimizer, existing)
                for group, peak in zip(optimizer.param_groups, peaks):
                    group["lr"] = group["initial_lr"] = peak
                rank_zero_warn(
                    f"WarmupCosine replaces the scheduler(s) {_names(existing)} that "
                    f"{type(pl_module).__name__}.configure_optimizers returned for "
                    f"{type(optimizer).__name__}; its peak LR is {_fmt(peaks)} ({source}). "
                    "Return no scheduler to silence this, or use the Warmup callback to keep "
                    "yours",
                    category=UserWarning,
                )
            scheduler = WarmupCosineLR(
                optimizer,
                total_steps=max(total, warmup),
                warmup_steps=warmup,
                warmup_start_factor=self.warmup_start_factor,
                min_lr=self.min_lr,
            )
            if not manual:
                config.schedulers = [c for c in config.schedulers if c not in existing]
                config.schedulers.append(
                    {"scheduler": scheduler, "interval": "step", "frequency": 1}
                )
                continue
            # manual optimization: stepped after each optimizer step; the module's own
            # lr_schedulers() keeps its shape, its step() calls go nowhere
            if not existing:
                config.schedulers.append({"scheduler": _HookStepped(optimizer, scheduler)})
                continue
            for i, conf in enumerate(existing):
                conf["scheduler"] = _HookStepped(optimizer, scheduler if i == 0 else None)


class Warmup(_WarmupLength, OptimizerTransform):
    """Adds a per-step linear warmup in front of whatever schedule the module already has.

    The gradual warmup of `Goyal et al., 2017 <https://arxiv.org/abs/1706.02677>`_. During
    ``fit`` each optimizer gets a :class:`~lightning_tricks.schedulers.GradualWarmup`: the LR
    rises linearly to ``multiplier ×`` its configured value over the warmup, then the
    module's own scheduler starts, from its step 0 (its base LRs times ``multiplier``):

    * no scheduler: the LR stays at ``multiplier ×`` its configured value;
    * one per-step scheduler: it becomes the warmup's follow-on scheduler;
    * per-epoch schedulers, ``ReduceLROnPlateau`` or several: they keep their own Lightning
      configs (interval, monitor, ...) but ignore their steps until the warmup is over; the
      warmup itself is a separate per-step scheduler config.

    Under manual optimization the warmup is stepped after every real optimizer step (a step
    post-hook); ``self.lr_schedulers()`` keeps the shape the module expects, and the module's
    ``step()`` calls reach its own scheduler once the warmup is over.

    A finite-horizon schedule (e.g. a cosine over ``estimated_stepping_batches``) is shifted
    by the warmup and so ends before reaching its minimum; :class:`WarmupCosine` fits a cosine
    to the remaining steps instead.

    Args:
        warmup_steps: warmup length in optimizer steps (>= 0).
        warmup_epochs: warmup length in epochs (>= 0, may be fractional). Give one of the two;
            with neither, 5 epochs (Goyal et al.).
        multiplier: LR factor reached at the end of the warmup (>= 1). Default 1.
        start_factor: LR factor at step 0, in ``[0, multiplier]``. Default ``None``: 1 if
            ``multiplier > 1`` (ramp from the configured LR up), else 0.

    Raises:
        TypeError: for arguments of the wrong type.
        ValueError: for negative lengths, both lengths given, ``multiplier < 1`` or
            ``start_factor`` out of range.

    A warmup longer than training, or a second warmup on top of a ``WarmupCosine``, is legal
    but gets one warning.

    Example::

        >>> from lightning_tricks.callbacks import Warmup
        >>> callback = Warmup(warmup_steps=500)
        >>> # Trainer(callbacks=[callback]).fit(model)  # model returns SGD + MultiStepLR
    """

    transform_order = 30

    def __init__(
        self,
        warmup_steps: int | None = None,
        warmup_epochs: float | None = None,
        multiplier: float = 1.0,
        start_factor: float | None = None,
    ) -> None:
        super().__init__()
        _check_warmup(warmup_steps, warmup_epochs)
        multiplier = check_float("multiplier", multiplier, low=1.0)
        if start_factor is not None:
            start_factor = _check_factor("start_factor", start_factor, 0.0, float(multiplier))
        self.warmup_steps = warmup_steps
        self.warmup_epochs = warmup_epochs
        self.multiplier = float(multiplier)
        self.start_factor = start_factor

    @property
    @override
    def state_key(self) -> str:
        return self._generate_state_key(
            warmup_steps=self.warmup_steps,
            warmup_epochs=self.warmup_epochs,
            multiplier=self.multiplier,
            start_factor=self.start_factor,
        )

    def _warmup(self, optimizer: Optimizer, steps: int, after: Any = None) -> GradualWarmup:
        return GradualWarmup(
            optimizer,
            warmup_steps=steps,
            multiplier=self.multiplier,
            after_scheduler=after,
            start_factor=self.start_factor,
        )

    @override
    def transform_optimizers(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, config: OptimizerConfig
    ) -> None:
        warmup = self.resolve_warmup(trainer)
        self.warn_if_longer(warmup, trainer.estimated_stepping_batches)
        warmups = [
            type(s).__name__
            for c in config.schedulers
            for s in iter_schedulers(c["scheduler"])
            if isinstance(s, (GradualWarmup, WarmupCosineLR)) and s.warmup_steps > 0
        ]
        if warmups:
            rank_zero_warn(
                f"Warmup adds a second warmup in front of {', '.join(warmups)}, which warms up "
                "already; drop one of them",
                category=UserWarning,
            )
        manual = is_manual(pl_module)
        for optimizer in config.optimizers:
            existing = config.schedulers_of(optimizer)
            if manual:
                self._manual(optimizer, warmup, existing, config)
                continue
            if not existing:
                scheduler = self._warmup(optimizer, warmup)
                config.schedulers.append({"scheduler": scheduler, "interval": "step"})
                continue
            if (
                len(existing) == 1
                and existing[0].get("interval", "epoch") == "step"
                and existing[0].get("frequency", 1) == 1
            ):
                conf = existing[0]
                plateau = _is_plateau(conf)
                conf["scheduler"] = self._warmup(optimizer, warmup, after=conf["scheduler"])
                if plateau:
                    conf["reduce_on_plateau"] = True
                continue
            scheduler = self._warmup(optimizer, warmup)
            for conf in existing:
                plateau = _is_plateau(conf)
                conf["scheduler"] = _AfterWarmup(conf["scheduler"], scheduler)
                if plateau:
                    conf["reduce_on_plateau"] = True
            first = config.schedulers.index(existing[0])
            config.schedulers.insert(first, {"scheduler": scheduler, "interval": "step"})

    def _manual(
        self,
        optimizer: Optimizer,
        warmup: int,
        existing: list[dict[str, Any]],
        config: OptimizerConfig,
    ) -> None:
        """Manual optimization: the warmup is stepped after each optimizer step; the module's
        own schedulers keep their places and receive its ``step()`` calls after the warmup."""
        scheduler = self._warmup(optimizer, warmup)
        if not existing:
            config.schedulers.append({"scheduler": _HookStepped(optimizer, scheduler)})
            return
        for i, conf in enumerate(existing):
            if i == 0:
                if self.multiplier != 1.0:
                    scale_scheduler_lrs(conf["scheduler"], self.multiplier)
                conf["scheduler"] = _HookStepped(optimizer, scheduler, conf["scheduler"])
            else:
                conf["scheduler"] = _AfterWarmup(conf["scheduler"], scheduler)


def _batch_size(trainer: pl.Trainer) -> int:
    if trainer.train_dataloader is None:
        trainer.fit_loop.setup_data()
    loader = trainer.train_dataloader
    size = getattr(loader, "batch_size", None)
    if size is None and isinstance(loader, DataLoader):
        size = getattr(loader.batch_sampler, "batch_size", None)
    if isinstance(size, int) and size > 0:
        return size
    raise ValueError(
        "LinearScalingRule could not read the per-device batch size from the training "
        f"dataloader ({type(loader).__name__}); pass it as `batch_size=`"
    )


class LinearScalingRule(OptimizerTransform):
    """Scale the learning rate linearly with the global batch size.

    The linear scaling rule of `Goyal et al., 2017 <https://arxiv.org/abs/1706.02677>`_ (used
    in the Bag of Tricks, `He et al., 2019 <https://arxiv.org/abs/1812.01187>`_):
    ``lr = base_lr × global_batch / base_batch_size`` with ``global_batch = per-device batch ×
    devices × nodes × accumulate_grad_batches``. During ``fit`` it rescales the LR of every
    param group (per-group ratios are kept) and every scheduler the module built on it, logs
    the LR it set (``linear_scaling_rule/lr``) and prints the arithmetic. Goes well with a
    warmup (:class:`WarmupCosine` or :class:`Warmup`): large batches need one.

    For AdaBound the ``final_lr`` bound scales along (it follows ``lr / base_lr``), as befits
    an SGD learning rate. On resume, the checkpoint's LRs are restored as saved.

    Args:
        base_lr: LR for ``base_batch_size`` (> 0). Default ``None``: the optimizer's own LR.
        base_batch_size: the batch size ``base_lr`` is meant for (> 0). Default 256.
        batch_size: per-device batch size. Default ``None``: read from the training
            dataloader.

    Raises:
        TypeError: for arguments of the wrong type.
        ValueError: for ``base_lr <= 0``, ``base_batch_size <= 0`` or ``batch_size <= 0``; at
            fit time if the batch size cannot be read.

    Example::

        >>> from lightning_tricks.callbacks import LinearScalingRule
        >>> rule = LinearScalingRule(base_lr=0.1, base_batch_size=256)
        >>> # 2 GPUs × batch 64 × accumulate 4 = 512 → lr 0.2
    """

    transform_order = 10

    def __init__(
        self,
        base_lr: float | None = None,
        base_batch_size: int = 256,
        batch_size: int | None = None,
    ) -> None:
        super().__init__()
        if base_lr is not None:
            check_float("base_lr", base_lr, low=0.0, low_inclusive=False)
        for name, value in (("base_batch_size", base_batch_size), ("batch_size", batch_size)):
            if value is None and name == "batch_size":
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"`{name}` must be an int, got {value!r}")
            if value <= 0:
                raise ValueError(f"`{name}` must be > 0, got {value}")
        self.base_lr = None if base_lr is None else float(base_lr)
        self.base_batch_size = base_batch_size
        self.batch_size = batch_size
        #: set during fit: global batch size, scale factor and the LR of every param group
        self.global_batch_size: int | None = None
        self.scale: float | None = None
        self.lrs: list[list[float]] = []

    @property
    @override
    def state_key(self) -> str:
        return self._generate_state_key(
            base_lr=self.base_lr, base_batch_size=self.base_batch_size, batch_size=self.batch_size
        )

    @override
    def transform_optimizers(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, config: OptimizerConfig
    ) -> None:
        per_device = self.batch_size if self.batch_size is not None else _batch_size(trainer)
        accumulate = trainer.accumulate_grad_batches
        global_batch = per_device * trainer.num_devices * trainer.num_nodes * accumulate
        scale = global_batch / self.base_batch_size
        self.global_batch_size, self.scale, self.lrs = global_batch, scale, []
        for optimizer in config.optimizers:
            if self.base_lr is None:
                factor = scale
            else:
                reference = optimizer.defaults.get("lr")
                if isinstance(reference, bool) or not isinstance(reference, (int, float)):
                    raise ValueError(
                        f"LinearScalingRule needs a float `lr` in {type(optimizer).__name__}"
                        f".defaults to apply `base_lr`, got {reference!r}"
                    )
                factor = self.base_lr * scale / reference
            for group in optimizer.param_groups:
                for key in GROUP_LR_KEYS:
                    if isinstance(group.get(key), (int, float)):
                        group[key] = group[key] * factor
            for conf in config.schedulers_of(optimizer):
                scale_scheduler_lrs(conf["scheduler"], factor)
            self.lrs.append([float(g["lr"]) for g in optimizer.param_groups])
        base = f"{self.base_lr}" if self.base_lr is not None else "the configured LR"
        rank_zero_info(
            f"LinearScalingRule: global batch {global_batch} = {per_device} per device × "
            f"{trainer.num_devices} device(s) × {trainer.num_nodes} node(s) × {accumulate} "
            f"accumulation; lr = {base} × {global_batch}/{self.base_batch_size} → "
            f"{self.lrs[0] if len(self.lrs) == 1 else self.lrs}"
        )
        has_warmup = any(
            isinstance(t, (Warmup, WarmupCosine)) for t in installed_transforms(pl_module)
        )
        if scale > 8 and not has_warmup:
            rank_zero_warn(
                f"LinearScalingRule scales the LR by {scale:g} without a warmup callback; large "
                "batches need a warmup (Goyal et al.): add WarmupCosine or Warmup",
                category=UserWarning,
            )

    @override
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.scale is None or not self.lrs:
            return
        metrics = {
            "linear_scaling_rule/lr": self.lrs[0][0],
            "linear_scaling_rule/scale": self.scale,
            "linear_scaling_rule/global_batch_size": float(self.global_batch_size or 0),
        }
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)
