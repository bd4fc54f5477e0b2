"""Fully connected nets: LeNet-300-100 (Frankle & Carbin 2019) and the MNIST-1D MLP."""

from __future__ import annotations

import math

import torch
from torch import nn

from pipeline.models.registry import register


class MLP(nn.Module):
    """Linear layers fc1..fcN with ReLU between them."""

    def __init__(self, kit, input_shape: tuple[int, ...], num_classes: int, hidden: list[int]):
        super().__init__()
        self.kit = kit
        widths = [math.prod(input_shape), *hidden, num_classes]
        for index, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:]), start=1):
            self.add_module(f"fc{index}", kit.linear(fan_in, fan_out))
        self.depth = len(widths) - 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.kit.vector(x)
        for index in range(1, self.depth + 1):
            h = getattr(self, f"fc{index}")(h)
            if index < self.depth:
                h = torch.relu(h)
        return h


@register("lenet_300_100", "vector")
def lenet_300_100(kit, input_shape, num_classes):
    return MLP(kit, input_shape, num_classes, [300, 100])


@register("mnist1d_mlp", "vector")
def mnist1d_mlp(kit, input_shape, num_classes):
    return MLP(kit, input_shape, num_classes, [100, 100])
