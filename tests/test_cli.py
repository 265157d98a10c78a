"""The `lightning-tricks` console script (LightningCLI subclass) end to end."""

from __future__ import annotations

import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from lightning_tricks.cli import DEBUG_ENV_VARS, TricksCLI, main

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


def test_unknown_backbone_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    args = [
        "fit",
        "--config",
        DIGITS,
        *_quiet(tmp_path),
        "--model.init_args.backbone=nope",
        "--trainer.fast_dev_run=true",
    ]
    for var in DEBUG_ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "lightning-tricks: error: unknown `backbone` 'nope'" in err
    assert "Traceback" not in err and "Does not validate" not in err
    monkeypatch.setenv("LIGHTNING_TRICKS_DEBUG", "1")  # the traceback on demand
    with pytest.raises(ValueError, match=r"unknown `backbone` 'nope'"):
        main(args)


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("--model.init_args.lr=-1", "`lr` must be a finite float in (0, inf), got -1.0"),
        ("--trainer.max_epochs=-5", "`max_epochs` must be a non-negative integer or -1"),
    ],
)
def test_range_errors_are_one_line_with_exit_status_2(
    flag: str,
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for var in DEBUG_ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    assert main(["fit", "--config", DIGITS, *_quiet(tmp_path), flag]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in lines if line.startswith("lightning-tricks: error:")]
    assert len(errors) == 1 and message in errors[0], lines
    assert lines[-1] == "(set LIGHTNING_TRICKS_DEBUG=1 for the traceback)"
    monkeypatch.setenv("JSONARGPARSE_DEBUG", "true")
    with pytest.raises(Exception, match=re.escape(message)):
        main(["fit", "--config", DIGITS, *_quiet(tmp_path), flag])


def _unreadable_checkpoints(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    good = tmp_path / "good.ckpt"
    torch.save({"state_dict": {"w": torch.ones(3)}}, good)
    data = good.read_bytes()
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(bytes(range(256)) * 4)
    not_a_checkpoint = tmp_path / "list.ckpt"
    torch.save([1, 2, 3], not_a_checkpoint)
    return {
        "truncated": (truncated, "the zip archive is truncated or damaged"),
        "garbage": (garbage, "it is not a file written by torch.save or Lightning"),
        "list": (not_a_checkpoint, "reading its hyperparameters failed with AttributeError"),
    }


def test_unreadable_ckpt_path_names_the_file_and_argument(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in DEBUG_ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    for name, (path, why) in _unreadable_checkpoints(tmp_path).items():
        code = main(["validate", "--config", DIGITS, *_quiet(tmp_path), f"--ckpt_path={path}"])
        err = capsys.readouterr().err
        expected = (
            f"lightning-tricks: error: `--ckpt_path` {str(path)!r} is not a readable checkpoint"
        )
        assert code == 2 and expected in err and why in err, (name, err)
        assert "Traceback" not in err


def test_unreadable_teacher_checkpoint_from_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in DEBUG_ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    path, why = _unreadable_checkpoints(tmp_path)["truncated"]
    code = main(
        [
            "fit",
            "--config",
            str(ROOT / "configs" / "digits_distill.yaml"),
            *_quiet(tmp_path),
            f"--model.init_args.teacher_checkpoint={path}",
            "--trainer.fast_dev_run=true",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"`teacher_checkpoint` {str(path)!r} is not a readable checkpoint: {why}" in err


MY_PKG = """
import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import nn


class MyModule(pl.LightningModule):
    \"\"\"A user's module: no num_classes / in_channels arguments, its own logs and optimizer.\"\"\"

    def __init__(self, lr: float = 0.02) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.num_classes = 10  # an attribute, as many modules have (MixUp reads K from it)
        self.net = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(4, 10),
        )

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.log("my_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


class MyLinkedModule(MyModule):
    def __init__(self, num_classes: int = 3, in_channels: int = 3, lr: float = 0.02) -> None:
        super().__init__(lr=lr)
        self.save_hyperparameters()


class BareData(pl.LightningDataModule):
    def train_dataloader(self):
        data = torch.utils.data.TensorDataset(torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,)))
        return torch.utils.data.DataLoader(data, batch_size=4)
"""


def _readme_yaml() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("### Your own module from the command line", 1)[1]
    return re.search(r"```yaml\n(.*?)```", section, re.S).group(1)


@pytest.fixture
def my_pkg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "my_pkg").mkdir()
    (tmp_path / "my_pkg" / "__init__.py").write_text(MY_PKG)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_readme_own_module_with_trick_callbacks_from_yaml(
    my_pkg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lightning.pytorch.callbacks import Callback

    from lightning_tricks.callbacks import BatchCropFlip, MixUp

    config = my_pkg / "my_run.yaml"
    config.write_text(_readme_yaml())
    small = [
        "--trainer.max_steps=2",
        "--trainer.limit_val_batches=1",
        "--trainer.logger=false",
        "--trainer.enable_checkpointing=false",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        "--data.init_args.image_size=8",
        "--data.init_args.train_per_class=4",
        f"--trainer.default_root_dir={my_pkg}",
    ]
    assert main(["fit", "--config", str(config), *small]) == 0  # as the README runs it
    cli = TricksCLI(args=["fit", "--config", str(config), *small])
    model = cli.model
    assert type(model).__module__ == "my_pkg" and type(model).__name__ == "MyModule"
    assert model.hparams.lr == 0.05 and cli.trainer.global_step == 2  # the YAML's lr
    tricks = [cb for cb in cli.trainer.callbacks if isinstance(cb, (MixUp, BatchCropFlip))]
    assert [type(cb) for cb in tricks] == [BatchCropFlip, MixUp]
    assert tricks[1].alpha == 0.2 and tricks[0].padding == 2
    assert torch.isfinite(cli.trainer.callback_metrics["my_loss"])  # the module's own log
    assert cli.trainer.optimizers[0].param_groups[0]["lr"] == 0.05  # its own optimizer
    # the one-line form of the README, with short class names
    cli = TricksCLI(
        args=[
            "fit",
            "--model",
            "my_pkg.MyModule",
            "--data",
            "DigitsDataModule",
            "--trainer.callbacks+=MixUp",
            *small,
        ]
    )
    assert isinstance(cli.trainer.callbacks[0], Callback)
    assert any(isinstance(cb, MixUp) for cb in cli.trainer.callbacks)
    assert cli.trainer.global_step == 2


def test_num_classes_and_in_channels_are_linked_only_where_taken(my_pkg: Path) -> None:
    base = ["--data", "lightning_tricks.data.DigitsDataModule", "--trainer.logger=false"]
    cli = TricksCLI(args=["--model", "my_pkg.MyLinkedModule", *base], run=False)
    assert (cli.model.hparams.num_classes, cli.model.hparams.in_channels) == (10, 1)
    cli = TricksCLI(args=["--model", "my_pkg.MyModule", *base], run=False)
    assert type(cli.model).__name__ == "MyModule"
    # its own defaults (not ImageClassifier's lr=0.05), no linked names it does not take, so
    # load_from_checkpoint can rebuild it from the hparams
    hparams = {k: v for k, v in cli.model.hparams.items() if not k.startswith("_")}
    assert hparams == {"lr": 0.02}
    type(cli.model)(**hparams)
    cli = TricksCLI(args=["--config", DIGITS, "--model", "my_pkg.MyModule"], run=False)
    assert cli.model.hparams.lr == 0.02  # digits.yaml's ImageClassifier defaults do not leak
    with pytest.warns(
        UserWarning,
        match=r"MyLinkedModule takes `num_classes` but the data module BareData has no "
        r"`num_classes` attribute, so the CLI did not link it: the model uses its configured "
        r"value \(3\)",
    ):
        cli = TricksCLI(
            args=["--model", "my_pkg.MyLinkedModule", "--data", "my_pkg.BareData"], run=False
        )
    assert cli.model.hparams.num_classes == 3 and cli.model.hparams.lr == 0.02


def test_cli_objects_pickle_for_ddp_spawn(tmp_path: Path) -> None:
    """ddp_spawn pickles the trainer's callbacks, SaveConfigCallback's parser included (the
    data -> model links once held a closure: "Can't pickle local object")."""
    cli = TricksCLI(args=["--config", DIGITS, *_quiet(tmp_path)], run=False)
    restored = pickle.loads(pickle.dumps(cli.trainer.callbacks))
    assert [type(cb) for cb in restored] == [type(cb) for cb in cli.trainer.callbacks]
    assert any(type(cb).__name__ == "SaveConfigCallback" for cb in restored)


@pytest.mark.slow
def test_fit_ddp_spawn_two_processes_from_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "fit",
        "--config",
        DIGITS,
        *_quiet(tmp_path),
        "--trainer.accelerator=cpu",
        "--trainer.strategy=ddp_spawn",
        "--trainer.devices=2",
        "--trainer.max_steps=2",
        "--trainer.limit_val_batches=1",
    ]
    assert main(args) == 0
    assert "final validation accuracy:" in capsys.readouterr().out
    assert sorted(tmp_path.rglob("last.ckpt"))


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
