"""DistillationModule in real Trainer.fit runs: frozen teacher, logs, checkpoints, MixUp,
bf16-mixed, 2-process DDP and the CLI configs."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
import torch
from helpers import RandomImageDataModule, fit
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import Logger
from torch import Tensor, nn

from lightning_tricks.callbacks import (
    EMA,
    BatchCropFlip,
    CutMix,
    LabelSmoothing,
    MixUp,
    NoBiasDecay,
    OneOf,
    Warmup,
    WeightInit,
    ZeroInitResidualBN,
)
from lightning_tricks.cli import TricksCLI
from lightning_tricks.mixins.distillation import TEACHER_CHECKPOINT_KEY
from lightning_tricks.models import DistillationModule, ImageClassifier

ROOT = Path(__file__).resolve().parents[2]


class RecordingTeacher(nn.Module):
    """conv-BN-ReLU-Dropout head that records how and on what it was called."""

    def __init__(self, num_classes: int = 4, in_channels: int = 3) -> None:
        super().__init__()
        torch.manual_seed(7)
        self.num_classes = num_classes
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(8, num_classes),
        )
        self.calls: list[dict[str, Any]] = []
        self.phase = "other"  # set by PhaseMarker

    def forward(self, x: Tensor) -> Tensor:
        out = self.net(x)
        self.calls.append(
            {
                "x": x.detach().clone(),
                "phase": self.phase,
                "grad": torch.is_grad_enabled(),
                "training": any(m.training for m in self.modules()),
                "autocast": torch.is_autocast_enabled(x.device.type),
                "device": x.device.type,
                "teacher_device": next(self.parameters()).device.type,
                "dtype": out.dtype,
            }
        )
        return out

    def train_calls(self) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["phase"] == "train"]

    def val_calls(self) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["phase"] == "val"]


class PhaseMarker(pl.Callback):
    """Tells the RecordingTeacher whether a call comes from training or validation."""

    def on_train_batch_start(self, trainer: Any, pl_module: Any, *args: Any) -> None:
        pl_module.teacher.phase = "train"

    def on_validation_batch_start(self, trainer: Any, pl_module: Any, *args: Any) -> None:
        pl_module.teacher.phase = "val"


class MemoryLogger(Logger):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, float]] = []
        self.hparams: dict[str, Any] = {}

    @property
    def name(self) -> str:
        return "memory"

    @property
    def version(self) -> int:
        return 0

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        self.hparams = dict(params)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self.rows.append(dict(metrics))


def _snapshot(module: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _student(teacher: nn.Module | None, **kwargs: Any) -> DistillationModule:
    torch.manual_seed(0)
    return DistillationModule(
        "simple_cnn", num_classes=4, in_channels=3, lr=0.05, teacher=teacher, **kwargs
    )


def _record_student_inputs(student: DistillationModule) -> list[Tensor]:
    seen: list[Tensor] = []

    def hook(module: nn.Module, args: tuple[Tensor, ...]) -> None:
        if module.training:
            seen.append(args[0].detach().clone())

    student.model.register_forward_pre_hook(hook)
    return seen


@pytest.mark.slow
def test_fit_keeps_teacher_frozen_logs_and_checkpoints(tmp_path: Path) -> None:
    teacher = RecordingTeacher()
    before = _snapshot(teacher)
    student = _student(teacher)
    student_inputs = _record_student_inputs(student)
    logger = MemoryLogger()
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True, save_top_k=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer = fit(
            student,
            RandomImageDataModule(n_train=64, n_val=32, batch_size=16),
            tmp_path,
            max_epochs=2,
            logger=logger,
            log_every_n_steps=1,
            callbacks=[ckpt, PhaseMarker()],
            enable_checkpointing=True,
        )
    assert trainer.global_step == 8
    assert not [w for w in caught if "eval mode" in str(w.message)]
    assert not [w for w in caught if "nn.Module" in str(w.message)]

    # frozen: parameters and buffers bitwise unchanged, never a gradient, never optimised
    after = teacher.state_dict()
    assert before.keys() == after.keys()
    for k, v in before.items():
        assert torch.equal(v, after[k]), k
    assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())
    optimised = {id(p) for g in trainer.optimizers[0].param_groups for p in g["params"]}
    assert optimised == {id(p) for p in student.parameters()}
    assert not optimised & {id(p) for p in teacher.parameters()}

    # the teacher ran under no_grad in eval mode (Dropout off, BN frozen) on the student's inputs
    calls = teacher.train_calls()
    assert len(calls) == 8 and not any(c["grad"] or c["training"] for c in calls)
    assert len(student_inputs) == 8
    for c, x in zip(calls, student_inputs):
        assert torch.equal(c["x"], x)

    # logs: the module's own loss (ImageClassifier's cross-entropy), the KD term and the total
    # every step, the teacher's accuracy once (2 validations ran)
    steps = [r for r in logger.rows if "train/loss" in r]
    assert len(steps) == 8
    for r in steps:
        total = 0.1 * r["train/loss"] + 0.9 * r["train/kd_loss"]
        assert r["train/distill_loss"] == pytest.approx(total, rel=1e-5)
    teacher_acc = [r["val/teacher_acc"] for r in logger.rows if "val/teacher_acc" in r]
    assert len(teacher_acc) == 1 and 0.0 <= teacher_acc[0] <= 1.0
    assert sum("val/acc" in r for r in logger.rows) == 2
    assert "teacher" not in logger.hparams and logger.hparams["alpha"] == 0.9
    # the logged accuracy is the teacher's real accuracy on the validation set
    dm = RandomImageDataModule(n_train=64, n_val=32, batch_size=16)
    dm.setup("validate")
    xs, ys = zip(*(dm.val_set[i] for i in range(len(dm.val_set))))
    with torch.no_grad():
        acc = (teacher(torch.stack(xs)).argmax(1) == torch.tensor(ys)).float().mean()
    assert teacher_acc[0] == pytest.approx(float(acc), abs=1e-6)
    # once per run: a later `validate` run logs it once more
    trainer.validate(student, datamodule=dm, verbose=False)
    again = [r["val/teacher_acc"] for r in logger.rows if "val/teacher_acc" in r]
    assert again == [teacher_acc[0], teacher_acc[0]]

    # checkpoints hold only the student and load strictly, with or without a teacher
    last = tmp_path / "ckpt" / "last.ckpt"
    state = torch.load(last, weights_only=True)
    assert TEACHER_CHECKPOINT_KEY not in state
    assert set(state["state_dict"]) == set(student.state_dict())
    x = torch.randn(4, 3, 8, 8)
    student.eval()
    for cls in (DistillationModule, ImageClassifier):
        loaded = cls.load_from_checkpoint(last, strict=True).eval()
        torch.testing.assert_close(loaded(x), student(x))
    assert DistillationModule.load_from_checkpoint(last).teacher is None

    # save_teacher=True: a larger checkpoint that restores the teacher into a fresh one
    student.save_teacher = True
    with_teacher = tmp_path / "with_teacher.ckpt"
    trainer.save_checkpoint(with_teacher)
    assert with_teacher.stat().st_size > last.stat().st_size
    fresh = RecordingTeacher()
    for p in fresh.parameters():
        p.data.add_(1.0)
    restored = DistillationModule.load_from_checkpoint(with_teacher, teacher=fresh, strict=True)
    assert restored.teacher is fresh
    for k, v in fresh.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert DistillationModule.load_from_checkpoint(with_teacher).teacher is None  # ignored

    # resume a distillation run from the student-only checkpoint (strict restore)
    resumed_teacher = RecordingTeacher()
    resumed = _student(resumed_teacher)
    trainer = fit(
        resumed,
        RandomImageDataModule(n_train=64, n_val=32, batch_size=16),
        tmp_path,
        max_epochs=3,
        ckpt_path=str(last),
        callbacks=[PhaseMarker(), ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=0)],
        enable_checkpointing=True,
    )
    assert trainer.global_step == 12 and len(resumed_teacher.train_calls()) == 4
    for k, v in resumed_teacher.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_teacher_sees_the_mixed_batch_with_mixup(tmp_path: Path) -> None:
    teacher = RecordingTeacher()
    student = _student(teacher)
    student_inputs = _record_student_inputs(student)
    dm = RandomImageDataModule(n_train=32, n_val=16, batch_size=16)
    trainer = fit(
        student,
        dm,
        tmp_path,
        max_steps=2,
        callbacks=[MixUp(alpha=1.0, seed=0), PhaseMarker()],
        limit_val_batches=0,
    )
    assert trainer.global_step == 2
    calls = teacher.train_calls()
    assert len(calls) == 2 == len(student_inputs)
    dm.setup("fit")
    raw = torch.stack([dm.train_set[i][0] for i in range(len(dm.train_set))])
    for c, x in zip(calls, student_inputs):
        assert torch.equal(c["x"], x)
        # mixed: images paired with another one are no image of the data set
        dist = torch.cdist(x.flatten(1), raw.flatten(1)).min(dim=1).values
        assert (dist > 1e-3).sum() >= x.shape[0] // 2
    assert torch.isfinite(trainer.callback_metrics["train/loss"])
    assert "train/acc" in trainer.callback_metrics  # hard_targets of the soft targets


@pytest.mark.slow
def test_stacks_with_the_other_tricks(tmp_path: Path) -> None:
    """Init callbacks, param groups, schedules, batch tricks and EMA never reach the teacher."""
    teacher = RecordingTeacher()
    before = _snapshot(teacher)
    torch.manual_seed(0)
    student = DistillationModule("cifar_resnet8", num_classes=4, in_channels=3, teacher=teacher)
    student_inputs = _record_student_inputs(student)
    tricks = [
        WeightInit(seed=0),
        ZeroInitResidualBN(),
        NoBiasDecay(),
        Warmup(warmup_steps=2),  # in front of the module's own cosine schedule
        BatchCropFlip(padding=1, seed=0),
        OneOf([MixUp(alpha=0.2), CutMix(alpha=1.0)], seed=0),
        LabelSmoothing(smoothing=0.1),
        EMA(decay=0.9),
    ]
    trainer = fit(
        student,
        RandomImageDataModule(n_train=32, n_val=16, batch_size=8),
        tmp_path,
        max_steps=4,
        callbacks=[*tricks, PhaseMarker()],
    )
    assert trainer.global_step == 4
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, before[k]), k
    optimised = [id(p) for g in trainer.optimizers[0].param_groups for p in g["params"]]
    assert len(trainer.optimizers[0].param_groups) == 2  # NoBiasDecay's groups
    assert sorted(optimised) == sorted(id(p) for p in student.parameters())
    calls = teacher.train_calls()
    assert len(calls) == 4 == len(student_inputs)
    assert all(torch.equal(c["x"], x) for c, x in zip(calls, student_inputs))
    metrics = trainer.callback_metrics
    assert torch.isfinite(metrics["train/kd_loss"]) and "val/teacher_acc" in metrics


@pytest.mark.slow
def test_fit_bf16_mixed_teacher_in_the_same_autocast(tmp_path: Path) -> None:
    teacher = RecordingTeacher()
    before = _snapshot(teacher)
    student = _student(teacher)
    trainer = fit(
        student,
        RandomImageDataModule(n_train=32, n_val=16, batch_size=16),
        tmp_path,
        precision="bf16-mixed",
        max_steps=2,
        callbacks=[PhaseMarker()],
    )
    assert trainer.global_step == 2
    calls = teacher.train_calls()
    assert calls and all(c["autocast"] and c["dtype"] == torch.bfloat16 for c in calls)
    val_calls = teacher.val_calls()
    assert val_calls and all(c["autocast"] for c in val_calls)  # teacher acc: val autocast too
    assert all(p.dtype == torch.float32 for p in teacher.parameters())
    assert torch.isfinite(trainer.callback_metrics["train/kd_loss"])
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, before[k]), k


@pytest.mark.gpu
def test_fit_cuda_16_mixed_teacher_on_the_students_device(tmp_path: Path) -> None:
    teacher = RecordingTeacher()
    before = _snapshot(teacher)
    student = _student(teacher)
    trainer = fit(
        student,
        RandomImageDataModule(n_train=32, n_val=16, batch_size=16),
        tmp_path,
        accelerator="gpu",
        devices=1,
        precision="16-mixed",
        deterministic=False,
        max_steps=2,
        callbacks=[PhaseMarker()],
    )
    assert trainer.global_step == 2
    calls = teacher.train_calls() + teacher.val_calls()
    assert len(calls) == 3
    assert all(c["device"] == c["teacher_device"] == "cuda" and c["autocast"] for c in calls)
    assert all(c["dtype"] == torch.float16 for c in teacher.train_calls())
    for k, v in teacher.state_dict().items():
        assert torch.equal(v.cpu(), before[k]), k


class _DDPChecks(pl.Callback):
    """Runs in every rank: only the student is in DDP, the teacher is present and unchanged."""

    def __init__(self, reference: dict[str, Tensor]) -> None:
        self.reference = reference

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        wrapped = trainer.strategy.model
        assert isinstance(wrapped, nn.parallel.DistributedDataParallel)
        assert not wrapped.find_unused_parameters
        ddp_params = {id(p) for p in wrapped.parameters()}
        assert ddp_params == {id(p) for p in pl_module.parameters()}
        assert not ddp_params & {id(p) for p in pl_module.teacher.parameters()}

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for k, v in pl_module.teacher.state_dict().items():
            assert torch.equal(v, self.reference[k]), (trainer.global_rank, k)
        # 64 images, 2 ranks x 8 per step -> 4 steps, each with one teacher call on this rank
        assert trainer.global_step == 4 and len(pl_module.teacher.train_calls()) == 4


@pytest.mark.slow
def test_fit_ddp_spawn_two_processes(tmp_path: Path) -> None:
    teacher = RecordingTeacher()
    student = _student(teacher)
    trainer = fit(
        student,
        RandomImageDataModule(n_train=64, n_val=32, batch_size=8),
        tmp_path,
        devices=2,
        strategy="ddp_spawn",
        max_epochs=1,
        callbacks=[_DDPChecks(_snapshot(teacher)), PhaseMarker()],
    )
    assert trainer.world_size == 2  # the step count is checked inside the ranks
    metrics = trainer.callback_metrics
    assert torch.isfinite(metrics["train/kd_loss"]) and 0.0 <= metrics["val/teacher_acc"] <= 1.0


@pytest.mark.slow
def test_cli_teacher_then_distill_configs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """digits_teacher.yaml writes the checkpoint that digits_distill.yaml loads; the trick
    snippet composes with the demo and the ablation base configs (as `--config` pairs)."""
    monkeypatch.chdir(tmp_path)
    quick = ["--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"]
    small = ["--data.init_args.image_size=16"]  # the teacher's size (digits.yaml has 32)
    TricksCLI(
        args=[
            "fit",
            "--config",
            str(ROOT / "configs/digits_teacher.yaml"),
            "--trainer.max_steps=1",
            "--trainer.limit_val_batches=1",
            *small,
            *quick,
        ]
    )
    teacher_ckpt = tmp_path / "runs/digits_teacher/checkpoints/last.ckpt"
    assert teacher_ckpt.exists()
    teacher_state = torch.load(teacher_ckpt, weights_only=True)["state_dict"]

    cases = [
        (["configs/digits_distill.yaml"], "cifar_resnet8"),
        (["configs/digits.yaml", "configs/tricks/distill.yaml"], "cifar_resnet8"),
        (["configs/ablation/digits_base.yaml", "configs/tricks/distill.yaml"], "simple_cnn"),
    ]
    for configs, backbone in cases:
        args = ["fit"]
        for c in configs:
            args += ["--config", str(ROOT / c)]
        cli = TricksCLI(args=[*args, "--trainer.fast_dev_run=1", *small, *quick])
        model = cli.model
        assert isinstance(model, DistillationModule), configs
        assert model.hparams.backbone == backbone
        assert "teacher" not in model.hparams and "teacher_checkpoint" not in model.hparams
        assert isinstance(model.teacher, ImageClassifier)
        for k, v in model.teacher.state_dict().items():
            assert torch.equal(v, teacher_state[k]), k
        optimised = {id(p) for g in cli.trainer.optimizers[0].param_groups for p in g["params"]}
        assert optimised == {id(p) for p in model.parameters()}
        assert cli.trainer.global_step == 1
        assert torch.isfinite(cli.trainer.callback_metrics["train/kd_loss"])
