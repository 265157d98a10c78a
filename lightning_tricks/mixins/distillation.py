"""DistillationMixin: add a frozen teacher's distillation term to any LightningModule's loss.

`Distilling the Knowledge in a Neural Network <https://arxiv.org/abs/1503.02531>`_ (Hinton et
al., 2015), as used in `Bag of Tricks for Image Classification
<https://arxiv.org/abs/1812.01187>`_ (He et al., 2019, §5.3), whose reference code feeds the
teacher the mixed batch when mixup is on.

How the term is added to the module's own step
----------------------------------------------
The mixin never replaces the module's ``training_step``. For the length of each step it puts
a forward pre-hook and a forward hook (``with_kwargs=True``) on the student's forward module
(:meth:`DistillationMixin.distillation_module`, ``self`` by default: ``self(x)`` goes through
``nn.Module.__call__``). The first forward call of the step is *paired*: its inputs go to the
frozen teacher (before the student's forward runs, so the teacher's activations are freed
before the student's graph is built) and its output holds the student's logits. When the
step returns, its loss (a tensor, or the ``"loss"`` of a dict whose other keys are kept)
becomes ``(1 − alpha) · loss + alpha · T² · KL(teacher ‖ student)``. Under manual
optimization the same term is added to the loss the step passes to ``manual_backward``. The
student's own loss is whatever the module computes (cross-entropy, NLL, BCE, a mixed-label
loss): the mixin never touches the targets.

Every class that derives from the mixin gets its ``training_step`` and ``validation_step``
wrapped once (in ``__init_subclass__``), so a step defined in the student class itself, or in
a subclass of it, gets the term exactly once too.

How the teacher is kept frozen
------------------------------
The teacher is stored *outside* ``nn.Module`` registration (in a small holder object instead
of ``self._modules``). So, by construction and not by filtering:

* it is not in ``parameters()`` / ``named_parameters()``: no optimizer ever sees it, including
  a ``configure_optimizers`` that uses ``self.parameters()`` and LightningCLI's ``--optimizer``;
* it is not in ``state_dict()``: checkpoints carry only the student (unless ``save_teacher``,
  which stores it under a separate checkpoint key), and they load into the student strictly;
* DDP wraps only the student: nothing of the teacher is synchronised or bucketed, so
  ``find_unused_parameters=False`` holds; ``convert_sync_batchnorm`` never touches it;
* ``named_modules()`` does not list it: no "modules in eval mode" warning from the fit loop,
  and ``train()`` / ``eval()`` of the student do not recurse into it.

Device and dtype moves (``.to()``, ``.cuda()``, ``.half()``, Lightning's strategies) reach the
teacher through an ``_apply`` override, so it always lives on the student's device.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any

import torch
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torch import Tensor, nn
from typing_extensions import Self, override

from .._checkpoint import check_checkpoint_file, load_checkpoint
from ..functional.targets import hard_targets
from ..losses.distillation import DistillationLoss

if TYPE_CHECKING:  # the mixin is used in front of a LightningModule
    from lightning.pytorch import LightningModule as _MixinBase
else:
    _MixinBase = object

__all__ = ["DistillationMixin"]

#: checkpoint key under which ``save_teacher=True`` stores the teacher's state dict
TEACHER_CHECKPOINT_KEY = "distillation_teacher_state_dict"
#: init arguments that never go into ``hparams`` (a module, and a path only it can use)
_NOT_HPARAMS = ("teacher", "teacher_checkpoint")
#: wrappers whose state-dict keys come under one top-level prefix
_CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model", "module")
#: batch keys searched (in this order) for the targets of ``val/teacher_acc``
_TARGET_KEYS = ("label", "labels", "target", "targets", "y")
#: marks a step function already wrapped by the mixin
_WRAPPED = "_distillation_wrapped"


class _Hidden:
    """Holds the teacher where ``nn.Module`` does not look (see the module docstring)."""

    __slots__ = ("module",)

    def __init__(self, module: nn.Module) -> None:
        self.module = module


class _Step:
    """What the hooks saw during one training / validation step of the student."""

    __slots__ = (
        "added",
        "backwards",
        "explicit",
        "forwards",
        "output",
        "paired",
        "running",
        "teacher",
        "training",
    )

    def __init__(self, training: bool) -> None:
        self.training = training
        self.teacher: Tensor | None = None  # the teacher's logits of the pending pairing
        self.output: Any = None  # the student's forward output of the pending pairing
        self.running = False  # the paired forward call is in progress
        self.paired = False  # a pairing waits to be used
        self.forwards = 0  # calls of the student's forward module in this step
        self.added = 0  # distillation terms added in this step
        self.backwards = 0  # manual_backward calls in this step
        self.explicit = False  # the step called distillation_loss() itself


def _wrap_step(fn: Callable[..., Any], training: bool) -> Callable[..., Any]:
    @functools.wraps(fn)
    def step(self: DistillationMixin, *args: Any, **kwargs: Any) -> Any:
        return self._distillation_step(fn, args, kwargs, training)

    setattr(step, _WRAPPED, True)
    return step


def _is_lightning_default(cls: type, name: str) -> bool:
    owner = next((k for k in cls.__mro__ if name in vars(k)), None)
    return owner is None or owner.__name__ == "LightningModule"


class DistillationMixin(_MixinBase):
    """Knowledge distillation from a frozen teacher for any LightningModule (Hinton et al., 2015).

    `Distilling the Knowledge in a Neural Network <https://arxiv.org/abs/1503.02531>`_. Put the
    mixin first: ``class Student(DistillationMixin, MyModule)``. Its keyword-only arguments are
    consumed here and every other argument goes up the MRO to ``MyModule``, so LightningCLI can
    configure the student, teacher included, from YAML.

    **It adds to your step, never replaces it.** ``MyModule.training_step`` runs unchanged
    (its loss, logs, metrics); the mixin captures the input and output of the first call of
    the student's forward in the step (``self(x)``; see :meth:`distillation_module`), runs the
    frozen teacher on the same input (so with MixUp / CutMix / RICAP the teacher sees the
    mixed images, as in the Bag of Tricks reference code, GluonCV's ``train_imagenet.py``) and
    returns ``(1 − alpha) · loss + alpha · T² · KL(teacher ‖ student at temperature T)``,
    where ``loss`` is what the step returned (a tensor, or the ``"loss"`` of a dict; the
    other keys are kept). It logs ``train/kd_loss`` (the ``T² · KL`` term) and
    ``train/distill_loss`` (the total). Under manual optimization
    (``automatic_optimization = False``) the term is added to the loss the step passes to
    ``self.manual_backward``. Dict batches and forwards that return an object with
    ``.logits`` (Hugging Face style) work; a one-logit binary head (``BCEWithLogits``) pairs
    with a one-logit teacher (two-class KL of the sigmoids).

    Override points: :meth:`distillation_module` (the module whose forward gives the logits,
    e.g. ``self.model`` for a step that calls ``self.model(x)``), :meth:`distillation_logits`
    (the logits in its output), :meth:`teacher_logits` (how the teacher is called),
    :meth:`distillation_targets` (the labels of a validation batch, for ``val/teacher_acc``).

    The teacher is frozen: ``requires_grad=False``, always in eval mode (BatchNorm statistics
    never change, Dropout stays off), run under ``torch.no_grad()`` inside the student's
    autocast on the student's device (its logits are upcast to float32 for the KL); it is kept
    out of ``parameters()``, ``state_dict()``, the optimizers and DDP (see the module
    docstring for how). At the first validation of each fit / validate run (not the sanity
    check) the teacher's accuracy on the validation set is logged once as
    ``val/teacher_acc``.

    ``hparams`` never record ``teacher`` or ``teacher_checkpoint``, so
    ``Student.load_from_checkpoint(path)`` gives a teacher-less student for inference; pass
    ``teacher=...`` (and ``teacher_checkpoint=...``) to it to continue distilling.

    Args:
        teacher: the teacher network (any ``nn.Module`` returning logits ``(N, K)`` or an
            object with ``.logits``, e.g. ``CifarResNet`` or an ``ImageClassifier``; from YAML
            a ``class_path`` with ``init_args``). It is frozen in place. ``None`` (default)
            gives a student that can validate, test and predict but not train.
        teacher_checkpoint: optional path (or URL) of the teacher's weights: a Lightning
            checkpoint or a plain state dict; key prefixes such as ``model.`` or ``module.``
            are stripped or added as needed. Default None (use ``teacher`` as given).
        temperature: softmax temperature ``T`` (> 0). Default 4.0.
        alpha: weight of the distillation term, in [0, 1]. Default 0.9.
        save_teacher: also store the teacher's weights in checkpoints (under the key
            ``"distillation_teacher_state_dict"``, restored into the teacher on load). Default
            False: checkpoints hold only the student.
        **kwargs: passed to the next class in the MRO.

    Raises:
        TypeError: if ``teacher`` is not an ``nn.Module``, ``save_teacher`` is not a bool, or
            ``alpha`` / ``temperature`` is not a number.
        ValueError: if ``temperature <= 0``, ``alpha`` is outside [0, 1], the teacher shares
            parameters with the student or predicts a different number of classes, the
            checkpoint is unreadable or does not fit the teacher, or ``teacher_checkpoint`` is
            given without a ``teacher``.
        FileNotFoundError: if ``teacher_checkpoint`` does not exist.
        RuntimeError: at ``fit`` without a teacher; on the first step if it never calls the
            student's forward module (see :meth:`distillation_module`).

    Example::

        >>> import lightning.pytorch as pl
        >>> import torch.nn.functional as F
        >>> from lightning_tricks.models import CifarResNet
        >>> class MyModule(pl.LightningModule):
        ...     def __init__(self, lr: float = 0.1):
        ...         super().__init__()
        ...         self.net = nn.Sequential(nn.Flatten(), nn.Linear(16 * 16, 10))
        ...     def forward(self, x):
        ...         return self.net(x)
        ...     def training_step(self, batch, batch_idx):
        ...         x, y = batch
        ...         return F.cross_entropy(self(x), y)
        >>> class Student(DistillationMixin, MyModule):
        ...     pass
        >>> teacher = CifarResNet(depth=14, num_classes=10, in_channels=1)
        >>> student = Student(teacher=teacher, temperature=4.0, alpha=0.9, lr=0.1)
        >>> any(p is q for p in student.parameters() for q in teacher.parameters())
        False
        >>> _ = student.train()
        >>> teacher.training, teacher.fc.weight.requires_grad
        (False, False)
    """

    def __init__(
        self,
        *,
        teacher: nn.Module | None = None,
        teacher_checkpoint: str | None = None,
        temperature: float = 4.0,
        alpha: float = 0.9,
        save_teacher: bool = False,
        **kwargs: Any,
    ) -> None:
        criterion = DistillationLoss(alpha=alpha, temperature=temperature)
        if not isinstance(save_teacher, bool):
            raise TypeError(f"`save_teacher` must be a bool, got {type(save_teacher).__name__}")
        if teacher is not None and not isinstance(teacher, nn.Module):
            raise TypeError(
                f"`teacher` must be an nn.Module (or None), got {type(teacher).__name__}; "
                "from YAML give it as `class_path` + `init_args`"
            )
        if teacher_checkpoint is not None:
            if not isinstance(teacher_checkpoint, (str, os.PathLike)):
                raise TypeError(
                    "`teacher_checkpoint` must be a path (str or os.PathLike), got "
                    f"{type(teacher_checkpoint).__name__}"
                )
            if teacher is None:
                raise ValueError(
                    f"`teacher_checkpoint` ({os.fspath(teacher_checkpoint)!s}) needs a `teacher` "
                    "module to load into: pass `teacher=` (e.g. the network the checkpoint was "
                    "trained as)"
                )
        if criterion.alpha == 0.0:
            rank_zero_warn(
                "`alpha`=0 trains the student on the labels only: the teacher still runs every "
                "step but does not change the loss; use the plain module, or alpha > 0",
                category=UserWarning,
            )
        super().__init__(**kwargs)
        self.distillation_criterion = criterion
        self.save_teacher = save_teacher
        self._teacher_acc_done = False
        self._teacher_acc_counts: Tensor | None = None
        self._distillation_state: _Step | None = None
        self._distillation_warned: set[str] = set()
        if teacher is not None:
            if teacher_checkpoint is not None:
                _load_teacher_checkpoint(teacher, teacher_checkpoint)
            self._set_teacher(teacher)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, training in (("training_step", True), ("validation_step", False)):
            fn = getattr(cls, name, None)
            if fn is None or getattr(fn, _WRAPPED, False) or _is_lightning_default(cls, name):
                continue
            setattr(cls, name, _wrap_step(fn, training))

    # ------------------------------------------------------------------ the teacher
    @property
    def teacher(self) -> nn.Module | None:
        """The frozen teacher (``None`` if there is none). Assigning a module freezes it."""
        # a plain attribute (never an nn.Module child); absent until a teacher is set
        holder = self.__dict__.get("_distillation_teacher")
        return None if holder is None else holder.module

    @override
    def __setattr__(self, name: str, value: Any) -> None:
        # nn.Module.__setattr__ would register a module as a child and bypass the property.
        if name == "teacher":
            self._set_teacher(value)
        else:
            super().__setattr__(name, value)

    def _set_teacher(self, teacher: nn.Module | None) -> None:
        if teacher is None:
            self._distillation_teacher = None
            return
        if not isinstance(teacher, nn.Module):
            raise TypeError(
                f"`teacher` must be an nn.Module (or None), got {type(teacher).__name__}"
            )
        student_params = {id(p) for p in self.parameters()}
        if any(id(p) in student_params for p in teacher.parameters()):
            raise ValueError(
                "`teacher` shares parameters with the student; freezing it would freeze the "
                "student too: pass a separate copy (e.g. `copy.deepcopy(module)`)"
            )
        k_student, k_teacher = _num_outputs(self), _num_outputs(teacher)
        if k_student is not None and k_teacher is not None and k_student != k_teacher:
            raise ValueError(
                f"the teacher {type(teacher).__name__} predicts {k_teacher} classes but the "
                f"student predicts {k_student}: teacher and student must share the classes "
                "(set the teacher's `num_classes`)"
            )
        teacher.requires_grad_(False)
        teacher.eval()
        device = getattr(self, "device", None)
        if isinstance(device, torch.device):
            teacher.to(device)
        self._distillation_teacher = _Hidden(teacher)

    def _require_teacher(self) -> nn.Module:
        teacher = self.teacher
        if teacher is None:
            raise RuntimeError(
                f"{type(self).__name__} has no teacher: pass `teacher=<nn.Module>` (and "
                "`teacher_checkpoint=...`) to distill; without one the student can only "
                "validate, test and predict"
            )
        return teacher

    @override
    def _apply(self, fn: Any, recurse: bool = True) -> Self:
        out = super()._apply(fn, recurse)
        teacher = self.teacher
        if teacher is not None and recurse:
            teacher._apply(fn)
        return out

    @override
    def train(self, mode: bool = True) -> Self:
        out = super().train(mode)
        teacher = self.teacher
        if teacher is not None:
            teacher.eval()
        return out

    @override
    def save_hyperparameters(
        self,
        *args: Any,
        ignore: Sequence[str] | str | None = None,
        frame: FrameType | None = None,
        logger: bool = True,
    ) -> None:
        """Lightning's ``save_hyperparameters`` that never records ``teacher`` (a module whose
        weights must not be pickled into ``hparams``) nor ``teacher_checkpoint``."""
        if frame is None:
            current = inspect.currentframe()
            frame = current.f_back if current is not None else None
        ignored = [ignore] if isinstance(ignore, str) else list(ignore or [])
        named = {a for a in args if isinstance(a, str)}
        ignored += [name for name in _NOT_HPARAMS if name not in named]
        super().save_hyperparameters(*args, ignore=ignored, frame=frame, logger=logger)

    # ------------------------------------------------------------------ override points
    def distillation_module(self) -> nn.Module:
        """The module whose forward the mixin pairs with the teacher. Default: ``self``.

        Its first forward call in each step gives the teacher's input (the call's arguments)
        and the student's logits (its output, see :meth:`distillation_logits`). Override this
        when the step calls a submodule instead of ``self(x)``::

            def distillation_module(self):
                return self.model  # the step calls self.model(x)
        """
        return self

    def distillation_logits(self, output: Any) -> Tensor:
        """The student's logits in the output of :meth:`distillation_module`'s forward.

        Default: the output itself if it is a tensor, else its ``.logits`` (Hugging Face
        ``ModelOutput``) or its ``"logits"`` item. Override for other outputs, e.g.
        ``return output[0]`` for a forward that returns ``(logits, features)``.

        Raises:
            TypeError: if no logits tensor is found.
        """
        module = type(self.distillation_module()).__name__
        return _logits_of(output, f"the student's forward ({module})", "distillation_logits")

    def teacher_logits(self, *args: Any, **kwargs: Any) -> Tensor:
        """The frozen teacher's logits for the arguments of the student's forward call.

        Runs under ``torch.no_grad()`` in whatever autocast context is active (Lightning's
        precision plugin wraps the step), so the teacher sees the student's precision. The
        teacher is called with the student's positional and keyword arguments; keywords its
        ``forward`` does not take are dropped (so ``labels=`` given to a Hugging Face style
        student never reaches a plain teacher), and a teacher that then still cannot take the
        call gets the first tensor argument alone. Its output may be a tensor or have
        ``.logits``. Override this for a teacher that needs other inputs (another size,
        normalisation) or returns something else.

        Raises:
            RuntimeError: if there is no teacher.
            TypeError: if the teacher cannot take the call or returns no logits tensor.
        """
        teacher = self._require_teacher()
        call_args, call_kwargs = _teacher_call(teacher, args, kwargs)
        with torch.no_grad():
            out = teacher(*call_args, **call_kwargs)
        return _logits_of(out, f"the teacher {type(teacher).__name__}", "teacher_logits")

    def distillation_targets(self, batch: Any) -> Tensor | None:
        """The labels of a validation batch, for ``val/teacher_acc`` (``None``: not logged).

        Default: ``batch[1]`` of a list/tuple batch, else the first of the keys ``"label"``,
        ``"labels"``, ``"target"``, ``"targets"``, ``"y"`` of a dict batch.
        """
        if isinstance(batch, Mapping):
            for key in _TARGET_KEYS:
                value = batch.get(key)
                if isinstance(value, Tensor):
                    return value
            return None
        if isinstance(batch, (list, tuple)) and len(batch) >= 2 and isinstance(batch[1], Tensor):
            return batch[1]
        return None

    # ------------------------------------------------------------------ the step
    def _distillation_step(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], training: bool
    ) -> Any:
        if self.__dict__.get("_distillation_state") is not None:
            return fn(self, *args, **kwargs)  # a nested step (a subclass calling super())
        if training:
            self._require_teacher()
        elif not self._teacher_acc_wanted():
            return fn(self, *args, **kwargs)
        state = _Step(training)

        def before(module: nn.Module, f_args: tuple[Any, ...], f_kwargs: dict[str, Any]) -> None:
            state.forwards += 1
            if not (state.paired or state.running):
                state.teacher = self.teacher_logits(*f_args, **f_kwargs)
                state.running = True

        def after(
            module: nn.Module, f_args: tuple[Any, ...], f_kwargs: dict[str, Any], output: Any
        ) -> None:
            if state.running:
                state.output, state.running, state.paired = output, False, True

        target = self.distillation_module()
        handles = [
            target.register_forward_pre_hook(before, with_kwargs=True),
            target.register_forward_hook(after, with_kwargs=True),
        ]
        self._distillation_state = state
        try:
            out = fn(self, *args, **kwargs)
        finally:
            for handle in handles:
                handle.remove()
            self._distillation_state = None
        if not training:
            batch = args[0] if args else kwargs.get("batch")
            self._count_teacher_acc(state, batch)
            return out
        if state.explicit:
            return out
        if not self.automatic_optimization:
            if state.paired and state.added == 0 and state.backwards == 0:
                self._warn_once(
                    "manual",
                    f"{type(self).__name__}.training_step ran the student's forward but never "
                    "called `self.manual_backward(loss)`: under manual optimization the "
                    "distillation term is added only to the loss given to `manual_backward`",
                )
            return out
        if out is None:  # the module skipped this batch
            return None
        if isinstance(out, Tensor):
            return self._add_distillation(out, state)
        if isinstance(out, Mapping) and isinstance(out.get("loss"), Tensor):
            return {**out, "loss": self._add_distillation(out["loss"], state)}
        raise TypeError(
            f"{type(self).__name__}.training_step returned {type(out).__name__}; "
            "DistillationMixin adds its term to a loss tensor or to the 'loss' of a dict"
        )

    def _add_distillation(self, loss: Tensor, state: _Step) -> Tensor:
        if not state.paired:
            target = self.distillation_module()
            where = "`self(...)`" if target is self else f"`{type(target).__name__}`"
            raise RuntimeError(
                f"{type(self).__name__}.training_step never called the student's forward "
                f"module {where} (the module `distillation_module()` returns), so "
                "DistillationMixin has no student logits to pair with the teacher's. If the "
                "step calls a submodule (e.g. `self.model(x)`), override "
                "`distillation_module()` to return it (`return self.model`)"
            )
        student = self.distillation_logits(state.output)
        teacher = state.teacher
        assert teacher is not None
        student, teacher = _pair_logits(student, teacher)
        parts = self.distillation_criterion.combine(loss, student, teacher)
        state.paired, state.output, state.teacher = False, None, None
        state.added += 1
        self.log("train/kd_loss", parts.kd_loss)
        self.log("train/distill_loss", parts.loss)
        return parts.loss

    @override
    def manual_backward(self, loss: Tensor, *args: Any, **kwargs: Any) -> None:
        """Lightning's ``manual_backward``, with the distillation term added to ``loss``.

        During a training step under manual optimization, each call adds the term of the
        student forward paired since the previous call (a second backward without a new
        forward is passed on unchanged).
        """
        state = self.__dict__.get("_distillation_state")
        if state is not None and state.training and not state.explicit:
            state.backwards += 1
            if state.paired or state.added == 0:
                loss = self._add_distillation(loss, state)
        super().manual_backward(loss, *args, **kwargs)

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._distillation_warned:
            self._distillation_warned.add(key)
            rank_zero_warn(message, category=UserWarning)

    # ------------------------------------------------------------------ explicit loss
    def distillation_loss(
        self,
        student_logits: Tensor,
        x: Tensor,
        y: Tensor,
        *,
        teacher_logits: Tensor | None = None,
        log: bool = True,
    ) -> Tensor:
        """``alpha · kd_loss + (1 − alpha) · cross_entropy(student_logits, y)``, spelled out.

        Not needed in a ``training_step``: the mixin adds its term to the step's own loss.
        For code that computes the whole distillation loss itself (e.g. a benchmark, or a
        step that wants cross-entropy in the formula); called inside a training step, it
        switches the automatic term off for that step, so the term is never added twice.

        Args:
            student_logits: the student's logits ``(N, K)`` on ``x``.
            x: the input batch the student saw (the teacher runs on it).
            y: class indices ``(N,)`` or probabilities ``(N, K)``.
            teacher_logits: the teacher's logits on ``x`` if already computed with
                :meth:`teacher_logits` (then ``x`` is not used). Default None: computed here.
            log: log ``train/kd_loss``, ``train/ce_loss`` and ``train/distill_loss``.
                Default True.

        Raises:
            RuntimeError: if there is no teacher.
            ValueError: if the teacher's logits or the targets do not fit ``student_logits``.
        """
        t_logits = self.teacher_logits(x) if teacher_logits is None else teacher_logits
        if t_logits.shape != student_logits.shape:
            raise ValueError(
                f"the teacher's logits have shape {tuple(t_logits.shape)} but the student's have "
                f"{tuple(student_logits.shape)}: teacher and student must predict the same "
                "classes for the same batch (check the teacher's `num_classes`)"
            )
        parts = self.distillation_criterion.parts(student_logits, t_logits, y)
        state = self.__dict__.get("_distillation_state")
        if state is not None:
            state.explicit = True
        if log:
            self.log("train/kd_loss", parts.kd_loss)
            self.log("train/ce_loss", parts.ce_loss)
            self.log("train/distill_loss", parts.loss, prog_bar=True)
        return parts.loss

    # ------------------------------------------------------------------ val/teacher_acc
    def _teacher_acc_wanted(self) -> bool:
        trainer = self._trainer
        return (
            not self._teacher_acc_done
            and self.teacher is not None
            and trainer is not None
            and not trainer.sanity_checking
        )

    def _count_teacher_acc(self, state: _Step, batch: Any) -> None:
        if not state.paired or state.teacher is None:
            self._warn_once(
                "val_forward",
                f"val/teacher_acc is not logged: {type(self).__name__}.validation_step never "
                "called the student's forward module; override `distillation_module()` to "
                "return the module it calls",
            )
            return
        targets = self.distillation_targets(batch)
        logits = state.teacher
        if targets is None:
            self._warn_once(
                "val_targets",
                f"val/teacher_acc is not logged: no targets found in a {type(batch).__name__} "
                f"batch (list/tuple batch[1] or a dict key in {list(_TARGET_KEYS)}); override "
                "`distillation_targets(batch)`",
            )
            return
        if logits.ndim == 1 or logits.shape[1] == 1:  # one-logit binary head
            pred, y = (logits.reshape(-1) > 0).long(), targets.reshape(-1).long()
        else:
            pred, y = logits.argmax(dim=1), hard_targets(targets).long()
        if pred.shape != y.shape:
            self._warn_once(
                "val_shape",
                f"val/teacher_acc is not logged: the teacher predicts {tuple(pred.shape)} but "
                f"the targets have shape {tuple(y.shape)}; override `distillation_targets(batch)`",
            )
            return
        counts = torch.stack([(pred == y).sum(), torch.tensor(y.numel(), device=y.device)])
        prev = self._teacher_acc_counts
        self._teacher_acc_counts = counts if prev is None else prev + counts

    @override
    def setup(self, stage: str) -> None:
        super().setup(stage)
        self._teacher_acc_done = False  # once per fit / validate run
        if stage == "fit":
            self._require_teacher()

    @override
    def on_validation_epoch_start(self) -> None:
        super().on_validation_epoch_start()
        self._teacher_acc_counts = None

    @override
    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()
        if not self._teacher_acc_wanted():
            return
        counts = self._teacher_acc_counts
        if counts is None:  # this rank saw no batch: still join the reduction
            counts = torch.zeros(2, dtype=torch.long, device=self.device)
        counts = self.trainer.strategy.reduce(counts, reduce_op="sum")
        self._teacher_acc_counts = None
        if int(counts[1]) == 0:
            return
        # the value is already global; sync_dist only silences Lightning's DDP advice
        self.log("val/teacher_acc", counts[0].float() / counts[1].float(), sync_dist=True)
        self._teacher_acc_done = True

    # ------------------------------------------------------------------ checkpoints
    @override
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        teacher = self.teacher
        if self.save_teacher and teacher is not None:
            checkpoint[TEACHER_CHECKPOINT_KEY] = teacher.state_dict()

    @override
    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        state = checkpoint.get(TEACHER_CHECKPOINT_KEY)
        if state is None:
            return
        teacher = self.teacher
        if teacher is None:
            rank_zero_info(
                "the checkpoint holds teacher weights but this student has no teacher; they are "
                "ignored (pass `teacher=` to restore them)"
            )
            return
        _load_into(teacher, state, "the checkpoint's saved teacher")


# ---------------------------------------------------------------------- helpers
def _num_outputs(module: nn.Module) -> int | None:
    """Number of classes if the module declares it (``num_classes`` or an ``fc`` Linear head)."""
    k = getattr(module, "num_classes", None)
    if isinstance(k, int) and not isinstance(k, bool):
        return k
    fc = getattr(module, "fc", None)
    return fc.out_features if isinstance(fc, nn.Linear) else None


def _logits_of(out: Any, who: str, override: str) -> Tensor:
    """The logits tensor of a forward output: the tensor, its ``.logits`` or ``["logits"]``."""
    if isinstance(out, Tensor):
        return out
    logits = getattr(out, "logits", None)
    if isinstance(logits, Tensor):
        return logits
    if isinstance(out, Mapping) and isinstance(out.get("logits"), Tensor):
        return out["logits"]
    raise TypeError(
        f"{who} returned {type(out).__name__}, expected a logits tensor (N, K) or an object "
        f"with `.logits`; override `{override}` to extract the logits"
    )


def _pair_logits(student: Tensor, teacher: Tensor) -> tuple[Tensor, Tensor]:
    """Student and teacher logits of one shape, or a clear error naming the override points."""
    if student.shape == teacher.shape and student.ndim in (1, 2):
        return student, teacher
    one_logit = all(t.ndim in (1, 2) and t.numel() == t.shape[0] for t in (student, teacher))
    if one_logit and student.shape[0] == teacher.shape[0]:  # (N,) vs (N, 1)
        return student.reshape(-1), teacher.reshape(-1)
    raise ValueError(
        f"the student's logits have shape {tuple(student.shape)} but the teacher's have "
        f"{tuple(teacher.shape)}: the distillation term pairs logits of the same classes, one "
        "per class (N, K) for both, or one logit per sample for both (a one-logit binary head "
        "pairs only with a one-logit teacher). Use a teacher with the student's head, or "
        "override `distillation_logits(output)` (the student's) or "
        "`teacher_logits(*args, **kwargs)` (the teacher's) to return matching logits"
    )


def _teacher_call(
    teacher: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The student's forward arguments, adapted to what the teacher's ``forward`` takes."""
    try:
        sig = inspect.signature(teacher.forward)
    except (TypeError, ValueError):  # no signature to check: call it as the student was
        return args, kwargs
    candidates: list[tuple[tuple[Any, ...], dict[str, Any]]] = [(args, kwargs)]
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()):
        candidates.append((args, {k: v for k, v in kwargs.items() if k in sig.parameters}))
    tensors = [v for v in (*args, *kwargs.values()) if isinstance(v, Tensor)]
    if tensors:
        candidates.append(((tensors[0],), {}))
    for c_args, c_kwargs in candidates:
        try:
            sig.bind(*c_args, **c_kwargs)
        except TypeError:
            continue
        return c_args, c_kwargs
    given = [type(a).__name__ for a in args] + [f"{k}=" for k in kwargs]
    raise TypeError(
        f"the teacher {type(teacher).__name__} cannot be called like the student's forward "
        f"({', '.join(given)}): its forward takes {sig}; override "
        "`teacher_logits(*args, **kwargs)` to call it"
    )


def _load_teacher_checkpoint(teacher: nn.Module, path: str | os.PathLike[str]) -> None:
    """Load a Lightning checkpoint or plain state dict from ``path`` into ``teacher``."""
    path_s = os.fspath(path)
    argument = "`teacher_checkpoint`"
    if "://" not in path_s and not os.path.exists(path_s):
        raise FileNotFoundError(f"{argument} {path_s!r} does not exist")
    check_checkpoint_file(path_s, argument)  # names what is wrong with the file
    obj = load_checkpoint(path_s, "teacher_checkpoint")
    if isinstance(obj, Mapping):
        for key in _CHECKPOINT_KEYS:
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise ValueError(
            f"{argument} {path_s!r} is neither a Lightning checkpoint nor a state dict "
            f"(expected a mapping of tensors or a dict with one of {list(_CHECKPOINT_KEYS)})"
        )
    _load_into(teacher, obj, f"{argument} {path_s!r}")


def _prefixes(keys: list[str], max_depth: int = 3) -> set[str]:
    out = {""}
    for key in keys:
        parts = key.split(".")
        for d in range(1, min(max_depth, len(parts) - 1) + 1):
            out.add(".".join(parts[:d]) + ".")
    return out


def _remap(state: Mapping[str, Tensor], wanted: set[str]) -> tuple[dict[str, Tensor], int]:
    """Strip a prefix from ``state``'s keys and/or add one shared by ``wanted``.

    Returns the best remapped dict and how many of ``wanted`` it covers (all of them and
    nothing else is an exact fit).
    """
    wanted_list = sorted(wanted)
    shared = [p for p in _prefixes(wanted_list[:1]) if all(k.startswith(p) for k in wanted_list)]
    best: tuple[dict[str, Tensor], int] = (dict(state), len(wanted & set(state)))
    for strip in sorted(_prefixes(list(state)), key=len):
        sub = {k[len(strip) :]: v for k, v in state.items() if k.startswith(strip)}
        for add in sorted(shared, key=len):
            mapped = {add + k: v for k, v in sub.items()}
            if mapped.keys() == wanted:
                return mapped, len(wanted)
            hits = len(wanted & mapped.keys())
            if hits > best[1]:
                best = (mapped, hits)
    return best


def _load_into(teacher: nn.Module, state: Mapping[str, Tensor], source: str) -> None:
    own = teacher.state_dict()
    wanted = set(own.keys())
    mapped, _ = _remap(state, wanted)
    missing = sorted(wanted - mapped.keys())
    unexpected = sorted(mapped.keys() - wanted)
    name = type(teacher).__name__
    hint = (
        "check that the teacher's class and init_args (depth, width, num_classes, "
        "in_channels, ...) match the run that wrote the checkpoint"
    )
    if missing or unexpected:
        raise ValueError(
            f"{source} does not fit the teacher {name}: {len(missing)} of its "
            f"{len(wanted)} keys are missing (e.g. {missing[:3]}) and {len(unexpected)} "
            f"keys are unexpected (e.g. {unexpected[:3]}), even after stripping or adding key "
            f"prefixes such as 'model.'; {hint}"
        )
    shapes = [
        f"{k}: {tuple(mapped[k].shape)} in the checkpoint, {tuple(v.shape)} in the teacher"
        for k, v in own.items()
        if mapped[k].shape != v.shape
    ]
    if shapes:
        raise ValueError(
            f"{source} does not fit the teacher {name}: {len(shapes)} tensors differ in shape "
            f"(e.g. {'; '.join(shapes[:2])}); {hint}"
        )
    teacher.load_state_dict(mapped, strict=True)
