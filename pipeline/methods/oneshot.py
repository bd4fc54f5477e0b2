"""One-shot magnitude pruning of the dense trained network."""

from __future__ import annotations

from pipeline.methods.spec import MethodSpec


def build(ctx):
    """Prune the dense trained net (level 0) straight to this level's density."""
    from pipeline.prune.masks import full_masks, prune_smallest

    rung = ctx.rung
    return prune_smallest(
        ctx.trained(0),
        full_masks(ctx.shapes),
        1 - rung.density,
        1 - rung.output_density,
        ctx.output,
        ctx.scope,
    )


SPEC = MethodSpec(
    "oneshot",
    "magnitude pruning of the dense trained network (level 0) straight to level L's density",
    build,
    uses_dense=True,
    ranks_by_magnitude=True,
    paper="Han et al., NeurIPS 2015 (one shot); Frankle & Carbin, ICLR 2019",
)
