"""Layer kits: each architecture is written once and built either plain or as a cohort.

A cohort of K members is one network whose parameters hold the K members'
parameters stacked along the first axis (every tensor is [K * n, ...]):
linear layers run as one batched matmul, convolutions as one grouped
convolution (groups=K) and BatchNorm over K*C channels, so each member keeps
exactly its own statistics. Activations are [K, B, F] between linear layers and
[B, K*C, *spatial] between convolutions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _kaiming(weight: torch.Tensor) -> None:
    nn.init.kaiming_normal_(weight)


class PlainKit:
    """Ordinary torch layers; activations are [B, ...]."""

    members = 1

    def linear(self, fan_in: int, fan_out: int, bias: bool = True) -> nn.Module:
        return nn.Linear(fan_in, fan_out, bias=bias)

    def conv(
        self,
        c_in: int,
        c_out: int,
        kernel: tuple[int, ...],
        stride: int = 1,
        padding: int = 0,
        bias: bool = False,
    ) -> nn.Module:
        cls = nn.Conv1d if len(kernel) == 1 else nn.Conv2d
        return cls(c_in, c_out, kernel, stride=stride, padding=padding, bias=bias)

    def batchnorm(self, channels: int, dims: int = 2) -> nn.Module:
        return (nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d)(channels)

    def image(self, x: torch.Tensor) -> torch.Tensor:
        """Network input [B, C, *spatial] to the convolution layout."""
        return x

    def vector(self, x: torch.Tensor) -> torch.Tensor:
        """Network input [B, *shape] to the linear layout."""
        return x.flatten(1)

    def flatten(self, h: torch.Tensor) -> torch.Tensor:
        """Convolution activations to the linear layout."""
        return h.flatten(1)


class CohortLinear(nn.Module):
    """K independent linear layers as one batched matmul; weight [K*out, in]."""

    def __init__(self, members: int, fan_in: int, fan_out: int, bias: bool = True):
        super().__init__()
        self.members, self.in_features, self.out_features = members, fan_in, fan_out
        self.weight = nn.Parameter(torch.empty(members * fan_out, fan_in))
        self.bias = nn.Parameter(torch.zeros(members * fan_out)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [K, B, in]
        weight = self.weight.view(self.members, self.out_features, self.in_features)
        if self.bias is None:
            return torch.bmm(x, weight.transpose(1, 2))
        bias = self.bias.view(self.members, 1, self.out_features)
        return torch.baddbmm(bias, x, weight.transpose(1, 2))


class CohortConv(nn.Module):
    """K independent convolutions as one grouped convolution; weight [K*c_out, c_in, *k]."""

    def __init__(
        self,
        members: int,
        c_in: int,
        c_out: int,
        kernel: tuple[int, ...],
        stride: int,
        padding: int,
        bias: bool,
    ):
        super().__init__()
        self.members, self.stride, self.padding = members, stride, padding
        self.weight = nn.Parameter(torch.empty(members * c_out, c_in, *kernel))
        self.bias = nn.Parameter(torch.zeros(members * c_out)) if bias else None
        self._conv = F.conv1d if len(kernel) == 1 else F.conv2d

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [B, K*c_in, *spatial]
        return self._conv(x, self.weight, self.bias, self.stride, self.padding, 1, self.members)


class CohortKit:
    """Layers holding K members; see the module docstring for the layouts."""

    def __init__(self, members: int):
        self.members = members

    def linear(self, fan_in: int, fan_out: int, bias: bool = True) -> nn.Module:
        return CohortLinear(self.members, fan_in, fan_out, bias)

    def conv(
        self,
        c_in: int,
        c_out: int,
        kernel: tuple[int, ...],
        stride: int = 1,
        padding: int = 0,
        bias: bool = False,
    ) -> nn.Module:
        return CohortConv(self.members, c_in, c_out, kernel, stride, padding, bias)

    def batchnorm(self, channels: int, dims: int = 2) -> nn.Module:
        return (nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d)(self.members * channels)

    def image(self, x: torch.Tensor) -> torch.Tensor:  # [K, B, C, *sp] -> [B, K*C, *sp]
        return x.transpose(0, 1).flatten(1, 2)

    def vector(self, x: torch.Tensor) -> torch.Tensor:  # [K, B, *shape] -> [K, B, F]
        return x.flatten(2)

    def flatten(self, h: torch.Tensor) -> torch.Tensor:  # [B, K*C, *sp] -> [K, B, C*sp]
        return h.reshape(h.shape[0], self.members, -1).transpose(0, 1)


PRUNABLE_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, CohortLinear, CohortConv)


def initialize(model: nn.Module) -> None:
    """Kaiming-normal weights for linear and conv layers, zero biases, BatchNorm (1, 0)."""
    for module in model.modules():
        if isinstance(module, PRUNABLE_TYPES):
            _kaiming(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
