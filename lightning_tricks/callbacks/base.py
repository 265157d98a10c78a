"""Base class of the batch-rewriting callbacks: layouts, randomness, resume, label contract.

:class:`BatchTrick` owns what the on-device batch tricks share, so a concrete trick is one
method, :meth:`BatchTrick.apply_batch`, that calls its functional:

* **where**: ``on_train_batch_start`` only (after Lightning moved the batch to the device);
  validation / test / predict batches are never touched;
* **layouts**: list batches (indices) and dict batches (keys, the common names found
  without arguments) are rewritten in place, with a new image tensor unless ``inplace``;
* **when**: an activity window behind one override point, :meth:`BatchTrick.should_apply`
  (each trick's own ``p`` is its own business: per batch or per image, as documented);
* **randomness and resume**: a ``torch.Generator`` re-seeded for every training batch from
  ``(seed, global_rank, state_key, batch counter)``; the saved state (seed and counter) is
  the same on every rank, so a mid-epoch resume is exact on all ranks;
* **targets**: label tricks leave targets looking as they came (DESIGN.md §1): index
  labels become :class:`~lightning_tricks.functional.MixedTargets`, and a trick warns once
  if a training step's loss never consumed the mixture; ``targets="dense"`` gives float32
  ``(N, K)`` probabilities instead.
"""

from __future__ import annotations

import hashlib
import inspect
import os
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor
from typing_extensions import override

from .._checks import check_int
from ..functional._batch import writable
from ..functional.targets import MixedTargets, _check_num_classes, to_dense

if TYPE_CHECKING:
    import lightning.pytorch as pl

__all__ = ["BatchTrick"]

BatchKey = int | str
INPUT_NAMES = ("image", "images", "pixel_values", "input", "inputs", "x")
TARGET_NAMES = ("label", "labels", "target", "targets", "y")


def _check_key(name: str, value: Any) -> BatchKey | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, str))):
        raise TypeError(
            f"`{name}` must be an int (list batches), a str (dict batches) or None, "
            f"got {type(value).__name__} {value!r}"
        )
    return value


def _key_value(value: Any) -> Any:
    if isinstance(value, BatchTrick):
        return value.state_key
    if isinstance(value, (list, tuple)):
        return [_key_value(v) for v in value]
    return value


class BatchTrick(Callback):
    """Base class of the callbacks that rewrite each training batch on its device.

    A subclass implements :meth:`apply_batch`; this class reads and writes list / dict
    batches, keeps the activity window, a seeded per-rank generator and its checkpoint
    state, and the label contract. :meth:`transform_batch` does the same work outside a
    ``Trainer`` (used by ``lightning-tricks preview``).

    Args:
        start_epoch: first epoch (0-based) on which the trick is active, >= 0. Default 0.
        stop_epoch: first epoch on which it is no longer active (exclusive), > ``start_epoch``,
            or ``None`` for no end. Default ``None``.
        off_last_epochs: switch the trick off for the final K epochs of
            ``Trainer(max_epochs=...)`` (as is usual for mixing), >= 0. Default 0.
        input_key: index (list batch) or key (dict batch) of the images; ``None`` finds
            index 0, or the first of ``image``, ``images``, ``pixel_values``, ``input``,
            ``inputs``, ``x`` in a dict. Default ``None``.
        target_key: index or key of the targets; ``None`` finds index 1, or the first of
            ``label``, ``labels``, ``target``, ``targets``, ``y``. Default ``None``.
        seed: base seed of the trick's generator; ``None`` uses the global seed of
            ``lightning.seed_everything`` (``PL_GLOBAL_SEED``), else ``torch.initial_seed()``.
            Every rank and every batch derive their own stream from it. Default ``None``.
        inplace: write the new images into the batch's own image tensor instead of a new
            one. Refused (a new tensor is written, with a warning) for a view of another
            tensor or images that require grad: never write into memory the data loader
            may still own unless you know it does not. Default ``False``.
        targets: label tricks only: ``"mixed"`` (index labels become
            :class:`~lightning_tricks.functional.MixedTargets`, which losses understand) or
            ``"dense"`` (float32 ``(N, K)`` probabilities, for a soft-target loss of your
            own). Default ``"mixed"``.
        num_classes: label tricks, ``targets="dense"`` only: K (>= 1); ``None`` reads the
            module's or the data module's ``num_classes``. Default ``None``.

    Raises:
        TypeError / ValueError: for arguments of the wrong type or out of range (the message
            names the argument, the range and the value).

    Example::

        >>> class Negate(BatchTrick):
        ...     def apply_batch(self, x, y, generator, inplace):
        ...         return -x, y
        >>> x, y = Negate().transform_batch(torch.ones(2, 1, 4, 4), torch.tensor([0, 1]))
        >>> float(x.sum()), y.tolist()
        (-32.0, [0, 1])
    """

    changes_labels: ClassVar[bool] = False
    mixes_labels: ClassVar[bool] = False  # for the "mixed twice on every batch" warning
    smooths_labels: ClassVar[bool] = False  # for the "smoothed twice" warning
    p_per_image: ClassVar[bool] = False  # the trick's `p` is drawn per image, not per batch

    def __init__(
        self,
        *,
        start_epoch: int = 0,
        stop_epoch: int | None = None,
        off_last_epochs: int = 0,
        input_key: BatchKey | None = None,
        target_key: BatchKey | None = None,
        seed: int | None = None,
        inplace: bool = False,
        targets: Literal["mixed", "dense"] = "mixed",
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        self.start_epoch = check_int("start_epoch", start_epoch, 0)
        self.stop_epoch = check_int("stop_epoch", stop_epoch, 1, allow_none=True)
        if self.stop_epoch is not None and self.stop_epoch <= self.start_epoch:
            raise ValueError(
                f"`stop_epoch` must be > `start_epoch`={start_epoch} (exclusive end), "
                f"got {stop_epoch!r}"
            )
        self.off_last_epochs = check_int("off_last_epochs", off_last_epochs, 0)
        self.input_key = _check_key("input_key", input_key)
        self.target_key = _check_key("target_key", target_key)
        if input_key is not None and input_key == target_key:
            raise ValueError(f"`input_key` and `target_key` must differ, both are {input_key!r}")
        self.seed = check_int("seed", seed, 0, allow_none=True)
        if not isinstance(inplace, bool):
            raise TypeError(f"`inplace` must be a bool, got {type(inplace).__name__} {inplace!r}")
        self.inplace = inplace
        if targets not in ("mixed", "dense"):
            raise ValueError(f"`targets` must be 'mixed' or 'dense', got {targets!r}")
        self.targets = targets
        self.num_classes = None if num_classes is None else _check_num_classes(num_classes)
        if not self.changes_labels and (targets != "mixed" or num_classes is not None):
            raise ValueError(
                f"`{type(self).__name__}` does not change labels: `targets` and "
                "`num_classes` do not apply to it"
            )
        self._base_seed: int | None = None
        self._rank = 0
        self._counter = 0
        self._stream: str | None = None
        self._max_epochs: int | None = None
        self._ledger: Any = None
        self._warned: set[str] = set()

    # ------------------------------------------------------------------ subclass API
    def apply_batch(
        self, x: Tensor, y: Tensor, generator: torch.Generator, inplace: bool
    ) -> tuple[Tensor, Tensor]:
        """Transform one batch: the single method a trick implements.

        Args:
            x: the batch's images (validated by the functional the trick calls).
            y: the batch's targets as they came (or as an earlier trick left them).
            generator: the trick's CPU ``torch.Generator``, seeded for this batch: draw all
                randomness from it (e.g. through ``sample_*_params``).
            inplace: whether the trick may write into ``x``.

        Returns:
            The new ``(x, y)``.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement `apply_batch`")

    def should_apply(self, epoch: int, step: int) -> bool:
        """Whether the trick is active at this ``epoch`` (0-based) and optimizer ``step``.

        The default implements ``start_epoch <= epoch < stop_epoch`` and
        ``epoch < max_epochs - off_last_epochs``. Override it for another schedule.
        """
        if epoch < self.start_epoch or (self.stop_epoch is not None and epoch >= self.stop_epoch):
            return False
        if self.off_last_epochs and self._max_epochs is not None:
            return epoch < self._max_epochs - self.off_last_epochs
        return True

    @staticmethod
    def coin(p: float, generator: torch.Generator) -> bool:
        """True with probability ``p`` (drawn from ``generator`` unless ``p`` is 0 or 1)."""
        return p == 1.0 or (p > 0.0 and float(torch.rand((), generator=generator)) < p)

    @property
    def always_mixes(self) -> bool:
        """True when the trick mixes labels on every batch (for the stacking warning)."""
        return self.mixes_labels and getattr(self, "p", 1.0) == 1.0

    @property
    @override
    def state_key(self) -> str:
        """Derived from the constructor arguments, so two differently set instances coexist."""
        args: dict[str, Any] = {}
        for cls in type(self).__mro__:
            if cls is Callback:
                break
            if "__init__" not in vars(cls):
                continue
            for name, param in inspect.signature(vars(cls)["__init__"]).parameters.items():
                if name != "self" and param.kind not in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
                    args.setdefault(name, _key_value(getattr(self, name, None)))
        return self._generate_state_key(**args)

    # ------------------------------------------------------------------ outside a Trainer
    def transform_batch(
        self, x: Tensor, y: Tensor, num_classes: int | None = None
    ) -> tuple[Tensor, Tensor]:
        """Apply the trick to one batch outside a ``Trainer`` (inputs are not modified).

        The window is ignored; each call draws from the next batch's stream (rank 0), so a
        fresh instance with the same ``seed`` gives the same sequence of results.

        Args:
            x: float images ``(N, C, H, W)``.
            y: index ``(N,)`` or probability / multi-hot ``(N, K)`` targets.
            num_classes: K for ``targets="dense"``; defaults to the callback's.

        Returns:
            ``(x, y)`` after the trick.
        """
        x, y = self.apply_batch(x, y, self._next_generator(), False)
        return x, self._finish_targets(y, num_classes or self.num_classes)

    # ------------------------------------------------------------------ Lightning hooks
    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        self._rank = int(trainer.global_rank)
        self._base_seed = self._resolve_seed()
        self._counter = 0
        self._stream = None
        max_epochs = trainer.max_epochs
        self._max_epochs = max_epochs if max_epochs is not None and max_epochs >= 0 else None
        if self.off_last_epochs and self._max_epochs is None:
            raise ValueError(
                f"`off_last_epochs`={self.off_last_epochs} needs a finite "
                f"`Trainer(max_epochs=...)`, got max_epochs={max_epochs!r}; or override "
                "`should_apply(epoch, step)`"
            )
        self.check_stack(trainer)

    def check_stack(self, trainer: pl.Trainer) -> None:
        """Warn once about two label-mixing callbacks on every batch or labels smoothed twice.

        Smoothing twice: two smoothing callbacks, or one plus a module with a
        ``label_smoothing`` attribute / hyperparameter > 0 or an ``nn.CrossEntropyLoss``
        with ``label_smoothing`` > 0.
        """
        tricks = [cb for cb in trainer.callbacks if isinstance(cb, BatchTrick)]  # type: ignore[attr-defined]
        mixers = [cb for cb in tricks if cb.always_mixes]
        if len(mixers) > 1 and mixers[1] is self:
            rank_zero_warn(
                f"Two label-mixing callbacks fire on every batch: {type(mixers[0]).__name__} "
                f"and {type(self).__name__}, so every batch is mixed twice. To use one or the "
                "other per batch, wrap them in `OneOf([...], weights=[...])`, or lower their `p`."
            )
        smoothers = [cb for cb in tricks if cb.smooths_labels]
        if not smoothers or smoothers[0] is not self:
            return
        if len(smoothers) > 1:
            rank_zero_warn(
                f"{len(smoothers)} callbacks smooth the labels: targets are smoothed more than "
                "once. Keep one `LabelSmoothing` callback."
            )
        module = trainer.lightning_module
        hparams = getattr(module, "hparams", {})
        values = [getattr(module, "label_smoothing", None), hparams.get("label_smoothing")]
        values += [m.label_smoothing for m in module.modules() if hasattr(m, "label_smoothing")]
        eps = next((v for v in values if isinstance(v, (int, float)) and v > 0), None)
        if eps is not None:
            rank_zero_warn(
                f"The LightningModule smooths labels itself (label_smoothing={eps}) and a "
                "`LabelSmoothing` callback smooths the targets too: labels are smoothed twice. "
                "Use one of them."
            )

    @override
    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        generator = self._next_generator()
        x, y_in = self._read(batch)
        y = y_in
        active = self.should_apply(trainer.current_epoch, trainer.global_step)
        if active and not (isinstance(x, Tensor) and x.shape[0] == 0):
            inplace = self.inplace
            if inplace and isinstance(x, Tensor) and not writable(x):
                inplace = False
                self._warn_once(
                    "inplace",
                    f"`{type(self).__name__}(inplace=True)`: the batch's images are a view of "
                    "another tensor or require grad, so a new tensor is written instead.",
                )
            x, y = self.apply_batch(x, y, generator, inplace)
        if self.changes_labels:
            y = self._finish_targets(y, self._dense_num_classes(trainer, pl_module))
        batch[self._key(batch, "input_key")] = x
        batch[self._key(batch, "target_key")] = y
        if self.changes_labels and isinstance(y, MixedTargets) and y is not y_in:
            self._ledger = y._ledger
            self._ledger.owners.append(type(self).__name__)

    @override
    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        ledger, self._ledger = self._ledger, None
        if ledger is None or ledger.consumed or ledger.reported:
            return
        ledger.reported = True
        names = " and ".join(dict.fromkeys(ledger.owners))
        self._warn_once(
            "unconsumed",
            f"{names}: the loss of this training step saw hard labels, so the label mixing "
            "had no effect. Pass the targets unchanged to `F.cross_entropy`, `F.nll_loss` or "
            "`F.binary_cross_entropy_with_logits` (or their nn modules), which use the "
            "mixture; for a loss of your own use `y.to_dense(num_classes)`, or construct the "
            "trick with `targets='dense'`.",
        )

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"seed": self._base_seed, "counter": self._counter}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        seed = state_dict.get("seed")
        if seed is not None:
            self._base_seed = int(seed)
        self._counter = int(state_dict.get("counter", 0))
        self._stream = None

    # ------------------------------------------------------------------ internals
    def _warn_once(self, what: str, message: str) -> None:
        if what not in self._warned:
            self._warned.add(what)
            rank_zero_warn(message)

    def _resolve_seed(self) -> int:
        if self.seed is not None:
            return self.seed
        try:
            return int(os.environ["PL_GLOBAL_SEED"])
        except (KeyError, ValueError):
            return int(torch.initial_seed())

    def _next_generator(self) -> torch.Generator:
        """A generator seeded for the next batch from (seed, rank, state_key, counter)."""
        if self._base_seed is None:
            self._base_seed = self._resolve_seed()
        if self._stream is None:
            self._stream = f"{self._base_seed}|{self._rank}|{self.state_key}|"
        digest = hashlib.blake2b(f"{self._stream}{self._counter}".encode(), digest_size=8)
        self._counter += 1
        return torch.Generator().manual_seed(int.from_bytes(digest.digest(), "little") >> 1)

    def _finish_targets(self, y: Any, num_classes: int | None) -> Any:
        if self.targets != "dense" or not isinstance(y, Tensor):
            return y
        if num_classes is None and y.ndim == 1:
            name = type(self).__name__
            raise ValueError(
                f"`{name}(targets='dense')` needs the number of classes to turn index targets "
                f"into (N, K) probabilities: pass `{name}(num_classes=K)`, or give the "
                "LightningModule or the data module a `num_classes` attribute"
            )
        return to_dense(y, num_classes)

    def _dense_num_classes(self, trainer: pl.Trainer, module: pl.LightningModule) -> int | None:
        if self.targets != "dense" or self.num_classes is not None:
            return self.num_classes
        hparams = getattr(module, "hparams", {})
        datamodule = getattr(trainer, "datamodule", None)
        for value in (
            getattr(module, "num_classes", None),
            hparams.get("num_classes") if hasattr(hparams, "get") else None,
            getattr(datamodule, "num_classes", None),
        ):
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ValueError(
                        f"`{type(self).__name__}` read num_classes={value!r} from the module or "
                        "data module; expected an integer >= 1 (pass `num_classes=`)"
                    )
                return value
        return None

    def _key(self, batch: Any, arg: str) -> BatchKey:
        """The index or key of ``arg`` (``input_key`` / ``target_key``) in this batch."""
        name, key = type(self).__name__, getattr(self, arg)
        if isinstance(batch, list):
            key = (0 if arg == "input_key" else 1) if key is None else key
            if not isinstance(key, int):
                raise TypeError(
                    f"`{name}` got a list batch but `{arg}`={key!r} is a str; use integer "
                    "indices for list batches"
                )
            if not -len(batch) <= key < len(batch):
                raise ValueError(
                    f"`{name}`: `{arg}`={key} is out of range for a list batch of length "
                    f"{len(batch)}"
                )
            return key
        if isinstance(batch, MutableMapping):
            names = INPUT_NAMES if arg == "input_key" else TARGET_NAMES
            found = [key] if key is not None else [k for k in names if k in batch][:1]
            if not found or found[0] not in batch:
                raise KeyError(
                    f"`{name}`: no {'images' if arg == 'input_key' else 'targets'} found in the "
                    f"dict batch (keys {sorted(map(str, batch))}); pass `{arg}=` "
                    f"(tried {found or list(names)})"
                )
            return found[0]
        raise TypeError(
            f"`{name}` rewrites the training batch in place, so it needs a list batch "
            f"(`input_key`/`target_key` are indices) or a dict batch (string keys); got a "
            f"{type(batch).__name__}. The default collate makes a list from (image, label) "
            "samples; a tuple batch can be turned into one with a `collate_fn` that returns "
            "`list(default_collate(samples))`."
        )

    def _read(self, batch: Any) -> tuple[Any, Any]:
        return batch[self._key(batch, "input_key")], batch[self._key(batch, "target_key")]
