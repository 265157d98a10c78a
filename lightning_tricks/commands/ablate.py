"""``lightning-tricks ablate``: the Bag-of-Tricks table for your own model and data.

Give it a base LightningCLI config and an ordered list of trick snippets (partial configs
that add callbacks or change the model, data, optimizer or scheduler); it fits every row of
the table once per seed and writes ``results.csv``, ``results.md`` and ``results.png``::

    lightning-tricks ablate --config configs/ablation/digits.yaml
    lightning-tricks ablate --base configs/ablation/digits_base.yaml \\
        --tricks configs/tricks/label_smoothing.yaml configs/tricks/mixup.yaml \\
        --mode cumulative --seeds 3 --out runs/ablation/mine
    lightning-tricks ablate --config configs/ablation/digits.yaml -- --trainer.devices=2

* ``--mode cumulative``: baseline, + A, + A + B, ... (the paper's table; the gain column is
  against the previous row). ``--mode leave-one-out``: baseline, all, all − A, all − B, ...
* Each run is an ordinary ``lightning-tricks fit`` of the composed config in a fresh process
  (arguments after ``--`` are passed to every fit), so a run scales out exactly as a single
  fit does. The composed config, the command, the log and the result of each run are kept
  in ``<out>/runs/<row>/seed_<seed>/``.
* Resumable: a run whose ``result.json`` exists (written last, atomically) and whose config
  is unchanged is never repeated; an interrupted run starts again from scratch. Run the
  same command again to continue.

Composition rules: see :mod:`lightning_tricks.commands._ablation` and ``docs/ablation.md``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from . import _ablation as ab
from ._ablation import EVALUATE_ENV, RESULT_ENV, TEST_METRIC_ENV, VAL_METRIC_ENV

__all__ = ["main"]

PROG = "lightning-tricks ablate"
_WORKER = "lightning_tricks.commands._ablation_worker"
_FILE_KEYS = (
    "base",
    "tricks",
    "mode",
    "seeds",
    "first_seed",
    "out",
    "evaluate",
    "val_metric",
    "test_metric",
    "seed_keys",
    "fit_args",
    "title",
    "env",
    "jobs",
)


@dataclass
class Settings:
    """Everything that defines an ablation (from the ablation file, then the flags)."""

    base: str | None = None
    tricks: list[str] = field(default_factory=list)
    mode: str = "cumulative"
    seeds: int = 3
    first_seed: int = 0
    out: str | None = None
    evaluate: str = "last"
    val_metric: str = "val/acc"
    test_metric: str = "test/acc"
    seed_keys: list[str] = field(default_factory=list)
    fit_args: list[str] = field(default_factory=list)
    title: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    jobs: int = 1
    config: str | None = None
    dry_run: bool = False
    command: str | None = None  # the command line, for results.md

    def validate(self) -> None:
        if not self.base:
            raise ValueError(
                "no base config: pass `--base FILE` or set `base:` in the ablation file"
            )
        ab.check_mode(self.mode)
        ab.check_seeds(self.seeds)
        if isinstance(self.first_seed, bool) or not isinstance(self.first_seed, int):
            raise TypeError(f"`first_seed` must be an integer, got {self.first_seed!r}")
        if self.evaluate not in ab.EVALUATE:
            raise ValueError(
                f"`evaluate` must be one of {list(ab.EVALUATE)}, got {self.evaluate!r}"
            )
        if isinstance(self.jobs, bool) or not isinstance(self.jobs, int) or self.jobs < 1:
            raise ValueError(f"`jobs` must be an integer >= 1, got {self.jobs!r}")
        if not isinstance(self.env, dict):
            raise TypeError(
                f"`env` must be a mapping of variable names to values, got {self.env!r}"
            )
        self.env = {str(k): str(v) for k, v in self.env.items()}
        for name in ("tricks", "seed_keys", "fit_args"):
            value = getattr(self, name)
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise TypeError(f"`{name}` must be a list of strings, got {value!r}")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Fit a base config with trick snippets added one at a time (cumulative) or left "
            "out one at a time (leave-one-out), over several seeds, and write results.csv, "
            "results.md and results.png. Arguments after `--` go to every `fit`."
        ),
    )
    p.add_argument("--config", help="ablation file (YAML) with the keys below; flags override it")
    p.add_argument("--base", help="base LightningCLI config (model, data, trainer, optimizer)")
    p.add_argument("--tricks", nargs="+", metavar="FILE", help="trick snippets, in table order")
    p.add_argument("--mode", help="cumulative (default) or leave-one-out")
    p.add_argument("--seeds", type=int, help="seeds per row (>= 1, default 3)")
    p.add_argument("--first-seed", type=int, dest="first_seed", help="first seed (default 0)")
    p.add_argument("--out", help="output folder (default runs/ablation/<ablation file stem>)")
    p.add_argument(
        "--evaluate", help="`last` (weights at the end of training, default) or `best` checkpoint"
    )
    p.add_argument("--val-metric", dest="val_metric", help="validation metric (default val/acc)")
    p.add_argument("--test-metric", dest="test_metric", help="test metric (default test/acc)")
    p.add_argument(
        "--seed-keys",
        nargs="+",
        dest="seed_keys",
        metavar="KEY",
        help="dotted config keys set to the run's seed besides seed_everything "
        "(e.g. data.init_args.seed for a per-seed shuffle)",
    )
    p.add_argument("--title", help="title of results.md and results.png")
    p.add_argument(
        "--jobs",
        type=int,
        help="runs at a time (default 1); on a CPU, with env OMP_NUM_THREADS=1, one per core",
    )
    p.add_argument(
        "--env",
        nargs="+",
        metavar="NAME=VALUE",
        help="environment variables for every run, e.g. OMP_NUM_THREADS=1 (not part of a run's "
        "identity: changing them does not redo finished runs)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        dest="dry_run",
        help="write the composed row configs to <out>/configs and print the plan; fit nothing",
    )
    return p


def _resolve(path: str, anchor: Path | None) -> str:
    """A path from the ablation file: as given (relative to the working directory) if it
    exists, else relative to the ablation file's folder."""
    if anchor is not None and not Path(path).is_absolute() and not Path(path).exists():
        candidate = anchor / path
        if candidate.exists():
            return str(candidate)
    return path


def load_settings(argv: Sequence[str]) -> Settings:
    """Parse the command line (and the ablation file it names) into :class:`Settings`.

    Raises:
        FileNotFoundError, ValueError, TypeError: for a missing/invalid ablation file or value.
    """
    argv = list(argv)
    command = shlex.join(["lightning-tricks", "ablate", *argv])
    fit_args: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, fit_args = argv[:cut], argv[cut + 1 :]
    args = _parser().parse_args(argv)
    settings = Settings()
    if args.config:
        data = ab.load_yaml_mapping(args.config, "ablation file")
        unknown = sorted(set(data) - set(_FILE_KEYS))
        if unknown:
            raise ValueError(
                f"ablation file {args.config!r} has unknown keys {unknown}; allowed: {list(_FILE_KEYS)}"
            )
        anchor = Path(args.config).resolve().parent
        if isinstance(data.get("base"), str):
            data["base"] = _resolve(data["base"], anchor)
        if isinstance(data.get("tricks"), list):
            data["tricks"] = [
                _resolve(t, anchor) if isinstance(t, str) else t for t in data["tricks"]
            ]
        settings = replace(settings, **data, config=args.config)
    overrides = {k: v for k, v in vars(args).items() if v is not None and k != "config"}
    if "env" in overrides:
        pairs = overrides.pop("env")
        bad = [p for p in pairs if "=" not in p or not p.split("=", 1)[0]]
        if bad:
            raise ValueError(f"`--env` takes NAME=VALUE pairs, got {bad}")
        overrides["env"] = {**settings.env, **dict(p.split("=", 1) for p in pairs)}
    settings = replace(settings, **overrides, command=command)
    if fit_args:
        settings.fit_args = [*settings.fit_args, *fit_args]
    if settings.out is None:
        stem = Path(settings.config).stem if settings.config else "ablation"
        settings.out = str(Path("runs") / "ablation" / stem)
    settings.validate()
    return settings


def _command_line(settings: Settings) -> str:
    if settings.command:
        return settings.command
    if settings.config:
        cmd = ["lightning-tricks", "ablate", "--config", settings.config]
    else:
        cmd = [
            "lightning-tricks",
            "ablate",
            "--base",
            str(settings.base),
            "--tricks",
            *settings.tricks,
        ]
        cmd += ["--mode", settings.mode, "--seeds", str(settings.seeds)]
    return shlex.join(cmd)


def _read_result(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _fit(run_dir: Path, settings: Settings) -> dict[str, Any]:
    """Fit one run in a fresh process; return the worker's metrics (raises on failure)."""
    metrics_file = run_dir / "metrics.json"
    cmd = [sys.executable, "-m", _WORKER, "fit", "--config", str(run_dir / "composed.yaml")]
    cmd += settings.fit_args
    env = {
        **os.environ,
        **settings.env,
        RESULT_ENV: str(metrics_file),
        EVALUATE_ENV: settings.evaluate,
        VAL_METRIC_ENV: settings.val_metric,
        TEST_METRIC_ENV: settings.test_metric,
    }
    log = run_dir / "log.txt"
    with open(log, "w") as fh:
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, check=False)
    metrics = _read_result(metrics_file)
    if proc.returncode != 0 or metrics is None:
        raise RuntimeError(
            f"run {run_dir} failed (exit code {proc.returncode}); its log is {log}. "
            f"Last lines:\n{_tail(log)}"
        )
    return metrics


def run_ablation(settings: Settings, out=print) -> list[ab.RunResult]:
    """Run (or continue) the ablation described by ``settings``; write the three outputs.

    Returns the results of every run in the plan.

    Raises:
        FileNotFoundError: a missing base config or trick file.
        ValueError: a snippet that does not parse, an invalid setting.
        RuntimeError: a run that failed (with the end of its log).
    """
    base = ab.load_yaml_mapping(settings.base, "base config")
    names, snippets = [], {}
    for path in settings.tricks:
        name = Path(path).stem
        snippets[name] = ab.load_yaml_mapping(path, "trick file")
        names.append(name)
    rows = ab.plan_rows(names, settings.mode)
    seeds = list(range(settings.first_seed, settings.first_seed + settings.seeds))
    out_dir = Path(settings.out)
    (out_dir / "configs").mkdir(parents=True, exist_ok=True)
    composed = {}
    for row in rows:
        composed[row.index] = ab.compose(base, [snippets[n] for n in row.tricks])
        text = f"# {row.label}: {' + '.join(row.tricks) or 'base config only'}\n"
        (out_dir / "configs" / f"{row.slug}.yaml").write_text(
            text + yaml.safe_dump(composed[row.index], sort_keys=False)
        )
    total = len(rows) * len(seeds)
    out(
        f"{PROG}: {len(rows)} rows × {len(seeds)} seeds = {total} runs ({settings.mode}) "
        f"-> {out_dir}"
    )
    if settings.dry_run:
        for row in rows:
            out(f"  {row.slug}: {' + '.join(row.tricks) or '(base)'}")
        return []
    extra = [*settings.fit_args, settings.evaluate, settings.val_metric, settings.test_metric]
    results: list[ab.RunResult] = []
    pending: list[_Run] = []
    width = len(str(total))
    for position, (row, seed) in enumerate(((r, s) for r in rows for s in seeds), start=1):
        cfg = copy.deepcopy(composed[row.index])
        cfg["seed_everything"] = seed
        for key in settings.seed_keys:
            ab.set_dotted(cfg, key, seed)
        run = _Run(
            row=row,
            seed=seed,
            config=cfg,
            digest=ab.config_hash(cfg, seed, extra),
            run_dir=out_dir / "runs" / row.slug / f"seed_{seed}",
            prefix=f"[{position:>{width}}/{total}] {row.label} · seed {seed}",
        )
        previous = _read_result(run.run_dir / "result.json")
        if previous is not None and previous.get("hash") == run.digest:
            res = _to_result(row, seed, previous)
            results.append(res)
            out(f"{run.prefix} · done earlier, skipped · {_summary(res)}")
        else:
            pending.append(run)
    lock = threading.Lock()
    failures: list[BaseException] = []

    def execute(run: _Run) -> None:
        with lock:
            if failures:  # a run failed: start no new ones
                return
        try:
            res = _execute(run, settings)
        except BaseException as err:
            with lock:
                failures.append(err)
            return
        with lock:
            results.append(res)
            _write_atomic(out_dir / "results.csv", ab.results_csv(results))
            out(f"{run.prefix} · {_summary(res)}")

    if settings.jobs == 1:
        for run in pending:
            execute(run)
    else:
        with ThreadPoolExecutor(max_workers=settings.jobs) as pool:
            list(pool.map(execute, pending))
    _write_atomic(out_dir / "results.csv", ab.results_csv(results))
    if failures:
        raise failures[0]
    summaries = ab.summarize(rows, results)
    _write_atomic(
        out_dir / "results.md",
        ab.results_markdown(
            summaries,
            mode=settings.mode,
            evaluate=settings.evaluate,
            command=_command_line(settings),
            title=settings.title,
        ),
    )
    ab.plot_results(summaries, out_dir / "results.png", title=settings.title or "")
    out(
        f"{PROG}: wrote {out_dir / 'results.csv'}, {out_dir / 'results.md'}, {out_dir / 'results.png'}"
    )
    return results


@dataclass
class _Run:
    row: ab.Row
    seed: int
    config: dict[str, Any]
    digest: str
    run_dir: Path
    prefix: str


def _execute(run: _Run, settings: Settings) -> ab.RunResult:
    """Fit one run from scratch in its folder; write its ``result.json`` (the done marker)."""
    run_dir = run.run_dir
    if run_dir.exists():  # an interrupted or outdated run: start it again
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    (run_dir / "composed.yaml").write_text(
        yaml.safe_dump(ab.isolate_run(run.config, run_dir), sort_keys=False)
    )
    command = ["lightning-tricks", "fit", "--config", str(run_dir / "composed.yaml")]
    env_prefix = [f"{k}={v}" for k, v in settings.env.items()]
    (run_dir / "command.txt").write_text(
        shlex.join([*env_prefix, *command, *settings.fit_args]) + "\n"
    )
    start = time.perf_counter()
    metrics = _fit(run_dir, settings)
    record = {
        **metrics,
        "wall_time_s": time.perf_counter() - start,
        "hash": run.digest,
        "row": run.row.index,
        "label": run.row.label,
        "tricks": list(run.row.tricks),
        "seed": run.seed,
    }
    _write_atomic(run_dir / "result.json", json.dumps(record, indent=2))
    return _to_result(run.row, run.seed, record)


def _to_result(row: ab.Row, seed: int, record: dict[str, Any]) -> ab.RunResult:
    return ab.RunResult(
        row=row.index,
        label=row.label,
        tricks=row.tricks,
        seed=seed,
        val_acc=float(record["val_acc"]),
        test_acc=float(record["test_acc"]),
        epochs=int(record["epochs"]),
        steps=int(record["steps"]),
        wall_time_s=float(record["wall_time_s"]),
        fit_time_s=float(record["fit_time_s"]),
        time_per_step_ms=float(record["time_per_step_ms"]),
    )


def _summary(res: ab.RunResult) -> str:
    return (
        f"val {100 * res.val_acc:.1f} % · test {100 * res.test_acc:.1f} % · {res.steps} steps · "
        f"{res.wall_time_s:.1f} s ({res.time_per_step_ms:.1f} ms/step)"
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lightning-tricks ablate`` (returns the exit code)."""
    try:
        settings = load_settings(sys.argv[1:] if argv is None else argv)
        run_ablation(settings, out=lambda line: print(line, flush=True))
    except (FileNotFoundError, ValueError, TypeError, RuntimeError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2 if not isinstance(err, RuntimeError) else 1
    return 0
