"""Random masks with a given layer-density profile, and the registry of named profiles.

A profile maps every prunable layer to a density. `random_with_profile` draws the
positions; `proportional_densities` turns relative layer densities into exact ones for
a weight budget. A profile registered with `@profile(name)` is also a pruning method of
that name: random positions with the profile's densities.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

from pipeline.prune.masks import Masks, random_with_densities
from pipeline.prune.methods import PruneContext, method

Densities = dict[str, float]
Profile = Callable[[PruneContext], Densities]

PROFILES: dict[str, Profile] = {}


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


def profile(name: str) -> Callable[[Profile], Profile]:
    """Register a named profile, and the method `name` that draws random positions with it."""

    def decorate(build: Profile) -> Profile:
        PROFILES[name] = build

        @functools.wraps(build)
        def draw(ctx: PruneContext) -> Masks:
            return random_with_profile(ctx, build(ctx))

        method(name, uses_dense=False)(draw)
        return build

    return decorate


def proportional_densities(raw: Densities, sizes: dict[str, int], keep: int) -> Densities:
    """Layer densities proportional to `raw` (all > 0), capped at 1, keeping exactly `keep`
    weights over the layers of `sizes`.

    The scale eps solves sum_l min(1, eps * raw_l) * size_l = keep: layers whose share
    would exceed their size stay dense and the others share the rest in proportion to raw
    (RigL's ERK capping, Evci et al. 2020, which caps the largest layer and re-solves until
    none exceeds 1; capping every over-full layer at once reaches the same eps, since eps
    only grows as layers are capped). Fractional counts round by largest remainder, ties
    in layer order, so the layer counts add up to `keep` exactly.
    """
    total = sum(sizes.values())
    if not 0 <= keep <= total:
        raise ValueError(f"cannot keep {keep} of {total} weights")
    if any(not r > 0 for r in raw.values()):
        raise ValueError(f"relative densities must be positive: {raw}")
    if keep == total:
        return {n: 1.0 for n in sizes}
    dense: set[str] = set()
    while True:
        free = [n for n in sizes if n not in dense]
        eps = (keep - sum(sizes[n] for n in dense)) / sum(raw[n] * sizes[n] for n in free)
        over = {n for n in free if eps * raw[n] > 1}
        if not over:
            break
        dense |= over
    shares = {n: float(sizes[n]) if n in dense else eps * raw[n] * sizes[n] for n in sizes}
    counts = {n: math.floor(share) for n, share in shares.items()}
    by_remainder = sorted(sizes, key=lambda n: counts[n] - shares[n])  # stable: layer order
    for n in by_remainder[: keep - sum(counts.values())]:
        counts[n] += 1
    return {n: counts[n] / sizes[n] for n in sizes}
