"""`lightning-tricks ablate --launcher ray`: same results as the local launcher, resume after
a killed driver, failures reported, no Ray process left behind (also after Ctrl-C).

Every Ray sweep runs as a subprocess (`python -m lightning_tricks.cli ablate ...`), as a user
runs it, so Ray's global state never enters the test process; each starts a local Ray
instance with 2 CPUs (a few seconds).
"""

from __future__ import annotations

import contextlib
import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from lightning_tricks.commands.ablate import main

from .test_ablate import TINY_BASE, TRICKS

pytest.importorskip("ray")
pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads the process table from /proc"
)

LS = str(TRICKS / "label_smoothing.yaml")
BROKEN = """# a trick whose callback rejects its argument: every run of its row fails
trainer:
  callbacks+:
    - class_path: lightning_tricks.callbacks.MixUp
      init_args: {alpha: -1.0}
"""
COMPARED = ("row", "label", "tricks", "seed", "val_acc", "test_acc", "epochs", "steps")


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "base.yaml").write_text(TINY_BASE)
    (tmp_path / "broken.yaml").write_text(BROKEN)
    return tmp_path


def _argv(out: str, *tricks: str) -> list[str]:
    return [
        "--base",
        "base.yaml",
        "--tricks",
        *tricks,
        "--seeds",
        "2",
        "--seed-keys",
        "data.init_args.seed",
        "--env",
        "OMP_NUM_THREADS=1",
        "--out",
        out,
    ]


def _ablate(cwd: Path, argv: list[str], log: str) -> subprocess.Popen:
    """The command as a user runs it, in a session of its own (like a terminal job)."""
    with open(cwd / f"{log}.out", "w") as out, open(cwd / f"{log}.err", "w") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "lightning_tricks.cli", "ablate", *argv],
            cwd=cwd,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )


def _processes() -> dict[int, tuple[str, str]]:
    """pid -> (command line, working directory) of every live process we may inspect."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if cmd:  # a zombie has no command line
            table[int(entry.name)] = (cmd, cwd)
    return table


def _is_ray(cmd: str) -> bool:
    """Ray's own processes: gcs_server, raylet, dashboard, monitors, agents, workers."""
    return cmd.startswith("ray::") or any("site-packages/ray/" in t for t in cmd.split()[:2])


#: Ray's agents of a node, which outlive a SIGKILLed driver by a minute or two (see below)
AGENTS = ("ray::DashboardAgent", "ray::RuntimeEnvAgent")


def _survivors(before: set[int], cwd: Path, agents: bool = True) -> dict[int, str]:
    """Ray processes started since ``before`` and fit processes working in ``cwd``."""
    out = {}
    for pid, (cmd, where) in _processes().items():
        mine = pid not in before and _is_ray(cmd) and (agents or not cmd.startswith(AGENTS))
        fit = "_ablation_worker" in cmd and Path(where) == cwd
        if mine or fit:
            out[pid] = cmd[:160]
    return out


def _wait_for(condition: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _assert_nothing_left(
    before: set[int], cwd: Path, agents: bool = True, timeout: float = 30.0
) -> None:
    deadline = time.monotonic() + timeout
    while (left := _survivors(before, cwd, agents)) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert not left, f"processes left behind: {left}"


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_import_does_not_import_ray() -> None:
    code = (
        "import sys, lightning_tricks.commands.ablate, lightning_tricks.cli; "
        "print('ray' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


@pytest.mark.slow
def test_ray_gives_the_local_results_and_reports_a_failed_run(
    tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = set(_processes())
    # the local launcher: 2 rows × 2 seeds, two at a time
    assert main([*_argv("local", LS), "--jobs", "2"]) == 0
    capsys.readouterr()
    # Ray: the same rows plus one that fails; the failure is reported, the rest complete
    proc = _ablate(tiny, [*_argv("ray", LS, "broken.yaml"), "--launcher", "ray"], "ray")
    assert proc.wait(timeout=300) == 1
    out, err = (tiny / "ray.out").read_text(), (tiny / "ray.err").read_text()
    assert "ray: started a local instance (2 CPUs, 0 GPUs; session " in out
    for seed in (0, 1):
        run = f"ray/runs/02_plus_broken/seed_{seed}"
        assert f"+ broken · seed {seed} · FAILED: run {run} failed (exit code 1)" in err
        assert f"its log is {run}/log.txt" in err
        assert not (tiny / run / "result.json").exists()
    assert "`alpha` must be a finite float in (0, inf)" in err  # the end of the failed run's log
    assert "error: 2 of 6 runs failed (logs: ray/runs/02_plus_broken/seed_0/log.txt;" in err
    assert "runs: 4/6 done · 0 running · 2 failed · 0 waiting" in err  # the last progress line
    assert not (tiny / "ray" / "results.md").exists()  # no table while runs are missing

    local = [{k: r[k] for k in COMPARED} for r in _rows(tiny / "local" / "results.csv")]
    ray = [{k: r[k] for k in COMPARED} for r in _rows(tiny / "ray" / "results.csv")]
    assert len(local) == 4 and ray == local  # same runs, bit-identical metrics
    assert len({r["test_acc"] for r in local}) > 1  # the seeds did differ
    # the same folder layout and the same composed configs (up to the folder name)
    for path in (tiny / "local" / "runs").rglob("*"):
        twin = tiny / "ray" / path.relative_to(tiny / "local")
        assert twin.exists(), twin
        if path.name in ("composed.yaml", "command.txt"):
            assert twin.read_text() == path.read_text().replace("local/", "ray/")
    _assert_nothing_left(before, tiny)


@pytest.mark.slow
def test_killed_driver_and_ctrl_c_then_rerun_redoes_only_unfinished_runs(tiny: Path) -> None:
    before = set(_processes())
    argv = [*_argv("o", LS), "--launcher", "ray"]
    runs = tiny / "o" / "runs"

    # 1. SIGKILL the driver once a run has finished: the fits, Ray's workers, raylet and GCS
    # die with it at once. (Ray's two agents of that instance notice their raylet's death
    # and exit on their own a minute or two later, after trying to report it to the dead
    # GCS: Ray's behaviour, not waited for here.)
    proc = _ablate(tiny, argv, "kill")
    _wait_for(lambda: list(runs.rglob("result.json")), 240, "a first result.json")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    _assert_nothing_left(before, tiny, agents=False)
    agents = set(_survivors(before, tiny))  # only those two can be left: ignored from now on
    before |= agents
    finished = {p: p.stat().st_mtime_ns for p in runs.rglob("result.json")}
    logs = {p.with_name("log.txt"): p.with_name("log.txt").stat().st_mtime_ns for p in finished}
    assert 1 <= len(finished) < 4

    # 2. Ctrl-C (SIGINT to the job's process group) while a rerun is fitting
    start = time.time()
    proc = _ablate(tiny, argv, "int")

    def refitting() -> bool:
        return any(p.stat().st_mtime > start for p in runs.rglob("command.txt"))

    _wait_for(refitting, 120, "a run to start again")
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    err = (tiny / "int.err").read_text()
    assert "interrupted; the running fits were stopped" in err
    assert "Traceback" not in err
    _assert_nothing_left(before, tiny)

    # 3. the same command again finishes the sweep without redoing a finished run
    proc = _ablate(tiny, argv, "rerun")
    assert proc.wait(timeout=300) == 0, (tiny / "rerun.err").read_text()
    out = (tiny / "rerun.out").read_text()
    assert out.count("done earlier, skipped") == len(finished)
    assert len(_rows(tiny / "o" / "results.csv")) == 4 and (tiny / "o" / "results.md").is_file()
    for path, mtime in {**finished, **logs}.items():
        assert path.stat().st_mtime_ns == mtime, f"{path} was redone"
    _assert_nothing_left(before, tiny)
    for pid in agents:  # the agents of step 1, if they are still there
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_a_run_larger_than_the_local_ray_instance_is_refused(tiny: Path) -> None:
    before = set(_processes())
    proc = _ablate(tiny, [*_argv("o", LS), "--launcher", "ray", "--gpus-per-run", "1"], "gpu")
    assert proc.wait(timeout=120) == 2
    err = (tiny / "gpu.err").read_text()
    assert (
        "error: `--gpus-per-run 1` asks for more GPUs than the Ray instance started on this "
        "machine has (0)" in err
    )
    assert not (tiny / "o" / "runs").exists()
    _assert_nothing_left(before, tiny)


def test_ray_settings_are_validated(
    tiny: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    base = ["--base", "base.yaml", "--tricks", LS, "--out", "o"]
    cases = {
        ("--launcher", "slurm"): "`launcher` must be one of ['local', 'ray'], got 'slurm'",
        ("--cpus-per-run", "0"): "`cpus_per_run` must be a number > 0, got 0.0",
        ("--gpus-per-run", "-1"): "`gpus_per_run` must be a number >= 0, got -1.0",
    }
    for flags, message in cases.items():
        assert main([*base, *flags]) == 2
        assert message in capsys.readouterr().err
    (tiny / "abl.yaml").write_text(
        yaml.safe_dump({"base": "base.yaml", "tricks": [LS], "cpus_per_run": "2"})
    )
    assert main(["--config", "abl.yaml"]) == 2
    assert "`cpus_per_run` must be a number > 0, got '2'" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    assert main([*base, "--launcher", "ray"]) == 2
    err = capsys.readouterr().err
    assert (
        '`--launcher ray` needs Ray, which is not installed: pip install "lightning-tricks[ray]"'
        in err
    )
    assert not (tiny / "o").exists()
