"""The optimizer registry. All entries are element-wise, so a cohort's optimizer is
exactly K independent optimizers."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from pipeline.config import TrainConfig

OptimizerBuilder = Callable[
    [Iterable[torch.nn.Parameter], TrainConfig, dict], torch.optim.Optimizer
]

# launcher.optimizer_impl -> constructor flags. All compute the same update; "fused" is one
# kernel for all parameters, "foreach" a few batched kernels, "loop" one per parameter.
# "auto" leaves torch's choice (foreach on GPUs).
IMPLEMENTATIONS: dict[str, dict] = {
    "auto": {},
    "loop": {"foreach": False},
    "foreach": {"foreach": True},
    "fused": {"fused": True},
}


def _sgd(params, train: TrainConfig, impl: dict) -> torch.optim.Optimizer:
    return torch.optim.SGD(
        params,
        lr=train.lr,
        momentum=train.momentum,
        weight_decay=train.weight_decay,
        nesterov=train.nesterov,
        **impl,
    )


def _adam(params, train: TrainConfig, impl: dict) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=train.lr, weight_decay=train.weight_decay, **impl)


def _adamw(params, train: TrainConfig, impl: dict) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=train.lr, weight_decay=train.weight_decay, **impl)


OPTIMIZERS: dict[str, OptimizerBuilder] = {"sgd": _sgd, "adam": _adam, "adamw": _adamw}
