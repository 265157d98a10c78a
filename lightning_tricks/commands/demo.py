"""``lightning-tricks demo``: what the bag of tricks does, in one command (``make demo``).

Trains a baseline config and the same config plus a recipe of tricks side by side over a
few seeds, then prints a table (accuracy of each, the per-seed paired difference with its
spread), draws a chart and an augmentation preview of the recipe, and prints their paths::

    lightning-tricks demo
    lightning-tricks demo --seeds 5 --recipe configs/recipes/bag_of_tricks.yaml --out runs/demo

The defaults are the data-scarce digits setting (10 training images per class at 16×16,
``configs/ablation/digits_base.yaml``) and ``configs/recipes/bag_of_tricks.yaml``. The fits
are one two-row ``lightning-tricks ablate`` (baseline, + recipe) run through its command
line, so they run in fresh processes, two at a time, and an interrupted demo continues where
it stopped. The augmentation preview is ``lightning-tricks preview`` of base + recipe.
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import statistics
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DemoSummary", "main", "paired_summary", "plot_demo", "summary_table"]

PROG = "lightning-tricks demo"
DEFAULT_BASE = "configs/ablation/digits_base.yaml"
DEFAULT_RECIPE = "configs/recipes/bag_of_tricks.yaml"


@dataclass(frozen=True)
class DemoSummary:
    """Baseline vs recipe over the seeds both finished (accuracies in %, fractions ×100).

    ``base_*`` / ``recipe_*`` are ``(mean, sample std)`` over seeds; ``diff_*`` is the mean
    and std of the per-seed paired differences (recipe − baseline) in percentage points.
    """

    seeds: tuple[int, ...]
    base_test: tuple[float, float]
    recipe_test: tuple[float, float]
    diff_test: tuple[float, float]
    base_val: tuple[float, float]
    recipe_val: tuple[float, float]
    diff_val: tuple[float, float]
    per_seed_test: tuple[tuple[float, float], ...]  # (baseline, recipe) per seed


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean, std


def paired_summary(rows: Sequence[dict[str, str]]) -> DemoSummary:
    """Summarise the ``results.csv`` lines of a two-row ablation (row 0 = baseline).

    Only seeds present in both rows count.

    Raises:
        ValueError: if no seed has both a baseline and a recipe run.

    Example::

        >>> rows = [
        ...     {"row": "0", "seed": "0", "val_acc": "0.90", "test_acc": "0.80"},
        ...     {"row": "0", "seed": "1", "val_acc": "0.92", "test_acc": "0.84"},
        ...     {"row": "1", "seed": "0", "val_acc": "0.95", "test_acc": "0.90"},
        ...     {"row": "1", "seed": "1", "val_acc": "0.96", "test_acc": "0.90"},
        ... ]
        >>> s = paired_summary(rows)
        >>> s.seeds, round(s.base_test[0], 2), round(s.recipe_test[0], 2), round(s.diff_test[0], 2)
        ((0, 1), 82.0, 90.0, 8.0)
    """
    by_row: dict[int, dict[int, dict[str, str]]] = {0: {}, 1: {}}
    for line in rows:
        row = int(line["row"])
        if row in by_row:
            by_row[row][int(line["seed"])] = line
    seeds = tuple(sorted(set(by_row[0]) & set(by_row[1])))
    if not seeds:
        raise ValueError("no seed has both a baseline and a recipe result in results.csv")

    def acc(row: int, key: str) -> list[float]:
        return [100.0 * float(by_row[row][s][key]) for s in seeds]

    base_t, rec_t = acc(0, "test_acc"), acc(1, "test_acc")
    base_v, rec_v = acc(0, "val_acc"), acc(1, "val_acc")
    return DemoSummary(
        seeds=seeds,
        base_test=_mean_std(base_t),
        recipe_test=_mean_std(rec_t),
        diff_test=_mean_std([r - b for b, r in zip(base_t, rec_t)]),
        base_val=_mean_std(base_v),
        recipe_val=_mean_std(rec_v),
        diff_val=_mean_std([r - b for b, r in zip(base_v, rec_v)]),
        per_seed_test=tuple(zip(base_t, rec_t)),
    )


def summary_table(s: DemoSummary, recipe_name: str = "bag of tricks") -> str:
    """The demo's Markdown table (mean ± sample std over seeds; Δ is paired, per seed).

    Example::

        >>> s = DemoSummary((0, 1), (96.0, 0.5), (98.0, 0.3), (2.0, 0.4),
        ...                 (97.0, 1.0), (97.5, 0.5), (0.5, 0.7), ((96.0, 98.0), (96.0, 98.0)))
        >>> print(summary_table(s))
        | accuracy (%), 2 seeds | baseline | + bag of tricks | Δ (pp, paired) |
        |---|---:|---:|---:|
        | test | 96.0 ± 0.5 | 98.0 ± 0.3 | +2.0 ± 0.4 |
        | validation | 97.0 ± 1.0 | 97.5 ± 0.5 | +0.5 ± 0.7 |
    """

    def ms(v: tuple[float, float], sign: bool = False) -> str:
        return f"{v[0]:+.1f} ± {v[1]:.1f}" if sign else f"{v[0]:.1f} ± {v[1]:.1f}"

    return "\n".join(
        [
            f"| accuracy (%), {len(s.seeds)} seeds | baseline | + {recipe_name} | Δ (pp, paired) |",
            "|---|---:|---:|---:|",
            f"| test | {ms(s.base_test)} | {ms(s.recipe_test)} | {ms(s.diff_test, True)} |",
            f"| validation | {ms(s.base_val)} | {ms(s.recipe_val)} | {ms(s.diff_val, True)} |",
        ]
    )


def plot_demo(s: DemoSummary, path: str | Path, title: str = "", recipe_name: str = "") -> None:
    """Bar chart of the mean test accuracy of both rows with one line per seed (paired)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.0, 3.6), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    labels = ["baseline", f"+ {recipe_name or 'recipe'}"]
    means = [s.base_test[0], s.recipe_test[0]]
    stds = [s.base_test[1], s.recipe_test[1]]
    ax.bar([0, 1], means, yerr=stds, capsize=6, color=["#9e9e9e", "#3b75af"], width=0.55)
    for seed, (b, r) in zip(s.seeds, s.per_seed_test):
        ax.plot([0, 1], [b, r], color="black", alpha=0.5, marker="o", markersize=3, lw=0.8)
        ax.annotate(f"seed {seed}", (1.03, r), fontsize=6, va="center", alpha=0.7)
    lows = [v for pair in s.per_seed_test for v in pair]
    ax.set_ylim(max(0.0, min(lows) - 3.0), min(100.0, max(lows) + 1.5))
    ax.set_xticks([0, 1], labels)
    ax.set_ylabel("test accuracy (%)")
    d = s.diff_test
    ax.set_title(title or f"Δ = {d[0]:+.1f} ± {d[1]:.1f} pp over {len(s.seeds)} seeds", fontsize=9)
    fig.tight_layout()
    fig.savefig(str(path))


class _Progress:
    """A one-line progress display: runs done of the total, elapsed time, the latest result.

    On a terminal the line is redrawn every second; otherwise each update is a new line.
    """

    def __init__(self, total: int, write: Callable[[str], None] | None = None) -> None:
        self.total, self.done, self.note = total, 0, "starting"
        self.start = time.monotonic()
        self.tty = write is None and sys.stdout.isatty()
        self._write = write or (lambda text: print(text, flush=True))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def line(self) -> str:
        width = 24
        filled = round(width * self.done / max(1, self.total))
        elapsed = int(time.monotonic() - self.start)
        bar = "█" * filled + "·" * (width - filled)
        return f"[{bar}] {self.done}/{self.total} fits · {elapsed // 60}:{elapsed % 60:02d} · {self.note}"

    def update(self, done: int | None = None, note: str | None = None) -> None:
        self.done = self.done if done is None else done
        self.note = self.note if note is None else note
        if self.tty:
            sys.stdout.write("\r\033[K" + self.line())
            sys.stdout.flush()
        else:
            self._write(self.line())

    def __enter__(self) -> _Progress:
        if self.tty:
            self._thread = threading.Thread(target=self._tick, daemon=True)
            self._thread.start()
        return self

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            self.update()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            sys.stdout.write("\n")
            sys.stdout.flush()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Train a baseline and baseline + a recipe of tricks over a few seeds on "
        "the embedded digits data, print the comparison, write a chart and a preview.",
    )
    p.add_argument("--base", default=DEFAULT_BASE, help=f"baseline config ({DEFAULT_BASE})")
    p.add_argument("--recipe", default=DEFAULT_RECIPE, help=f"recipe snippet ({DEFAULT_RECIPE})")
    p.add_argument("--seeds", type=int, default=4, help="seeds per row (4)")
    p.add_argument("--jobs", type=int, default=2, help="fits at a time (2: one per core)")
    p.add_argument("--out", default="runs/demo", help="output folder (runs/demo)")
    p.add_argument("--no-preview", action="store_true", dest="no_preview", help="skip the preview")
    return p


def _run_ablation(args: argparse.Namespace, out: Path) -> int:
    """The two-row ablation through ``lightning-tricks ablate``'s command line; returns its
    exit code. Its per-run lines drive the progress display; the full output is kept in
    ``<out>/ablate.log``."""
    cmd = [
        sys.executable,
        "-m",
        "lightning_tricks.cli",
        "ablate",
        "--base",
        args.base,
        "--tricks",
        args.recipe,
        "--mode",
        "cumulative",
        "--seeds",
        str(args.seeds),
        "--seed-keys",
        "data.init_args.seed",
        "--jobs",
        str(args.jobs),
        "--env",
        "OMP_NUM_THREADS=1",
        "--out",
        str(out / "ablation"),
        "--title",
        f"Baseline vs + {Path(args.recipe).stem} ({Path(args.base).name})",
    ]
    total = 2 * args.seeds
    log_path = out / "ablate.log"
    with open(log_path, "w") as log, _Progress(total) as progress:
        progress.update(0, "fitting")
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        assert proc.stdout is not None  # stdout=PIPE
        done = 0
        for raw in proc.stdout:
            log.write(raw)
            log.flush()
            text = raw.strip()
            if text.startswith("[") and "] " in text:  # "[k/N] row · seed s · ..." per run
                done += 1
                parts = text.split("] ", 1)[1].split(" · ")
                progress.update(done, " · ".join(p for p in parts[:4] if "steps" not in p))
        code = proc.wait()
    if code != 0:
        print(f"{PROG}: the ablation failed (exit code {code}); its output is in {log_path}:")
        print("\n".join(log_path.read_text().splitlines()[-25:]))
    return code


def _preview(args: argparse.Namespace, path: Path) -> None:
    """``lightning-tricks preview`` of base + recipe, without Lightning's start-up chatter."""
    from . import preview

    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]
    levels = [logger.level for logger in loggers]
    try:
        for logger in loggers:
            logger.setLevel(logging.WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _run_preview(preview, args, path)
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _run_preview(preview: Any, args: argparse.Namespace, path: Path) -> None:
    preview.main(
        [
            "--config",
            args.base,
            "--config",
            args.recipe,
            "--out",
            str(path),
            "--num",
            "16",
            "--seed",
            "0",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lightning-tricks demo`` (see the module docstring)."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.seeds < 2:
        print(f"{PROG}: error: `--seeds` must be >= 2 for a spread, got {args.seeds}")
        return 2
    for name in ("base", "recipe"):
        if not Path(getattr(args, name)).is_file():
            print(
                f"{PROG}: error: `--{name}` file {getattr(args, name)!r} not found "
                "(run the demo from the repository root, or pass the path)"
            )
            return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    recipe = Path(args.recipe).stem.replace("_", " ")
    print(
        f"{PROG}: baseline ({args.base}) vs + {recipe} ({args.recipe}), {args.seeds} seeds "
        f"each, {args.jobs} fits at a time -> {out}"
    )
    preview_path = out / "preview.png"
    if not args.no_preview:
        _preview(args, preview_path)
    code = _run_ablation(args, out)
    if code != 0:
        return code
    with open(out / "ablation" / "results.csv", newline="") as fh:
        summary = paired_summary(list(csv.DictReader(fh)))
    chart = out / "demo.png"
    plot_demo(summary, chart, recipe_name=recipe)
    table = summary_table(summary, recipe)
    (out / "demo.md").write_text(table + "\n")
    elapsed = time.monotonic() - start
    d = summary.diff_test
    verdict = (
        "the recipe helps"
        if d[0] - d[1] > 0
        else ("the recipe hurts" if d[0] + d[1] < 0 else "within noise")
    )
    lines = [
        "",
        table,
        "",
        f"Δ test = {d[0]:+.1f} ± {d[1]:.1f} pp (mean ± std of the per-seed differences): "
        f"{verdict}.",
        f"chart:   {chart}",
        f"preview: {preview_path}" if not args.no_preview else "preview: (skipped)",
        f"details: {out / 'ablation' / 'results.md'} (per run: {out / 'ablation' / 'runs'})",
        f"{PROG}: done in {elapsed // 60:.0f}:{math.floor(elapsed % 60):02d}",
    ]
    print("\n".join(lines))
    return 0
