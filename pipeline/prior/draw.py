"""A `prior` mask: one per level, sampled before training from what the tickets share."""

from __future__ import annotations

import numpy as np
import torch

from pipeline.errors import PriorError
from pipeline.models.graph import INPUT, cached_layer_graph
from pipeline.prior.connect import reconnect
from pipeline.prior.learn import learn_prior
from pipeline.prior.sample import gumbel_top_k, layer_counts, layer_scores
from pipeline.prune.context import PruneContext
from pipeline.prune.masks import Masks
from pipeline.prune.pai.scoring import target_count


def prior_mask(ctx: PruneContext) -> Masks:
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
        return gumbel_top_k(scores, count, ctx.generator).numpy()

    scores, masks = {}, {}
    for name in ctx.names:
        node = graph[name]
        scores[name] = layer_scores(
            prior.layers[name],
            tuple(ctx.shapes[name]),
            init[name].cpu().numpy(),
            components,
            INPUT in node.inputs,
            node.input_shape,
            ctx.generator,
        )
        masks[name] = draw(scores[name], counts[name])
    if "connect" in components:
        masks = reconnect(masks, [graph[n] for n in ctx.names], scores, draw)
    return {name: torch.from_numpy(mask) for name, mask in masks.items()}
