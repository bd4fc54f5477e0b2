"""Capped proportional allocation of a weight budget over layers.

Used by the ERK reference profile of the features, the `erk`/`uniform`/`su_ratios`
profiles of pruning at initialization and the layer counts of `prior` masks: each wants
layer densities proportional to some relative density, none above 1, keeping a given
number of weights in all.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping


def capped_proportional(
    raw: Mapping[Hashable, float], sizes: Mapping[Hashable, int], keep: float
) -> dict[Hashable, float]:
    """Densities ``min(1, eps * raw_l)`` keeping ``keep`` of the weights of ``sizes``.

    The scale eps solves ``sum_l min(1, eps * raw_l) * size_l = keep``: layers whose share
    would exceed their size stay dense and the others share the rest in proportion to raw
    (RigL's ERK capping, Evci et al. 2020, which caps the largest layer and re-solves until
    none exceeds 1; capping every over-full layer at once reaches the same eps, since eps
    only grows as layers are capped). A layer with raw 0 keeps nothing. Densities come in
    the order of ``sizes``.
    """
    if any(not r >= 0 for r in raw.values()):
        raise ValueError(f"relative densities must be >= 0: {dict(raw)}")
    room = sum(sizes[n] for n in sizes if raw[n] > 0)
    if not 0 <= keep <= room:
        raise ValueError(f"cannot keep {keep} of {room} weights")
    if keep == room:
        return {n: 1.0 if raw[n] > 0 else 0.0 for n in sizes}
    dense: set[Hashable] = set()
    while True:
        free = [n for n in sizes if n not in dense]
        eps = (keep - sum(sizes[n] for n in dense)) / sum(raw[n] * sizes[n] for n in free)
        over = {n for n in free if eps * raw[n] > 1}
        if not over:
            return {n: 1.0 if n in dense else eps * raw[n] for n in sizes}
        dense |= over


def largest_remainder(shares: Mapping[Hashable, float], total: int) -> dict[Hashable, int]:
    """Whole counts that add up to ``total`` (the rounded sum of ``shares``): every share
    rounded down, and one more for the largest remainders, ties in the order of ``shares``
    (Hamilton's method)."""
    counts = {n: math.floor(share) for n, share in shares.items()}
    by_remainder = sorted(shares, key=lambda n: counts[n] - shares[n])  # stable: given order
    for n in by_remainder[: total - sum(counts.values())]:
        counts[n] += 1
    return counts


def capped_proportional_counts(
    raw: Mapping[Hashable, float], sizes: Mapping[Hashable, int], keep: int
) -> dict[Hashable, int]:
    """`capped_proportional` as whole counts per layer adding up to ``keep`` exactly."""
    densities = capped_proportional(raw, sizes, keep)
    return largest_remainder({n: densities[n] * sizes[n] for n in sizes}, keep)
