"""`lightning-tricks ablate` end to end: real fits in subprocesses on a tiny digits config."""

from __future__ import annotations

import csv
import io
import json
import os
import time
from pathlib import Path

import pytest
import yaml

from lightning_tricks.cli import main as cli_main
from lightning_tricks.commands._ablation import Row, compose, load_yaml_mapping
from lightning_tricks.commands.ablate import _Progress, _Run, main

ROOT = Path(__file__).resolve().parents[2]
TRICKS = ROOT / "configs" / "tricks"

TINY_BASE = """
seed_everything: 0
trainer:
  accelerator: cpu
  devices: 1
  max_steps: 2
  limit_val_batches: 1
  limit_test_batches: 1
  num_sanity_val_steps: 0
  enable_progress_bar: false
  enable_model_summary: false
  logger:
    class_path: lightning.pytorch.loggers.CSVLogger
    init_args: {save_dir: should_be_moved, name: tiny}
  callbacks:
    - class_path: lightning.pytorch.callbacks.ModelCheckpoint
      init_args: {dirpath: should_be_moved_too, save_last: true}
model:
  class_path: lightning_tricks.models.ImageClassifier
  init_args: {backbone: simple_cnn}
data:
  class_path: lightning_tricks.data.DigitsDataModule
  init_args: {image_size: 8, train_per_class: 2, batch_size: 16}
optimizer:
  class_path: torch.optim.SGD
  init_args: {lr: 0.05, momentum: 0.9}
"""


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # relative paths of a run stay inside tmp_path
    (tmp_path / "base.yaml").write_text(TINY_BASE)
    (tmp_path / "ablation.yaml").write_text(
        yaml.safe_dump(
            {
                "base": "base.yaml",
                "tricks": [str(TRICKS / "label_smoothing.yaml"), str(TRICKS / "mixup.yaml")],
                "mode": "cumulative",
                "seeds": 3,  # overridden by --seeds 2 below
                "seed_keys": ["data.init_args.seed"],
                "out": "out",
                "title": "tiny",
            }
        )
    )
    return tmp_path


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_ablate_runs_every_row_and_seed_then_resumes(
    tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "--config",
        "ablation.yaml",
        "--seeds",
        "2",
        "--jobs",
        "2",
        "--env",
        "OMP_NUM_THREADS=1",
    ]
    argv += ["--", "--trainer.limit_test_batches=2"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    progress = sorted(line for line in out.splitlines() if line.startswith("["))  # 2 at a time
    assert len(progress) == 6 and progress[0].startswith("[1/6] baseline · seed 0 · val ")
    assert progress[-1].startswith("[6/6] + mixup · seed 1 · val ")

    outdir = tiny / "out"
    rows = _rows(outdir / "results.csv")
    assert [(r["row"], r["label"], r["tricks"], r["seed"]) for r in rows] == [
        ("0", "baseline", "", "0"),
        ("0", "baseline", "", "1"),
        ("1", "+ label_smoothing", "label_smoothing", "0"),
        ("1", "+ label_smoothing", "label_smoothing", "1"),
        ("2", "+ mixup", "label_smoothing+mixup", "0"),
        ("2", "+ mixup", "label_smoothing+mixup", "1"),
    ]
    for r in rows:
        assert 0.0 <= float(r["val_acc"]) <= 1.0 and 0.0 <= float(r["test_acc"]) <= 1.0
        assert r["steps"] == "2" and int(r["epochs"]) >= 1
        assert float(r["wall_time_s"]) > float(r["fit_time_s"]) > 0
        assert float(r["time_per_step_ms"]) > 0
    md = (outdir / "results.md").read_text()
    table = [line for line in md.splitlines() if line.startswith("| ")]
    assert len(table) == 1 + 3 and md.startswith("# tiny")
    assert table[1].startswith("| 0 | baseline |") and table[3].startswith("| 2 | + mixup |")
    assert table[2].split("|")[5].strip().startswith(("+", "-"))  # gain over the baseline
    assert f"```bash\nlightning-tricks ablate {' '.join(argv)}\n```" in md
    assert (outdir / "results.png").read_bytes()[:4] == b"\x89PNG"

    # the composed config of the last row: callbacks concatenated, seed set, paths moved
    run = outdir / "runs" / "02_plus_mixup" / "seed_1"
    cfg = yaml.safe_load((run / "composed.yaml").read_text())
    assert [c["class_path"] for c in cfg["trainer"]["callbacks"]] == [
        "lightning.pytorch.callbacks.ModelCheckpoint",
        "lightning_tricks.callbacks.LabelSmoothing",
        "lightning_tricks.callbacks.MixUp",
    ]
    assert cfg["seed_everything"] == 1 and cfg["data"]["init_args"]["seed"] == 1
    assert cfg["trainer"]["logger"]["init_args"]["save_dir"] == str(run.relative_to(tiny))
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert not (tiny / "should_be_moved").exists() and not (tiny / "should_be_moved_too").exists()
    command = (run / "command.txt").read_text()
    assert command.startswith("OMP_NUM_THREADS=1 lightning-tricks fit --config ")
    assert command.endswith("--trainer.limit_test_batches=2\n")
    assert json.loads((run / "result.json").read_text())["torch_threads"] == 1
    # Lightning's own SaveConfigCallback wrote the fully resolved config of the same run
    resolved = yaml.safe_load(next(run.rglob("config.yaml")).read_text())
    assert resolved["trainer"]["limit_test_batches"] == 2

    # "kill" the ablation: the last run never finished (its done marker is missing) and one
    # finished run is outdated (its config hash no longer matches)
    logs = {p: p.stat().st_mtime_ns for p in (outdir / "runs").rglob("log.txt")}
    (run / "result.json").unlink()
    stale = outdir / "runs" / "01_plus_label_smoothing" / "seed_0" / "result.json"
    record = json.loads(stale.read_text())
    stale.write_text(json.dumps({**record, "hash": "0" * 16}))
    (outdir / "results.md").unlink()
    assert main(argv) == 0
    out = capsys.readouterr().out
    progress = sorted(line for line in out.splitlines() if line.startswith("["))
    skipped = [line for line in progress if "done earlier, skipped" in line]
    assert len(progress) == 6 and len(skipped) == 4
    assert "[3/6] + label_smoothing · seed 0 · val" in progress[2] and "skipped" not in progress[2]
    assert "skipped" not in progress[5]
    rerun = {stale.parent / "log.txt", run / "log.txt"}
    for path, mtime in logs.items():
        if path in rerun:
            assert path.stat().st_mtime_ns > mtime
        else:
            assert path.stat().st_mtime_ns == mtime, f"{path} was run again"
    assert len(_rows(outdir / "results.csv")) == 6 and (outdir / "results.md").is_file()


@pytest.mark.slow
def test_failed_run_reports_its_log_and_the_others_go_on(
    tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tiny / "broken.yaml").write_text(
        "trainer:\n  callbacks+:\n    - class_path: lightning_tricks.callbacks.MixUp\n"
        "      init_args: {alpha: -1.0}\n"
    )
    argv = ["--base", "base.yaml", "--tricks", "broken.yaml", "--seeds", "1", "--out", "o"]
    assert main([*argv, "--jobs", "2"]) == 1  # row 1 fails; the baseline runs
    captured = capsys.readouterr()
    assert "[1/2] baseline · seed 0 · val " in captured.out
    assert (
        "[2/2] + broken · seed 0 · FAILED: run o/runs/01_plus_broken/seed_0 failed (exit code"
        in (captured.err)
    )
    assert "`alpha` must be a finite float in (0, inf)" in captured.err  # the end of the run's log
    assert "its log is o/runs/01_plus_broken/seed_0/log.txt" in captured.err
    assert "error: 1 of 2 runs failed (logs: o/runs/01_plus_broken/seed_0/log.txt); " in (
        captured.err
    )
    assert "runs: 1/2 done · 0 running · 1 failed · 0 waiting" in captured.err
    assert not (tiny / "o" / "runs" / "01_plus_broken" / "seed_0" / "result.json").exists()
    rows = _rows(tiny / "o" / "results.csv")
    assert [(r["label"], r["seed"]) for r in rows] == [("baseline", "0")]
    assert not (tiny / "o" / "results.md").exists()  # no table while runs are missing


def _err(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    return capsys.readouterr().err


def test_bad_input_gets_a_clear_error(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ls = str(TRICKS / "label_smoothing.yaml")
    base = ["--base", "base.yaml", "--out", "o"]
    err = _err([*base, "--tricks", "nope.yaml"], capsys)
    assert "error: trick file 'nope.yaml' not found" in err
    (tiny / "bad.yaml").write_text("trainer:\n  callbacks+: [\n    - oops\n")
    err = _err([*base, "--tricks", ls, "bad.yaml"], capsys)
    assert "trick file 'bad.yaml' is not valid YAML" in err and '"bad.yaml", line' in err
    assert "`seeds` must be an integer >= 1, got 0" in _err(
        [*base, "--tricks", ls, "--seeds", "0"], capsys
    )
    assert "got -3" in _err([*base, "--tricks", ls, "--seeds", "-3"], capsys)
    err = _err([*base, "--tricks", ls, "--mode", "greedy"], capsys)
    assert "`mode` must be one of ['cumulative', 'leave-one-out'], got 'greedy'" in err
    assert "`evaluate` must be one of" in _err([*base, "--tricks", ls, "--evaluate", "x"], capsys)
    assert "`tricks` must list at least one" in _err(base, capsys)
    assert "no base config" in _err(["--tricks", ls], capsys)
    assert "base config 'b.yaml' not found" in _err(["--base", "b.yaml", "--tricks", ls], capsys)
    assert "ablation file 'x.yaml' not found" in _err(["--config", "x.yaml"], capsys)
    (tiny / "abl.yaml").write_text("base: base.yaml\ntricks: [a.yaml]\nseed: 3\n")
    assert "unknown keys ['seed']" in _err(["--config", "abl.yaml"], capsys)
    (tiny / "abl.yaml").write_text("base: base.yaml\ntricks: a.yaml\n")
    assert "`tricks` must be a list of strings" in _err(["--config", "abl.yaml"], capsys)
    assert "`jobs` must be an integer >= 1, got 0" in _err(
        [*base, "--tricks", ls, "--jobs", "0"], capsys
    )
    assert "`--env` takes NAME=VALUE pairs, got ['X']" in _err(
        [*base, "--tricks", ls, "--env", "X"], capsys
    )
    dup = ["--tricks", ls, ls]
    assert "unique, got ['label_smoothing']" in _err([*base, *dup], capsys)
    assert not (tiny / "o" / "runs").exists()  # nothing ran


def test_dry_run_leave_one_out_writes_configs_that_the_cli_accepts(
    tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tricks = [str(TRICKS / f"{n}.yaml") for n in ("label_smoothing", "mixup", "cutout", "cutmix")]
    argv = ["--base", "base.yaml", "--tricks", *tricks, "--mode", "leave-one-out", "--out", "o"]
    assert main([*argv, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "6 rows × 3 seeds = 18 runs (leave-one-out)" in out
    configs = sorted((tiny / "o" / "configs").glob("*.yaml"))
    assert [p.stem for p in configs] == [
        "00_baseline",
        "01_all",
        "02_all_minus_label_smoothing",
        "03_all_minus_mixup",
        "04_all_minus_cutout",
        "05_all_minus_cutmix",
    ]
    cfg = yaml.safe_load(configs[3].read_text())
    names = [c["class_path"].rsplit(".", 1)[1] for c in cfg["trainer"]["callbacks"]]
    assert names == ["ModelCheckpoint", "LabelSmoothing", "Cutout", "CutMix"]
    assert not (tiny / "o" / "runs").exists()
    # every composed config parses and type-checks in the project's CLI
    with pytest.raises(SystemExit) as exc:
        cli_main(["fit", "--config", str(configs[1]), "--print_config"])
    assert exc.value.code == 0
    resolved = yaml.safe_load(capsys.readouterr().out)
    assert len(resolved["trainer"]["callbacks"]) == 5
    assert os.environ.get("LIGHTNING_TRICKS_ABLATION_RESULT") is None


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def _run(index: int) -> _Run:
    row = Row(0, "baseline", (), None)
    return _Run(row, index, {}, "", Path(f"o/runs/00_baseline/seed_{index}"), f"[{index}]")


@pytest.mark.parametrize("tty", [True, False])
def test_progress_display(tty: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_Progress, "every_s", 0.05)  # plain lines every 50 ms here
    stream, printed = _Stream(tty), []
    with _Progress(total=3, earlier=1, out=printed.append, stream=stream) as progress:
        progress.started(_run(1))
        progress.started(_run(2))
        time.sleep(0.7)  # the display refreshes twice a second on a terminal
        progress.ended(_run(1), ok=True)
        progress.say("[1] a result line")
        progress.ended(_run(2), ok=False)
    text = stream.getvalue()
    assert printed == ["[1] a result line"]  # result lines go to `out`, the display to stream
    running = "runs: 1/3 done (1 earlier) · 2 running · 0 failed · 0 waiting · "
    final = "runs: 2/3 done (1 earlier) · 0 running · 1 failed · 0 waiting · "
    assert running in text and text.rstrip("\n").rsplit("\n", 1)[-1].split("\r\x1b[K")[
        -1
    ].startswith(final)
    if tty:  # one line rewritten in place, cleared before the final plain line
        assert text.count("\n") == 1 and text.count("\r\x1b[K" + running) >= 1
    else:  # plain lines only
        assert "\r" not in text and "\x1b" not in text and text.count("\n") >= 2


def test_composition_agrees_with_lightningcli_repeated_configs(
    tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """For the shipped snippets (they append with `callbacks+:`) the runner's merger gives
    exactly what `fit --config base.yaml --config trick.yaml ...` gives. The merger stays
    because it also concatenates a bare `callbacks:` list, which jsonargparse replaces (the
    base's ModelCheckpoint would silently go), and because a run's single composed config is
    what its hash, `command.txt` and resume are built on."""

    def resolved(*configs: Path) -> dict:
        args = ["fit"]
        for config in configs:
            args += ["--config", str(config)]
        with pytest.raises(SystemExit) as exc:
            cli_main([*args, "--print_config"])
        assert exc.value.code == 0
        return yaml.safe_load(capsys.readouterr().out)

    def composed(*tricks: Path) -> Path:
        snippets = [load_yaml_mapping(t, "trick file") for t in tricks]
        cfg = compose(load_yaml_mapping(tiny / "base.yaml", "base config"), snippets)
        path = tiny / f"composed_{len(tricks)}.yaml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        return path

    names = ("warmup_cosine", "label_smoothing", "random_crop", "mixup", "distill")
    tricks = [TRICKS / f"{n}.yaml" for n in names]
    ours = resolved(composed(*tricks))
    assert ours == resolved(tiny / "base.yaml", *tricks)
    assert ours["model"]["class_path"] == "lightning_tricks.models.DistillationModule"
    assert len(ours["trainer"]["callbacks"]) == 5  # ModelCheckpoint + 4 tricks

    bare = tiny / "bare.yaml"
    bare.write_text("trainer:\n  callbacks:\n    - class_path: lightning_tricks.callbacks.MixUp\n")

    def names_of(cfg: dict) -> list[str]:
        return [c["class_path"].rsplit(".", 1)[1] for c in cfg["trainer"]["callbacks"]]

    assert names_of(resolved(composed(bare))) == ["ModelCheckpoint", "MixUp"]
    assert names_of(resolved(tiny / "base.yaml", bare)) == ["MixUp"]
