"""Random positions with the same density in every layer (see pipeline.prune.pai.ratios.uniform)."""

from __future__ import annotations

from pipeline.methods.spec import MethodSpec


def build(ctx):
    from pipeline.prune.pai.profile import random_with_profile
    from pipeline.prune.pai.ratios import uniform

    return random_with_profile(ctx, uniform(ctx))


SPEC = MethodSpec(
    "uniform",
    "random positions, every layer (output included) at the same density",
    build,
    paper="",
)
