"""The optimizer registry. All entries are element-wise, so a cohort's optimizer is
exactly K independent optimizers."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from pipeline.config import TrainConfig

OptimizerBuilder = Callable[
    [Iterable[torch.nn.Parameter], TrainConfig, "float | torch.Tensor", dict],
    torch.optim.Optimizer,
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

# Optimizers whose step counter can live on the device (`capturable`): what a CUDA graph of
# the update needs, and what a tensor learning rate needs with foreach kernels. SGD has no
# counter.
CAPTURABLE = frozenset({"adam", "adamw"})


def _sgd(params, train: TrainConfig, lr, flags: dict) -> torch.optim.Optimizer:
    return torch.optim.SGD(
        params,
        lr=lr,
        momentum=train.momentum,
        weight_decay=train.weight_decay,
        nesterov=train.nesterov,
        **flags,
    )


def _adam(params, train: TrainConfig, lr, flags: dict) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, weight_decay=train.weight_decay, **flags)


def _adamw(params, train: TrainConfig, lr, flags: dict) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=lr, weight_decay=train.weight_decay, **flags)


OPTIMIZERS: dict[str, OptimizerBuilder] = {"sgd": _sgd, "adam": _adam, "adamw": _adamw}


def build_optimizer(
    params: Iterable[torch.nn.Parameter],
    train: TrainConfig,
    impl: str = "auto",
    lr: float | torch.Tensor | None = None,
    capturable: bool = False,
) -> torch.optim.Optimizer:
    """`train.optimizer` over `params`; `lr` (default train.lr) may be a 0-dim tensor that the
    caller updates in place, and `capturable` keeps step counters on the device."""
    flags = dict(IMPLEMENTATIONS[impl])
    if capturable and train.optimizer in CAPTURABLE:
        flags["capturable"] = True
    return OPTIMIZERS[train.optimizer](params, train, train.lr if lr is None else lr, flags)
