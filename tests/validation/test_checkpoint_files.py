"""Corrupt, truncated and foreign checkpoint files: one ValueError naming file and argument."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from lightning_tricks._checkpoint import load_checkpoint
from lightning_tricks.models import CifarResNet, DistillationModule


def _good(tmp_path: Path) -> Path:
    path = tmp_path / "good.ckpt"
    torch.save({"state_dict": CifarResNet(depth=8, num_classes=4).state_dict()}, path)
    return path


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    data = _good(tmp_path).read_bytes()
    files = {
        "empty": b"",
        "truncated": data[: len(data) // 2],
        "truncated_head": data[:100],
        "text": b"epoch: 3\nlr: 0.1\n",
        "random": bytes(range(256)) * 8,
        "pickle_garbage": b"\x80\x04\x95" + b"\xad" * 64,
    }
    out = {}
    for name, content in files.items():
        path = tmp_path / f"{name}.ckpt"
        path.write_bytes(content)
        out[name] = path
    return out


KINDS = ["empty", "truncated", "truncated_head", "text", "random", "pickle_garbage"]


def test_a_good_checkpoint_loads(tmp_path: Path) -> None:
    obj = load_checkpoint(_good(tmp_path), "teacher_checkpoint")
    assert set(obj) == {"state_dict"}
    assert torch.equal(
        obj["state_dict"]["fc.weight"],
        torch.load(tmp_path / "good.ckpt")["state_dict"]["fc.weight"],
    )


@pytest.mark.parametrize("kind", KINDS)
def test_unreadable_file_names_argument_and_file(tmp_path: Path, kind: str) -> None:
    path = _bad_files(tmp_path)[kind]
    with pytest.raises(ValueError, match=r"`ckpt_path` '.*" + re.escape(path.name)) as info:
        load_checkpoint(path, "ckpt_path")
    assert "is not a readable checkpoint" in str(info.value)
    assert info.value.__cause__ is not None


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"`ckpt_path` .*nope\.ckpt' does not exist"):
        load_checkpoint(tmp_path / "nope.ckpt", "ckpt_path")
    with pytest.raises(ValueError, match=r"`ckpt_path` .* is a directory"):
        load_checkpoint(tmp_path, "ckpt_path")


@pytest.mark.parametrize("kind", ["empty", "truncated", "random"])
def test_teacher_checkpoint_that_is_not_a_checkpoint(tmp_path: Path, kind: str) -> None:
    path = _bad_files(tmp_path)[kind]
    teacher = CifarResNet(depth=8, num_classes=4)
    with pytest.raises(ValueError, match=r"`teacher_checkpoint` '.*" + re.escape(path.name)):
        DistillationModule(
            backbone="simple_cnn",
            num_classes=4,
            teacher=teacher,
            teacher_checkpoint=str(path),
        )


def test_teacher_checkpoint_good_file_still_loads(tmp_path: Path) -> None:
    path = _good(tmp_path)
    teacher = CifarResNet(depth=8, num_classes=4)
    model = DistillationModule(
        backbone="simple_cnn", num_classes=4, teacher=teacher, teacher_checkpoint=str(path)
    )
    expected = torch.load(path)["state_dict"]["fc.weight"]
    assert model.teacher is not None
    assert torch.equal(model.teacher.fc.weight, expected)


class _Custom:
    pass


def test_checkpoint_with_objects_is_not_called_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "objects.ckpt"
    torch.save({"state_dict": {}, "extra": _Custom()}, path)
    with pytest.raises(ValueError, match=r"`ckpt_path` .* holds Python objects .*_Custom"):
        load_checkpoint(path, "ckpt_path")
