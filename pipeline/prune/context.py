"""What a pruning method may look at when it builds a level's mask."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from pipeline.config import PruneConfig, TrainConfig
from pipeline.data.tensors import TensorDataset
from pipeline.prune.ladder import Rung
from pipeline.prune.masks import Masks

__all__ = ["Masks", "PruneContext", "StateDict"]

StateDict = dict[str, torch.Tensor]


@dataclass
class PruneContext:
    """What a method may look at when it builds level `level`'s mask.

    The weight accessors load lazily, so a method only pays for what it reads.
    """

    level: int
    rung: Rung
    names: list[str]  # prunable parameters; the last is the output layer
    scope: str
    previous_mask: Masks  # level - 1's mask (all ones at level 1)
    trained: Callable[[int], StateDict]  # final weights of an earlier level of this run
    shapes: dict[str, torch.Size]
    generator: torch.Generator  # seeded by (seed, level)
    model: str  # registry name, for methods that score with the network itself
    data: TensorDataset  # on the training device
    rewind_state: Callable[[], StateDict]  # the weights this level trains from (pre-mask)
    seed: int
    config: PruneConfig  # the run's pruning config, for method-specific options
    dataset: str  # registry name of the training data
    train: TrainConfig = field(default_factory=TrainConfig)  # the run's recipe, for searches
    # FLOPs the method spent building the mask (score or search steps); `build` appends to
    # it and the driver records the sum (pipeline.prune.flops)
    spent_flops: list[int] = field(default_factory=list)
    # what the method wants kept beside the mask (`mask_notes.json`), e.g. the `prior`
    # components that did not act on a layer
    notes: dict[str, Any] = field(default_factory=dict)
    # dynamic sparse training steered by a prior: per layer, the weight each position's
    # regrowth score is multiplied by (`grow_weights.pt`; pipeline.prune.dynamic)
    grow_weights: Masks = field(default_factory=dict)

    @property
    def output(self) -> str:
        return self.names[-1]
