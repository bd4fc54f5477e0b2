"""What the scoring methods share: the level's weight budget, the plain network at the
weights the level trains from, training batches, and the global "keep the top k" step.

Pruning-at-initialization methods build each level's mask in one shot from the rewind
weights, at the ladder's density, ignoring the previous level's mask (like `oneshot`):
successive levels of one run are independent masks, not nested ones.
"""

from __future__ import annotations

import torch
from torch import nn

from pipeline.models.members import build_plain
from pipeline.prune.context import PruneContext
from pipeline.prune.ladder import Rung
from pipeline.prune.masks import Masks, keep_largest

Batch = tuple[torch.Tensor, torch.Tensor]

BATCH_SIZE = 256  # examples per scoring minibatch: enough signal, modest memory


def level_budget(rung: Rung, sizes: dict[str, int], output: str) -> int:
    """Weights a level keeps in all prunable layers together (`sizes`: weights per layer):
    the rung's hidden density of the hidden layers' total plus its output density of the
    output layer's size."""
    hidden = sum(size for n, size in sizes.items() if n != output)
    return round(rung.density * hidden) + round(rung.output_density * sizes[output])


def target_count(ctx: PruneContext) -> int:
    """`level_budget` of the context's level."""
    return level_budget(ctx.rung, {n: ctx.shapes[n].numel() for n in ctx.names}, ctx.output)


def keep_top(ctx: PruneContext, scores: Masks) -> Masks:
    """The `target_count` highest scores across all prunable layers (output layer included),
    as CPU masks; ties break by position, so equal scores give the same mask every time."""
    scores = {n: scores[n].detach().cpu() for n in ctx.names}
    alive = {n: torch.ones(ctx.shapes[n], dtype=torch.bool) for n in ctx.names}
    return keep_largest(scores, alive, target_count(ctx))


def plain_model(ctx: PruneContext) -> nn.Module:
    """A throwaway plain network holding the weights the level trains from, on the data's
    device, so scoring sees exactly the network that will be trained."""
    data = ctx.data
    model = build_plain(ctx.model, data.input_shape, data.num_classes)
    model.load_state_dict(ctx.rewind_state())
    return model.to(data.x_train.device)


def prunable(model: nn.Module, names: list[str]) -> list[nn.Parameter]:
    params = dict(model.named_parameters())
    return [params[n] for n in names]


def training_batches(ctx: PruneContext, count: int) -> list[Batch]:
    """`count` disjoint random minibatches of BATCH_SIZE training examples (fewer or smaller
    when the training set is small), drawn with the level's generator: reproducible."""
    data = ctx.data
    order = torch.randperm(len(data.y_train), generator=ctx.generator)[: count * BATCH_SIZE]
    order = order.to(data.x_train.device)
    return [(data.x_train[idx], data.y_train[idx]) for idx in order.split(BATCH_SIZE)]
