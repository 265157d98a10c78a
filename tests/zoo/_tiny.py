"""A tiny residual CNN shared by the schedule / EMA / init zoo modules (3x8x8 inputs)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ResBlock(nn.Module):
    """A basic residual block (its last BatchNorm is ``bn2``, found by ZeroInitResidualBN)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: Tensor) -> Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.bn2(self.conv2(out)))


def tiny_resnet(in_channels: int = 3, num_classes: int = 4, width: int = 4) -> nn.Sequential:
    """Conv stem, one residual block, global pooling and a linear head."""
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        ResBlock(width),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(width, num_classes),
    )
