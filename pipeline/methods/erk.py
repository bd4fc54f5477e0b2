"""Random positions with ERK layer densities (see pipeline.prune.pai.ratios.erk)."""

from __future__ import annotations

from pipeline.methods.spec import MethodSpec


def build(ctx):
    from pipeline.prune.pai.profile import random_with_profile
    from pipeline.prune.pai.ratios import erk

    return random_with_profile(ctx, erk(ctx))


SPEC = MethodSpec(
    "erk",
    "random positions, layer densities by Erdos-Renyi-Kernel (sum(shape) / prod(shape))",
    build,
    paper="Evci et al., ICML 2020 (RigL)",
)
