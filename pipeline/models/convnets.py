"""Plain convolutional nets: Conv-2/4/6 (Frankle & Carbin 2019), CIFAR VGG, the MNIST-1D CNN."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from pipeline.models.registry import register

POOL = "M"


class ConvStack(nn.Module):
    """conv (+BN) + ReLU layers with max-pools, then linear layers with ReLU between them.

    `plan` lists conv widths and POOL markers; `pool_to` optionally average-pools the last
    feature map by that factor before the linear layers.
    """

    def __init__(
        self,
        kit,
        input_shape,
        num_classes,
        plan: list,
        hidden: list[int],
        batchnorm: bool,
        pool_to: int = 1,
    ):
        super().__init__()
        self.kit, self.plan, self.batchnorm, self.pool_to = kit, plan, batchnorm, pool_to
        channels, size = input_shape[0], input_shape[1]
        self.convs, self.norms = nn.ModuleList(), nn.ModuleList()
        for item in plan:
            if item == POOL:
                size //= 2
                continue
            self.convs.append(kit.conv(channels, item, (3, 3), padding=1, bias=not batchnorm))
            if batchnorm:
                self.norms.append(kit.batchnorm(item))
            channels = item
        size //= pool_to
        widths = [channels * size * size, *hidden, num_classes]
        self.fcs = nn.ModuleList(kit.linear(a, b) for a, b in zip(widths[:-1], widths[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.kit.image(x)
        layer = 0
        for item in self.plan:
            if item == POOL:
                h = F.max_pool2d(h, 2)
                continue
            h = self.convs[layer](h)
            if self.batchnorm:
                h = self.norms[layer](h)
            h = torch.relu(h)
            layer += 1
        if self.pool_to > 1:
            h = F.avg_pool2d(h, self.pool_to)
        h = self.kit.flatten(h)
        for index, fc in enumerate(self.fcs):
            h = fc(h)
            if index < len(self.fcs) - 1:
                h = torch.relu(h)
        return h


_CONV_PLANS = {
    "conv2": [64, 64, POOL],
    "conv4": [64, 64, POOL, 128, 128, POOL],
    "conv6": [64, 64, POOL, 128, 128, POOL, 256, 256, POOL],
}
_VGG_PLANS = {
    "vgg11": [64, POOL, 128, POOL, 256, 256, POOL, 512, 512, POOL, 512, 512],
    "vgg16": [
        64,
        64,
        POOL,
        128,
        128,
        POOL,
        256,
        256,
        256,
        POOL,
        512,
        512,
        512,
        POOL,
        512,
        512,
        512,
    ],
    "vgg19": [
        64,
        64,
        POOL,
        128,
        128,
        POOL,
        256,
        256,
        256,
        256,
        POOL,
        512,
        512,
        512,
        512,
        POOL,
        512,
        512,
        512,
        512,
    ],
}


def _register_conv(name: str, plan: list) -> None:
    @register(name, "image")
    def build(kit, input_shape, num_classes):
        return ConvStack(kit, input_shape, num_classes, plan, [256, 256], batchnorm=False)


def _register_vgg(name: str, plan: list) -> None:
    @register(name, "image")
    def build(kit, input_shape, num_classes):
        return ConvStack(kit, input_shape, num_classes, plan, [], batchnorm=True, pool_to=2)


for _name, _plan in _CONV_PLANS.items():
    _register_conv(_name, _plan)
for _name, _plan in _VGG_PLANS.items():
    _register_vgg(_name, _plan)


class CNN1d(nn.Module):
    """The MNIST-1D CNN of Greydanus 2020: three strided Conv1d layers and a linear head."""

    def __init__(self, kit, input_shape, num_classes, channels: int = 25):
        super().__init__()
        self.kit = kit
        length = input_shape[1]
        self.conv1 = kit.conv(input_shape[0], channels, (5,), stride=2, padding=1, bias=True)
        self.conv2 = kit.conv(channels, channels, (3,), stride=2, padding=1, bias=True)
        self.conv3 = kit.conv(channels, channels, (3,), stride=2, padding=1, bias=True)
        for kernel in (5, 3, 3):
            length = math.floor((length + 2 - kernel) / 2) + 1
        self.fc = kit.linear(channels * length, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.kit.image(x)
        for conv in (self.conv1, self.conv2, self.conv3):
            h = torch.relu(conv(h))
        return self.fc(self.kit.flatten(h))


@register("mnist1d_cnn", "image")
def mnist1d_cnn(kit, input_shape, num_classes):
    return CNN1d(kit, input_shape, num_classes)
