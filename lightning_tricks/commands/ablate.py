"""``lightning-tricks ablate``: the Bag-of-Tricks table for your own model and data.

Give it a base LightningCLI config and an ordered list of trick snippets (partial configs
that add callbacks or change the model, data, optimizer or scheduler); it fits every row of
the table once per seed and writes ``results.csv``, ``results.md`` and ``results.png``::

    lightning-tricks ablate --config configs/ablation/digits.yaml
    lightning-tricks ablate --base configs/ablation/digits_base.yaml \\
        --tricks configs/tricks/label_smoothing.yaml configs/tricks/mixup.yaml \\
        --mode cumulative --seeds 3 --out runs/ablation/mine
    lightning-tricks ablate --config configs/ablation/digits.yaml -- --trainer.devices=2
    lightning-tricks ablate --config configs/ablation/digits.yaml --launcher ray \\
        --ray-address HEAD:6379 --gpus-per-run 1 -- --trainer.accelerator=gpu

* ``--mode cumulative``: baseline, + A, + A + B, ... (the paper's table; the gain column is
  against the previous row). ``--mode leave-one-out``: baseline, all, all − A, all − B, ...
* Each run is an ordinary ``lightning-tricks fit`` of the composed config in a fresh process
  (arguments after ``--`` are passed to every fit), so a run scales out exactly as a single
  fit does. The composed config, the command, the log and the result of each run are kept
  in ``<out>/runs/<row>/seed_<seed>/``.
* Resumable: a run whose ``result.json`` exists (written last, atomically) and whose config
  is unchanged is never repeated; an interrupted run starts again from scratch. Run the
  same command again to continue. A run that fails is reported with its log and the others
  go on.
* Launchers: ``--launcher local`` (default) starts the runs as child processes, ``--jobs``
  at a time; ``--launcher ray`` makes each run a Ray task (:mod:`._ablation_ray`) on a Ray
  instance started for the command or on a cluster (``--ray-address`` / ``RAY_ADDRESS``),
  as many at a time as ``--cpus-per-run`` / ``--gpus-per-run`` allow. Both run the same
  worker command in the same working directory, so they give the same results.

Composition rules: see :mod:`lightning_tricks.commands._ablation` and ``docs/ablation.md``.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from . import _ablation as ab
from ._ablation import EVALUATE_ENV, PARENT_ENV, RESULT_ENV, TEST_METRIC_ENV, VAL_METRIC_ENV

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
    "launcher",
    "ray_address",
    "cpus_per_run",
    "gpus_per_run",
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
    jobs: int | None = None  # None: 1 on the local launcher, all CPUs on a local Ray
    launcher: str = "local"
    ray_address: str | None = None
    cpus_per_run: float = 1.0
    gpus_per_run: float = 0.0
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
        if self.jobs is not None and (
            isinstance(self.jobs, bool) or not isinstance(self.jobs, int) or self.jobs < 1
        ):
            raise ValueError(f"`jobs` must be an integer >= 1, got {self.jobs!r}")
        if self.launcher not in ab.LAUNCHERS:
            raise ValueError(
                f"`launcher` must be one of {list(ab.LAUNCHERS)}, got {self.launcher!r}"
            )
        for name, low in (("cpus_per_run", "> 0"), ("gpus_per_run", ">= 0")):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"`{name}` must be a number {low}, got {value!r}")
            if not (value > 0 if low == "> 0" else value >= 0):
                raise ValueError(f"`{name}` must be a number {low}, got {value!r}")
        if self.ray_address is not None and not isinstance(self.ray_address, str):
            raise TypeError(f"`ray_address` must be a string, got {self.ray_address!r}")
        if self.launcher == "ray" and not self.dry_run and importlib.util.find_spec("ray") is None:
            raise ModuleNotFoundError(
                '`--launcher ray` needs Ray, which is not installed: pip install "lightning-tricks[ray]"'
            )
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
        help="runs at a time on this machine (default 1); on a CPU, with env OMP_NUM_THREADS=1, "
        "one per core. With --launcher ray and no cluster: the local Ray instance gets "
        "jobs × cpus-per-run CPUs (default: all)",
    )
    p.add_argument(
        "--launcher",
        help="`local` (default): child processes of this command; `ray`: one Ray task per run",
    )
    p.add_argument(
        "--ray-address",
        dest="ray_address",
        help="Ray cluster to run on (e.g. HEAD_IP:6379, or `auto` for the one started on this "
        "machine with `ray start`); default: $RAY_ADDRESS, else a Ray instance started (and "
        "stopped) by this command",
    )
    p.add_argument(
        "--cpus-per-run",
        type=float,
        dest="cpus_per_run",
        help="Ray CPUs each run reserves (default 1); a run's torch uses as many threads",
    )
    p.add_argument(
        "--gpus-per-run",
        type=float,
        dest="gpus_per_run",
        help="Ray GPUs each run reserves (default 0); Ray sets its CUDA_VISIBLE_DEVICES. Match "
        "it with the fit's --trainer.devices",
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


def _stop(proc: subprocess.Popen, group: bool) -> None:
    """End a run's process (and, with ``group``, every process of its session: DDP ranks)."""

    def send(sig: int) -> None:
        try:
            if group:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
        except (ProcessLookupError, PermissionError):
            pass

    send(signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        proc.wait()
    if group:
        send(signal.SIGKILL)  # ranks that outlived their leader


def _fit(
    run_dir: Path,
    settings: Settings,
    *,
    cwd: Path,
    own_session: bool = False,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """Fit one run in a fresh process started in ``cwd``; return the worker's metrics.

    ``run_dir`` is relative to ``cwd`` (or absolute). ``own_session``: start the run in a
    session of its own, so that stopping it ends its DDP ranks too (the Ray launcher; the
    local launcher keeps the run in the terminal's process group, where Ctrl-C reaches it).
    The run ends when ``stop`` is set, when this thread is interrupted, and (Linux) when this
    process dies, even by SIGKILL (see ``_ablation_worker``).

    Raises:
        RuntimeError: the run failed (the message names its log and has the end of it).
    """
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
        PARENT_ENV: str(os.getpid()),
    }
    log = run_dir / "log.txt"
    with open(cwd / log, "w") as fh:
        proc = subprocess.Popen(
            cmd,
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=own_session,
        )
        try:
            while True:  # a short poll, so that an interrupt or `stop` is seen at once
                try:
                    proc.wait(timeout=0.2)
                    break
                except subprocess.TimeoutExpired:
                    if stop is not None and stop.is_set():
                        raise KeyboardInterrupt from None
        except BaseException:
            _stop(proc, own_session)
            raise
    metrics = _read_result(cwd / metrics_file)
    if proc.returncode != 0 or metrics is None:
        raise RuntimeError(
            f"run {run_dir} failed (exit code {proc.returncode}); its log is {log}. "
            f"Last lines:\n{_tail(cwd / log)}"
        )
    return metrics


class _Progress:
    """Runs done / running / failed, elapsed and time left, on ``stream`` (stderr).

    On a terminal: one line rewritten twice a second (cleared while another line is printed).
    Otherwise: a plain line every :attr:`every_s` seconds and one at the end. Thread-safe.
    """

    every_s = 30.0

    def __init__(self, total: int, earlier: int, out: Callable[[str], None], stream: Any) -> None:
        self.total, self.earlier = total, earlier
        self.done = self.failed = 0
        self.running: set[Path] = set()
        self._out, self._stream = out, stream
        self._tty = bool(getattr(stream, "isatty", lambda: False)())
        self._lock = threading.RLock()
        self._start = time.monotonic()
        self._quit = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ablate-progress", daemon=True)
        self._shown = False

    def text(self) -> str:
        with self._lock:
            return ab.progress_text(
                total=self.total,
                earlier=self.earlier,
                done=self.done,
                running=len(self.running),
                failed=self.failed,
                elapsed_s=time.monotonic() - self._start,
            )

    def __enter__(self) -> _Progress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._quit.set()
        self._thread.join()
        with self._lock:
            self._clear()
            self._write(self.text() + "\n")

    def _loop(self) -> None:
        while not self._quit.wait(0.5 if self._tty else self.every_s):
            with self._lock:
                if self._tty:
                    self._write("\r\033[K" + self.text())
                    self._shown = True
                else:
                    self._write(self.text() + "\n")

    def _write(self, text: str) -> None:
        self._stream.write(text)
        self._stream.flush()

    def _clear(self) -> None:
        if self._shown:
            self._write("\r\033[K")
            self._shown = False

    def say(self, line: str, error: bool = False) -> None:
        """Print a line (to ``out``, or to the progress stream if ``error``) under the bar."""
        with self._lock:
            self._clear()
            if error:
                self._write(line + "\n")
            else:
                self._out(line)

    def started(self, run: _Run) -> None:
        with self._lock:
            self.running.add(run.run_dir)

    def ended(self, run: _Run, ok: bool) -> None:
        with self._lock:
            self.running.discard(run.run_dir)
            if ok:
                self.done += 1
            else:
                self.failed += 1


class _Events:
    """What a launcher reports: a run started, finished (with its result) or failed."""

    def __init__(self, progress: _Progress, finished: Callable[[_Run, ab.RunResult], None]) -> None:
        self.progress = progress
        self._finished = finished
        self.failures: list[tuple[_Run, str]] = []
        self._lock = threading.Lock()

    def started(self, run: _Run) -> None:
        self.progress.started(run)

    def finished(self, run: _Run, result: ab.RunResult) -> None:
        with self._lock:
            self.progress.ended(run, ok=True)
            self._finished(run, result)

    def failed(self, run: _Run, message: str) -> None:
        with self._lock:
            self.progress.ended(run, ok=False)
            self.failures.append((run, message))
            self.progress.say(f"{run.prefix} · FAILED: {message}", error=True)


def _run_local(pending: list[_Run], settings: Settings, events: _Events) -> None:
    """The local launcher: each run a child process, ``settings.jobs`` at a time."""
    stop = threading.Event()

    def execute(run: _Run) -> None:
        if stop.is_set():
            return
        events.started(run)
        try:
            res = _execute(run, settings, stop=stop)
        except RuntimeError as err:
            events.failed(run, str(err))
            return
        events.finished(run, res)

    jobs = settings.jobs or 1
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        try:
            for future in [pool.submit(execute, run) for run in pending]:
                future.result()
        except BaseException:  # Ctrl-C: end the running fits, start no new ones
            stop.set()
            raise


def run_ablation(
    settings: Settings, out: Callable[[str], None] = print, stream: Any = None
) -> list[ab.RunResult]:
    """Run (or continue) the ablation described by ``settings``; write the three outputs.

    Returns the results of every run in the plan. ``out`` prints the plan and one line per
    run; the progress display and failed runs go to ``stream`` (default ``sys.stderr``).

    Raises:
        FileNotFoundError: a missing base config or trick file.
        ValueError: a snippet that does not parse, an invalid setting.
        RuntimeError: some runs failed (the message names their logs); the others finished
            and are in ``results.csv``.
    """
    stream = sys.stderr if stream is None else stream
    if settings.base is None or settings.out is None:
        raise ValueError("`base` and `out` must be set (--base, --out or the ablation file)")
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
    where = "local processes" if settings.launcher == "local" else "Ray tasks"
    out(
        f"{PROG}: {len(rows)} rows × {len(seeds)} seeds = {total} runs ({settings.mode}) "
        f"-> {out_dir} ({where})"
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

    progress = _Progress(total, earlier=len(results), out=out, stream=stream)

    def finished(run: _Run, res: ab.RunResult) -> None:
        results.append(res)
        _write_atomic(out_dir / "results.csv", ab.results_csv(results))
        progress.say(f"{run.prefix} · {_summary(res)}")

    events = _Events(progress, finished)
    with progress:
        if not pending:
            pass
        elif settings.launcher == "ray":
            from . import _ablation_ray  # imports Ray: only when it is used

            _ablation_ray.run_on_ray(pending, settings, events)
        else:
            _run_local(pending, settings, events)
    _write_atomic(out_dir / "results.csv", ab.results_csv(results))
    if events.failures:
        logs = "; ".join(f"{run.run_dir / 'log.txt'}" for run, _ in events.failures)
        raise RuntimeError(
            f"{len(events.failures)} of {len(pending)} runs failed (logs: {logs}); the other "
            f"runs finished and are in {out_dir / 'results.csv'}. Fix the cause and run the "
            "same command again: finished runs are skipped"
        )
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


def _execute(
    run: _Run,
    settings: Settings,
    *,
    cwd: str | Path | None = None,
    own_session: bool = False,
    stop: threading.Event | None = None,
) -> ab.RunResult:
    """Fit one run from scratch in its folder; write its ``result.json`` (the done marker).

    ``cwd``: the working directory of the ``ablate`` command (default: this process's), in
    which the run's relative paths are taken and its process starts; a Ray task passes the
    driver's, so a run behaves the same on either launcher.
    """
    here = Path.cwd() if cwd is None else Path(cwd)
    run_dir = here / run.run_dir
    if run_dir.exists():  # an interrupted or outdated run: start it again
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    (run_dir / "composed.yaml").write_text(
        yaml.safe_dump(ab.isolate_run(run.config, run.run_dir), sort_keys=False)
    )
    command = ["lightning-tricks", "fit", "--config", str(run.run_dir / "composed.yaml")]
    env_prefix = [f"{k}={v}" for k, v in settings.env.items()]
    (run_dir / "command.txt").write_text(
        shlex.join([*env_prefix, *command, *settings.fit_args]) + "\n"
    )
    start = time.perf_counter()
    metrics = _fit(run.run_dir, settings, cwd=here, own_session=own_session, stop=stop)
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
    except (FileNotFoundError, ValueError, TypeError, RuntimeError, ImportError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2 if not isinstance(err, RuntimeError) else 1
    except KeyboardInterrupt:
        print(
            f"{PROG}: interrupted; the running fits were stopped. Run the same command again "
            "to continue (finished runs are skipped)",
            file=sys.stderr,
        )
        return 130
    return 0
