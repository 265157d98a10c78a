"""Backbone registry for :class:`~lightning_tricks.models.ImageClassifier`.

Names resolve in this order: a backbone registered here (``cifar_resnet<depth>[_w<width>]``,
``simple_cnn``, or one added with :func:`register_backbone`), then any torchvision
classification model by name (built with ``weights=None``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torchvision
from torch import nn

from .._checks import check_int
from .resnet import cifar_resnet

__all__ = ["available_backbones", "build_backbone", "register_backbone"]

BackboneFactory = Callable[[int, int], nn.Module]
_REGISTRY: dict[str, BackboneFactory] = {}


def register_backbone(name: str, factory: BackboneFactory) -> None:
    """Register ``factory(num_classes, in_channels) -> nn.Module`` under ``name``.

    Example::

        >>> register_backbone("tiny_mlp", lambda k, c: nn.Sequential(nn.Flatten(), nn.LazyLinear(k)))
        >>> "tiny_mlp" in available_backbones()
        True
    """
    _REGISTRY[name] = factory


def available_backbones() -> list[str]:
    """Registered names, example CIFAR ResNet names, and torchvision classification models."""
    ours = sorted(_REGISTRY)
    return [
        *ours,
        "cifar_resnet<6n+2>[_w<width>]",
        *sorted(torchvision.models.list_models(module=torchvision.models)),
    ]


def _replace_first_conv(model: nn.Module, in_channels: int) -> None:
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            if module.in_channels == in_channels:
                return
            # torch types kernel_size/stride/... as tuple[int, ...]; Conv2d's are pairs
            conv: Any = module
            new = nn.Conv2d(
                in_channels,
                module.out_channels,
                conv.kernel_size,
                conv.stride,
                conv.padding,
                conv.dilation,
                module.groups if module.groups == 1 else in_channels,
                module.bias is not None,
                module.padding_mode,
            )
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, new)
            return
    raise ValueError("could not find a Conv2d layer to adapt to `in_channels`")


def build_backbone(name: str, num_classes: int, in_channels: int = 3) -> nn.Module:
    """Build a backbone by name with ``num_classes`` outputs and ``in_channels`` inputs.

    Raises:
        ValueError: if the name is unknown (the message lists what is available).

    Example::

        >>> net = build_backbone("cifar_resnet8", num_classes=10, in_channels=1)
        >>> type(net).__name__
        'CifarResNet'
        >>> type(build_backbone("resnet18", num_classes=5)).__name__
        'ResNet'
    """
    if not isinstance(name, str):
        raise TypeError(f"`name` (the backbone) must be a str, got {type(name).__name__} {name!r}")
    check_int("num_classes", num_classes, 1)
    check_int("in_channels", in_channels, 1)
    if name in _REGISTRY:
        return _REGISTRY[name](num_classes, in_channels)
    if name.startswith("cifar_resnet"):
        return cifar_resnet(name, num_classes=num_classes, in_channels=in_channels)
    tv_models = torchvision.models.list_models(module=torchvision.models)
    if name in tv_models:
        model = torchvision.models.get_model(name, weights=None, num_classes=num_classes)
        if in_channels != 3:
            _replace_first_conv(model, in_channels)
        return model
    raise ValueError(
        f"unknown `backbone` {name!r}: expected one of {sorted(_REGISTRY)}, "
        "'cifar_resnet<6n+2>[_w<width>]' (e.g. 'cifar_resnet20'), "
        "or a torchvision classification model such as 'resnet18' "
        "(see torchvision.models.list_models())"
    )


def _simple_cnn(num_classes: int, in_channels: int) -> nn.Module:
    """Five-layer CNN (4 conv-BN-ReLU + linear) for small inputs such as 16×16 digits."""

    def block(c_in: int, c_out: int, pool: bool) -> list[nn.Module]:
        layers: list[nn.Module] = [
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        ]
        if pool:
            layers.append(nn.MaxPool2d(2))
        return layers

    return nn.Sequential(
        *block(in_channels, 32, False),
        *block(32, 64, True),
        *block(64, 128, True),
        *block(128, 128, False),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(128, num_classes),
    )


register_backbone("simple_cnn", _simple_cnn)
