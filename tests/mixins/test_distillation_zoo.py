"""DistillationMixin on the module zoo: the KD term is added to each module's own step.

For every style (tests/zoo/kd_*.py) a real ``Trainer.fit`` of ``Student(DistillationMixin,
Style)`` checks, in fp32 and bf16-mixed: the loss of the first step (the one given to
``backward``) equals ``(1 − α) · own_loss + α · T² · KL(teacher ‖ student)`` computed here
independently from the module's weights and batch; the module's own logs are still there; the
student trains; the teacher is unchanged and never gets a gradient.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
import torch
import torch.nn.functional as F
from helpers import RandomImageDataModule, RandomImageDataset, fit, make_trainer
from torch import Tensor, nn
from torch.utils.data import DataLoader
from zoo.kd_binary import BinaryClassifier
from zoo.kd_hf import HFStyleClassifier, PixelValuesDataModule, TinyHFImageModel
from zoo.kd_manual import ManualOptimClassifier
from zoo.kd_nll import LogSoftmaxClassifier
from zoo.kd_torchmetrics import TorchmetricsClassifier

from lightning_tricks.mixins import DistillationMixin

T, ALPHA = 3.0, 0.6
PRECISIONS = ["32-true", "bf16-mixed"]


class _FirstStepHooks:
    """Records the first training batch, the weights before it and the loss given to backward."""

    def __init__(self) -> None:
        self.batch: Any = None
        self.weights: dict[str, Tensor] | None = None
        self.loss: Tensor | None = None

    def on_train_batch_start(
        self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int
    ) -> None:
        if self.batch is None:
            self.batch = _clone(batch)
            self.weights = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}

    def on_before_backward(self, trainer: Any, pl_module: Any, loss: Tensor) -> None:
        if self.loss is None:
            self.loss = loss.detach().clone()


class FirstStep(_FirstStepHooks, pl.Callback):
    pass


def _clone(batch: Any) -> Any:
    if isinstance(batch, dict):
        return {k: v.clone() for k, v in batch.items()}
    return [v.clone() for v in batch]


def _teacher(num_outputs: int = 4) -> nn.Module:
    """BatchNorm and Dropout inside: any train-mode call would change its output or state."""
    torch.manual_seed(11)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(6, num_outputs),
    )


def _kl(s: Tensor, t: Tensor) -> Tensor:
    """T² · mean_i Σ_k p_t (log p_t − log p_s), in float64."""
    s, t = s.double() / T, t.double() / T
    p_t = t.softmax(1)
    return T * T * (p_t * (t.log_softmax(1) - s.log_softmax(1))).sum(1).mean()


def _binary_kl(s: Tensor, t: Tensor) -> Tensor:
    """T² · mean KL(Bernoulli(σ(t/T)) ‖ Bernoulli(σ(s/T))), in float64."""
    p_s, p_t = torch.sigmoid(s.double() / T), torch.sigmoid(t.double() / T)
    kl = p_t * (p_t / p_s).log() + (1 - p_t) * ((1 - p_t) / (1 - p_s)).log()
    return T * T * kl.mean()


def _autocast(precision: str) -> contextlib.AbstractContextManager[Any]:
    if precision == "bf16-mixed":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


# --------------------------------------------------------------------- the styles
# each: (module class, its kwargs, data module factory, reference (module, batch, teacher) ->
# (own loss, KD term)) — the reference is this file's own reading of the module's loss.


def _ref_ce(module: nn.Module, batch: Any, teacher: nn.Module) -> tuple[Tensor, Tensor]:
    x, y = batch
    s = module(x)
    return F.cross_entropy(s, y), _kl(s, teacher(x))


def _ref_nll(module: nn.Module, batch: Any, teacher: nn.Module) -> tuple[Tensor, Tensor]:
    x, y = batch
    log_probs = module(x)
    return F.nll_loss(log_probs, y), _kl(log_probs, teacher(x))


def _ref_hf(module: nn.Module, batch: Any, teacher: nn.Module) -> tuple[Tensor, Tensor]:
    x, y = batch["pixel_values"], batch["labels"]
    s = module.model(pixel_values=x).logits
    t = teacher(pixel_values=x).logits if isinstance(teacher, TinyHFImageModel) else teacher(x)
    return F.cross_entropy(s, y), _kl(s, t)


def _ref_binary(module: nn.Module, batch: Any, teacher: nn.Module) -> tuple[Tensor, Tensor]:
    x, y = batch
    s = module(x)[:, 0]
    return F.binary_cross_entropy_with_logits(s, y.float()), _binary_kl(s, teacher(x)[:, 0])


def _images(num_classes: int = 4) -> RandomImageDataModule:
    return RandomImageDataModule(n_train=32, n_val=16, num_classes=num_classes, batch_size=8)


STYLES: dict[str, tuple[type, dict[str, Any], Callable[[], Any], Callable[..., Any], int]] = {
    "torchmetrics": (TorchmetricsClassifier, {}, _images, _ref_ce, 4),
    "log_softmax_nll": (LogSoftmaxClassifier, {"lr": 0.01}, _images, _ref_nll, 4),
    "hf_dict_logits": (HFStyleClassifier, {}, PixelValuesDataModule, _ref_hf, 4),
    "binary_one_logit": (BinaryClassifier, {}, lambda: _images(2), _ref_binary, 1),
    "manual_optimization": (ManualOptimClassifier, {}, _images, _ref_ce, 4),
}


def _student_class(base: type) -> type:
    return type(f"Distilled{base.__name__}", (DistillationMixin, base), {})


def _run(
    style: str, precision: str, tmp_path: Path, teacher: nn.Module | None = None
) -> tuple[pl.LightningModule, pl.Trainer, FirstStep, nn.Module, dict[str, Tensor]]:
    base, kwargs, data, _, outputs = STYLES[style]
    teacher = _teacher(outputs) if teacher is None else teacher
    teacher_before = copy.deepcopy(teacher.state_dict())
    torch.manual_seed(0)
    student = _student_class(base)(teacher=teacher, temperature=T, alpha=ALPHA, **kwargs)
    first = FirstStep()
    trainer = fit(
        student,
        data(),
        tmp_path,
        max_steps=2,
        precision=precision,
        callbacks=[first],
        limit_val_batches=0,
    )
    return student, trainer, first, teacher, teacher_before


def _check_first_step(
    style: str, precision: str, student: pl.LightningModule, first: FirstStep, teacher: nn.Module
) -> None:
    base, kwargs, _, reference, _ = STYLES[style]
    plain = base(**kwargs)
    plain.load_state_dict(first.weights)  # the student's weights before the first step
    plain.train()
    with torch.no_grad(), _autocast(precision):
        own, kd = reference(plain, first.batch, teacher)
    expected = (1 - ALPHA) * own.double() + ALPHA * kd
    assert first.loss is not None and first.loss.dtype == torch.float32
    assert float(first.loss) == pytest.approx(float(expected), abs=1e-6, rel=0)
    assert float(kd) > 1e-4  # the term is not trivially zero


def _check_trained_and_frozen(
    student: pl.LightningModule, first: FirstStep, teacher: nn.Module, before: dict[str, Tensor]
) -> None:
    after = student.state_dict()
    assert any(
        not torch.equal(after[k], v) for k, v in first.weights.items() if v.is_floating_point()
    )
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())
    assert not any(m.training for m in teacher.modules())


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("style", [s for s in STYLES])
def test_kd_term_is_added_to_the_modules_own_loss(
    style: str, precision: str, tmp_path: Path
) -> None:
    student, trainer, first, teacher, before = _run(style, precision, tmp_path)
    assert trainer.global_step == 2
    _check_first_step(style, precision, student, first, teacher)
    _check_trained_and_frozen(student, first, teacher, before)
    metrics = trainer.callback_metrics
    # the module's own logs are still there, next to the mixin's
    for key in ("train_loss", "train_acc", "train/kd_loss", "train/distill_loss"):
        assert key in metrics and torch.isfinite(metrics[key]), key
    if style == "manual_optimization":  # the module still steps its own scheduler
        assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**2)


def test_hf_style_teacher_gets_the_students_keyword_call(tmp_path: Path) -> None:
    """A teacher written like the student (``forward(pixel_values, labels=None)`` returning
    ``.logits``) gets the student's call as is; val/teacher_acc reads the "labels" key."""
    torch.manual_seed(5)
    teacher = TinyHFImageModel(num_labels=4)
    student, trainer, first, teacher, before = _run("hf_dict_logits", "32-true", tmp_path, teacher)
    _check_first_step("hf_dict_logits", "32-true", student, first, teacher)
    _check_trained_and_frozen(student, first, teacher, before)
    dm = PixelValuesDataModule()
    trainer = make_trainer(tmp_path)
    trainer.validate(student, datamodule=dm, verbose=False)
    with torch.no_grad():
        x, y = dm.val_set.images, dm.val_set.labels
        acc = (teacher(pixel_values=x).logits.argmax(1) == y).float().mean()
    assert float(trainer.callback_metrics["val/teacher_acc"]) == pytest.approx(float(acc), abs=1e-6)


def test_one_logit_head_with_a_k_class_teacher_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(
        ValueError,
        match=r"student's logits have shape \(8, 1\) but the teacher's have \(8, 2\).*one-logit "
        r"binary head pairs only with a one-logit teacher.*`distillation_logits\(output\)`",
    ):
        _run("binary_one_logit", "32-true", tmp_path, teacher=_teacher(2))


def test_one_logit_teacher_accuracy_is_logged(tmp_path: Path) -> None:
    student, trainer, *_ = _run("binary_one_logit", "32-true", tmp_path)
    dm = _images(2)
    trainer = make_trainer(tmp_path)
    trainer.validate(student, datamodule=dm, verbose=False)
    dm.setup("validate")
    x = torch.stack([dm.val_set[i][0] for i in range(len(dm.val_set))])
    y = torch.tensor([dm.val_set[i][1] for i in range(len(dm.val_set))])
    with torch.no_grad():
        acc = ((student.teacher(x)[:, 0] > 0).long() == y).float().mean()
    assert float(trainer.callback_metrics["val/teacher_acc"]) == pytest.approx(float(acc), abs=1e-6)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_pytorch_lightning_module_and_trainer(precision: str, tmp_path: Path) -> None:
    """The standalone ``pytorch_lightning`` package: its module, its Trainer, same term."""
    pl_standalone = pytest.importorskip("pytorch_lightning")
    from zoo.kd_pytorch_lightning import StandaloneClassifier

    STYLES["pytorch_lightning"] = (StandaloneClassifier, {}, _images, _ref_ce, 4)
    try:
        teacher = _teacher(4)
        before = copy.deepcopy(teacher.state_dict())
        torch.manual_seed(0)
        student = _student_class(StandaloneClassifier)(teacher=teacher, temperature=T, alpha=ALPHA)
        first = type("FirstStepStandalone", (_FirstStepHooks, pl_standalone.Callback), {})()
        trainer = pl_standalone.Trainer(
            max_steps=2,
            precision=precision,
            callbacks=[first],
            limit_val_batches=0,
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            enable_checkpointing=False,
            accelerator="cpu",
            devices=1,
            deterministic=True,
            default_root_dir=str(tmp_path),
        )
        data = RandomImageDataset(32, 4)  # plain DataLoader: the data module is lightning's
        trainer.fit(student, train_dataloaders=DataLoader(data, batch_size=8))
        assert trainer.global_step == 2
        _check_first_step("pytorch_lightning", precision, student, first, teacher)
        _check_trained_and_frozen(student, first, teacher, before)
        for key in ("train_loss", "train_acc", "train/kd_loss", "train/distill_loss"):
            assert key in trainer.callback_metrics, key
    finally:
        del STYLES["pytorch_lightning"]


class _PlainBackward(ManualOptimClassifier):
    """Manual optimization that calls ``loss.backward()`` instead of ``self.manual_backward``."""

    def training_step(self, batch: Any, batch_idx: int) -> None:
        opt = self.optimizers()
        x, y = batch
        opt.zero_grad()
        F.cross_entropy(self(x), y).backward()
        opt.step()


class _BackwardWithoutForward(ManualOptimClassifier):
    """Manual optimization whose step calls ``self.net(x)``, not the module's forward."""

    def training_step(self, batch: Any, batch_idx: int) -> None:
        opt = self.optimizers()
        x, y = batch
        opt.zero_grad()
        self.manual_backward(F.cross_entropy(self.net(x), y))
        opt.step()


def test_manual_optimization_misuse_is_never_silent(tmp_path: Path) -> None:
    student = _student_class(_PlainBackward)(teacher=_teacher(4), temperature=T, alpha=ALPHA)
    with pytest.warns(UserWarning, match=r"never called `self.manual_backward\(loss\)`"):
        fit(student, _images(), tmp_path, max_steps=1, limit_val_batches=0)
    student = _student_class(_BackwardWithoutForward)(teacher=_teacher(4))
    with pytest.raises(RuntimeError, match=r"override `distillation_module\(\)`"):
        fit(student, _images(), tmp_path, max_steps=1, limit_val_batches=0)

    class Fixed(_student_class(_BackwardWithoutForward)):  # type: ignore[misc]
        def distillation_module(self) -> nn.Module:
            return self.net

    first = FirstStep()
    torch.manual_seed(0)
    student = Fixed(teacher=_teacher(4), temperature=T, alpha=ALPHA)
    fit(student, _images(), tmp_path, max_steps=1, limit_val_batches=0, callbacks=[first])
    _check_first_step("manual_optimization", "32-true", student, first, student.teacher)
