"""DistillationMixin: train any LightningModule against a frozen teacher (Hinton et al., 2015).

`Distilling the Knowledge in a Neural Network <https://arxiv.org/abs/1503.02531>`_, as used in
`Bag of Tricks for Image Classification <https://arxiv.org/abs/1812.01187>`_ (He et al., 2019,
§5.3), whose reference code feeds the teacher the mixed batch when mixup is on.

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

import inspect
import os
from collections.abc import Mapping, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any

import torch
from lightning.fabric.utilities.cloud_io import _load as _load_checkpoint
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torch import Tensor, nn
from typing_extensions import Self, override

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


class _Hidden:
    """Holds the teacher where ``nn.Module`` does not look (see the module docstring)."""

    __slots__ = ("module",)

    def __init__(self, module: nn.Module) -> None:
        self.module = module


class DistillationMixin(_MixinBase):
    """Knowledge distillation from a frozen teacher for any LightningModule (Hinton et al., 2015).

    `Distilling the Knowledge in a Neural Network <https://arxiv.org/abs/1503.02531>`_. Put the
    mixin first: ``class Student(DistillationMixin, MyModule)``. Its keyword-only arguments are
    consumed here and every other argument goes up the MRO to ``MyModule``, so LightningCLI can
    configure the student, teacher included, from YAML.

    The default :meth:`training_step` computes the teacher's logits and ``self(x)`` on the
    *same* ``x`` (so with MixUp / CutMix / RICAP the teacher sees the mixed images, as in the
    Bag of Tricks reference code, GluonCV's ``train_imagenet.py``) and returns :class:`~lightning_tricks.losses.DistillationLoss`:
    ``alpha · T² · KL(teacher ‖ student at temperature T) + (1 − alpha) · CE(student, y)``,
    where ``y`` may be class indices ``(N,)`` or probabilities ``(N, K)``. It logs
    ``train/kd_loss``, ``train/ce_loss`` and ``train/loss``. A module with its own
    ``training_step`` (defined in the subclass) calls :meth:`distillation_loss` instead.

    The teacher is frozen: ``requires_grad=False``, always in eval mode (BatchNorm statistics
    never change, Dropout stays off), run under ``torch.no_grad()`` inside the student's
    autocast on the student's device; it is kept out of ``parameters()``, ``state_dict()``,
    the optimizers and DDP (see the module docstring for how). At the first validation of each
    fit / validate run (not the sanity check) the teacher's accuracy on the validation set is
    logged once as ``val/teacher_acc``.

    ``hparams`` never record ``teacher`` or ``teacher_checkpoint``, so
    ``Student.load_from_checkpoint(path)`` gives a teacher-less student for inference; pass
    ``teacher=...`` (and ``teacher_checkpoint=...``) to it to continue distilling.

    Args:
        teacher: the teacher network (any ``nn.Module`` returning logits ``(N, K)``, e.g.
            ``CifarResNet`` or an ``ImageClassifier``; from YAML a ``class_path`` with
            ``init_args``). It is frozen in place. ``None`` (default) gives a student that can
            validate, test and predict but not train.
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
            checkpoint does not fit the teacher, or ``teacher_checkpoint`` is given without a
            ``teacher``.
        FileNotFoundError: if ``teacher_checkpoint`` does not exist.

    Example::

        >>> from lightning_tricks.models import CifarResNet, ImageClassifier
        >>> class Student(DistillationMixin, ImageClassifier):
        ...     pass
        >>> teacher = CifarResNet(depth=14, num_classes=10, in_channels=1)
        >>> student = Student(backbone="simple_cnn", num_classes=10, in_channels=1,
        ...                   teacher=teacher, temperature=4.0, alpha=0.9)
        >>> any(p is q for p in student.parameters() for q in teacher.parameters())
        False
        >>> _ = student.train()
        >>> teacher.training, teacher.fc.weight.requires_grad
        (False, False)
        >>> x, y = torch.randn(8, 1, 16, 16), torch.randint(0, 10, (8,))
        >>> loss = student.distillation_loss(student(x), x, y, log=False)
        >>> loss.backward()
        >>> teacher.fc.weight.grad is None
        True
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
        if teacher is not None:
            if teacher_checkpoint is not None:
                _load_teacher_checkpoint(teacher, teacher_checkpoint)
            self._set_teacher(teacher)

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

    # ------------------------------------------------------------------ the loss
    def teacher_logits(self, x: Tensor) -> Tensor:
        """The frozen teacher's logits on ``x``, computed under ``torch.no_grad()``.

        Runs in whatever autocast context is active (Lightning's precision plugin wraps the
        training step), so the teacher sees the same precision as the student. Override this
        to adapt a teacher that needs other inputs or returns more than a logits tensor.

        Raises:
            RuntimeError: if there is no teacher.
            TypeError: if the teacher does not return a tensor.
        """
        teacher = self._require_teacher()
        with torch.no_grad():
            out = teacher(x)
        if not isinstance(out, Tensor):
            raise TypeError(
                f"the teacher {type(teacher).__name__} returned {type(out).__name__}, expected a "
                "logits tensor (N, K); override `teacher_logits(x)` to extract the logits"
            )
        return out

    def distillation_loss(
        self,
        student_logits: Tensor,
        x: Tensor,
        y: Tensor,
        *,
        teacher_logits: Tensor | None = None,
        log: bool = True,
    ) -> Tensor:
        """The distillation loss of ``student_logits`` for inputs ``x`` and targets ``y``.

        For a module with its own ``training_step``: the teacher runs on ``x`` (pass the batch
        exactly as the student saw it), and the result is
        ``alpha · kd_loss + (1 − alpha) · cross_entropy(student_logits, y)``.

        Args:
            student_logits: the student's logits ``(N, K)`` on ``x``.
            x: the input batch the student saw.
            y: class indices ``(N,)`` or probabilities ``(N, K)``.
            teacher_logits: the teacher's logits on ``x`` if already computed with
                :meth:`teacher_logits` (then ``x`` is not used). Computing them *before* the
                student's forward, as the default :meth:`training_step` does, lowers peak
                memory and is measurably faster on CPU (``benchmarks/distillation.py``).
                Default None: computed here.
            log: log ``train/kd_loss``, ``train/ce_loss`` and ``train/loss``. Default True.

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
        if log:
            self.log("train/kd_loss", parts.kd_loss)
            self.log("train/ce_loss", parts.ce_loss)
            self.log("train/loss", parts.loss, prog_bar=True)
        return parts.loss

    def distillation_batch(self, batch: Any) -> tuple[Tensor, Tensor]:
        """Split a batch into ``(inputs, targets)``: ``batch[0], batch[1]`` for a list/tuple,
        ``batch["image"], batch["label"]`` for a dict. Override for other layouts."""
        if isinstance(batch, Mapping):
            return batch["image"], batch["label"]
        if isinstance(batch, (list, tuple)) and len(batch) >= 2:
            return batch[0], batch[1]
        raise TypeError(
            f"cannot find (inputs, targets) in a batch of type {type(batch).__name__}: expected a "
            "list/tuple (x, y, ...) or a dict with 'image' and 'label'; override "
            "`distillation_batch(batch)` for other layouts"
        )

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        """``distillation_loss(self(x), x, y)`` on the (possibly mixed) batch."""
        x, y = self.distillation_batch(batch)
        teacher_logits = self.teacher_logits(x)  # first: the student's graph is not yet alive
        return self.distillation_loss(self(x), x, y, teacher_logits=teacher_logits)

    # ------------------------------------------------------------------ val/teacher_acc
    def _teacher_acc_wanted(self) -> bool:
        trainer = self._trainer
        return (
            not self._teacher_acc_done
            and self.teacher is not None
            and trainer is not None
            and not trainer.sanity_checking
        )

    @override
    def setup(self, stage: str) -> None:
        super().setup(stage)
        self._teacher_acc_done = False  # once per fit / validate run

    @override
    def on_validation_epoch_start(self) -> None:
        super().on_validation_epoch_start()
        self._teacher_acc_counts = None

    @override
    def on_validation_batch_end(
        self, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        super().on_validation_batch_end(outputs, batch, batch_idx, dataloader_idx)
        if dataloader_idx != 0 or not self._teacher_acc_wanted():
            return
        x, y = self.distillation_batch(batch)
        with self.trainer.precision_plugin.val_step_context():
            logits = self.teacher_logits(x)
        y = hard_targets(y)
        counts = torch.stack(
            [(logits.argmax(dim=1) == y).sum(), torch.tensor(y.numel(), device=y.device)]
        )
        prev = self._teacher_acc_counts
        self._teacher_acc_counts = counts if prev is None else prev + counts

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


def _load_teacher_checkpoint(teacher: nn.Module, path: str | os.PathLike[str]) -> None:
    """Load a Lightning checkpoint or plain state dict from ``path`` into ``teacher``."""
    path_s = os.fspath(path)
    try:
        obj = _load_checkpoint(path_s, map_location="cpu")
    except FileNotFoundError as err:
        raise FileNotFoundError(f"`teacher_checkpoint` {path_s!r} does not exist") from err
    if isinstance(obj, Mapping):
        for key in _CHECKPOINT_KEYS:
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise ValueError(
            f"`teacher_checkpoint` {path_s!r} is neither a Lightning checkpoint nor a state dict "
            f"(expected a mapping of tensors or a dict with one of {list(_CHECKPOINT_KEYS)})"
        )
    _load_into(teacher, obj, f"`teacher_checkpoint` {path_s!r}")


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
