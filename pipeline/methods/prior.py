"""`prior`: masks sampled before training from what a feature store's IMP tickets share
(layer-density profile, degree distributions, input locality, preferences for large and
positive initial weights, connectivity); see docs/PRIOR.md."""

from __future__ import annotations

from pathlib import Path

from pipeline.errors import ConfigError
from pipeline.methods.spec import MethodSpec, Option
from pipeline.prior.components import COMPONENTS


def build(ctx):
    from pipeline.prior.draw import prior_mask

    return prior_mask(ctx)


def check(cfg) -> None:
    prune = cfg.prune
    if not prune.prior_store or not Path(prune.prior_store).is_file():
        raise ConfigError(
            "prune.prior_store",
            f"{prune.prior_store!r} is not a feature store file; `prior` learns from one "
            "(make it with `lth reduce`)",
        )
    for index, name in enumerate(prune.prior_components):
        if name not in COMPONENTS:
            raise ConfigError(
                f"prune.prior_components[{index}]",
                f"unknown value {name!r}; known: {', '.join(sorted(COMPONENTS))}",
            )


SPEC = MethodSpec(
    "prior",
    "sampled before training from what the IMP tickets in a feature store share",
    build,
    options=(
        Option("prior_store", str | None, None, "the feature store `prior` learns tickets from"),
        Option(
            "prior_components",
            list[str],
            list(COMPONENTS),
            "what `prior` copies from the tickets; drop one to ablate it "
            f"({', '.join(COMPONENTS)})",
        ),
    ),
    check=check,
)
