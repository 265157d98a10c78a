"""Base class of the batch-rewriting callbacks: layouts, generator, state, activity window (issue 3).

:class:`BatchTrick` owns everything the on-device batch tricks share, so a concrete trick is a
single method, :meth:`BatchTrick.apply_batch`:

* **where**: ``on_train_batch_start`` only (after Lightning moved the batch to the device);
  validation / test / predict batches are never touched;
* **layouts**: list batches (``input_key=0, target_key=1``) and dict batches
  (``input_key="image", target_key="label"``) are rewritten *in place*, because Lightning
  discards the hook's return value; a tuple batch gets a ``TypeError`` saying what works;
* **when**: ``p`` (probability per batch) and an activity window
  (``start_epoch`` / ``stop_epoch`` / ``off_last_epochs``) behind one override point,
  :meth:`BatchTrick.should_apply`;
* **randomness and resume**: a ``torch.Generator`` per callback and per rank, re-seeded for
  every training batch from ``(seed, global_rank, state_key, batch counter)``. The state that
  :meth:`BatchTrick.state_dict` saves (seed and counter) is therefore the same on every rank,
  which matters because Lightning writes only rank 0's callback state into a checkpoint:
  resuming from a mid-epoch checkpoint reproduces the uninterrupted run exactly on *all*
  ranks (a saved Mersenne-Twister state would be rank 0's state only);
* **targets**: label-changing tricks (``changes_labels = True``) receive float32 ``(N, K)``
  targets (index targets are one-hot encoded with ``num_classes`` taken from the argument,
  else ``pl_module.num_classes``, else ``pl_module.hparams.num_classes``); tricks that keep
  labels (Cutout, Random Erasing, crop/flip) leave targets exactly as they came.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor
from typing_extensions import override

from .._checks import check_int as _check_int
from ..functional._batch import index_to_soft

if TYPE_CHECKING:
    import lightning.pytorch as pl

__all__ = ["BatchTrick"]

BatchKey = int | str


def _check_probability(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"`{name}` must be a float in [0, 1], got {type(value).__name__} {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"`{name}` must be in [0, 1], got {value!r}")
    return float(value)


def _check_key(name: str, value: Any) -> BatchKey:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(
            f"`{name}` must be an int (list batches) or a str (dict batches), "
            f"got {type(value).__name__} {value!r}"
        )
    return value


_MASK64 = (1 << 64) - 1


def _splitmix64(z: int) -> int:
    """SplitMix64 (Steele, Lea & Flood 2014) of ``z``: one step of the generator's output
    function, a well-mixed 64-bit value for consecutive inputs (the standard way to derive
    independent seeds from a counter)."""
    z = (z + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


class BatchTrick(Callback):
    """Base class of the callbacks that rewrite each training batch on its device.

    A subclass implements one method, :meth:`apply_batch` ``(x, y, generator) -> (x, y)``;
    this class does the rest: reading and writing list / dict batches in place, the
    probability ``p`` and the activity window (:meth:`should_apply`), a seeded per-rank
    ``torch.Generator``, checkpoint state, input validation and the soft-target conversion
    (DESIGN.md §1). Outside a ``Trainer`` the same work is available as
    :meth:`transform_batch` (used by ``lightning-tricks preview``).

    Args:
        p: probability that the trick is applied to a batch, in [0, 1]. Default 1.
        start_epoch: first epoch (0-based) on which the trick is active, >= 0. Default 0.
        stop_epoch: first epoch on which it is no longer active (exclusive), > ``start_epoch``,
            or ``None`` for no end. Default ``None``.
        off_last_epochs: switch the trick off for the final K epochs of
            ``Trainer(max_epochs=...)`` (as is usual for mixing), >= 0. Default 0.
        num_classes: number of classes K (>= 1) for index targets of label-changing tricks;
            ``None`` reads ``pl_module.num_classes`` or ``pl_module.hparams.num_classes``.
            Default ``None``.
        input_key: index (list batch) or key (dict batch) of the images. Default 0.
        target_key: index or key of the targets. Default 1.
        seed: base seed of the trick's generator; ``None`` uses the global seed of
            ``lightning.seed_everything`` (``PL_GLOBAL_SEED``), else ``torch.initial_seed()``.
            Every rank and every batch derive their own stream from it. Default ``None``.

    Raises:
        TypeError: for arguments of the wrong type.
        ValueError: for arguments out of range (the message names the argument, the range and
            the value).

    Subclasses set the class attributes ``changes_labels`` (the trick writes ``(N, K)``
    float32 targets), ``mixes_labels`` (the trick mixes samples, used for the "two mixing
    callbacks on every batch" warning), ``smooths_labels`` (for the "smoothing applied
    twice" warning) and ``batch_p`` (``p`` gates the whole batch; ``False``
    when the subclass uses ``p`` per sample, like Random Erasing).

    Example::

        >>> class Negate(BatchTrick):
        ...     def apply_batch(self, x, y, generator):
        ...         return -x, y
        >>> x, y = Negate().transform_batch(torch.ones(2, 1, 4, 4), torch.tensor([0, 1]))
        >>> float(x.sum()), y.tolist()
        (-32.0, [0, 1])
    """

    changes_labels: ClassVar[bool] = False
    mixes_labels: ClassVar[bool] = False
    smooths_labels: ClassVar[bool] = False
    batch_p: ClassVar[bool] = True

    def __init__(
        self,
        p: float = 1.0,
        *,
        start_epoch: int = 0,
        stop_epoch: int | None = None,
        off_last_epochs: int = 0,
        num_classes: int | None = None,
        input_key: BatchKey = 0,
        target_key: BatchKey = 1,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.p = _check_probability("p", p)
        self.start_epoch = _check_int("start_epoch", start_epoch, 0)
        self.stop_epoch = _check_int("stop_epoch", stop_epoch, 1, allow_none=True)
        if self.stop_epoch is not None and self.stop_epoch <= self.start_epoch:
            raise ValueError(
                f"`stop_epoch` must be > `start_epoch`={start_epoch} (exclusive end), "
                f"got {stop_epoch!r}"
            )
        self.off_last_epochs = _check_int("off_last_epochs", off_last_epochs, 0)
        self.num_classes = _check_int("num_classes", num_classes, 1, allow_none=True)
        self.input_key = _check_key("input_key", input_key)
        self.target_key = _check_key("target_key", target_key)
        if self.input_key == self.target_key:
            raise ValueError(f"`input_key` and `target_key` must differ, both are {input_key!r}")
        if seed is not None:
            _check_int("seed", seed, 0)
        self.seed = seed
        self._base_seed: int | None = None
        self._rank = 0
        self._counter = 0
        self._max_epochs: int | None = None
        self._generator: torch.Generator | None = None
        self._scratch: tuple[Tensor, tuple[Any, ...], int] | None = None
        self._one_hot_table: Tensor | None = None
        self._stream_key: tuple[tuple[int, int], int] | None = None

    # ------------------------------------------------------------------ subclass API
    def apply_batch(
        self, x: Tensor, y: Tensor, generator: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        """Transform one validated batch; the single method a trick implements.

        Args:
            x: images ``(N, C, H, W)`` of a floating dtype on their device (any memory format).
                In the training loop this is the batch's own tensor: write into it only when
                :attr:`modifies_input` is true (:meth:`transform_batch` then passes a copy).
            y: float32 ``(N, K)`` targets when ``changes_labels`` is true, otherwise the
                targets exactly as they came (index ``(N,)`` or ``(N, K)``).
            generator: the trick's CPU ``torch.Generator``, already seeded for this batch;
                draw all randomness from it (e.g. through ``sample_*_params``).

        Returns:
            The new ``(x, y)``; ``x`` keeps the dtype, device and memory format of the input.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement `apply_batch`")

    def should_apply(self, epoch: int, step: int) -> bool:
        """Whether the trick is active at this ``epoch`` (0-based) and optimizer ``step``.

        The default implements the activity window ``start_epoch <= epoch < stop_epoch`` and
        ``epoch < max_epochs - off_last_epochs``. Override it for another schedule (it is
        the single override point; ``p`` is drawn only when this returns ``True``).
        """
        if epoch < self.start_epoch:
            return False
        if self.stop_epoch is not None and epoch >= self.stop_epoch:
            return False
        if self.off_last_epochs and self._max_epochs is not None:
            return epoch < self._max_epochs - self.off_last_epochs
        return True

    def hparams_for_key(self) -> dict[str, Any]:
        """Constructor arguments that identify this instance (used for :attr:`state_key`).

        Subclasses add their own hyperparameters to this dictionary.
        """
        return {
            "p": self.p,
            "start_epoch": self.start_epoch,
            "stop_epoch": self.stop_epoch,
            "off_last_epochs": self.off_last_epochs,
            "input_key": self.input_key,
            "target_key": self.target_key,
            "seed": self.seed,
        }

    @property
    def modifies_input(self) -> bool:
        """True when :meth:`apply_batch` writes into the images it receives.

        By default, the value of the trick's ``inplace`` attribute (False without one).
        :meth:`transform_batch` then hands it a copy, so its inputs are never modified.
        """
        return bool(getattr(self, "inplace", False))

    @property
    def always_mixes(self) -> bool:
        """True when the trick mixes labels on every batch (``p == 1`` and ``mixes_labels``)."""
        return self.mixes_labels and self.p == 1.0

    # ------------------------------------------------------------------ public helpers
    @property
    @override
    def state_key(self) -> str:
        return self._generate_state_key(**self.hparams_for_key())

    def transform_batch(
        self, x: Tensor, y: Tensor, num_classes: int | None = None
    ) -> tuple[Tensor, Tensor]:
        """Apply the trick to one batch outside a ``Trainer`` (e.g. ``lightning-tricks preview``).

        The trick is always applied: ``p`` and the activity window are decisions of the
        training loop. Randomness comes from the trick's own generator (rank 0), re-seeded
        for every call from ``seed`` and a call counter, so a fresh instance with the same
        ``seed`` gives the same sequence of results. Inputs are not modified.

        Args:
            x: float images ``(N, C, H, W)``.
            y: index targets ``(N,)`` or probability / multi-hot targets ``(N, K)``.
            num_classes: K for index targets of label-changing tricks; defaults to the
                callback's ``num_classes``.

        Returns:
            ``(x, y)`` after the trick; ``y`` is float32 ``(N, K)`` for label-changing tricks
            and unchanged otherwise.

        Raises:
            TypeError: for non-tensor inputs, non-float images or non-integer index targets.
            ValueError: for wrong ranks / sizes, a missing ``num_classes`` or out-of-range
                targets.
        """
        if num_classes is not None:
            _check_int("num_classes", num_classes, 1)
        else:
            num_classes = self.num_classes
        generator = self._next_generator()
        if self.modifies_input and isinstance(x, Tensor):
            x = x.clone()
        return self._run(x, y, num_classes, generator)

    # ------------------------------------------------------------------ Lightning hooks
    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        self._rank = int(trainer.global_rank)
        self._base_seed = self._resolve_seed()
        self._counter = 0
        self._stream_key = None  # the hyperparameters may have changed since the last fit
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
        """Warn once about suspicious combinations with the trainer's other callbacks.

        Two label-mixing callbacks that both fire on every batch, or label smoothing applied
        twice (two smoothing callbacks, or one plus a module whose ``label_smoothing``
        attribute or hyperparameter is > 0). The first callback concerned warns.
        """
        tricks = [cb for cb in trainer.callbacks if isinstance(cb, BatchTrick)]
        mixers = [cb for cb in tricks if cb.always_mixes]
        if len(mixers) > 1 and mixers[1] is self:
            rank_zero_warn(
                f"Two label-mixing callbacks fire on every batch: {type(mixers[0]).__name__} "
                f"and {type(self).__name__} (both with p=1), so every batch is mixed twice. "
                "To use one or the other per batch, wrap them in "
                "`OneOf([...], weights=[...])`, or lower their `p`.",
                category=UserWarning,
            )
        smoothers = [cb for cb in tricks if cb.smooths_labels]
        if not smoothers or smoothers[0] is not self:
            return
        if len(smoothers) > 1:
            rank_zero_warn(
                f"{len(smoothers)} callbacks smooth the labels: targets are smoothed more "
                "than once. Keep one `LabelSmoothing` callback.",
                category=UserWarning,
            )
        module = getattr(trainer, "lightning_module", None)
        eps = getattr(module, "label_smoothing", None)
        if eps is None:
            hparams = getattr(module, "hparams", None)
            eps = hparams.get("label_smoothing") if isinstance(hparams, dict) else None
        if isinstance(eps, (int, float)) and not isinstance(eps, bool) and eps > 0:
            rank_zero_warn(
                f"The LightningModule has label_smoothing={eps} and a `LabelSmoothing` "
                "callback smooths the targets too: labels are smoothed twice. Use one of them.",
                category=UserWarning,
            )

    @override
    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        generator = self._next_generator()
        if not self.should_apply(trainer.current_epoch, trainer.global_step):
            return
        if (
            self.batch_p
            and self.p < 1.0
            and (self.p == 0.0 or float(torch.rand((), generator=generator)) >= self.p)
        ):
            return
        x, y = self._read(batch)
        num_classes = self.num_classes
        if self.changes_labels and num_classes is None and isinstance(y, Tensor) and y.ndim == 1:
            num_classes = self._module_num_classes(pl_module)
        x_new, y_new = self._run(x, y, num_classes, generator)
        self._write(batch, x_new, y_new)

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"seed": self._base_seed, "counter": self._counter}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        seed = state_dict.get("seed")
        if seed is not None:
            self._base_seed = int(seed)
        self._counter = int(state_dict.get("counter", 0))

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_generator"] = None  # re-created lazily; its state is derived, never carried
        state["_scratch"] = None
        state["_one_hot_table"] = None
        return state

    def scratch_like(self, x: Tensor) -> Tensor:
        """A batch-sized working tensor like ``x``, kept and reused from batch to batch.

        For tricks that need a copy of the batch (e.g. the shuffled partners of MixUp):
        reusing one buffer avoids a batch-sized allocation per step (on CPU, fresh large
        allocations also cost page faults). Its content is overwritten by every user.
        """
        # the buffer is kept with its (shape, dtype, device, strides) and address, so that a
        # batch is checked against it with five calls on ``x`` (this runs on every step)
        key = (x.shape, x.dtype, x.device, x.stride())
        kept = self._scratch
        if kept is None or kept[1] != key or kept[2] == x.data_ptr():
            buffer = torch.empty_like(x)
            kept = self._scratch = (buffer, key, buffer.data_ptr())
        return kept[0]

    # ------------------------------------------------------------------ internals
    def _resolve_seed(self) -> int:
        if self.seed is not None:
            return self.seed
        env = os.environ.get("PL_GLOBAL_SEED")
        if env is not None:
            try:
                return int(env)
            except ValueError:
                pass
        return int(torch.initial_seed())

    def _next_generator(self) -> torch.Generator:
        """The generator seeded for the next batch, from (seed, rank, state_key, counter).

        ``(seed, rank, state_key)`` is hashed once (blake2b) into a 64-bit stream key, kept
        until the seed or rank change (and reset by :meth:`setup`); each batch's seed is then
        SplitMix64 of the key plus the counter: a few integer operations per batch instead
        of formatting and hashing a string.
        """
        if self._base_seed is None:
            self._base_seed = self._resolve_seed()
        if self._generator is None:
            self._generator = torch.Generator(device="cpu")
        ident = (self._base_seed, self._rank)
        cached = self._stream_key
        if cached is None or cached[0] != ident:
            material = f"{self._base_seed}|{self._rank}|{self.state_key}".encode()
            digest = hashlib.blake2b(material, digest_size=8).digest()
            cached = self._stream_key = (ident, int.from_bytes(digest, "little"))
        self._generator.manual_seed(_splitmix64(cached[1] + self._counter) >> 1)
        self._counter += 1
        return self._generator

    def _module_num_classes(self, pl_module: pl.LightningModule) -> int | None:
        value = getattr(pl_module, "num_classes", None)
        if value is None:
            hparams = getattr(pl_module, "hparams", None)
            if hparams is not None:
                try:
                    value = hparams.get("num_classes")
                except AttributeError:
                    value = getattr(hparams, "num_classes", None)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f"`{type(self).__name__}` read num_classes={value!r} from the LightningModule; "
                "expected an integer >= 1 (pass `num_classes=` to the callback instead)"
            )
        return value

    def _layout_error(self, batch: Any) -> TypeError:
        name = type(self).__name__
        kind = type(batch).__name__
        return TypeError(
            f"`{name}` rewrites the training batch in place, so it needs a list batch "
            f"(`input_key`/`target_key` are indices, default 0 and 1) or a dict batch "
            f"(string keys, e.g. input_key='image', target_key='label'); got a {kind}. "
            "The default collate makes a list from (image, label) samples; a tuple or other "
            "immutable batch can be turned into one with a `collate_fn` that returns "
            "`list(default_collate(samples))`."
        )

    def _read(self, batch: Any) -> tuple[Any, Any]:
        name = type(self).__name__
        if isinstance(batch, list):
            for arg, key in (("input_key", self.input_key), ("target_key", self.target_key)):
                if not isinstance(key, int):
                    raise TypeError(
                        f"`{name}` got a list batch but `{arg}`={key!r} is a str; "
                        "use integer indices for list batches"
                    )
                if not -len(batch) <= key < len(batch):
                    raise ValueError(
                        f"`{name}`: `{arg}`={key} is out of range for a list batch of "
                        f"length {len(batch)}"
                    )
            return batch[self.input_key], batch[self.target_key]
        if isinstance(batch, MutableMapping):
            for arg, key in (("input_key", self.input_key), ("target_key", self.target_key)):
                if key not in batch:
                    raise KeyError(
                        f"`{name}`: `{arg}`={key!r} is not a key of the dict batch; "
                        f"its keys are {sorted(map(str, batch.keys()))}"
                    )
            return batch[self.input_key], batch[self.target_key]
        raise self._layout_error(batch)

    def _write(self, batch: Any, x: Tensor, y: Tensor) -> None:
        batch[self.input_key] = x
        batch[self.target_key] = y

    def _validate(self, x: Any, y: Any, num_classes: int | None) -> Tensor:
        """Check images and targets; return the targets the subclass receives."""
        name = type(self).__name__
        if not isinstance(x, Tensor):
            raise TypeError(f"`{name}` expects images as a torch.Tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(
                f"`{name}` expects floating-point images (float32/float16/bfloat16), got "
                f"dtype {x.dtype}; convert them first, e.g. with "
                "torchvision `v2.ToDtype(torch.float32, scale=True)`"
            )
        if x.ndim != 4:
            raise ValueError(
                f"`{name}` expects images of shape (N, C, H, W), got shape {tuple(x.shape)}"
            )
        if not isinstance(y, Tensor):
            raise TypeError(f"`{name}` expects targets as a torch.Tensor, got {type(y).__name__}")
        if y.ndim not in (1, 2) or y.shape[0] != x.shape[0]:
            raise ValueError(
                f"`{name}` expects targets of shape (N,) or (N, K) with N={x.shape[0]} "
                f"images, got shape {tuple(y.shape)}"
            )
        if y.ndim == 1 and (y.is_floating_point() or y.dtype == torch.bool or y.is_complex()):
            raise TypeError(
                f"`{name}` expects index targets (N,) of an integer dtype, got dtype {y.dtype}; "
                "probabilities must have shape (N, K)"
            )
        if not self.changes_labels:
            return y
        if y.ndim == 2:
            if num_classes is not None and y.shape[1] != num_classes:
                raise ValueError(
                    f"`{name}`: targets have {y.shape[1]} columns but num_classes={num_classes}; "
                    "expected shape (N, num_classes)"
                )
            return y if y.dtype == torch.float32 else y.float()  # multi-hot int / bool too
        if num_classes is None:
            raise ValueError(
                f"`{name}` needs the number of classes to turn index targets (N,) into (N, K) "
                f"probabilities: pass `{name}(num_classes=K)`, or give the LightningModule a "
                "`num_classes` attribute or hyperparameter"
            )
        return self._one_hot(y, num_classes)

    def _one_hot(self, y: Tensor, num_classes: int) -> Tensor:
        """Float32 one-hot rows of index targets (:func:`index_to_soft`, with its errors).

        On CPU, for up to 1024 classes, the rows are picked from an identity matrix the
        callback keeps (one ``index_select`` instead of a fill and a scatter per batch).
        """
        if y.device.type != "cpu" or num_classes > 1024:
            return index_to_soft(y, num_classes)
        table = self._one_hot_table
        if table is None or table.shape[0] != num_classes:
            table = self._one_hot_table = torch.eye(num_classes)
        try:
            return table.index_select(0, y)
        except (IndexError, RuntimeError):  # out of range, or an index dtype it does not take
            return index_to_soft(y, num_classes)

    def _run(
        self, x: Any, y: Any, num_classes: int | None, generator: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        y_in = self._validate(x, y, num_classes)
        if x.shape[0] == 0:
            return x, y_in
        return self.apply_batch(x, y_in, generator)
