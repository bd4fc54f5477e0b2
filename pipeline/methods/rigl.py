"""RigL (Evci et al., ICML 2020): dynamic sparse training at level L's density from an ERK,
uniform or `prior` start mask, the trainer dropping the smallest weights and regrowing by
dense-gradient magnitude (pipeline.prune.dynamic), optionally steered toward a prior's
degree and locality profiles. SET (set_dst.py) shares its options, start and checks."""

from __future__ import annotations

from pipeline.errors import ConfigError
from pipeline.methods.prior import START, STORE_OPTIONS, check_start, check_store
from pipeline.methods.spec import MethodSpec, Option

STARTS = ("erk", "uniform", "prior")  # prune.start: ERK or uniform densities, or a prior draw
STEER_SALT = 2  # the steer's own draw, so steering leaves an ERK or uniform start as it was

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
        "dst_steer",
        float,
        0.0,
        "beta: regrowth scores times exp(beta * the prior's degree and locality log-score) "
        "(0: the paper's rule; needs prune.prior_store)",
    ),
    START,
    *STORE_OPTIONS,
)


def build(ctx):
    """Level L's start mask (random positions with ERK or uniform layer densities, or a
    prior draw) and, when steered, the regrowth weights of its positions."""
    from pipeline.prune.pai import ratios
    from pipeline.prune.pai.profile import random_with_profile

    prune = ctx.config
    start = prune.start or STARTS[0]
    drawn = None
    if start == "prior":
        from pipeline.prior.draw import note_not_applied, prior_draw

        drawn = prior_draw(ctx)
        note_not_applied(ctx, drawn)
    if prune.dst_steer:
        from pipeline.prior.draw import steer_weights

        ctx.grow_weights = steer_weights(ctx, prune.dst_steer, drawn, STEER_SALT)
    return drawn.masks if drawn else random_with_profile(ctx, getattr(ratios, start)(ctx))


def check(cfg) -> None:
    prune = cfg.prune
    if prune.dst_interval < 1:
        raise ConfigError("prune.dst_interval", "must be at least 1")
    if not 0 < prune.dst_end <= 1:
        raise ConfigError("prune.dst_end", "must be in (0, 1]")
    if not 0 <= prune.dst_alpha <= 1:
        raise ConfigError("prune.dst_alpha", "must be in [0, 1]")
    check_start(cfg, STARTS)
    if prune.dst_steer < 0:
        raise ConfigError("prune.dst_steer", "must not be negative")
    if prune.dst_steer:
        check_store(cfg, f"{prune.method} with prune.dst_steer steers its regrowth by one")
    if prune.control != "none":
        raise ConfigError(
            "prune.control",
            f"{prune.method}'s mask moves during training; a control would derive its mask "
            "from the start mask, not the trained one",
        )


SPEC = MethodSpec(
    "rigl",
    "level L's density from the start (ERK, uniform or a prior draw), the trainer "
    "dropping the smallest |w| and regrowing the largest |dense gradient| every "
    "dst_interval iterations; the mask at the end",
    build,
    dynamic=True,
    options=OPTIONS,
    check=check,
    paper="Evci et al., ICML 2020 (RigL)",
)
