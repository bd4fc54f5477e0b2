"""Early-bird tickets: the magnitude mask of a briefly trained dense network, read off when
it stops changing (see pipeline.prune.search.early_bird)."""

from __future__ import annotations

from pipeline.errors import ConfigError
from pipeline.methods.spec import MethodSpec, Option


def build(ctx):
    from pipeline.prune.search.early_bird import early_bird

    return early_bird(ctx)


def check(cfg) -> None:
    prune = cfg.prune
    for key in ("early_bird_epochs", "early_bird_window"):
        if getattr(prune, key) < 1:
            raise ConfigError(f"prune.{key}", "must be at least 1")
    if not 0 < prune.early_bird_threshold <= 1:
        raise ConfigError("prune.early_bird_threshold", "must be in (0, 1]")


SPEC = MethodSpec(
    "early_bird",
    "the magnitude mask at level L's densities of the dense network trained from the rewind "
    "weights until that mask stops changing",
    build,
    ranks_by_magnitude=True,
    options=(
        Option(
            "early_bird_epochs", int, 30, "most epochs of the early-bird search's dense training"
        ),
        Option(
            "early_bird_window",
            int,
            5,
            "consecutive mask distances that must all be below the threshold (FIFO queue)",
        ),
        Option(
            "early_bird_threshold",
            float,
            0.1,
            "mask distance (changed kept positions / kept positions of both masks) below "
            "which the early-bird mask counts as settled",
        ),
    ),
    check=check,
    paper="You et al., ICLR 2020 (early-bird tickets)",
)
