"""RigL (Evci et al., ICML 2020): dynamic sparse training at level L's density from an ERK or
uniform start mask, the trainer dropping the smallest weights and regrowing by dense-gradient
magnitude (pipeline.prune.dynamic). SET (set_dst.py) shares its options, start and checks."""

from __future__ import annotations

from pipeline.errors import ConfigError
from pipeline.methods.spec import MethodSpec, Option

STARTS = ("erk", "uniform")  # prune.dst_start: layer densities of the start mask

OPTIONS = (
    Option(
        "dst_interval",
        int,
        100,
        "iterations between mask updates of dynamic sparse training (the papers' Delta T)",
    ),
    Option(
        "dst_end",
        float,
        0.75,
        "fraction of the level's iterations after which the mask stops moving (T_end)",
    ),
    Option(
        "dst_alpha",
        float,
        0.3,
        "fraction of each layer's active weights dropped and regrown at the first update, "
        "cosine-decayed to 0 at dst_end",
    ),
    Option(
        "dst_start",
        str,
        "erk",
        "layer densities of the start mask, positions random: erk | uniform",
    ),
)


def build(ctx):
    """Level L's start mask: random positions with ERK or uniform layer densities."""
    from pipeline.prune.pai import ratios
    from pipeline.prune.pai.profile import random_with_profile

    return random_with_profile(ctx, getattr(ratios, ctx.config.dst_start)(ctx))


def check(cfg) -> None:
    prune = cfg.prune
    if prune.dst_interval < 1:
        raise ConfigError("prune.dst_interval", "must be at least 1")
    if not 0 < prune.dst_end <= 1:
        raise ConfigError("prune.dst_end", "must be in (0, 1]")
    if not 0 <= prune.dst_alpha <= 1:
        raise ConfigError("prune.dst_alpha", "must be in [0, 1]")
    if prune.dst_start not in STARTS:
        raise ConfigError("prune.dst_start", f"must be one of {', '.join(STARTS)}")
    if prune.control != "none":
        raise ConfigError(
            "prune.control",
            f"{prune.method}'s mask moves during training; a control would derive its mask "
            "from the start mask, not the trained one",
        )


SPEC = MethodSpec(
    "rigl",
    "level L's density from the start (ERK or uniform, random positions), the trainer "
    "dropping the smallest |w| and regrowing the largest |dense gradient| every "
    "dst_interval iterations; the mask at the end",
    build,
    dynamic=True,
    options=OPTIONS,
    check=check,
    paper="Evci et al., ICML 2020 (RigL)",
)
