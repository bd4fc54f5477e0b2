"""Synthetic data of the real shapes, for benchmarks: labels from a fixed random teacher."""

from __future__ import annotations

import torch

from pipeline.data.registry import DatasetSpec, register
from pipeline.data.tensors import TensorDataset


def _make(shape: tuple[int, ...], train: int, test: int, classes: int) -> TensorDataset:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(train + test, *shape, generator=gen)
    teacher = torch.randn(int(torch.tensor(shape).prod()), classes, generator=gen)
    y = (x.flatten(1) @ teacher).argmax(1)
    return TensorDataset(x[:train], y[:train], x[train:], y[train:], classes)


def _spec(name: str, shape: tuple[int, ...], train: int, test: int) -> DatasetSpec:
    return DatasetSpec(name, train, test, shape, 10, generate=lambda: _make(shape, train, test, 10))


register(_spec("synthetic_mnist", (1, 28, 28), 60000, 10000))
register(_spec("synthetic_cifar10", (3, 32, 32), 50000, 10000))
