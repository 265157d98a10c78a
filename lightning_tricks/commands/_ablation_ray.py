"""The Ray launcher of ``lightning-tricks ablate`` (``--launcher ray``).

Each (row, seed) run is one Ray task that does exactly what the local launcher does for it
(:func:`.ablate._execute`): it starts the same worker command, with the same arguments, in
the working directory of the ``ablate`` command, and writes the same files into the run's
folder. Ray only decides where and when: a task reserves ``--cpus-per-run`` CPUs and
``--gpus-per-run`` GPUs, so a cluster runs as many at a time as its resources allow (Ray
sets each task's ``CUDA_VISIBLE_DEVICES`` and ``OMP_NUM_THREADS``).

* No address (``--ray-address`` or ``RAY_ADDRESS``): a Ray instance is started on this
  machine for the command (small object store, no dashboard, usage stats off) and shut down
  at the end, also on Ctrl-C or SIGTERM (``ray.init`` makes SIGTERM raise ``SystemExit``).
* An address: the command connects to that cluster as a driver and disconnects at the end.
  The working directory and ``--out`` must be on a file system that every node mounts at
  the same path, and every node needs the same Python environment (lightning-tricks
  installed).
* Ctrl-C cancels the tasks: each ends its fit's whole process group. A Ray worker that dies
  (driver killed, node lost) takes its fit with it (``_ablation_worker``); Ray retries a
  task whose worker or node died up to :data:`MAX_RETRIES` times, and the rerun starts the
  run from scratch. A run that fails is reported with its log; the others go on.

Ray is imported only here, and this module only when the Ray launcher is used.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .ablate import Settings, _Events, _Run

__all__: list[str] = []

#: object store of a Ray instance started by the command: results are a few numbers
OBJECT_STORE_BYTES = 100 * 1024**2
#: how often Ray reruns a task whose worker process or node died
MAX_RETRIES = 3
#: environment of the command (and so of a Ray instance it starts): no usage reporting
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0"}


def _task(run: _Run, settings: Settings, cwd: str) -> tuple[str, Any]:
    """Body of a run's Ray task: ``("ok", RunResult)`` or ``("failed", message)``."""
    from .ablate import _execute

    if not os.path.isdir(cwd):
        return "failed", (
            f"run {run.run_dir} cannot start on node {socket.gethostname()}: the working "
            f"directory of the command, {cwd}, does not exist there. The Ray launcher needs it "
            "(and --out) on a file system that every node mounts at the same path"
        )
    try:
        return "ok", _execute(run, settings, cwd=cwd, own_session=True)
    except RuntimeError as err:
        return "failed", str(err)


def _started(run: _Run, cwd: Path, since: float) -> bool:
    """Has the run's task begun? (It rewrites ``command.txt`` first; shared file system.)"""
    try:
        return (cwd / run.run_dir / "command.txt").stat().st_mtime >= since
    except OSError:
        return False


def _check_resources(ray: Any, settings: Settings, own: bool, warn: Callable[[str], None]) -> None:
    """A run that asks for more than any node has would wait forever: fail or warn now."""
    available = ray.cluster_resources()
    for flag, key, need in (
        ("--cpus-per-run", "CPU", settings.cpus_per_run),
        ("--gpus-per-run", "GPU", settings.gpus_per_run),
    ):
        have = float(available.get(key, 0.0))
        if need > have:
            where = "the Ray instance started on this machine" if own else "the Ray cluster"
            message = (
                f"`{flag} {need:g}` asks for more {key}s than {where} has ({have:g}); lower {flag}"
            )
            if own:
                raise ValueError(message + " or pass --jobs / run on a cluster (--ray-address)")
            warn(f"warning: {message}, or add nodes (runs wait until a node fits)")


def run_on_ray(pending: list[_Run], settings: Settings, events: _Events) -> None:
    """Run ``pending`` as Ray tasks; report each start / result / failure to ``events``.

    Raises:
        ValueError: a run asks for more CPUs or GPUs than the Ray instance started here has.
        KeyboardInterrupt: on Ctrl-C, after the tasks were cancelled (``SystemExit`` on
            SIGTERM).
    """
    for key, value in RAY_ENV.items():
        os.environ.setdefault(key, value)
    import ray

    address = settings.ray_address or os.environ.get("RAY_ADDRESS") or None
    own = address is None
    say = events.progress.say
    try:
        if own:
            cpus = math.ceil(settings.jobs * settings.cpus_per_run) if settings.jobs else None
            ray.init(
                address="local",
                num_cpus=cpus,
                object_store_memory=OBJECT_STORE_BYTES,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
        else:
            if settings.jobs is not None:
                say("note: `jobs` is ignored on a Ray cluster (resources per run decide)")
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
        resources = ray.cluster_resources()
        say(
            f"ray: {'started a local instance' if own else f'connected to {address}'} "
            f"({resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs; session "
            f"{_session_dir(ray)}); a run reserves {settings.cpus_per_run:g} CPUs, "
            f"{settings.gpus_per_run:g} GPUs"
        )
        _check_resources(ray, settings, own, lambda line: say(line, error=True))
        _schedule(ray, pending, settings, events)
    finally:
        ray.shutdown()


def _session_dir(ray: Any) -> str:
    try:  # no public accessor; only for the message
        return str(ray._private.worker.global_worker.node.get_session_dir_path())
    except Exception:
        return "?"


def _schedule(ray: Any, pending: list[_Run], settings: Settings, events: _Events) -> None:
    task = ray.remote(_task)
    options = {
        "num_cpus": settings.cpus_per_run,
        "num_gpus": settings.gpus_per_run,
        "max_retries": MAX_RETRIES,
        "retry_exceptions": False,
    }
    cwd = Path.cwd()
    since = time.time() - 2.0  # a little slack for the clock of a file server
    waiting = {
        task.options(**options, name=f"ablate {run.run_dir}").remote(run, settings, str(cwd)): run
        for run in pending
    }
    started: set[Path] = set()
    next_look = 0.0
    try:
        while waiting:
            ready, _ = ray.wait(list(waiting), num_returns=1, timeout=0.5)
            for ref in ready:
                run = waiting.pop(ref)
                if run.run_dir not in started:
                    events.started(run)
                try:
                    status, payload = ray.get(ref)
                except ray.exceptions.RayTaskError as err:  # the task itself raised
                    status, payload = (
                        "failed",
                        (
                            f"run {run.run_dir} failed in its Ray task: {err}; its log is "
                            f"{run.run_dir / 'log.txt'}"
                        ),
                    )
                except ray.exceptions.RayError as err:  # worker / node lost more than retried
                    first = (str(err).strip().splitlines() or [""])[0]
                    status, payload = (
                        "failed",
                        (
                            f"run {run.run_dir} was lost by Ray ({type(err).__name__}: {first}); "
                            f"its log is {run.run_dir / 'log.txt'}"
                        ),
                    )
                if status == "ok":
                    events.finished(run, payload)
                else:
                    events.failed(run, payload)
            if time.monotonic() >= next_look:  # a few stat() calls on a shared file system
                next_look = time.monotonic() + 2.0
                for run in waiting.values():
                    if run.run_dir not in started and _started(run, cwd, since):
                        started.add(run.run_dir)
                        events.started(run)
    except BaseException:
        _cancel(ray, list(waiting))
        raise


def _cancel(ray: Any, refs: list[Any]) -> None:
    """Cancel tasks: a running one gets KeyboardInterrupt and ends its fit's process group."""
    # errors: a task already finished, or Ray is going down (Ctrl-C reached it too)
    for ref in refs:
        with contextlib.suppress(Exception):
            ray.cancel(ref, force=False)
    if refs:
        with contextlib.suppress(Exception):
            ray.wait(refs, num_returns=len(refs), timeout=15.0)
