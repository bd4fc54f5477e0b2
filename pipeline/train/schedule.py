"""Learning-rate schedules as plain functions of the iteration."""

from __future__ import annotations

from collections.abc import Callable

from pipeline.config import TrainConfig
from pipeline.steps import parse_step


def learning_rate(train: TrainConfig, iterations_per_epoch: int) -> Callable[[int], float]:
    """lr(i): linear warm-up, then multiplied by gamma at each milestone."""
    warmup = parse_step(train.warmup, iterations_per_epoch)
    milestones = sorted(parse_step(m, iterations_per_epoch) for m in train.milestones)

    def lr(iteration: int) -> float:
        rate = train.lr * train.gamma ** sum(iteration >= m for m in milestones)
        if warmup and iteration < warmup:
            rate *= (iteration + 1) / warmup
        return rate

    return lr


def constant(rate: float) -> Callable[[int], float]:
    return lambda _iteration: rate
