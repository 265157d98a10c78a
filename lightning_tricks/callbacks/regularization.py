"""NoBiasDecay and L1Regularization callbacks (issue 4)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torch import Tensor
from torch.optim import Optimizer
from typing_extensions import override

from .._checks import check_float
from ..optim.param_groups import add_l1_grad_, no_decay_names
from ..schedulers._groups import extend_scheduler_groups
from ._configure import (
    OptimizerConfig,
    OptimizerTransform,
    drop_early_train_data_on_resume,
    is_manual,
    warn_missing_transforms,
)

__all__ = ["L1Regularization", "NoBiasDecay"]


def _check_flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"`{name}` must be a bool, got {value!r}")
    return value


def _check_patterns(patterns: Any) -> tuple[str, ...]:
    if isinstance(patterns, str) or not isinstance(patterns, Sequence):
        raise TypeError(f"`patterns` must be a list of strings, got {patterns!r}")
    if not all(isinstance(p, str) for p in patterns):
        raise TypeError(f"`patterns` must be a list of strings, got {patterns!r}")
    return tuple(patterns)


class NoBiasDecay(OptimizerTransform):
    """Move biases and normalisation weights to a param group without weight decay.

    "No bias decay" from the Bag of Tricks (`He et al., 2019
    <https://arxiv.org/abs/1812.01187>`_, §3.1): weight decay only on the weights of
    convolution and fully connected layers. Works on any LightningModule unchanged: during
    ``fit`` it wraps ``configure_optimizers`` and splits every param group with
    ``weight_decay > 0`` in two, the exempt parameters going to a new group (appended, with the
    same options and ``weight_decay=0``; named ``"<name>/no_decay"`` if the group had a name).
    Schedulers the module built are extended to the new groups, so they keep working. To build
    the groups yourself instead, use :func:`lightning_tricks.optim.param_groups`.

    Args:
        bias: exempt parameters named ``bias``. Default ``True``.
        norm: exempt the parameters of normalisation layers (BatchNorm, GroupNorm, LayerNorm,
            InstanceNorm, RMSNorm). Default ``True``.
        patterns: extra ``fnmatch`` patterns of exempt parameter names. Default none.

    Raises:
        TypeError: for arguments of the wrong type.

    If no param group has ``weight_decay > 0`` there is nothing to do: one warning.

    Example::

        >>> from lightning_tricks.callbacks import NoBiasDecay
        >>> callback = NoBiasDecay()
        >>> # Trainer(callbacks=[callback]).fit(model)  # model: SGD(..., weight_decay=5e-4)
    """

    transform_order = 0

    def __init__(self, bias: bool = True, norm: bool = True, patterns: Sequence[str] = ()) -> None:
        super().__init__()
        self.bias = _check_flag("bias", bias)
        self.norm = _check_flag("norm", norm)
        self.patterns = _check_patterns(patterns)
        #: set during fit: number of parameters moved to zero-decay groups
        self.moved: int = 0

    @property
    @override
    def state_key(self) -> str:
        return self._generate_state_key(bias=self.bias, norm=self.norm, patterns=self.patterns)

    @override
    def transform_optimizers(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, config: OptimizerConfig
    ) -> None:
        names = no_decay_names(pl_module, bias=self.bias, norm=self.norm, patterns=self.patterns)
        exempt = {id(p) for n, p in pl_module.named_parameters() if n in names}
        self.moved = 0
        decayed_groups = 0
        for index, optimizer in enumerate(config.optimizers):
            before = len(optimizer.param_groups)
            decayed_groups += self._split(optimizer, exempt, config)
            self._check_resume(trainer, index, optimizer, before)
        if decayed_groups == 0:
            rank_zero_warn(
                "NoBiasDecay: no param group has weight_decay > 0, so there is no decay to "
                "remove; set the optimizer's weight_decay or drop the callback",
                category=UserWarning,
            )
        else:
            rank_zero_info(f"NoBiasDecay: {self.moved} parameters get no weight decay")

    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._checkpoint_groups: list[int] | None = None
        super().setup(trainer, pl_module, stage)

    @override
    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        super().on_load_checkpoint(trainer, pl_module, checkpoint)
        states = checkpoint.get("optimizer_states") or []
        self._checkpoint_groups = [len(s.get("param_groups", [])) for s in states]

    def _check_resume(
        self, trainer: pl.Trainer, index: int, optimizer: Optimizer, before: int
    ) -> None:
        saved = getattr(self, "_checkpoint_groups", None)
        after = len(optimizer.param_groups)
        if not saved or index >= len(saved) or after == before or saved[index] != before:
            return
        raise ValueError(
            f"NoBiasDecay splits the param groups of {type(optimizer).__name__} ({before} -> "
            f"{after}), but the checkpoint {trainer.ckpt_path} was written without it "
            f"({saved[index]} group(s)), so its optimizer state cannot be restored. Resume "
            "without NoBiasDecay, or start a new fit (no ckpt_path) from the checkpoint's "
            "weights, e.g. `model.load_state_dict(torch.load(path)['state_dict'])`"
        )

    def _split(self, optimizer: Optimizer, exempt: set[int], config: OptimizerConfig) -> int:
        n_before = len(optimizer.param_groups)
        sources: list[int] = []
        decayed = 0
        for index, group in enumerate(list(optimizer.param_groups)):
            if not group.get("weight_decay", 0):
                continue
            decayed += 1
            params: list[Tensor] = group["params"]
            out = [i for i, p in enumerate(params) if id(p) in exempt]
            if not out:
                continue
            self.moved += len(out)
            if len(out) == len(params):
                group["weight_decay"] = 0.0
                continue
            new_group = {k: v for k, v in group.items() if k not in ("params", "param_names")}
            new_group["params"] = [params[i] for i in out]
            new_group["weight_decay"] = 0.0
            if "name" in group:
                new_group["name"] = f"{group['name']}/no_decay"
            keep = [i for i in range(len(params)) if i not in set(out)]
            if "param_names" in group:
                names = group["param_names"]
                new_group["param_names"] = [names[i] for i in out]
                group["param_names"] = [names[i] for i in keep]
            group["params"] = [params[i] for i in keep]
            optimizer.add_param_group(new_group)
            sources.append(index)
        if sources:
            for conf in config.schedulers_of(optimizer):
                extend_scheduler_groups(conf["scheduler"], sources, n_before)
            # the `adabound` package keeps one base LR per group on the optimizer
            base_lrs = getattr(optimizer, "base_lrs", None)
            if isinstance(base_lrs, list) and len(base_lrs) == n_before:
                base_lrs.extend(base_lrs[i] for i in sources)
        return decayed


class L1Regularization(Callback):
    """Add an L1 penalty ``weight × Σ|w|`` through the gradients.

    L1 regularisation (lasso; `Tibshirani, 1996
    <https://doi.org/10.1111/j.2517-6161.1996.tb02080.x>`_) drives weights to exactly zero.
    Instead of adding the penalty to the loss, this callback adds its gradient
    ``weight × sign(w)`` to every selected ``w.grad`` in ``on_before_optimizer_step``: after
    gradient accumulation, after AMP unscaling and the DDP all-reduce, before clipping and the
    optimizer step. The result equals adding ``weight × Σ|w|`` to the loss, without touching
    ``training_step``. (L2 regularisation is the optimizer's ``weight_decay``.)

    **Manual optimization** (``automatic_optimization = False``): the gradient is added by a
    torch step pre-hook on every optimizer, i.e. inside ``opt.step()``, after the module's
    ``manual_backward`` (and after any clipping it does itself) and after a closure passed to
    ``step(closure)`` has run; it works with Lightning's optimizer wrapper and with the raw
    optimizer (``self.optimizers(use_pl_optimizer=False)``) alike.

    Args:
        weight: the coefficient λ (> 0).
        exclude_bias: leave parameters named ``bias`` alone. Default ``True``.
        exclude_norm: leave normalisation-layer parameters alone. Default ``True``.
        patterns: extra ``fnmatch`` patterns of parameter names to leave alone.

    Raises:
        TypeError: for arguments of the wrong type.
        ValueError: for ``weight <= 0``.

    Example::

        >>> from lightning_tricks.callbacks import L1Regularization
        >>> callback = L1Regularization(weight=1e-5)
        >>> # Trainer(callbacks=[callback]).fit(model)
    """

    def __init__(
        self,
        weight: float,
        exclude_bias: bool = True,
        exclude_norm: bool = True,
        patterns: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self.weight = check_float("weight", weight, low=0.0, low_inclusive=False)
        self.exclude_bias = _check_flag("exclude_bias", exclude_bias)
        self.exclude_norm = _check_flag("exclude_norm", exclude_norm)
        self.patterns = _check_patterns(patterns)
        self._params: list[Tensor] = []

    @property
    @override
    def state_key(self) -> str:
        return self._generate_state_key(
            weight=self.weight,
            exclude_bias=self.exclude_bias,
            exclude_norm=self.exclude_norm,
            patterns=self.patterns,
        )

    def select(self, pl_module: pl.LightningModule) -> list[Tensor]:
        """The parameters the penalty applies to."""
        names = no_decay_names(
            pl_module, bias=self.exclude_bias, norm=self.exclude_norm, patterns=self.patterns
        )
        return [p for n, p in pl_module.named_parameters() if n not in names]

    @override
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        drop_early_train_data_on_resume(trainer)
        self._params = self.select(pl_module)
        self._remove_hooks()
        if is_manual(pl_module):
            self._hooks = [opt.register_step_pre_hook(self._pre_step) for opt in trainer.optimizers]

    @override
    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        warn_missing_transforms(trainer, checkpoint)

    def apply(self, optimizer: Optimizer) -> None:
        """Add ``weight × sign(w)`` to the gradients of the selected parameters of ``optimizer``."""
        in_optimizer = {id(p) for g in optimizer.param_groups for p in g["params"]}
        add_l1_grad_([p for p in self._params if id(p) in in_optimizer], self.weight)

    def _pre_step(self, optimizer: Optimizer, args: Any, kwargs: Any) -> Any:
        # torch passes the optimizer itself as args[0]
        closure = kwargs.get("closure", args[1] if len(args) > 1 else None)
        if closure is None:
            self.apply(optimizer)
            return None
        # the closure computes the gradients: add the penalty after it has run
        wrapped = _AfterClosure(closure, self, optimizer)
        if "closure" in kwargs:
            return args, {**kwargs, "closure": wrapped}
        return (args[0], wrapped, *args[2:]), kwargs

    def _remove_hooks(self) -> None:
        for handle in getattr(self, "_hooks", []):
            handle.remove()
        self._hooks = []

    @override
    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: Optimizer
    ) -> None:
        if not is_manual(pl_module):  # manual optimization: the step pre-hook does it
            self.apply(optimizer)

    @override
    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._params = []
        self._remove_hooks()

    @override
    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        self._params = []
        self._remove_hooks()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_hooks"] = []  # hook handles hold weak references and do not pickle
        return state


class _AfterClosure:
    """A step closure that adds the L1 gradient after the original closure has run."""

    def __init__(self, closure: Any, owner: L1Regularization, optimizer: Optimizer) -> None:
        self.closure, self.owner, self.optimizer = closure, owner, optimizer

    def __call__(self) -> Any:
        out = self.closure()
        self.owner.apply(self.optimizer)
        return out
