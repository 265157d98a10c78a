"""DistillationMixin / DistillationModule without a Trainer: freezing, hiding, loading, errors."""

from __future__ import annotations

import copy
import pickle
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from helpers import TinyClassifier
from jsonargparse import ArgumentParser
from torch import nn

from lightning_tricks.functional import kd_loss
from lightning_tricks.mixins import DistillationMixin
from lightning_tricks.models import CifarResNet, DistillationModule, ImageClassifier


class TinyStudent(DistillationMixin, TinyClassifier):
    """The cooperative form: the mixin in front of any LightningModule."""


def _teacher(depth: int = 8, num_classes: int = 4, in_channels: int = 3) -> CifarResNet:
    torch.manual_seed(1)
    return CifarResNet(depth=depth, num_classes=num_classes, in_channels=in_channels, width=4)


def _student(**kwargs: object) -> DistillationModule:
    kwargs.setdefault("teacher", _teacher())
    return DistillationModule("simple_cnn", num_classes=4, in_channels=3, **kwargs)


def test_teacher_is_frozen_and_hidden_from_module_machinery() -> None:
    teacher = _teacher()
    student = _student(teacher=teacher)
    assert student.teacher is teacher
    teacher_ids = {id(p) for p in teacher.parameters()}
    assert teacher_ids and not teacher_ids & {id(p) for p in student.parameters()}
    assert not {id(m) for m in teacher.modules()} & {id(m) for m in student.modules()}
    assert all(k.startswith(("model.", "distillation_criterion")) for k in student.state_dict())
    assert not any(p.requires_grad for p in teacher.parameters())
    assert all(p.requires_grad for p in student.parameters())
    # train()/eval() of the student never flip the teacher into train mode
    for mode in (True, False, True):
        student.train(mode)
        assert student.training is mode and student.model.training is mode
        assert not any(m.training for m in teacher.modules())
    teacher.train()  # even if someone flips it, the next student.train() restores eval
    student.train()
    assert not any(m.training for m in teacher.modules())
    assert "teacher" not in dict(student.named_children())


def test_device_and_dtype_moves_reach_the_teacher() -> None:
    student = _student()
    student.double()
    assert all(p.dtype == torch.float64 for p in student.teacher.parameters())
    assert student.teacher.bn1.running_mean.dtype == torch.float64
    student.to(torch.float32)
    assert all(p.dtype == torch.float32 for p in student.teacher.parameters())
    assert not any(p.requires_grad for p in student.teacher.parameters())


@pytest.mark.gpu
def test_cuda_move_reaches_the_teacher() -> None:
    student = _student().cuda()
    assert all(p.is_cuda for p in student.teacher.parameters())
    x = torch.randn(2, 3, 8, 8, device="cuda")
    assert student.teacher_logits(x).device == x.device


def test_assigning_the_teacher_freezes_and_hides_it() -> None:
    student = _student(teacher=None)
    assert student.teacher is None
    other = _teacher()
    student.teacher = other
    assert student.teacher is other
    assert not any(p.requires_grad for p in other.parameters()) and not other.training
    assert "teacher" not in student._modules
    student.teacher = None
    assert student.teacher is None
    with pytest.raises(TypeError, match=r"`teacher` must be an nn.Module \(or None\), got str"):
        student.teacher = "resnet"  # type: ignore[assignment]


def test_distillation_loss_equals_the_formula_and_never_touches_the_teacher() -> None:
    teacher = _teacher()
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    student = _student(teacher=teacher, temperature=3.0, alpha=0.7)
    student.train()
    x, y = torch.randn(6, 3, 8, 8), torch.randint(0, 4, (6,))
    logits = student(x)
    loss = student.distillation_loss(logits, x, y, log=False)
    t = teacher(x).detach()  # the teacher is in eval mode: the same logits as in the loss
    expected = 0.7 * kd_loss(logits, t, 3.0) + 0.3 * F.cross_entropy(logits, y)
    torch.testing.assert_close(loss, expected, rtol=0, atol=0)
    assert not student.teacher_logits(x).requires_grad
    given = student.distillation_loss(logits, x, y, teacher_logits=t, log=False)
    torch.testing.assert_close(given, loss, rtol=0, atol=0)
    loss.backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert all(p.grad is not None for p in student.parameters())
    for k, v in teacher.state_dict().items():  # BN statistics unchanged by the student's step
        assert torch.equal(v, before[k]), k


def test_soft_targets_are_accepted() -> None:
    student = _student()
    x = torch.randn(5, 3, 8, 8)
    y = torch.softmax(torch.randn(5, 4), 1)
    assert torch.isfinite(student.distillation_loss(student(x), x, y, log=False))


def test_hparams_never_record_the_teacher_and_no_warning() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        student = _student(temperature=2.0, alpha=0.5, save_teacher=True)
        tiny = TinyStudent(num_classes=4, teacher=_teacher(), temperature=3.0)
    assert not [w for w in caught if "nn.Module" in str(w.message)], caught
    assert "teacher" not in student.hparams and "teacher_checkpoint" not in student.hparams
    assert (student.hparams.temperature, student.hparams.alpha) == (2.0, 0.5)
    assert student.hparams.save_teacher is True and student.hparams.backbone == "simple_cnn"
    assert "teacher" not in tiny.hparams and tiny.hparams.temperature == 3.0
    assert tiny.hparams.num_classes == 4


def test_bad_arguments_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"`temperature` must be a finite number > 0, got 0.0"):
        _student(temperature=0)
    with pytest.raises(ValueError, match=r"`alpha` must be a finite float in \[0, 1\], got 1.5"):
        _student(alpha=1.5)
    with pytest.warns(UserWarning, match=r"`alpha`=0 trains the student on the labels only"):
        _student(alpha=0.0)
    with pytest.raises(TypeError, match=r"`save_teacher` must be a bool, got str"):
        _student(save_teacher="yes")
    with pytest.raises(TypeError, match=r"`teacher` must be an nn.Module \(or None\), got str"):
        _student(teacher="cifar_resnet20")
    with pytest.raises(ValueError, match=r"`teacher_checkpoint` \(t.ckpt\) needs a `teacher`"):
        _student(teacher=None, teacher_checkpoint="t.ckpt")
    with pytest.raises(TypeError, match=r"`teacher_checkpoint` must be a path.*got int"):
        _student(teacher_checkpoint=3)
    with pytest.raises(ValueError, match=r"predicts 5 classes but the student predicts 4"):
        _student(teacher=_teacher(num_classes=5))
    shared = ImageClassifier("simple_cnn", num_classes=4)

    class Sharing(DistillationMixin, ImageClassifier):
        def __init__(self) -> None:
            super().__init__(backbone="simple_cnn", num_classes=4)
            self.model = shared.model
            self.teacher = shared

    with pytest.raises(ValueError, match=r"`teacher` shares parameters with the student"):
        Sharing()


def test_runtime_errors_name_the_problem() -> None:
    # a teacher whose width cannot be read up front is caught on the first batch
    wide = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 6))
    student = _student(teacher=wide)
    x, y = torch.randn(2, 3, 8, 8), torch.tensor([0, 1])
    with pytest.raises(ValueError, match=r"teacher's logits have shape \(2, 6\) but the student"):
        student.distillation_loss(student(x), x, y, log=False)
    with pytest.raises(RuntimeError, match=r"DistillationModule has no teacher: pass `teacher="):
        _student(teacher=None).training_step([x, y], 0)
    with pytest.raises(RuntimeError, match=r"DistillationModule has no teacher"):
        _student(teacher=None).setup("fit")

    class TupleTeacher(nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return x.flatten(1)[:, :4], x

    student = _student(teacher=TupleTeacher())
    with pytest.raises(TypeError, match=r"returned tuple, expected a logits tensor"):
        student.distillation_loss(student(x), x, y, log=False)


def test_distillation_targets_layouts() -> None:
    student = _student()
    x, y = torch.randn(2, 3, 8, 8), torch.tensor([0, 1])
    for batch in (
        [x, y],
        (x, y, "extra"),
        {"image": x, "label": y},
        {"pixel_values": x, "labels": y},
    ):
        assert student.distillation_targets(batch) is y
    assert student.distillation_targets(x) is None
    assert student.distillation_targets({"image": x}) is None


def _save(obj: object, path: Path) -> Path:
    torch.save(obj, path)
    return path


def test_teacher_checkpoint_prefixes_are_handled(tmp_path: Path) -> None:
    torch.manual_seed(3)
    trained = ImageClassifier("cifar_resnet8", num_classes=4, in_channels=3)
    for p in trained.parameters():
        p.data.normal_()
    ref = trained.model.state_dict()
    lightning_like = _save(
        {"state_dict": trained.state_dict(), "epoch": 3}, tmp_path / "lightning.ckpt"
    )
    plain = _save(trained.model.state_dict(), tmp_path / "plain.pt")
    ddp = _save({f"module.{k}": v for k, v in ref.items()}, tmp_path / "ddp.pt")
    torchvision_like = _save({"model": trained.model.state_dict()}, tmp_path / "tv.pth")
    # Lightning checkpoint "model.*" -> plain CifarResNet; plain / "module." / {"model": ...}
    for path in (lightning_like, plain, ddp, torchvision_like):
        student = _student(teacher=CifarResNet(8, 4, 3), teacher_checkpoint=str(path))
        for k, v in student.teacher.state_dict().items():
            assert torch.equal(v, ref[k]), (path.name, k)
    # plain state dict -> an ImageClassifier teacher ("model." is added)
    student = _student(
        teacher=ImageClassifier("cifar_resnet8", num_classes=4), teacher_checkpoint=plain
    )
    assert torch.equal(student.teacher.model.fc.weight, ref["fc.weight"])


def test_teacher_checkpoint_that_does_not_fit(tmp_path: Path) -> None:
    deeper = _save(CifarResNet(14, 4, 3).state_dict(), tmp_path / "deeper.pt")
    with pytest.raises(
        ValueError, match=r"deeper.pt' does not fit the teacher CifarResNet: \d+ of"
    ):
        _student(teacher=CifarResNet(8, 4, 3), teacher_checkpoint=deeper)
    wider = _save(CifarResNet(8, 4, 3, width=8).state_dict(), tmp_path / "wider.pt")
    with pytest.raises(
        ValueError,
        match=r"does not fit the teacher CifarResNet: \d+ tensors differ in shape \(e.g. conv1.weight: \(8, 3, 3, 3\) in the checkpoint, \(16, 3, 3, 3\) in the teacher",
    ):
        _student(teacher=CifarResNet(8, 4, 3), teacher_checkpoint=wider)
    with pytest.raises(
        FileNotFoundError, match=r"`teacher_checkpoint` '.*missing.pt' does not exist"
    ):
        _student(teacher=CifarResNet(8, 4, 3), teacher_checkpoint=str(tmp_path / "missing.pt"))
    junk = _save([1, 2, 3], tmp_path / "junk.pt")
    with pytest.raises(ValueError, match=r"neither a Lightning checkpoint nor a state dict"):
        _student(teacher=CifarResNet(8, 4, 3), teacher_checkpoint=junk)


def test_pickle_and_deepcopy_keep_a_frozen_teacher() -> None:
    student = _student()
    for clone in (pickle.loads(pickle.dumps(student)), copy.deepcopy(student)):
        assert clone.teacher is not None and clone.teacher is not student.teacher
        assert not any(p.requires_grad for p in clone.teacher.parameters())
        for a, b in zip(clone.teacher.state_dict().values(), student.teacher.state_dict().values()):
            assert torch.equal(a, b)
        assert sum(1 for _ in clone.parameters()) == sum(1 for _ in student.parameters())


def test_jsonargparse_sees_the_full_signature() -> None:
    """LightningCLI can configure every argument of the student and its teacher from YAML."""
    expected = {
        "backbone",
        "num_classes",
        "in_channels",
        "dropout",
        "lr",
        "momentum",
        "weight_decay",
        "teacher",
        "teacher_checkpoint",
        "temperature",
        "alpha",
        "save_teacher",
    }

    class CooperativeStudent(DistillationMixin, ImageClassifier):
        pass

    for cls in (DistillationModule, CooperativeStudent):
        parser = ArgumentParser(exit_on_error=False)
        parser.add_class_arguments(cls, "model")
        dests = {a.dest.removeprefix("model.") for a in parser._actions}
        assert expected <= dests, (cls.__name__, expected - dests)
    parser = ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(DistillationModule, "model")
    cfg = parser.parse_object(
        {
            "model": {
                "backbone": "simple_cnn",
                "num_classes": 4,
                "teacher": {
                    "class_path": "lightning_tricks.models.CifarResNet",
                    "init_args": {"depth": 8, "num_classes": 4, "width": 4},
                },
                "alpha": 0.5,
            }
        }
    )
    model = parser.instantiate(cfg).model
    assert isinstance(model.teacher, CifarResNet) and model.distillation_criterion.alpha == 0.5
