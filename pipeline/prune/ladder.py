"""The density ladder: which fraction each level removes, for hidden and output layers."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.config import DEFAULT_LEVELS, PruneConfig


@dataclass(frozen=True)
class Rung:
    fraction: float  # of the remaining hidden-layer weights removed at this level
    output_fraction: float  # of the remaining output-layer weights
    density: float  # hidden-layer density after this level
    output_density: float


def level_count(prune: PruneConfig) -> int:
    if prune.levels is not None:
        return prune.levels
    return len(prune.densities) if prune.densities is not None else DEFAULT_LEVELS


def ladder(prune: PruneConfig) -> list[Rung]:
    """Rungs for levels 1..N (level 0 is the dense network)."""
    count = level_count(prune)
    if prune.densities is not None:
        targets = [1.0, *prune.densities]
        fractions = [1 - targets[i + 1] / targets[i] for i in range(len(prune.densities))]
    else:
        fractions = [prune.fraction] * count
    rungs, hidden, output = [], 1.0, 1.0
    for index, fraction in enumerate(fractions[:count]):
        out_fraction = min(1.0, fraction * prune.output_scale)
        if prune.output_densities is not None:
            out_fraction = 1 - prune.output_densities[index] / output
        hidden *= 1 - fraction
        output *= 1 - out_fraction
        rungs.append(Rung(fraction, out_fraction, hidden, output))
    return rungs
