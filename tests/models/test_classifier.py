"""The reference ImageClassifier and its backbones."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lightning_tricks.models import CifarResNet, ImageClassifier, build_backbone


@pytest.mark.parametrize("depth", [8, 14, 20])
def test_cifar_resnet_depth(depth: int) -> None:
    net = CifarResNet(depth=depth, num_classes=7, in_channels=1, width=8)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs) == depth - 1  # stem + 2 per block; the head is the last layer
    assert net(torch.randn(3, 1, 32, 32)).shape == (3, 7)


def test_cifar_resnet_errors() -> None:
    with pytest.raises(ValueError, match=r"`depth` must be 6n \+ 2 with n >= 1.*got 10"):
        CifarResNet(depth=10)
    with pytest.raises(ValueError, match=r"`width` must be >= 1, got 0"):
        CifarResNet(width=0)
    with pytest.raises(ValueError, match=r"expected a name like 'cifar_resnet20'"):
        build_backbone("cifar_resnetX", 10)


def test_torchvision_backbone_with_other_channels() -> None:
    net = build_backbone("resnet18", num_classes=5, in_channels=1)
    assert net.conv1.in_channels == 1
    assert net(torch.randn(2, 1, 32, 32)).shape == (2, 5)
    with pytest.raises(ValueError, match=r"unknown `backbone` 'nope'.*resnet18"):
        build_backbone("nope", 10)


def test_simple_cnn_backbone() -> None:
    net = build_backbone("simple_cnn", num_classes=10, in_channels=1)
    assert net(torch.randn(2, 1, 16, 16)).shape == (2, 10)


def test_dropout_is_inserted_before_the_head() -> None:
    model = ImageClassifier("cifar_resnet8", num_classes=10, in_channels=1, dropout=0.3)
    head = model.model.fc
    assert isinstance(head, nn.Sequential)
    assert isinstance(head[0], nn.Dropout) and head[0].p == 0.3
    assert isinstance(head[1], nn.Linear)
    tv = ImageClassifier("mobilenet_v3_small", num_classes=4, dropout=0.5)
    assert isinstance(tv.model.classifier[-1], nn.Sequential)


def test_training_step_accepts_index_and_probability_targets() -> None:
    model = ImageClassifier("cifar_resnet8", num_classes=3, in_channels=1)
    x = torch.randn(4, 1, 32, 32)
    y = torch.tensor([0, 1, 2, 1])
    soft = torch.nn.functional.one_hot(y, 3).float()
    loss_idx = model.training_step([x, y], 0)
    loss_soft = model.training_step([x, soft], 0)
    assert torch.allclose(loss_idx, loss_soft, atol=1e-6)
    loss_dict = model.training_step({"image": x, "label": y}, 0)
    assert torch.allclose(loss_idx, loss_dict, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_classes": 1}, r"`num_classes` must be >= 2, got 1"),
        ({"in_channels": 0}, r"`in_channels` must be >= 1, got 0"),
        ({"dropout": 1.0}, r"`dropout` must be a finite float in \[0, 1\), got 1.0"),
        ({"lr": 0.0}, r"`lr` must be a finite float in \(0, inf\), got 0.0"),
        ({"lr": float("nan")}, r"`lr` must be a finite float in \(0, inf\), got nan"),
        ({"momentum": -0.1}, r"`momentum` must be a finite float in \[0, 1\), got -0.1"),
        ({"weight_decay": -1.0}, r"`weight_decay` must be a finite float in \[0, inf\), got -1.0"),
        ({"weight_decay": float("inf")}, r"`weight_decay` must be .* got inf"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ImageClassifier(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"backbone": 18}, r"`backbone` must be a str such as 'cifar_resnet20', got int 18"),
        ({"dropout": "0.1"}, r"`dropout` must be a finite float in \[0, 1\), got str '0.1'"),
        ({"lr": None}, r"`lr` must be a finite float in \(0, inf\), got NoneType None"),
        ({"num_classes": 10.0}, r"`num_classes` must be an integer, got float 10.0"),
    ],
)
def test_wrong_argument_types(kwargs: dict, match: str) -> None:
    with pytest.raises(TypeError, match=match):
        ImageClassifier(**kwargs)
