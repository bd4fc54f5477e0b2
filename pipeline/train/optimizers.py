"""The optimizer registry. All entries are element-wise, so a cohort's optimizer is
exactly K independent optimizers."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from pipeline.config import TrainConfig

OptimizerBuilder = Callable[[Iterable[torch.nn.Parameter], TrainConfig], torch.optim.Optimizer]


def _sgd(params, train: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.SGD(
        params, lr=train.lr, momentum=train.momentum, weight_decay=train.weight_decay,
        nesterov=train.nesterov,
    )


def _adam(params, train: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=train.lr, weight_decay=train.weight_decay)


def _adamw(params, train: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=train.lr, weight_decay=train.weight_decay)


OPTIMIZERS: dict[str, OptimizerBuilder] = {"sgd": _sgd, "adam": _adam, "adamw": _adamw}
