"""Layer-density profiles with random positions: ERK, uniform, and Su et al.'s smart ratios.

Each defines its own layer densities for the level's total budget (`target_count`: the
ladder's hidden density of the hidden weights plus its output density of the output
layer's weights), so the number of kept weights matches the global-ranking methods.
"""

from __future__ import annotations

import math

from pipeline.prune.context import PruneContext
from pipeline.prune.pai.profile import Densities, proportional_densities
from pipeline.prune.pai.scoring import target_count

SU_OUTPUT_DENSITY = 0.3  # Su et al. keep the last (fully connected) layer at 30%


def _sizes(ctx: PruneContext) -> dict[str, int]:
    return {n: ctx.shapes[n].numel() for n in ctx.names}


def erk(ctx: PruneContext) -> Densities:
    """Erdos-Renyi-Kernel (Evci et al. 2020, RigL): density of a layer with weight shape
    (n_out, n_in, k_1, ..., k_d) proportional to (n_out + n_in + k_1 + ... + k_d) /
    (n_out * n_in * k_1 * ... * k_d), i.e. sum(shape) / prod(shape), all prunable layers
    (output layer included), capped at 1 with redistribution."""
    raw = {n: sum(ctx.shapes[n]) / math.prod(ctx.shapes[n]) for n in ctx.names}
    return proportional_densities(raw, _sizes(ctx), target_count(ctx))


def uniform(ctx: PruneContext) -> Densities:
    """Every prunable layer, output layer included, at the same density."""
    return proportional_densities({n: 1.0 for n in ctx.names}, _sizes(ctx), target_count(ctx))


def su_ratios(ctx: PruneContext) -> Densities:
    """Smart ratios (Su et al. 2020): with the prunable layers numbered l = 1..L in order,
    layer l < L keeps a density proportional to (L - l + 1)^2 + (L - l + 1), capped at 1
    with redistribution; the output layer L keeps SU_OUTPUT_DENSITY of its weights."""
    sizes, keep = _sizes(ctx), target_count(ctx)
    output = round(SU_OUTPUT_DENSITY * sizes[ctx.output])
    hidden = {n: size for n, size in sizes.items() if n != ctx.output}
    if not 0 <= keep - output <= sum(hidden.values()):
        raise ValueError(
            f"su_ratios keeps {output} output weights ({SU_OUTPUT_DENSITY:.0%}), which does "
            f"not fit a budget of {keep} weights with {sum(hidden.values())} hidden weights"
        )
    # k = L - l + 1 runs from L for the first layer down to 2 for the last hidden one
    raw = {n: float(k * k + k) for n, k in zip(hidden, range(len(ctx.names), 1, -1))}
    return {
        **proportional_densities(raw, hidden, keep - output),
        ctx.output: output / sizes[ctx.output],
    }
