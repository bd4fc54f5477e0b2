"""CIFAR ResNet-20/32/56 (He et al. 2016), with 1x1-conv shortcuts where the shape changes."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pipeline.models.registry import register


class Block(nn.Module):
    def __init__(self, kit, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = kit.conv(c_in, c_out, (3, 3), stride=stride, padding=1)
        self.bn1 = kit.batchnorm(c_out)
        self.conv2 = kit.conv(c_out, c_out, (3, 3), padding=1)
        self.bn2 = kit.batchnorm(c_out)
        self.shortcut = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                kit.conv(c_in, c_out, (1, 1), stride=stride), kit.batchnorm(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return torch.relu(h + (x if self.shortcut is None else self.shortcut(x)))


class ResNet(nn.Module):
    def __init__(self, kit, input_shape, num_classes, blocks_per_stage: int, width: int = 16):
        super().__init__()
        self.kit = kit
        self.conv = kit.conv(input_shape[0], width, (3, 3), padding=1)
        self.bn = kit.batchnorm(width)
        layers, c_in = [], width
        for stage in range(3):
            c_out = width * 2**stage
            for index in range(blocks_per_stage):
                stride = 2 if stage > 0 and index == 0 else 1
                layers.append(Block(kit, c_in, c_out, stride))
                c_in = c_out
        self.blocks = nn.Sequential(*layers)
        self.fc = kit.linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn(self.conv(self.kit.image(x))))
        h = F.adaptive_avg_pool2d(self.blocks(h), 1)
        return self.fc(self.kit.flatten(h))


def _register(depth: int) -> None:
    @register(f"resnet{depth}", "image")
    def build(kit, input_shape, num_classes):
        return ResNet(kit, input_shape, num_classes, (depth - 2) // 6)


for _depth in (20, 32, 56):
    _register(_depth)
