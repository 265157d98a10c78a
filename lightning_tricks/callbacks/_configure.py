"""Shared machinery of the optimizer callbacks: wrap ``configure_optimizers`` during fit.

A callback derived from :class:`OptimizerTransform` installs itself on the LightningModule in
``setup("fit")`` and removes itself in ``teardown("fit")``. While installed, the module's
``configure_optimizers`` is replaced (on the instance, never the class) by a wrapper that calls
the original, normalises its output into an :class:`OptimizerConfig`, lets every installed
transform rewrite it, and returns it in Lightning's ``([optimizers], [scheduler configs])``
form. So the schedulers the callbacks add are in ``trainer.lr_scheduler_configs`` before a
checkpoint is restored, and Lightning saves and restores them natively.

Transforms run in a fixed order whatever the order of the callbacks, so they stack in any
combination: param groups (``NoBiasDecay``, 0) → learning rates (``LinearScalingRule``, 10) →
schedules (``WarmupCosine``, 20) → warmup wrappers (``Warmup``, 30).

When resuming, a training dataloader built inside ``configure_optimizers`` (by
``trainer.estimated_stepping_batches``, the module's or ours) is dropped again so that
Lightning rebuilds it after the checkpoint restore and a mid-epoch resume sees the saved
batch order (work-around for Lightning issue #20550, see :func:`reset_early_train_data`).
The same is done in every transform's ``on_fit_start`` and by the project's data modules, so
a module that reads ``estimated_stepping_batches`` itself is covered too.

**Manual optimization** (``automatic_optimization = False``): Lightning steps no scheduler,
so a scheduler a transform adds sits in a private slot (``_HookStepped``) that steps it after
every real optimizer step through a torch step post-hook; what the module's
``self.lr_schedulers()`` returns keeps its shape (one slot per scheduler the module returned,
one for a module that returned none), and the module's own ``step()`` calls reach its own
scheduler once a warmup in front of it is over.
"""

from __future__ import annotations

import types
import weakref
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_warn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import ReduceLROnPlateau
from typing_extensions import override

from ..schedulers.warmup import _HookStepped

__all__: list[str] = []


@dataclass
class OptimizerConfig:
    """The output of ``configure_optimizers`` in one normal form.

    Attributes:
        optimizers: the optimizers, in order.
        schedulers: one dict per scheduler with the key ``"scheduler"`` and any of Lightning's
            ``LRSchedulerConfig`` keys (``interval``, ``frequency``, ``monitor``, ...).
    """

    optimizers: list[Optimizer]
    schedulers: list[dict[str, Any]] = field(default_factory=list)

    def schedulers_of(self, optimizer: Optimizer) -> list[dict[str, Any]]:
        """The scheduler configs attached to ``optimizer``."""
        return [c for c in self.schedulers if c["scheduler"].optimizer is optimizer]

    def to_lightning(self) -> tuple[list[Optimizer], list[dict[str, Any]]]:
        """Lightning's two-list form (valid for any number of optimizers and schedulers)."""
        return list(self.optimizers), [dict(c) for c in self.schedulers]


def _is_optimizer(obj: Any) -> bool:
    return isinstance(obj, Optimizer)


def _scheduler_dict(item: Any, monitor: str | None) -> dict[str, Any]:
    if isinstance(item, dict):
        return dict(item)
    conf: dict[str, Any] = {"scheduler": item}
    if monitor is not None and isinstance(item, ReduceLROnPlateau):
        conf["monitor"] = monitor
    return conf


def parse_optimizer_output(out: Any) -> OptimizerConfig | None:
    """Normalise any output Lightning accepts from ``configure_optimizers``.

    Returns ``None`` for ``None`` or a form Lightning would reject (left to Lightning's error).
    """
    if out is None:
        return None
    if _is_optimizer(out):
        return OptimizerConfig([out])
    if isinstance(out, dict) and "optimizer" in out:
        scheds = [out["lr_scheduler"]] if out.get("lr_scheduler") is not None else []
        return OptimizerConfig(
            [out["optimizer"]], [_scheduler_dict(s, out.get("monitor")) for s in scheds]
        )
    if isinstance(out, (list, tuple)):
        if len(out) == 2 and isinstance(out[0], list) and all(_is_optimizer(o) for o in out[0]):
            scheds = list(out[1]) if isinstance(out[1], (list, tuple)) else [out[1]]
            return OptimizerConfig(list(out[0]), [_scheduler_dict(s, None) for s in scheds])
        if out and all(isinstance(d, dict) and "optimizer" in d for d in out):
            conf = OptimizerConfig([d["optimizer"] for d in out])
            for d in out:
                if d.get("lr_scheduler") is not None:
                    conf.schedulers.append(_scheduler_dict(d["lr_scheduler"], d.get("monitor")))
            return conf
        if all(_is_optimizer(o) for o in out):
            return OptimizerConfig(list(out))
    return None


class OptimizerTransform(Callback):
    """Base of callbacks that rewrite the module's optimizers/schedulers during ``fit``.

    Subclasses implement :meth:`transform_optimizers` and set :attr:`transform_order`.
    """

    #: order of application among installed transforms (lower first)
    transform_order: ClassVar[int] = 100

    def transform_optimizers(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, config: OptimizerConfig
    ) -> None:
        """Rewrite ``config`` in place (called inside the wrapped ``configure_optimizers``)."""
        raise NotImplementedError

    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit":
            install(pl_module, self, keep=cast(Any, trainer).callbacks)

    @override
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        drop_early_train_data_on_resume(trainer)

    @override
    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit":
            uninstall(pl_module, self)
            detach_hooks(trainer)

    @override
    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        # Lightning skips the teardown hooks when a fit raises
        uninstall(pl_module, self)
        detach_hooks(trainer)

    @override
    def state_dict(self) -> dict[str, Any]:
        # a non-empty state puts this callback's key in the checkpoint: a resume without it
        # is then reported (by Lightning, and by the remaining transforms, see below)
        return {"transform": type(self).__name__}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        pass

    @override
    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        warn_missing_transforms(trainer, checkpoint)


def is_manual(pl_module: Any) -> bool:
    """Whether the module steps its optimizers itself (Lightning's manual optimization)."""
    return not getattr(pl_module, "automatic_optimization", True)


def detach_hooks(trainer: Any) -> None:
    """Remove the optimizer hooks of the scheduler slots of a manual-optimization fit."""
    for config in getattr(trainer, "lr_scheduler_configs", None) or []:
        if isinstance(config.scheduler, _HookStepped):
            config.scheduler.detach()


#: schedule callbacks whose absence on resume leaves the run on another LR schedule
_SCHEDULE_TRANSFORMS = ("WarmupCosine", "Warmup", "LinearScalingRule")
_CHECKED = "_lightning_tricks_transforms_checked"


def warn_missing_transforms(trainer: Any, checkpoint: dict[str, Any]) -> None:
    """Warn once per checkpoint when it was written with a schedule callback now missing.

    The LR schedule such a callback added is in the checkpoint but nothing restores it, so the
    resumed run would continue on another schedule (e.g. a flat LR) without a word.
    """
    if checkpoint.get(_CHECKED):
        return
    checkpoint[_CHECKED] = True
    saved = checkpoint.get("callbacks") or {}
    present = {type(cb).__name__ for cb in getattr(trainer, "callbacks", [])}
    for key, state in saved.items():
        name = state.get("transform") if isinstance(state, dict) else None
        if name == "NoBiasDecay" and name not in present:
            rank_zero_warn(
                f"the checkpoint was written with the NoBiasDecay callback ({key}), which this "
                "fit does not have: the optimizer has fewer param groups than the saved "
                "optimizer state, which therefore cannot be restored. Add the same NoBiasDecay "
                "callback to resume.",
                category=UserWarning,
            )
        if name in _SCHEDULE_TRANSFORMS and name not in present:
            rank_zero_warn(
                f"the checkpoint was written with the {name} callback ({key}), which this fit "
                f"does not have: the LR schedule it added is not restored and the run goes on "
                f"with the module's own schedule (a flat LR if it has none). Add the same "
                f"{name} callback to resume its schedule.",
                category=UserWarning,
            )


_MISSING = object()


@dataclass
class _Installed:
    #: the instance attribute ``configure_optimizers`` we replaced (e.g. LightningCLI's), or
    #: _MISSING when the class method was in use
    original: Any
    transforms: list[OptimizerTransform] = field(default_factory=list)


_INSTALLED: weakref.WeakKeyDictionary[pl.LightningModule, _Installed] = weakref.WeakKeyDictionary()


def _train_data_is_set_up(trainer: pl.Trainer) -> bool:
    return getattr(trainer.fit_loop, "_combined_loader", None) is not None


def drop_early_train_data_on_resume(trainer: Any) -> None:
    """At ``on_fit_start`` of a resumed fit, drop a train loader built during setup.

    Between ``setup`` and ``on_fit_start`` only the strategy setup runs, where
    ``configure_optimizers`` may read ``trainer.estimated_stepping_batches`` (Lightning
    #20550); the loop state is restored after ``on_fit_start``, so dropping the early loader
    here lets the fit loop rebuild it and load its saved state, for any module.
    """
    if getattr(trainer, "ckpt_path", None) is not None and _train_data_is_set_up(trainer):
        reset_early_train_data(trainer)


class _DropEarlyTrainData(Callback):
    """Internal one-shot callback: at ``on_fit_start`` drop the train loader built early."""

    @override
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        drop_early_train_data_on_resume(trainer)
        # Lightning is iterating over trainer.callbacks: only the last one can leave safely
        # (otherwise it stays, a no-op outside a resume)
        callbacks = trainer.callbacks  # type: ignore[attr-defined]
        if callbacks and callbacks[-1] is self:
            callbacks.pop()


def watch_early_train_data(trainer: Any) -> None:
    """Call from a ``train_dataloader()``: on a resume, when the loader is requested before
    the checkpoint's loop state is restored (``estimated_stepping_batches`` read in any
    module's ``configure_optimizers``, Lightning #20550), have it dropped at ``on_fit_start``
    so that the fit loop rebuilds it and loads its saved state."""
    if trainer is None or getattr(trainer, "ckpt_path", None) is None:
        return
    loop = getattr(trainer, "fit_loop", None)
    callbacks = getattr(trainer, "callbacks", None)
    if loop is None or loop.restarting or not isinstance(callbacks, list):
        return
    if not any(isinstance(cb, _DropEarlyTrainData) for cb in callbacks):
        callbacks.append(_DropEarlyTrainData())


def reset_early_train_data(trainer: pl.Trainer) -> None:
    """Undo a training-data setup done inside ``configure_optimizers`` when resuming.

    ``trainer.estimated_stepping_batches`` builds the train dataloader (and its iterator)
    while the strategy sets up, before the checkpoint's loop state is restored; Lightning then
    never loads the saved dataloader state, so a mid-epoch resume replays the interrupted epoch
    in a fresh order (Lightning issue #20550, open for 2.6). Dropping the early loader makes
    the fit loop build it again after the restore, as on the normal resume path.
    """
    loop = trainer.fit_loop
    fetcher = getattr(loop, "_data_fetcher", None)
    if fetcher is not None:
        fetcher.teardown()
        loop._data_fetcher = None
    if hasattr(loop, "_combined_loader"):
        loop._combined_loader = None


def _wrapped_configure_optimizers(self: pl.LightningModule) -> Any:
    installed = _INSTALLED.get(self)
    original: Any = installed.original if installed is not None else _MISSING
    trainer = self._trainer
    data_was_ready = trainer is not None and _train_data_is_set_up(trainer)
    # a copy of a wrapped module (deepcopy) is not registered: it runs its class method
    out = type(self).configure_optimizers(self) if original is _MISSING else original()
    if installed is not None and installed.transforms:
        config = parse_optimizer_output(out)
        if config is not None:
            for transform in sorted(installed.transforms, key=lambda t: t.transform_order):
                transform.transform_optimizers(self.trainer, self, config)
            out = config.to_lightning()
    if (
        trainer is not None
        and trainer.ckpt_path is not None
        and not data_was_ready
        and _train_data_is_set_up(trainer)
    ):
        reset_early_train_data(trainer)
    return out


def install(
    pl_module: pl.LightningModule,
    transform: OptimizerTransform,
    keep: list[Any] | None = None,
) -> None:
    """Add ``transform`` to the module's wrapped ``configure_optimizers`` (idempotent).

    With ``keep`` (the trainer's callbacks), transforms left installed by an earlier fit that
    are not among them are dropped first.
    """
    installed = _INSTALLED.get(pl_module)
    if installed is not None and keep is not None:
        installed.transforms = [t for t in installed.transforms if any(t is k for k in keep)]
    if installed is None:
        installed = _Installed(pl_module.__dict__.get("configure_optimizers", _MISSING))
        _INSTALLED[pl_module] = installed
        pl_module.configure_optimizers = types.MethodType(  # type: ignore[method-assign]
            _wrapped_configure_optimizers, pl_module
        )
    if transform not in installed.transforms:
        installed.transforms.append(transform)


def uninstall(pl_module: pl.LightningModule, transform: OptimizerTransform) -> None:
    """Remove ``transform``; restore the original ``configure_optimizers`` when none is left."""
    installed = _INSTALLED.get(pl_module)
    if installed is None:
        return
    if transform in installed.transforms:
        installed.transforms.remove(transform)
    if installed.transforms:
        return
    del _INSTALLED[pl_module]
    if installed.original is _MISSING:
        pl_module.__dict__.pop("configure_optimizers", None)
    else:
        pl_module.configure_optimizers = installed.original  # type: ignore[method-assign]


def installed_transforms(pl_module: pl.LightningModule) -> list[OptimizerTransform]:
    """The transforms installed on ``pl_module`` (in application order)."""
    installed = _INSTALLED.get(pl_module)
    if installed is None:
        return []
    return sorted(installed.transforms, key=lambda t: t.transform_order)
