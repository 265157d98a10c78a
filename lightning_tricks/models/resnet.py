"""A small CIFAR-style ResNet (He et al., 2016, §4.2) for 32×32 inputs.

``depth = 6n + 2`` (resnet8, resnet14, resnet20, resnet32, resnet44, resnet56): a 3×3 stem,
three stages of ``n`` basic blocks with ``width``, ``2·width``, ``4·width`` channels (stride 2
between stages), global average pooling and a linear head.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .._checks import check_int

__all__ = ["BasicBlock", "CifarResNet", "cifar_resnet"]


class BasicBlock(nn.Module):
    """Two 3×3 conv-BN layers with an identity (or 1×1 projection) shortcut.

    The last BatchNorm of the residual branch is ``bn2`` (what zero-γ init targets).
    """

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        check_int("in_planes", in_planes, 1)
        check_int("planes", planes, 1)
        check_int("stride", stride, 1)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class CifarResNet(nn.Module):
    """CIFAR-style ResNet of depth ``6n + 2``.

    Args:
        depth: total depth, ``6n + 2`` with ``n >= 1`` (8, 14, 20, 32, 44, 56, 110). Default 20.
        num_classes: output width (>= 1). Default 10.
        in_channels: input channels (>= 1). Default 3.
        width: channels of the first stage (>= 1). Default 16.

    Raises:
        ValueError: for a depth that is not ``6n + 2`` or a non-positive size.

    Example::

        >>> net = CifarResNet(depth=8, num_classes=10, in_channels=1)
        >>> net(torch.randn(2, 1, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self, depth: int = 20, num_classes: int = 10, in_channels: int = 3, width: int = 16
    ) -> None:
        super().__init__()
        check_int("depth", depth, 8)
        if (depth - 2) % 6 != 0:
            raise ValueError(f"`depth` must be 6n + 2 with n >= 1 (8, 14, 20, ...), got {depth}")
        for name, value in (
            ("num_classes", num_classes),
            ("in_channels", in_channels),
            ("width", width),
        ):
            check_int(name, value, 1)
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        layers = []
        in_planes = width
        for i, planes in enumerate((width, 2 * width, 4 * width)):
            blocks = []
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(BasicBlock(in_planes, planes, stride))
                in_planes = planes
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = layers
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_planes, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        """Pooled features before the classifier head, shape ``(N, 4·width)``."""
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.forward_features(x))


def cifar_resnet(name: str, num_classes: int = 10, in_channels: int = 3) -> CifarResNet:
    """Build ``cifar_resnet<depth>`` (e.g. ``"cifar_resnet20"``) or ``cifar_resnet<depth>_w<width>``.

    The ``cifar_`` prefix keeps these apart from torchvision's ImageNet ResNets
    (``resnet50`` is both ``6n + 2`` and a torchvision model).

    Example::

        >>> cifar_resnet("cifar_resnet8_w8", num_classes=10, in_channels=1).fc.in_features
        32
    """
    if not isinstance(name, str):
        raise TypeError(f"`name` must be a str such as 'cifar_resnet20', got {name!r}")
    body = name.removeprefix("cifar_resnet")
    depth_s, _, width_s = body.partition("_w")
    if (
        not name.startswith("cifar_resnet")
        or not depth_s.isdigit()
        or (width_s and not width_s.isdigit())
    ):
        raise ValueError(
            f"expected a name like 'cifar_resnet20' or 'cifar_resnet20_w32', got {name!r}"
        )
    return CifarResNet(int(depth_s), num_classes, in_channels, int(width_s) if width_s else 16)
