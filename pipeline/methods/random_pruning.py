"""Random pruning: the baseline every ticket is compared with."""

from __future__ import annotations

from pipeline.methods.spec import MethodSpec


def build(ctx):
    """Uniformly random positions, each layer at the ladder's density for its kind."""
    from pipeline.prune.masks import random_with_densities

    densities = {n: ctx.rung.density for n in ctx.names}
    densities[ctx.output] = ctx.rung.output_density
    return random_with_densities(ctx.shapes, densities, ctx.generator)


SPEC = MethodSpec("random", "uniformly random positions, each layer at level L's density", build)
