"""Random masks with a given layer-density profile.

A profile maps every prunable layer to a density. `random_with_profile` draws the
positions; `proportional_densities` turns relative layer densities into exact ones for
a weight budget. The profiles themselves (ERK, uniform, Su et al.'s ratios) are in
`pipeline.prune.pai.ratios`; each is a pruning method in `pipeline/methods/`.
"""

from __future__ import annotations

from pipeline.allocation import capped_proportional_counts
from pipeline.prune.context import PruneContext
from pipeline.prune.masks import Masks, random_with_densities

Densities = dict[str, float]


def random_with_profile(ctx: PruneContext, densities: Densities) -> Masks:
    """Layer l keeps round(densities[l] * size_l) positions drawn uniformly at random with
    the level's generator (layers drawn in `ctx.names` order, so a fixed seed gives a fixed
    mask). The profile must name exactly the prunable layers."""
    if set(densities) != set(ctx.names):
        raise ValueError(
            f"a density profile must name exactly the prunable layers {ctx.names}; "
            f"got {sorted(densities)}"
        )
    outside = {n: d for n, d in densities.items() if not 0 <= d <= 1}
    if outside:
        raise ValueError(f"layer densities outside [0, 1]: {outside}")
    shapes = {n: ctx.shapes[n] for n in ctx.names}
    return random_with_densities(shapes, densities, ctx.generator)


def proportional_densities(raw: Densities, sizes: dict[str, int], keep: int) -> Densities:
    """Layer densities proportional to `raw`, capped at 1, keeping exactly `keep` weights
    over the layers of `sizes` (`capped_proportional_counts`: fractional counts round by
    largest remainder, ties in layer order, so the layer counts add up to `keep`)."""
    counts = capped_proportional_counts(raw, sizes, keep)
    return {n: counts[n] / sizes[n] for n in sizes}
