"""Random positions with Su et al.'s smart ratios (see pipeline.prune.pai.ratios.su_ratios)."""

from __future__ import annotations

from pipeline.methods.spec import MethodSpec


def build(ctx):
    from pipeline.prune.pai.profile import random_with_profile
    from pipeline.prune.pai.ratios import su_ratios

    return random_with_profile(ctx, su_ratios(ctx))


SPEC = MethodSpec(
    "su_ratios",
    "random positions, layer densities by Su et al.'s smart ratios, output layer at 30%",
    build,
    paper="Su et al., NeurIPS 2020",
)
