"""Early-bird tickets (You et al., ICLR 2020): the magnitude mask read off early in training.

The dense network trains from the rewind weights with the run's optimizer at its peak
learning rate. After every epoch the magnitude mask at the level's densities is taken
(as `oneshot` takes it from the fully trained network), and its distance to the previous
epoch's mask joins a first-in-first-out queue of the last `early_bird_window` distances.
Training stops as soon as the queue is full and every distance in it is below
`early_bird_threshold` (the mask has stopped moving), or after `early_bird_epochs`; the
last mask is the ticket.
"""

from __future__ import annotations

from collections import deque

import torch
import torch.nn.functional as F

from pipeline.prune.context import PruneContext
from pipeline.prune.flops import output_positions, train_step_flops
from pipeline.prune.masks import Masks, full_masks, prune_smallest
from pipeline.prune.pai.scoring import plain_model
from pipeline.prune.search.batches import epoch_batches
from pipeline.train.optimizers import build_optimizer


def mask_distance(a: Masks, b: Masks) -> float:
    """Positions kept by one mask only, over the positions the two keep together counted
    twice: 0 for the same mask, 1 for disjoint ones. (The paper divides by the mask's
    length, which at density d can never exceed 2d.)"""
    changed = sum(int((a[n] ^ b[n]).sum()) for n in a)
    kept = sum(int(a[n].sum()) + int(b[n].sum()) for n in a)
    return changed / kept if kept else 0.0


def magnitude_mask(model: torch.nn.Module, ctx: PruneContext) -> Masks:
    """The level's magnitude mask of the network's current weights, as `oneshot`'s."""
    params = dict(model.named_parameters())
    weights = {n: params[n].detach().cpu() for n in ctx.names}
    rung = ctx.rung
    return prune_smallest(
        weights,
        full_masks(ctx.shapes),
        1 - rung.density,
        1 - rung.output_density,
        ctx.output,
        ctx.scope,
    )


def early_bird(ctx: PruneContext) -> Masks:
    prune = ctx.config
    model = plain_model(ctx).train()
    optimizer = build_optimizer(model.parameters(), ctx.train)
    distances: deque[float] = deque(maxlen=prune.early_bird_window)
    mask, examples = None, 0
    for _ in range(prune.early_bird_epochs):
        for x, y in epoch_batches(ctx):
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
            examples += len(y)
        previous, mask = mask, magnitude_mask(model, ctx)
        if previous is not None:
            distances.append(mask_distance(previous, mask))
        if len(distances) == distances.maxlen and max(distances) < prune.early_bird_threshold:
            break
    positions = output_positions(ctx.model, ctx.data.input_shape, ctx.data.num_classes)
    ctx.spent_flops.append(train_step_flops(full_masks(ctx.shapes), positions) * examples)
    return mask
