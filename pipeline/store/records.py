"""Plain records the reducer hands to the writer; field names equal the schema's column names."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class RunRecord:
    """One run: what was trained and how (`config_yaml` is the resolved config; runs with the
    same `seed_group` differ only by seed)."""

    run_id: str
    model: str
    dataset: str
    method: str
    control: str
    seed: int
    fraction: float
    rewind: str
    config_yaml: str
    seed_group: str = ""


@dataclass(frozen=True)
class LevelRecord:
    """The outcome of one pruning level of one run."""

    run_id: str
    level: int
    density: float
    test_accuracy: float
    test_loss: float
    best_accuracy: float
    best_iteration: int  # iteration of the lowest test loss (the early-stop point)
    iterations: int
    train_seconds: float


@dataclass(frozen=True)
class CurvePoint:
    """One evaluation during a level's training."""

    run_id: str
    level: int
    iteration: int
    test_accuracy: float
    test_loss: float


@dataclass(frozen=True)
class LevelPayload:
    """The bulky part of a level: its masks and its features as (layer, feature, value)."""

    run_id: str
    level: int
    masks: dict[str, np.ndarray]
    feature_rows: list[tuple[str, str, float]] = field(default_factory=list)
