"""Iterative magnitude pruning (Frankle & Carbin, ICLR 2019; Frankle et al., ICML 2020)."""

from __future__ import annotations

from pipeline.methods.spec import MethodSpec


def build(ctx):
    """Remove the smallest-magnitude surviving weights of the previous level's trained net."""
    from pipeline.prune.masks import prune_smallest

    rung = ctx.rung
    return prune_smallest(
        ctx.trained(ctx.level - 1),
        ctx.previous_mask,
        rung.fraction,
        rung.output_fraction,
        ctx.output,
        ctx.scope,
    )


SPEC = MethodSpec(
    "imp",
    "remove `fraction` of the surviving weights with the smallest magnitude after training "
    "level L-1",
    build,
    uses_dense=True,
    ranks_by_magnitude=True,
    paper="Frankle & Carbin, ICLR 2019; rewinding: Frankle et al., ICML 2020",
)
