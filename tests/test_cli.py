"""The `lightning-tricks` console script (LightningCLI subclass) end to end."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lightning_tricks.cli import main

ROOT = Path(__file__).resolve().parents[1]
DIGITS = str(ROOT / "configs" / "digits.yaml")


def _quiet(tmp_path: Path) -> list[str]:
    return [
        f"--trainer.default_root_dir={tmp_path}",
        f"--trainer.logger.init_args.save_dir={tmp_path}",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        "--data.init_args.image_size=16",
        "--data.init_args.train_per_class=5",
    ]


def test_fit_fast_dev_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "--config", DIGITS, "--trainer.fast_dev_run=true", *_quiet(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "final validation accuracy:" in out


def test_print_config_links_data_to_model(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["fit", "--config", DIGITS, "--print_config"])
    assert exc.value.code == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["model"]["class_path"] == "lightning_tricks.models.ImageClassifier"
    assert cfg["data"]["class_path"] == "lightning_tricks.data.DigitsDataModule"
    assert cfg["optimizer"]["class_path"] == "torch.optim.SGD"


def test_fit_then_validate_test_predict_with_added_callback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "--config",
        DIGITS,
        *_quiet(tmp_path),
        "--trainer.max_epochs=1",
        "--trainer.limit_val_batches=2",
        "--trainer.callbacks+=lightning.pytorch.callbacks.EarlyStopping",
        "--trainer.callbacks.monitor=val/loss",
    ]
    assert main(["fit", *args]) == 0
    out = capsys.readouterr().out
    assert "best checkpoint:" in out and "logs:" in out
    ckpts = sorted(tmp_path.rglob("last.ckpt"))
    assert ckpts, "ModelCheckpoint(save_last=True) wrote no last.ckpt"
    ckpt = str(ckpts[0])
    base = [
        "--config",
        DIGITS,
        *_quiet(tmp_path),
        "--trainer.limit_val_batches=2",
        "--trainer.limit_test_batches=2",
        "--trainer.limit_predict_batches=1",
    ]
    assert main(["validate", *base, f"--ckpt_path={ckpt}"]) == 0
    assert main(["test", *base, f"--ckpt_path={ckpt}"]) == 0
    assert main(["predict", *base, f"--ckpt_path={ckpt}"]) == 0


def test_unknown_backbone_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown `backbone` 'nope'"):
        main(
            [
                "fit",
                "--config",
                DIGITS,
                *_quiet(tmp_path),
                "--model.init_args.backbone=nope",
                "--trainer.fast_dev_run=true",
            ]
        )


def test_console_script_is_installed() -> None:
    exe = shutil.which("lightning-tricks") or str(Path(sys.executable).parent / "lightning-tricks")
    proc = subprocess.run([exe, "fit", "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "--trainer.callbacks" in proc.stdout and "--optimizer" in proc.stdout


def test_cifar10_recipe_instantiates_without_download(tmp_path: Path) -> None:
    from torchvision.transforms import v2

    from lightning_tricks.cli import TricksCLI
    from lightning_tricks.data import CIFAR10DataModule

    cli = TricksCLI(
        args=[
            "--config",
            str(ROOT / "configs" / "cifar10_resnet.yaml"),
            f"--data.init_args.root={tmp_path}",
            "--trainer.accelerator=cpu",
            "--trainer.precision=32-true",
        ],
        run=False,
    )
    assert isinstance(cli.datamodule, CIFAR10DataModule)
    assert isinstance(cli.datamodule.user_train_transforms, v2.Compose)
    assert cli.model.hparams.backbone == "cifar_resnet56"
    assert cli.model.hparams.num_classes == 10 and cli.model.hparams.in_channels == 3
    assert not any(tmp_path.iterdir())  # nothing downloaded before prepare_data
