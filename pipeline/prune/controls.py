"""Controls: variants of a source run's ticket at each level.

Each control returns the mask it trains and whether it starts from a fresh
initialization instead of the source's rewind weights.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from pipeline.prune.masks import Masks, shuffle_within_layers


@dataclass(frozen=True)
class Control:
    derive_mask: Callable[[Masks, torch.Generator], Masks]
    fresh_init: bool
    description: str


CONTROLS: dict[str, Control] = {
    "reinit": Control(
        lambda mask, _gen: mask, True, "the ticket's mask with a fresh random initialization"
    ),
    "shuffle": Control(
        shuffle_within_layers,
        False,
        "the ticket's mask shuffled within each layer (random pruning with the "
        "ticket's layer densities), rewound weights",
    ),
}
