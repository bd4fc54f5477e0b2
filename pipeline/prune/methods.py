"""The pruning-method registry: each method turns a PruneContext into the next level's mask."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from pipeline.config import PruneConfig
from pipeline.data.tensors import TensorDataset
from pipeline.prune.ladder import Rung
from pipeline.prune.masks import Masks, full_masks, prune_smallest, random_with_densities

StateDict = dict[str, torch.Tensor]


@dataclass
class PruneContext:
    """What a method may look at when it builds level `level`'s mask.

    The weight accessors load lazily, so a method only pays for what it reads.
    """

    level: int
    rung: Rung
    names: list[str]  # prunable parameters; the last is the output layer
    scope: str
    previous_mask: Masks  # level - 1's mask (all ones at level 1)
    trained: Callable[[int], StateDict]  # final weights of an earlier level of this run
    shapes: dict[str, torch.Size]
    generator: torch.Generator  # seeded by (seed, level)
    model: str  # registry name, for methods that score with the network itself
    data: TensorDataset  # on the training device
    rewind_state: Callable[[], StateDict]  # the weights this level trains from (pre-mask)
    seed: int
    config: PruneConfig  # the run's pruning config, for method-specific options
    dataset: str  # registry name of the training data

    @property
    def output(self) -> str:
        return self.names[-1]


Method = Callable[[PruneContext], Masks]


@dataclass(frozen=True)
class MethodSpec:
    build: Method
    uses_dense: bool  # needs the trained dense network (level 0); others skip training it


METHODS: dict[str, MethodSpec] = {}


def method(name: str, uses_dense: bool) -> Callable[[Method], Method]:
    def decorate(fn: Method) -> Method:
        METHODS[name] = MethodSpec(fn, uses_dense)
        return fn

    return decorate


@method("imp", uses_dense=True)
def iterative_magnitude(ctx: PruneContext) -> Masks:
    """Remove the smallest-magnitude surviving weights of the previous level's trained net."""
    return prune_smallest(
        ctx.trained(ctx.level - 1),
        ctx.previous_mask,
        ctx.rung.fraction,
        ctx.rung.output_fraction,
        ctx.output,
        ctx.scope,
    )


@method("oneshot", uses_dense=True)
def oneshot_magnitude(ctx: PruneContext) -> Masks:
    """Prune the dense trained net (level 0) straight to this level's density."""
    return prune_smallest(
        ctx.trained(0),
        full_masks(ctx.shapes),
        1 - ctx.rung.density,
        1 - ctx.rung.output_density,
        ctx.output,
        ctx.scope,
    )


@method("random", uses_dense=False)
def random_pruning(ctx: PruneContext) -> Masks:
    """Uniformly random positions, each layer at the ladder's density for its kind."""
    densities = {n: ctx.rung.density for n in ctx.names}
    densities[ctx.output] = ctx.rung.output_density
    return random_with_densities(ctx.shapes, densities, ctx.generator)
