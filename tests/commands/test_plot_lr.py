"""`lightning-tricks plot-lr`: the planned LRs equal the schedules, nothing is trained or written."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
import yaml
from torch.optim.lr_scheduler import CosineAnnealingLR

from lightning_tricks.cli import main as cli_main
from lightning_tricks.commands.plot_lr import plan_lr
from lightning_tricks.schedulers import GradualWarmup, warmup_cosine

# 10 classes x 8 images, batch 16 -> 5 batches per epoch
BASE = {
    "seed_everything": 0,
    "trainer": {"max_epochs": 3, "devices": 2, "callbacks": []},
    "model": {
        "class_path": "lightning_tricks.models.ImageClassifier",
        "init_args": {"backbone": "simple_cnn"},
    },
    "data": {
        "class_path": "lightning_tricks.data.DigitsDataModule",
        "init_args": {"batch_size": 16, "train_per_class": 8, "image_size": 16},
    },
}


def _write(path: Path, data: dict) -> str:
    path.write_text(yaml.safe_dump(data))
    return str(path)


def _read_csv(path: Path) -> tuple[list[str], list[list[float]]]:
    with open(path) as stream:
        rows = list(csv.reader(stream))
    return rows[0], [[float(v) for v in row] for row in rows[1:]]


def test_plot_lr_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    base = _write(tmp_path / "base.yaml", BASE | {
        "optimizer": {"class_path": "torch.optim.SGD", "init_args": {"lr": 0.1, "weight_decay": 1e-4}},
    })  # fmt: skip
    trick = _write(tmp_path / "trick.yaml", {"trainer": {"callbacks+": [
        {"class_path": "lightning_tricks.callbacks.WarmupCosine", "init_args": {"warmup_steps": 3}},
        {"class_path": "lightning_tricks.callbacks.NoBiasDecay"},
        {"class_path": "lightning_tricks.callbacks.LinearScalingRule", "init_args": {"base_batch_size": 32}},
        {"class_path": "lightning.pytorch.callbacks.ModelCheckpoint", "init_args": {"dirpath": "ckpts"}},
    ]}})  # fmt: skip
    argv = ["plot-lr", "--config", base, "--config", trick, "--out", "lr.png", "--csv", "lr.csv"]
    assert cli_main(argv) == 0
    out = capsys.readouterr().out
    assert "planned 15 optimizer steps over 3 epoch(s)" in out
    assert "the config asks for devices=2" in out
    assert (tmp_path / "lr.png").stat().st_size > 1000
    header, rows = _read_csv(tmp_path / "lr.csv")
    assert header == ["step", "epoch", "SGD/pg1 (wd=0.0001)", "SGD/pg2 (wd=0)"]
    assert [r[0] for r in rows] == list(range(15))
    assert [r[1] for r in rows] == [e for e in range(3) for _ in range(5)]
    peak = 0.1 * 16 / 32  # one CPU process: 16 x 1 device / 32
    expected = [warmup_cosine(t, peak, 15, 3) for t in range(15)]
    assert [r[2] for r in rows] == pytest.approx(expected, abs=1e-15)
    assert [r[3] for r in rows] == pytest.approx(expected, abs=1e-15)
    # nothing trained or written besides the outputs
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "base.yaml",
        "lr.csv",
        "lr.png",
        "trick.yaml",
    ]


def test_plot_lr_module_schedule_with_warmup_and_plateau(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.argv", ["lightning-tricks"])
    monkeypatch.chdir(tmp_path)
    # no optimizer in the config: ImageClassifier's own SGD + per-step cosine over the fit
    config = _write(tmp_path / "a.yaml", BASE | {"trainer": {"max_epochs": 3, "callbacks": [
        {"class_path": "lightning_tricks.callbacks.Warmup", "init_args": {"warmup_steps": 4}},
    ]}})  # fmt: skip
    plan = plan_lr(["--config", config])
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.05)
    ref = GradualWarmup(opt, 4, after_scheduler=CosineAnnealingLR(opt, T_max=15))
    expected = []
    for _ in range(15):
        expected.append(opt.param_groups[0]["lr"])
        opt.step()
        ref.step()
    assert plan.lrs["SGD/pg1 (wd=0.0005)"] == pytest.approx(expected, abs=1e-15)

    # a per-epoch ReduceLROnPlateau behind a warmup is drawn as if the metric always improved
    config = _write(tmp_path / "b.yaml", BASE | {
        "trainer": {"max_epochs": 3, "callbacks": [
            {"class_path": "lightning_tricks.callbacks.Warmup", "init_args": {"warmup_steps": 7}},
        ]},
        "optimizer": {"class_path": "torch.optim.SGD", "init_args": {"lr": 0.2}},
        "lr_scheduler": {"class_path": "lightning.pytorch.cli.ReduceLROnPlateau", "init_args": {"monitor": "val/loss", "patience": 0}},
    })  # fmt: skip
    plan = plan_lr(["--config", config, "--trainer.max_epochs=4"])
    (values,) = plan.lrs.values()
    assert len(values) == 20
    assert values == pytest.approx([0.2 * t / 7 for t in range(7)] + [0.2] * 13)
