"""One run of ``lightning-tricks ablate``: an ordinary ``fit``, then validate and test.

The runner starts it in a fresh process per run::

    python -m lightning_tricks.commands._ablation_worker fit --config <run>/config.yaml [args]

The command line is exactly that of ``lightning-tricks fit`` (the project's
:class:`~lightning_tricks.cli.TricksCLI`), so a run scales out as a plain fit does
(``--trainer.devices``, ``--trainer.num_nodes``, ``--trainer.strategy``; Lightning's DDP
launcher re-runs this module on the other ranks). After ``fit`` it evaluates the weights at
the end of training (``last``) or the best checkpoint (``best``) on the validation and test
sets and, on global rank 0, writes a JSON file with the metrics and timings to the path in
the environment variable :data:`RESULT_ENV`.

On Linux a run ends with the process that started it (the runner, or the Ray worker of a Ray
task), even when that one is killed with SIGKILL: no orphaned fit keeps training, or writing
into a run folder that the next ``ablate`` starts again.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from typing_extensions import override

from ..cli import TricksCLI
from ._ablation import EVALUATE_ENV, PARENT_ENV, RESULT_ENV, TEST_METRIC_ENV, VAL_METRIC_ENV

__all__: list[str] = []


class _TrainTimer(Callback):
    """Wall time of the training loop without the validation runs inside it."""

    def __init__(self) -> None:
        self.train_s = 0.0
        self.val_s = 0.0
        self._train_start: float | None = None
        self._val_start: float | None = None

    @override
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._train_start = time.perf_counter()

    @override
    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._train_start is not None:
            self.train_s += time.perf_counter() - self._train_start
            self._train_start = None

    @override
    def on_validation_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._val_start = time.perf_counter()

    @override
    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._val_start is not None and self._train_start is not None:
            self.val_s += time.perf_counter() - self._val_start
        self._val_start = None


def _metric(results: Sequence[Mapping[str, Any]], key: str, stage: str) -> float:
    if not results or key not in results[0]:
        found = sorted(results[0]) if results else []
        raise KeyError(
            f"the {stage} run logged no `{key}` (it logged {found}); set the metric name with "
            f"`--{stage}-metric` / `{stage}_metric:` in the ablation file"
        )
    return float(results[0][key])


class _AblationCLI(TricksCLI):
    """:class:`TricksCLI` whose ``fit`` is followed by validate + test and a result file."""

    def before_fit(self) -> None:  # LightningCLI's before_<subcommand> hook
        self._timer = _TrainTimer()
        self.trainer.callbacks.append(self._timer)  # type: ignore[attr-defined]
        self._fit_start = time.perf_counter()

    @override
    def after_fit(self) -> None:
        fit_time = time.perf_counter() - self._fit_start
        super().after_fit()
        trainer = self.trainer
        epochs, steps = int(trainer.current_epoch), int(trainer.global_step)
        ckpt = "best" if os.environ.get(EVALUATE_ENV, "last") == "best" else None
        val_key = os.environ.get(VAL_METRIC_ENV, "val/acc")
        test_key = os.environ.get(TEST_METRIC_ENV, "test/acc")
        val = trainer.validate(
            self.model, datamodule=self.datamodule, ckpt_path=ckpt, verbose=False
        )
        test = trainer.test(self.model, datamodule=self.datamodule, ckpt_path=ckpt, verbose=False)
        if not trainer.is_global_zero:
            return
        train_s = max(0.0, self._timer.train_s - self._timer.val_s)
        result = {
            "val_acc": _metric(val, val_key, "val"),
            "test_acc": _metric(test, test_key, "test"),
            "epochs": epochs,
            "steps": steps,
            "fit_time_s": fit_time,
            "time_per_step_ms": 1000.0 * train_s / steps if steps else float("nan"),
            "torch_threads": torch.get_num_threads(),
        }
        path = os.environ.get(RESULT_ENV)
        if path:
            Path(path).write_text(json.dumps(result, indent=2))
        print(f"ablation result: {json.dumps(result)}")


def _die_with_parent() -> None:
    """Have the kernel kill this process when its parent dies (Linux ``PR_SET_PDEATHSIG``).

    Only when the runner set :data:`PARENT_ENV` to its process id. If the parent is already
    gone (it died while this process started), exit now. The variable is then set to this
    process's id, so the DDP ranks that Lightning starts from here end with this process.
    """
    parent = os.environ.get(PARENT_ENV)
    if not parent or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, int(signal.SIGKILL), 0, 0, 0) != 0:  # 1 = PR_SET_PDEATHSIG
            return
    except (OSError, AttributeError):
        return
    if str(os.getppid()) != parent:
        sys.exit(f"the process that started this run ({parent}) is gone; not starting")
    os.environ[PARENT_ENV] = str(os.getpid())


def main(argv: list[str] | None = None) -> int:
    """``fit`` with :class:`_AblationCLI` (same arguments as ``lightning-tricks fit``)."""
    _die_with_parent()
    _AblationCLI(args=argv)  # None: sys.argv, as Lightning's DDP launcher re-runs it
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a subprocess by the runner
    sys.exit(main())
