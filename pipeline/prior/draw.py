"""A `prior` draw: per level, each layer's scores and a mask sampled by them before training.

`prior_draw` also returns each layer's structural scores (degrees and locality), which
steer dynamic sparse training's regrowth (`prune.dst_steer`), and the components of
`prune.prior_components` that did not act on a layer (e.g. `locality` on a hidden linear
layer), which the driver records beside the mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pipeline.errors import PriorError
from pipeline.models.graph import INPUT, cached_layer_graph
from pipeline.prior.connect import reconnect
from pipeline.prior.learn import learn_prior
from pipeline.prior.sample import gumbel_top_k, layer_counts, layer_scores
from pipeline.prune.context import PruneContext
from pipeline.prune.masks import Masks, mask_generator
from pipeline.prune.pai.scoring import target_count

# components that act on the whole mask rather than on a layer's scores
MASK_COMPONENTS = ("profile", "connect")


@dataclass
class PriorDraw:
    masks: Masks
    structure: dict[str, np.ndarray]  # per layer: degree and locality log-weights
    not_applied: dict[str, list[str]]  # per layer: enabled components that did not act


def prior_draw(ctx: PruneContext, generator: torch.Generator | None = None) -> PriorDraw:
    """Level `ctx.level`'s prior mask, drawn with `generator` (default: the level's)."""
    generator = generator or ctx.generator
    sizes = {n: ctx.shapes[n].numel() for n in ctx.names}
    total = target_count(ctx)
    prior = learn_prior(ctx.config.prior_store, ctx.model, total / sum(sizes.values()), ctx.dataset)
    for name in ctx.names:
        layer = prior.layers.get(name)
        if layer is None or (len(layer.fan_in), len(layer.fan_out)) != tuple(ctx.shapes[name][:2]):
            raise PriorError(
                f"the store's {ctx.model} tickets do not fit {name} "
                f"{tuple(ctx.shapes[name])} (trained on other data?)"
            )
    components = set(ctx.config.prior_components)
    fallback = {n: ctx.rung.density for n in ctx.names}
    fallback[ctx.output] = ctx.rung.output_density
    counts = layer_counts(prior, sizes, total, "profile" in components, fallback)
    nodes = cached_layer_graph(ctx.model, tuple(ctx.data.input_shape), ctx.data.num_classes)
    graph = {node.name: node for node in nodes}
    init = ctx.rewind_state()

    def draw(scores: np.ndarray, count: int) -> np.ndarray:
        return gumbel_top_k(scores, count, generator).numpy()

    scores, structure, masks, not_applied = {}, {}, {}, {}
    for name in ctx.names:
        node = graph[name]
        layer = layer_scores(
            prior.layers[name],
            tuple(ctx.shapes[name]),
            init[name].cpu().numpy(),
            components,
            INPUT in node.inputs,
            node.input_shape,
            generator,
        )
        scores[name], structure[name] = layer.total, layer.structure
        masks[name] = draw(layer.total, counts[name])
        missing = components - layer.applied - set(MASK_COMPONENTS)
        if missing:
            not_applied[name] = sorted(missing)
    if "connect" in components:
        masks = reconnect(masks, [graph[n] for n in ctx.names], scores, draw)
    return PriorDraw(
        {name: torch.from_numpy(mask) for name, mask in masks.items()}, structure, not_applied
    )


def prior_mask(ctx: PruneContext) -> Masks:
    """The `prior` method's mask; the components that did not act go to `ctx.notes`."""
    drawn = prior_draw(ctx)
    note_not_applied(ctx, drawn)
    return drawn.masks


def note_not_applied(ctx: PruneContext, drawn: PriorDraw) -> None:
    if drawn.not_applied:
        ctx.notes["prior_not_applied"] = drawn.not_applied


def steer_weights(ctx: PruneContext, beta: float, drawn: PriorDraw | None, salt: int) -> Masks:
    """Per layer, exp(beta * (s - max s)) with s the prior's structural score (degrees and
    locality: where the tickets put their weights; the per-weight terms are left out, since a
    grown weight starts at zero). From `drawn` when the run started from that draw (same
    unit order), else from a draw of its own (salt `salt`), leaving the start mask as is."""
    if drawn is None:
        drawn = prior_draw(ctx, mask_generator(ctx.seed, ctx.level, salt))
    return {
        name: torch.from_numpy(np.exp(beta * (s - s.max()))).float()
        for name, s in drawn.structure.items()
    }
