"""GEM-MINER: mask scores trained at the rewind weights with the weights frozen, pruned
iteratively to level L's count (see pipeline.prune.search.gem_miner); the scores start at
random or from a `prior` mask (`prune.start`)."""

from __future__ import annotations

from pipeline.errors import ConfigError
from pipeline.methods.prior import START, STORE_OPTIONS, check_start
from pipeline.methods.spec import MethodSpec, Option

STARTS = ("random", "prior")  # prune.start: the scores' start


def build(ctx):
    from pipeline.prune.search.gem_miner import gem_miner

    return gem_miner(ctx)


def check(cfg) -> None:
    prune = cfg.prune
    for key, least in (("gem_epochs", 1), ("gem_period", 1)):
        if getattr(prune, key) < least:
            raise ConfigError(f"prune.{key}", f"must be at least {least}")
    if not prune.gem_lr > 0:
        raise ConfigError("prune.gem_lr", "must be positive")
    if prune.gem_lambda < 0:
        raise ConfigError("prune.gem_lambda", "must not be negative")
    check_start(cfg, STARTS)


SPEC = MethodSpec(
    "gem_miner",
    "the weights whose scores, trained at the rewind weights with the weights frozen, "
    "survive iterative pruning to level L's count",
    build,
    options=(
        Option("gem_epochs", int, 20, "epochs of score training (GEM-MINER)"),
        Option(
            "gem_period",
            int,
            2,
            "epochs between GEM-MINER's pruning rounds ((gem_epochs - 1) // gem_period rounds)",
        ),
        Option("gem_lr", float, 0.1, "GEM-MINER's score learning rate (SGD, cosine decay)"),
        Option("gem_lambda", float, 1e-4, "weight of GEM-MINER's L2 regularizer on the scores"),
        START,
        *STORE_OPTIONS,
    ),
    check=check,
    paper="Sreenivasan et al., NeurIPS 2022 (GEM-MINER)",
)
