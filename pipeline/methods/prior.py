"""`prior`: masks sampled before training from what a feature store's IMP tickets share
(layer-density profile, degree distributions, input and kernel locality, preferences for
large and positive initial weights, connectivity); see docs/PRIOR.md.

Its store options and `prune.start` are shared with the methods that can start from a
prior mask (`rigl`, `set`, `gem_miner`), which declare them alike."""

from __future__ import annotations

from pathlib import Path

from pipeline.errors import ConfigError
from pipeline.methods.spec import MethodSpec, Option
from pipeline.prior.components import COMPONENTS

STORE_OPTIONS = (
    Option("prior_store", str | None, None, "the feature store `prior` learns tickets from"),
    Option(
        "prior_components",
        list[str],
        list(COMPONENTS),
        f"what `prior` copies from the tickets; drop one to ablate it ({', '.join(COMPONENTS)})",
    ),
)
START = Option(
    "start",
    str | None,
    None,
    "the start mask of rigl and set (erk | uniform | prior; default erk) and of gem_miner's "
    "scores (random | prior; default random); prior needs prune.prior_store",
)


def build(ctx):
    from pipeline.prior.draw import prior_mask

    return prior_mask(ctx)


def check_store(cfg, why: str = "`prior` learns from one") -> None:
    """A readable store in `prune.prior_store` and known `prune.prior_components`."""
    prune = cfg.prune
    if not prune.prior_store or not Path(prune.prior_store).is_file():
        raise ConfigError(
            "prune.prior_store",
            f"{prune.prior_store!r} is not a feature store file; {why} (make it with `lth reduce`)",
        )
    for index, name in enumerate(prune.prior_components):
        if name not in COMPONENTS:
            raise ConfigError(
                f"prune.prior_components[{index}]",
                f"unknown value {name!r}; known: {', '.join(sorted(COMPONENTS))}",
            )


def check_start(cfg, starts: tuple[str, ...]) -> str:
    """`prune.start` (its default: the first of `starts`) checked for this method."""
    start = cfg.prune.start or starts[0]
    if start not in starts:
        raise ConfigError(
            "prune.start", f"{cfg.prune.method} starts from one of {', '.join(starts)}"
        )
    if start == "prior":
        check_store(cfg, f"{cfg.prune.method} with prune.start=prior draws its start from one")
    return start


SPEC = MethodSpec(
    "prior",
    "sampled before training from what the IMP tickets in a feature store share",
    build,
    options=STORE_OPTIONS,
    check=check_store,
)
