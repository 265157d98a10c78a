"""Pure logic of ``lightning-tricks ablate``: config composition, the run plan, aggregation.

Nothing here starts a process or imports Lightning, so every rule is unit-tested in
milliseconds (``tests/commands/test_ablation_logic.py``); :mod:`.ablate` does the I/O.

Composition rules (:func:`merge_config`), applied snippet by snippet onto the base config:

* mappings merge key by key, recursively; a scalar, ``null`` or list in the snippet replaces
  the base value;
* the lists at :data:`CONCAT_LISTS` (``trainer.callbacks``, ``trainer.plugins``) are
  **concatenated**: a trick *adds* callbacks. A single item (a mapping or a string) counts as
  a one-item list. Every other list (a transform pipeline, scheduler milestones, a logger
  list) is replaced as a whole;
* jsonargparse's append syntax works for any list: ``callbacks+: [...]`` appends to
  ``callbacks``. Snippets in ``configs/tricks/`` use it, so they also stack with plain
  ``lightning-tricks fit --config base.yaml --config trick.yaml`` (where a bare
  ``callbacks:`` in the second file would *replace* the base's list);
* a class spec (a mapping with ``class_path``; ``model``, ``data``, ``optimizer``,
  ``lr_scheduler``, loggers, ...) with the **same** ``class_path`` merges its ``init_args``;
  a snippet mapping without ``class_path`` (``{init_args: {...}}`` or just ``{dropout: 0.1}``)
  also merges into the base's ``init_args``;
* a **different** ``class_path`` swaps the class and keeps only the base ``init_args`` that
  the new class accepts (as jsonargparse does when two ``--config`` files disagree), then
  merges the snippet's ``init_args``: ``distill.yaml`` turns an ``ImageClassifier`` into a
  ``DistillationModule`` that keeps the base's backbone, dropout, ...
"""

from __future__ import annotations

import copy
import csv
import hashlib
import importlib
import inspect
import io
import json
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

__all__: list[str] = []

#: environment variables through which the runner talks to its worker processes
RESULT_ENV = "LIGHTNING_TRICKS_ABLATION_RESULT"
EVALUATE_ENV = "LIGHTNING_TRICKS_ABLATION_EVALUATE"
VAL_METRIC_ENV = "LIGHTNING_TRICKS_ABLATION_VAL_METRIC"
TEST_METRIC_ENV = "LIGHTNING_TRICKS_ABLATION_TEST_METRIC"

Mode = Literal["cumulative", "leave-one-out"]
MODES: tuple[str, ...] = ("cumulative", "leave-one-out")
Evaluate = Literal["last", "best"]
EVALUATE: tuple[str, ...] = ("last", "best")

#: set by the runner to its own process id: the worker ends when that process ends
PARENT_ENV = "LIGHTNING_TRICKS_ABLATION_PARENT"

#: where a run is executed: local processes, or Ray tasks (``--launcher ray``)
LAUNCHERS: tuple[str, ...] = ("local", "ray")

#: dotted config paths whose lists are concatenated instead of replaced
CONCAT_LISTS: frozenset[tuple[str, ...]] = frozenset(
    {("trainer", "callbacks"), ("trainer", "plugins")}
)
#: keys of a class spec besides the constructor arguments
_SPEC_KEYS = frozenset({"class_path", "init_args", "dict_kwargs", "__path__"})

#: ``accepts(class_path, argument_name)`` -> does the class take that constructor argument?
Accepts = Callable[[str, str], bool]

CSV_FIELDS: tuple[str, ...] = (
    "row",
    "label",
    "tricks",
    "seed",
    "val_acc",
    "test_acc",
    "epochs",
    "steps",
    "wall_time_s",
    "fit_time_s",
    "time_per_step_ms",
)


# ---------------------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------------------
def load_yaml_mapping(path: str | Path, what: str) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping (an empty file is ``{}``).

    Raises:
        FileNotFoundError: if the file does not exist (the message names ``what`` and the path).
        ValueError: if it does not parse (the message has the YAML error) or is not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {str(path)!r} not found (no such file)")
    try:
        with open(path) as stream:  # a stream: the YAML error names the file, line, column
            data = yaml.safe_load(stream)
    except yaml.YAMLError as err:
        raise ValueError(f"{what} {str(path)!r} is not valid YAML: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(
            f"{what} {str(path)!r} must hold a YAML mapping (a partial LightningCLI config "
            f"such as `trainer: {{callbacks: [...]}}`), got a {type(data).__name__}"
        )
    return data


# ---------------------------------------------------------------------------------------
# composition
# ---------------------------------------------------------------------------------------
def _import_class(class_path: str) -> Any:
    module_name, _, name = class_path.rpartition(".")
    if not module_name:
        raise ImportError(f"{class_path!r} is not a dotted import path")
    return getattr(importlib.import_module(module_name), name)


def signature_accepts(class_path: str, name: str) -> bool:
    """Default :data:`Accepts`: import the class and look at its constructor's parameters.

    A class that takes ``**kwargs`` or cannot be imported or inspected accepts everything
    (LightningCLI then reports any real mismatch with its own message).
    """
    try:
        params = inspect.signature(_import_class(class_path)).parameters
    except (ImportError, AttributeError, TypeError, ValueError):
        return True
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return True
    return name in params


def _is_spec(value: Any) -> bool:
    return isinstance(value, Mapping) and "class_path" in value


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return list(value)
    return [value]


def _merge_spec(base: Mapping[str, Any], snippet: Mapping[str, Any], accepts: Accepts) -> dict:
    """Merge a snippet into a class spec ``{class_path, init_args, ...}``."""
    out = copy.deepcopy(dict(base))
    init_args = dict(out.get("init_args") or {})
    if "class_path" in snippet and snippet["class_path"] != out["class_path"]:
        new_class = snippet["class_path"]
        init_args = {k: v for k, v in init_args.items() if accepts(new_class, k)}
        out["class_path"] = new_class
        out.pop("dict_kwargs", None)
    extra = {k: v for k, v in snippet.items() if k not in _SPEC_KEYS}
    for source in (snippet.get("init_args") or {}, extra):
        init_args = _merge(init_args, source, (), accepts)
    if init_args:
        out["init_args"] = init_args
    else:
        out.pop("init_args", None)
    if "dict_kwargs" in snippet:
        out["dict_kwargs"] = _merge(
            out.get("dict_kwargs") or {}, snippet["dict_kwargs"], (), accepts
        )
    return out


def _merge(base: Any, snippet: Any, path: tuple[str, ...], accepts: Accepts) -> Any:
    if path in CONCAT_LISTS:
        return [*copy.deepcopy(_as_list(base)), *copy.deepcopy(_as_list(snippet))]
    if _is_spec(base) and isinstance(snippet, Mapping):
        return _merge_spec(base, snippet, accepts)
    if isinstance(base, str) and isinstance(snippet, Mapping) and "class_path" not in snippet:
        # `optimizer: torch.optim.SGD` in the base, `optimizer: {init_args: {lr: 0.1}}` in a trick
        return _merge_spec({"class_path": base}, snippet, accepts)
    if isinstance(base, Mapping) and "init_args" in base and _is_spec(snippet):
        # the base relies on the default class (`model: {init_args: ...}`), the trick names one
        return _merge_spec({**base, "class_path": None}, snippet, accepts)
    if isinstance(base, Mapping) and isinstance(snippet, Mapping) and not _is_spec(snippet):
        out = copy.deepcopy(dict(base))
        for key, value in snippet.items():
            if isinstance(key, str) and key.endswith("+"):  # jsonargparse's `key+:` appends
                key = key[:-1]
                out[key] = [*_as_list(out.get(key)), *copy.deepcopy(_as_list(value))]
                continue
            sub = (*path, str(key))
            if key in out:
                out[key] = _merge(out[key], value, sub, accepts)
            elif sub in CONCAT_LISTS:
                out[key] = copy.deepcopy(_as_list(value))
            elif isinstance(value, Mapping) and not _is_spec(value):
                out[key] = _merge({}, value, sub, accepts)  # resolves nested `key+:` entries
            else:
                out[key] = copy.deepcopy(value)
        return out
    return copy.deepcopy(snippet)


def merge_config(
    base: Mapping[str, Any], snippet: Mapping[str, Any], accepts: Accepts | None = None
) -> dict[str, Any]:
    """Return ``base`` with the trick ``snippet`` applied (see the module docstring for rules).

    Neither argument is modified.

    Example::

        >>> base = {"trainer": {"callbacks": [{"class_path": "A"}], "max_steps": 10},
        ...         "model": {"class_path": "M", "init_args": {"dropout": 0.0, "lr": 0.1}}}
        >>> trick = {"trainer": {"callbacks": [{"class_path": "B"}]},
        ...          "model": {"init_args": {"dropout": 0.2}}}
        >>> out = merge_config(base, trick)
        >>> [c["class_path"] for c in out["trainer"]["callbacks"]], out["model"]["init_args"]
        (['A', 'B'], {'dropout': 0.2, 'lr': 0.1})
    """
    return _merge(base, snippet, (), accepts or signature_accepts)


def compose(
    base: Mapping[str, Any],
    snippets: Sequence[Mapping[str, Any]],
    accepts: Accepts | None = None,
) -> dict[str, Any]:
    """Apply ``snippets`` to ``base`` in order with :func:`merge_config`."""
    out: dict[str, Any] = {}
    for snippet in (base, *snippets):  # the base too, so its own `key+:` entries resolve
        out = merge_config(out, snippet, accepts)
    return out


def isolate_run(config: Mapping[str, Any], run_dir: str | Path) -> dict[str, Any]:
    """Point every output path of a composed config into ``run_dir`` so runs never collide.

    Sets ``trainer.default_root_dir``; the ``save_dir`` of each configured logger and the
    ``dirpath`` of each ``ModelCheckpoint`` that names one are moved into ``run_dir``.
    """
    out = copy.deepcopy(dict(config))
    run_dir = str(run_dir)
    trainer = out.setdefault("trainer", {})
    if trainer is None:
        trainer = out["trainer"] = {}
    trainer["default_root_dir"] = run_dir
    for logger in _as_list(trainer.get("logger")):
        if _is_spec(logger) and "save_dir" in (logger.get("init_args") or {}):
            logger["init_args"]["save_dir"] = run_dir
    for callback in _as_list(trainer.get("callbacks")):
        if (
            _is_spec(callback)
            and str(callback["class_path"]).endswith("ModelCheckpoint")
            and (callback.get("init_args") or {}).get("dirpath")
        ):
            callback["init_args"]["dirpath"] = str(Path(run_dir) / "checkpoints")
    return out


def config_hash(config: Mapping[str, Any], seed: int, extra: Sequence[str] = ()) -> str:
    """A short stable hash of what defines a run (its config before isolation, seed, args)."""
    blob = json.dumps(
        {"config": config, "seed": seed, "extra": list(extra)}, sort_keys=True, default=str
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def set_dotted(config: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``config[a][b][c] = value`` for ``dotted="a.b.c"``, creating mappings on the way.

    Raises:
        ValueError: if a step of the path holds a non-mapping value.
    """
    keys = dotted.split(".")
    node = config
    for i, key in enumerate(keys[:-1]):
        nxt = node.get(key)
        if nxt is None:
            nxt = node[key] = {}
        if not isinstance(nxt, dict):
            raise ValueError(
                f"cannot set `{dotted}`: `{'.'.join(keys[: i + 1])}` holds a "
                f"{type(nxt).__name__}, not a mapping"
            )
        node = nxt
    node[keys[-1]] = value


# ---------------------------------------------------------------------------------------
# the plan
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    """One row of the ablation table: a set of tricks, run once per seed.

    ``reference`` is the index of the row the gain is measured against (``None``: none).
    """

    index: int
    label: str
    tricks: tuple[str, ...]
    reference: int | None

    @property
    def slug(self) -> str:
        name = self.label.replace("+ ", "plus_").replace("− ", "minus_")
        name = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
        return f"{self.index:02d}_{name}"[:80]


def check_seeds(seeds: Any) -> int:
    """Validate the number of seeds per row.

    Raises:
        TypeError: if not an integer. ValueError: if < 1.
    """
    if isinstance(seeds, bool) or not isinstance(seeds, int):
        raise TypeError(f"`seeds` must be an integer >= 1, got {type(seeds).__name__} {seeds!r}")
    if seeds < 1:
        raise ValueError(f"`seeds` must be an integer >= 1, got {seeds}")
    return seeds


def check_mode(mode: Any) -> str:
    """Raises ValueError unless ``mode`` is one of :data:`MODES`."""
    if mode not in MODES:
        raise ValueError(f"`mode` must be one of {list(MODES)}, got {mode!r}")
    return mode


def plan_rows(names: Sequence[str], mode: str) -> list[Row]:
    """The rows of an ablation over the trick ``names`` (in order).

    ``cumulative``: baseline, +A, +A+B, ... (each row's gain is against the previous row, as
    in the Bag of Tricks paper). ``leave-one-out``: baseline, all, all − A, all − B, ...
    ("all" is compared with the baseline, each "all − X" with "all": a negative gain means
    X helped).

    Raises:
        ValueError: for an unknown mode, no tricks, or duplicate trick names.

    Example::

        >>> [r.label for r in plan_rows(["a", "b"], "cumulative")]
        ['baseline', '+ a', '+ b']
        >>> [(r.label, r.reference) for r in plan_rows(["a", "b"], "leave-one-out")]
        [('baseline', None), ('all', 0), ('all − a', 1), ('all − b', 1)]
    """
    check_mode(mode)
    if not names:
        raise ValueError("`tricks` must list at least one trick config, got none")
    dupes = sorted({n for n in names if list(names).count(n) > 1})
    if dupes:
        raise ValueError(
            f"trick names (file stems) must be unique, got {dupes} more than once; "
            "rename a copy of the file"
        )
    rows = [Row(0, "baseline", (), None)]
    if mode == "cumulative":
        for i, name in enumerate(names, start=1):
            rows.append(Row(i, f"+ {name}", tuple(names[:i]), i - 1))
    else:
        rows.append(Row(1, "all", tuple(names), 0))
        for i, name in enumerate(names, start=2):
            rows.append(Row(i, f"− {name}", tuple(n for n in names if n != name), 1))
        rows[2:] = [Row(r.index, f"all {r.label}", r.tricks, r.reference) for r in rows[2:]]
    return rows


# ---------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunResult:
    """The recorded outcome of one run (one row of ``results.csv``)."""

    row: int
    label: str
    tricks: tuple[str, ...]
    seed: int
    val_acc: float
    test_acc: float
    epochs: int
    steps: int
    wall_time_s: float
    fit_time_s: float
    time_per_step_ms: float

    def as_csv_row(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "label": self.label,
            "tricks": "+".join(self.tricks),
            "seed": self.seed,
            "val_acc": f"{self.val_acc:.6f}",
            "test_acc": f"{self.test_acc:.6f}",
            "epochs": self.epochs,
            "steps": self.steps,
            "wall_time_s": f"{self.wall_time_s:.2f}",
            "fit_time_s": f"{self.fit_time_s:.2f}",
            "time_per_step_ms": f"{self.time_per_step_ms:.3f}",
        }


def results_csv(results: Sequence[RunResult]) -> str:
    """``results.csv`` text: one line per run, rows in plan order then by seed."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(CSV_FIELDS), lineterminator="\n")
    writer.writeheader()
    for res in sorted(results, key=lambda r: (r.row, r.seed)):
        writer.writerow(res.as_csv_row())
    return buf.getvalue()


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    if not values:
        return math.nan, math.nan
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else math.nan
    return mean, std


@dataclass(frozen=True)
class RowSummary:
    """Mean ± sample std over the seeds of one row, and its gain over the reference row."""

    row: Row
    n: int
    val: tuple[float, float]
    test: tuple[float, float]
    gain: tuple[float, float] | None  # paired test-accuracy difference vs the reference row
    epochs: float
    steps: float
    time_per_step_ms: float
    fit_time_s: float
    wall_time_s: float
    seeds: tuple[int, ...] = field(default=())


def summarize(rows: Sequence[Row], results: Sequence[RunResult]) -> list[RowSummary]:
    """Aggregate per row; the gain is the mean ± std of per-seed paired differences of test
    accuracy against the reference row (seeds present in both rows), in fractions."""
    by_row: dict[int, dict[int, RunResult]] = {r.index: {} for r in rows}
    for res in results:
        if res.row in by_row:
            by_row[res.row][res.seed] = res
    out = []
    for row in rows:
        runs = by_row[row.index]
        vals = list(runs.values())
        gain = None
        if row.reference is not None and runs:
            ref = by_row[row.reference]
            common = sorted(set(runs) & set(ref))
            if common:
                gain = _mean_std([runs[s].test_acc - ref[s].test_acc for s in common])

        def med(attr: str, vals: list[RunResult] = vals) -> float:
            return statistics.median(getattr(v, attr) for v in vals) if vals else math.nan

        out.append(
            RowSummary(
                row=row,
                n=len(vals),
                val=_mean_std([v.val_acc for v in vals]),
                test=_mean_std([v.test_acc for v in vals]),
                gain=gain,
                epochs=med("epochs"),
                steps=med("steps"),
                time_per_step_ms=med("time_per_step_ms"),
                fit_time_s=med("fit_time_s"),
                wall_time_s=med("wall_time_s"),
                seeds=tuple(sorted(runs)),
            )
        )
    return out


def _pct(ms: tuple[float, float]) -> str:
    mean, std = ms
    if math.isnan(mean):
        return "—"
    if math.isnan(std):
        return f"{100 * mean:.1f}"
    return f"{100 * mean:.1f} ± {100 * std:.1f}"


def _signed_pct(ms: tuple[float, float] | None) -> str:
    if ms is None or math.isnan(ms[0]):
        return ""
    mean, std = ms
    text = f"{100 * mean:+.1f}"
    return text if math.isnan(std) else f"{text} ± {100 * std:.1f}"


def _num(value: float, fmt: str) -> str:
    return "—" if math.isnan(value) else format(value, fmt)


def results_markdown(
    summaries: Sequence[RowSummary],
    *,
    mode: str,
    evaluate: str,
    command: str | None = None,
    title: str | None = None,
) -> str:
    """``results.md``: the paper-style table (mean ± std per row and the gain column)."""
    ref_text = "the previous row" if mode == "cumulative" else "the baseline (for *all*) or *all*"
    seeds = sorted({s for summ in summaries for s in summ.seeds})
    lines = []
    if title:
        lines += [f"# {title}", ""]
    lines += [
        f"Mode: **{mode}** · seeds {', '.join(map(str, seeds)) or '—'} · accuracy of the "
        f"**{evaluate}** checkpoint{' (end of training)' if evaluate == 'last' else ' (ModelCheckpoint best)'}"
        " in %, mean ± sample std over seeds · Δ test: per-seed paired difference in "
        f"percentage points against {ref_text} · time per step: training-loop wall time "
        "(data, tricks, forward, backward, optimizer; validation excluded) per optimizer "
        "step · fit time: `trainer.fit` wall time; both medians over seeds.",
        "",
        "| # | Row | Val acc (%) | Test acc (%) | Δ test (pp) | Epochs | Steps | "
        "Time/step (ms) | Fit time (s) | Runs |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in summaries:
        lines.append(
            f"| {s.row.index} | {s.row.label} | {_pct(s.val)} | {_pct(s.test)} | "
            f"{_signed_pct(s.gain)} | {_num(s.epochs, '.0f')} | {_num(s.steps, '.0f')} | "
            f"{_num(s.time_per_step_ms, '.1f')} | {_num(s.fit_time_s, '.1f')} | {s.n} |"
        )
    if command:
        lines += ["", "Produced by:", "", "```bash", command, "```"]
    return "\n".join(lines) + "\n"


def plot_results(summaries: Sequence[RowSummary], path: str | Path, title: str = "") -> None:
    """``results.png``: val and test accuracy per row, bars = mean, error bars = std.

    Uses matplotlib's object API with the Agg canvas: no pyplot, no global backend change.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = [s.row.label for s in summaries]
    x = list(range(len(summaries)))
    width = 0.38

    def split(attr: str) -> tuple[list[float], list[float]]:
        means = [100 * getattr(s, attr)[0] for s in summaries]
        stds = [
            0.0 if math.isnan(getattr(s, attr)[1]) else 100 * getattr(s, attr)[1] for s in summaries
        ]
        return means, stds

    fig = Figure(figsize=(max(5.0, 1.1 * len(labels) + 2.0), 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    val_m, val_s = split("val")
    test_m, test_s = split("test")
    ax.bar(
        [i - width / 2 for i in x],
        val_m,
        width,
        yerr=val_s,
        capsize=3,
        label="val",
        color="#9ecae1",
    )
    ax.bar(
        [i + width / 2 for i in x],
        test_m,
        width,
        yerr=test_s,
        capsize=3,
        label="test",
        color="#3182bd",
    )
    for i, (m, s) in enumerate(zip(test_m, test_s)):
        if not math.isnan(m):
            ax.annotate(
                f"{m:.1f}",
                (i + width / 2, m + s),
                ha="center",
                va="bottom",
                fontsize=8,
                xytext=(0, 2),
                textcoords="offset points",
            )
    finite = [m - s for m, s in zip(val_m + test_m, val_s + test_s) if not math.isnan(m)]
    tops = [m + s for m, s in zip(val_m + test_m, val_s + test_s) if not math.isnan(m)]
    if finite:
        low = max(0.0, math.floor(min(finite) - 2.0))
        ax.set_ylim(low, min(100.0, max(tops) + 1.5) if max(tops) < 99 else 100.5)
        if low > 0:
            ax.set_ylabel(f"accuracy (%) — axis starts at {low:.0f}")
        else:
            ax.set_ylabel("accuracy (%)")
    ax.set_xticks(x, labels, rotation=20, ha="right")
    ax.legend(loc="lower right")
    ax.grid(axis="y", alpha=0.3)
    n = sorted({s.n for s in summaries})
    ax.set_title(title or f"ablation: mean ± std over {'/'.join(map(str, n))} seeds")
    fig.savefig(str(path), dpi=120)


# ---------------------------------------------------------------------------------------
# progress
# ---------------------------------------------------------------------------------------
def format_duration(seconds: float) -> str:
    """``75.4`` -> ``'1m15s'``, ``3725`` -> ``'1h02m05s'``, ``4.2`` -> ``'4s'``.

    Example::

        >>> format_duration(75.4), format_duration(3725), format_duration(4.2)
        ('1m15s', '1h02m05s', '4s')
    """
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def progress_text(
    *, total: int, earlier: int, done: int, running: int, failed: int, elapsed_s: float
) -> str:
    """One progress line: runs done / running / failed / waiting, elapsed, time left.

    ``earlier`` runs were finished by a previous invocation (skipped now); ``done`` and
    ``failed`` count the runs that ended in this one. The time left is the throughput so far
    (runs ended per second of elapsed time, parallelism included) applied to the runs not
    yet ended; it is unknown until a run ends.

    Example::

        >>> progress_text(total=15, earlier=3, done=4, running=2, failed=0, elapsed_s=100)
        'runs: 7/15 done (3 earlier) · 2 running · 0 failed · 6 waiting · 1m40s elapsed · ~3m20s left'
    """
    ended = done + failed
    left = max(0, total - earlier - ended)
    waiting = max(0, left - running)
    text = f"runs: {earlier + done}/{total} done"
    if earlier:
        text += f" ({earlier} earlier)"
    text += f" · {running} running · {failed} failed · {waiting} waiting"
    text += f" · {format_duration(elapsed_s)} elapsed"
    if left == 0:
        return text
    if ended == 0:
        return text + " · time left: after the first run"
    return text + f" · ~{format_duration(elapsed_s * left / ended)} left"
