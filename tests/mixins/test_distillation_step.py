"""How DistillationMixin finds the student's logits and the teacher's input in a step.

Unit tier: steps are called directly (no Trainer; ``self.log`` is a no-op there), the value is
compared with ``(1 − α) · own loss + α · kd_loss`` computed here.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lightning_tricks.functional import kd_loss
from lightning_tricks.mixins import DistillationMixin

pytestmark = pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
T, ALPHA = 2.0, 0.7


class CountingTeacher(nn.Module):
    def __init__(self, k: int = 4) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.fc = nn.Linear(12, k)
        self.calls: list[bool] = []  # grad mode at each call

    def forward(self, x: Tensor) -> Tensor:
        self.calls.append(torch.is_grad_enabled())
        return self.fc(x)


class Base(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.model = nn.Linear(12, 4)
        self.order: list[str] = []

    def forward(self, x: Tensor) -> Tensor:
        self.order.append("student")
        return self.model(x)

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        x, y = batch
        return F.cross_entropy(self(x), y)


def _batch() -> list[Tensor]:
    gen = torch.Generator().manual_seed(1)
    return [torch.randn(6, 12, generator=gen), torch.randint(0, 4, (6,), generator=gen)]


def _expected(student: Base, batch: list[Tensor]) -> Tensor:
    x, y = batch
    with torch.no_grad():
        s = student.model(x)
        return (1 - ALPHA) * F.cross_entropy(s, y) + ALPHA * kd_loss(s, student.teacher(x), T)


def _make(cls: type, teacher: nn.Module | None = None) -> Any:
    return cls(teacher=teacher or CountingTeacher(), temperature=T, alpha=ALPHA)


class Student(DistillationMixin, Base):
    pass


def test_term_added_once_whoever_defines_the_step() -> None:
    class OwnStep(DistillationMixin, Base):  # the step in the student class itself
        def training_step(self, batch: Any, batch_idx: int) -> Tensor:
            x, y = batch
            return F.cross_entropy(self(x), y)

    class SubCallsSuper(Student):  # a subclass step calling the (wrapped) parent step
        def training_step(self, batch: Any, batch_idx: int) -> Tensor:
            return super().training_step(batch, batch_idx)

    batch = _batch()
    for cls in (Student, OwnStep, SubCallsSuper):
        student = _make(cls)
        loss = student.training_step(batch, 0)
        assert student.teacher.calls == [False]  # once, under no_grad
        torch.testing.assert_close(loss, _expected(student, batch), rtol=0, atol=1e-6)
        assert not student._forward_hooks and not student._forward_pre_hooks


def test_teacher_runs_before_the_students_forward_on_its_input() -> None:
    student = _make(Student)
    student.teacher.register_forward_hook(lambda *_: student.order.append("teacher"))
    student.training_step(_batch(), 0)
    assert student.order == ["teacher", "student"]


def test_only_the_first_forward_is_paired() -> None:
    class TwoViews(DistillationMixin, Base):
        def training_step(self, batch: Any, batch_idx: int) -> Tensor:
            x, y = batch
            return F.cross_entropy(self(x), y) + 0.0 * self(x.flip(0)).sum()

    student = _make(TwoViews)
    batch = _batch()
    loss = student.training_step(batch, 0)
    assert student.teacher.calls == [False] and student.order == ["student", "student"]
    torch.testing.assert_close(loss, _expected(student, batch), rtol=0, atol=1e-6)


def test_dict_return_keeps_its_other_keys_and_none_skips() -> None:
    class DictStep(DistillationMixin, Base):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            x, y = batch
            logits = self(x)
            if batch_idx == 1:
                return None
            return {"loss": F.cross_entropy(logits, y), "preds": logits.argmax(1)}

    student = _make(DictStep)
    batch = _batch()
    out = student.training_step(batch, 0)
    assert set(out) == {"loss", "preds"}
    torch.testing.assert_close(out["loss"], _expected(student, batch), rtol=0, atol=1e-6)
    assert torch.equal(out["preds"], student.model(batch[0]).argmax(1))
    assert student.training_step(batch, 1) is None


def test_a_step_that_bypasses_the_forward_names_the_override_point() -> None:
    class CallsModel(DistillationMixin, Base):
        def training_step(self, batch: Any, batch_idx: int) -> Tensor:
            x, y = batch
            return F.cross_entropy(self.model(x), y)

    student = _make(CallsModel)
    with pytest.raises(
        RuntimeError,
        match=r"CallsModel.training_step never called the student's forward module `self\(...\)`"
        r".*override `distillation_module\(\)` to return it \(`return self.model`\)",
    ):
        student.training_step(_batch(), 0)
    assert not student._forward_hooks and not student._forward_pre_hooks  # removed on error

    class Fixed(CallsModel):
        def distillation_module(self) -> nn.Module:
            return self.model

    student = _make(Fixed)
    batch = _batch()
    torch.testing.assert_close(
        student.training_step(batch, 0), _expected(student, batch), rtol=0, atol=1e-6
    )
    assert not student.model._forward_hooks and not student.model._forward_pre_hooks


def test_outputs_without_logits_name_the_override_point() -> None:
    class TupleForward(DistillationMixin, Base):
        def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
            return self.model(x), x

        def training_step(self, batch: Any, batch_idx: int) -> Tensor:
            x, y = batch
            return F.cross_entropy(self(x)[0], y)

    with pytest.raises(
        TypeError,
        match=r"the student's forward \(TupleForward\) returned tuple, expected a logits tensor "
        r"\(N, K\) or an object with `.logits`; override `distillation_logits`",
    ):
        _make(TupleForward).training_step(_batch(), 0)

    class Fixed(TupleForward):
        def distillation_logits(self, output: Any) -> Tensor:
            return output[0]

    student = _make(Fixed)
    batch = _batch()
    torch.testing.assert_close(
        student.training_step(batch, 0), _expected(student, batch), rtol=0, atol=1e-6
    )


def test_teacher_gets_the_students_call_adapted_or_a_clear_error() -> None:
    class KeywordForward(DistillationMixin, Base):
        def forward(self, x: Tensor, scale: float = 1.0, labels: Tensor | None = None) -> Tensor:
            return self.model(x) * scale

        def training_step(self, batch: Any, batch_idx: int) -> Tensor:
            x, y = batch
            return F.cross_entropy(self(x=x, scale=1.0, labels=y), y)

    student = _make(KeywordForward)  # CountingTeacher.forward(x): `scale`, `labels` dropped
    batch = _batch()
    torch.testing.assert_close(
        student.training_step(batch, 0), _expected(student, batch), rtol=0, atol=1e-6
    )

    class PairTeacher(nn.Module):
        def forward(self, x: Tensor, mask: Tensor) -> Tensor:
            return x[:, :4] * mask

    with pytest.raises(
        TypeError,
        match=r"the teacher PairTeacher cannot be called like the student's forward "
        r"\(x=, scale=, labels=\): its forward takes \(x: .*mask: .*\).*; override "
        r"`teacher_logits\(\*args, \*\*kwargs\)`",
    ):
        _make(KeywordForward, PairTeacher()).training_step(batch, 0)


def test_one_logit_pairing_and_mismatch() -> None:
    class Binary(DistillationMixin, Base):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.model = nn.Linear(12, 1)

        def training_step(self, batch: Any, batch_idx: int) -> Tensor:
            x, y = batch
            return F.binary_cross_entropy_with_logits(self(x).squeeze(1), (y > 1).float())

    batch = _batch()
    student = _make(Binary, CountingTeacher(k=1))
    x, y = batch
    with torch.no_grad():
        s, t = student.model(x), student.teacher(x)
        own = F.binary_cross_entropy_with_logits(s.squeeze(1), (y > 1).float())
        p_s, p_t = torch.sigmoid(s / T), torch.sigmoid(t / T)
        kl = (p_t * (p_t / p_s).log() + (1 - p_t) * ((1 - p_t) / (1 - p_s)).log()).mean()
    got = student.training_step(batch, 0)
    torch.testing.assert_close(got, (1 - ALPHA) * own + ALPHA * T * T * kl, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match=r"\(6, 1\) but the teacher's have \(6, 4\)"):
        _make(Binary).training_step(batch, 0)


def test_explicit_distillation_loss_switches_the_automatic_term_off() -> None:
    class Explicit(DistillationMixin, Base):
        def training_step(self, batch: Any, batch_idx: int) -> Tensor:
            x, y = batch
            return self.distillation_loss(self(x), x, y, log=False)

    student = _make(Explicit)
    batch = _batch()
    torch.testing.assert_close(
        student.training_step(batch, 0), _expected(student, batch), rtol=0, atol=1e-6
    )


def _save(path: Path) -> Path:
    torch.save(nn.Linear(12, 4).state_dict(), path)
    return path


def test_unreadable_teacher_checkpoints_name_the_file(tmp_path: Path) -> None:
    good = _save(tmp_path / "good.pt")
    data = good.read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage.pt").write_bytes(b"\x13\x37" * 100)
    # flip one byte inside the stored tensor data: the zip member's CRC-32 no longer matches
    damaged = bytearray(data)
    weights = torch.load(good, weights_only=True)["weight"]
    raw = weights.numpy().tobytes()
    at = bytes(damaged).index(raw[:16]) + 4
    damaged[at] ^= 0xFF
    assert zlib.crc32(bytes(damaged)) != zlib.crc32(data)
    (tmp_path / "damaged.pt").write_bytes(bytes(damaged))
    cases = {
        "truncated.pt": r"the zip archive is truncated or damaged",
        "garbage.pt": r"it is not a file written by torch.save or Lightning",
        "damaged.pt": r"its member '.*/data/0' is damaged \(CRC check failed\)",
    }
    for name, why in cases.items():
        with pytest.raises(
            ValueError,
            match=rf"`teacher_checkpoint` '.*{name}' is not a readable checkpoint: {why}",
        ):
            Student(teacher=CountingTeacher(), teacher_checkpoint=str(tmp_path / name))
    student = Student(teacher=CountingTeacher(), teacher_checkpoint=str(good))  # still loads
    assert torch.equal(student.teacher.fc.weight, weights)
