"""Learning-rate schedules as plain functions of the iteration."""

from __future__ import annotations

from collections.abc import Callable

from pipeline.config import TrainConfig
from pipeline.steps import Schedule


def learning_rate(train: TrainConfig, schedule: Schedule) -> Callable[[int], float]:
    """lr(i): linear warm-up, then multiplied by gamma at each milestone."""

    def lr(iteration: int) -> float:
        rate = train.lr * train.gamma ** sum(iteration >= m for m in schedule.milestones)
        if schedule.warmup and iteration < schedule.warmup:
            rate *= (iteration + 1) / schedule.warmup
        return rate

    return lr


def constant(rate: float) -> Callable[[int], float]:
    return lambda _iteration: rate
