"""Random positions with Su et al.'s smart ratios (see pipeline.prune.pai.ratios.su_ratios)."""

from __future__ import annotations

from functools import cache

from pipeline.errors import ConfigError
from pipeline.methods.spec import MethodSpec


def build(ctx):
    from pipeline.prune.pai.profile import random_with_profile
    from pipeline.prune.pai.ratios import su_ratios

    return random_with_profile(ctx, su_ratios(ctx))


@cache
def _weights(model: str, dataset: str) -> tuple[dict[str, int], str]:
    """Weights per prunable layer of `model` on `dataset`, and the output layer's name
    (built once per process: a sweep checks every run's config)."""
    from pipeline.data import dataset_spec
    from pipeline.models.members import build_plain, prunable_names

    spec = dataset_spec(dataset)
    plain = build_plain(model, spec.input_shape, spec.num_classes)
    names = prunable_names(plain)
    return {n: p.numel() for n, p in plain.named_parameters() if n in names}, names[-1]


def check(cfg) -> None:
    """The output layer's fixed share must fit every level's budget; a model whose output
    layer is a large part of its weights (the MNIST-1D CNN's is a quarter) cannot go below
    about that share times 30% overall."""
    from pipeline.prune.ladder import ladder
    from pipeline.prune.pai.ratios import SU_OUTPUT_DENSITY
    from pipeline.prune.pai.scoring import level_budget

    sizes, output = _weights(cfg.model.name, cfg.data.name)
    needed = round(SU_OUTPUT_DENSITY * sizes[output])
    for level, rung in enumerate(ladder(cfg.prune), start=1):
        budget = level_budget(rung, sizes, output)
        if budget < needed:
            raise ConfigError(
                "prune.method",
                f"su_ratios keeps {SU_OUTPUT_DENSITY:.0%} of {output} ({needed} weights), "
                f"more than level {level}'s budget of {budget} weights of {cfg.model.name} "
                f"(hidden density {rung.density:.4g}); stop the ladder earlier or use erk",
            )


SPEC = MethodSpec(
    "su_ratios",
    "random positions, layer densities by Su et al.'s smart ratios, output layer at 30%",
    build,
    check=check,
    paper="Su et al., NeurIPS 2020",
)
