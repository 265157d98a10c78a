"""``lightning-tricks plot-lr``: draw the planned learning rate of every param group.

Usage::

    lightning-tricks plot-lr --config configs/digits.yaml \\
        --config configs/tricks/warmup_cosine.yaml --out lr.png [--csv lr.csv] [--trainer.max_epochs=30]

The CLI builds the model, data, optimizer, scheduler and callbacks exactly as ``fit`` would
(any other ``--key=value`` is passed on to it), and ``Trainer.fit`` runs up to
``on_train_start``: the callbacks' ``configure_optimizers`` wrapping is in place, the
schedulers exist. Then the schedulers are stepped on the side, following Lightning's own
rules (``interval``, ``frequency``, gradient accumulation, ``max_steps``), and the fit stops
before the first batch: nothing is trained, written or logged besides the plot. It runs on
one CPU process whatever the config says (a note is printed when the config asks for more
devices: a ``LinearScalingRule`` then sees one device). ``ReduceLROnPlateau`` is drawn as if
the monitored metric always improved.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import yaml
from lightning.pytorch.callbacks import Callback, Checkpoint, LearningRateMonitor
from torch.optim.lr_scheduler import ReduceLROnPlateau

from ..schedulers._groups import iter_schedulers

__all__ = ["LRPlan", "main", "plan_lr"]

#: CLI arguments appended after the user's: one quiet CPU process, nothing written
FORCED_ARGS: tuple[str, ...] = (
    "--trainer.accelerator=cpu",
    "--trainer.devices=1",
    "--trainer.num_nodes=1",
    "--trainer.strategy=auto",
    "--trainer.logger=false",
    "--trainer.num_sanity_val_steps=0",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
)


@dataclass
class LRPlan:
    """The planned LR of every param group at every optimizer step.

    Attributes:
        steps: optimizer step index (0-based) of each row.
        epochs: epoch of each row.
        lrs: label → LR used at each step (label: ``"<Optimizer>/<group name or pgN>"``).
    """

    steps: list[int] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)
    lrs: dict[str, list[float]] = field(default_factory=dict)

    def write_csv(self, path: str | Path) -> None:
        """Write ``step, epoch, <label>...`` rows."""
        with open(path, "w", newline="") as stream:
            writer = csv.writer(stream)
            labels = list(self.lrs)
            writer.writerow(["step", "epoch", *labels])
            for i, step in enumerate(self.steps):
                writer.writerow([step, self.epochs[i], *(repr(self.lrs[k][i]) for k in labels)])

    def plot(self, path: str | Path, title: str = "") -> None:
        """Draw the curves with matplotlib's Agg backend into ``path``."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise RuntimeError(
                "plot-lr needs matplotlib: pip install 'lightning-tricks[examples]'"
            ) from err
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for label, values in self.lrs.items():
            ax.plot(self.steps, values, label=label, linewidth=1.5)
        boundaries = [
            s for i, s in enumerate(self.steps) if i and self.epochs[i] != self.epochs[i - 1]
        ]
        if len(boundaries) <= 60:
            for s in boundaries:
                ax.axvline(s, color="0.85", linewidth=0.6, zorder=0)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("learning rate")
        ax.set_title(title or "planned learning rate")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)


class _Planned(Exception):
    """Raised from ``on_train_start`` to stop the fit once the plan is made."""


def _labels(trainer: pl.Trainer) -> list[tuple[Any, int, str]]:
    out = []
    many = len(trainer.optimizers) > 1
    for k, optimizer in enumerate(trainer.optimizers):
        prefix = type(optimizer).__name__ + (f"-{k}" if many else "")
        for i, group in enumerate(optimizer.param_groups):
            name = group.get("name", f"pg{i + 1}")
            wd = group.get("weight_decay")
            suffix = f" (wd={wd:g})" if isinstance(wd, (int, float)) else ""
            out.append((optimizer, i, f"{prefix}/{name}{suffix}"))
    return out


def _plateau_mode(scheduler: Any) -> str:
    for s in iter_schedulers(scheduler):
        if isinstance(s, ReduceLROnPlateau):
            return s.mode
    return "min"


class _Planner(Callback):
    def __init__(self) -> None:
        self.plan = LRPlan()
        self._calls = 0

    def _step(self, config: Any) -> None:
        if config.reduce_on_plateau:
            self._calls += 1
            # an always-improving metric: the plateau never triggers
            metric = -self._calls if _plateau_mode(config.scheduler) == "min" else self._calls
            config.scheduler.step(float(metric))
        else:
            config.scheduler.step()

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        total = trainer.estimated_stepping_batches
        batches = trainer.num_training_batches
        if total == float("inf") or batches == float("inf"):
            raise ValueError(
                "plot-lr needs a finite plan: a sized training set and max_epochs or max_steps"
            )
        total, batches = int(total), int(batches)
        accumulate = trainer.accumulate_grad_batches
        configs = trainer.lr_scheduler_configs
        labels = _labels(trainer)
        plan = self.plan
        plan.lrs = {label: [] for _, _, label in labels}
        step = epoch = 0
        with warnings.catch_warnings():
            # stepping schedulers without optimizer steps is the point here
            warnings.filterwarnings("ignore", message=".*lr_scheduler.step.*")
            while step < total:
                for batch_idx in range(batches):
                    last = batch_idx == batches - 1
                    if (batch_idx + 1) % accumulate and not last:
                        continue
                    plan.steps.append(step)
                    plan.epochs.append(epoch)
                    for optimizer, i, label in labels:
                        plan.lrs[label].append(float(optimizer.param_groups[i]["lr"]))
                    step += 1
                    for config in configs:
                        if config.interval == "step" and (batch_idx + 1) % config.frequency == 0:
                            self._step(config)
                    if step >= total:
                        break
                else:
                    for plateau in (False, True):
                        for config in configs:
                            if (
                                config.interval == "epoch"
                                and config.reduce_on_plateau is plateau
                                and (epoch + 1) % config.frequency == 0
                            ):
                                self._step(config)
                epoch += 1
        raise _Planned


def plan_lr(cli_args: list[str]) -> LRPlan:
    """Build everything through :class:`~lightning_tricks.cli.TricksCLI` and plan the LRs.

    Args:
        cli_args: LightningCLI arguments without a sub-command (``["--config", "cfg.yaml",
            "--trainer.max_epochs=3"]``).

    Returns:
        The :class:`LRPlan`.
    """
    from ..cli import TricksCLI

    argv = sys.argv
    sys.argv = argv[:1]  # LightningCLI warns when it gets both `args` and a command line
    try:
        cli = TricksCLI(args=[*cli_args, *FORCED_ARGS], run=False, save_config_callback=None)
    finally:
        sys.argv = argv
    trainer: Any = cli.trainer  # `callbacks` is set at run time, unknown to type checkers
    # nothing is saved or logged: drop checkpointing and the LR monitor (it needs a logger)
    trainer.callbacks[:] = [
        c for c in trainer.callbacks if not isinstance(c, (Checkpoint, LearningRateMonitor))
    ]
    planner = _Planner()
    trainer.callbacks.append(planner)
    try:
        trainer.fit(cli.model, datamodule=cli.datamodule)
    except _Planned:
        pass
    else:  # pragma: no cover - fit returned before on_train_start (nothing to train)
        raise RuntimeError("the fit ended before training started; nothing to plan")
    return planner.plan


def _requested_devices(configs: list[str], rest: list[str]) -> str | None:
    """The ``trainer.devices`` the configs or arguments ask for, if more than one (a note)."""
    value: Any = None
    for path in configs:
        try:
            with open(path) as stream:
                data = yaml.safe_load(stream)
        except (OSError, yaml.YAMLError):
            continue  # the CLI reports unreadable configs itself
        trainer = data.get("trainer") if isinstance(data, dict) else None
        if isinstance(trainer, dict) and "devices" in trainer:
            value = trainer["devices"]
    for arg in rest:
        if arg.startswith("--trainer.devices="):
            value = arg.split("=", 1)[1]
    return None if value is None or str(value) in ("1", "auto") else str(value)


def main(argv: list[str]) -> int:
    """Entry point of ``lightning-tricks plot-lr``."""
    parser = argparse.ArgumentParser(
        prog="lightning-tricks plot-lr",
        description="Plot the planned learning rate of every param group, without training. "
        "Other --key=value arguments go to the CLI (e.g. --trainer.max_epochs=30).",
    )
    parser.add_argument("--config", action="append", required=True, help="config file(s)")
    parser.add_argument("--out", default="lr.png", help="image to write (default lr.png)")
    parser.add_argument("--csv", default=None, help="also write the values to this CSV file")
    args, rest = parser.parse_known_args(argv)
    cli_args = [x for path in args.config for x in ("--config", path)] + rest
    devices = _requested_devices(args.config, rest)
    if devices is not None:
        print(f"note: planned on one CPU process; the config asks for devices={devices}")
    plan = plan_lr(cli_args)
    if not plan.steps:
        print("nothing to plot: no optimizer step is planned")
        return 1
    title = " + ".join(Path(p).stem for p in args.config)
    plan.plot(args.out, title=f"planned learning rate: {title}")
    if args.csv:
        plan.write_csv(args.csv)
    epochs = plan.epochs[-1] + 1
    print(f"planned {len(plan.steps)} optimizer steps over {epochs} epoch(s)")
    for label, values in plan.lrs.items():
        peak = max(values)
        print(
            f"  {label}: first {values[0]:.6g}, peak {peak:.6g} at step "
            f"{values.index(peak)}, last {values[-1]:.6g}"
        )
    print(f"wrote {args.out}" + (f" and {args.csv}" if args.csv else ""))
    return 0 if all(math.isfinite(v) for vs in plan.lrs.values() for v in vs) else 1
