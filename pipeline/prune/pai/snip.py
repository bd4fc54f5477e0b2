"""SNIP (Lee, Ajanthan & Torr, ICLR 2019): connection sensitivity at initialization.

The sensitivity of weight j is |dL/dc_j| at c = 1 for a multiplicative gate c_j on it,
which is |w_j * dL/dw_j|: the first-order change of the loss when the weight is removed.
The paper normalizes by the sum over all weights; that does not change the ranking, so
it is left out.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pipeline.prune.context import PruneContext
from pipeline.prune.masks import Masks
from pipeline.prune.pai.scoring import Batch, keep_top, plain_model, prunable, training_batches

SNIP_BATCHES = 1  # the paper scores one minibatch


def snip_scores(model: nn.Module, names: list[str], batches: list[Batch]) -> Masks:
    """|w * g| with g the gradient of the cross-entropy averaged over `batches` (each batch's
    mean loss, then the mean over batches), in the model's current mode."""
    weights = prunable(model, names)
    grads = [torch.zeros_like(w) for w in weights]
    for x, y in batches:
        loss = F.cross_entropy(model(x), y) / len(batches)
        for total, grad in zip(grads, torch.autograd.grad(loss, weights)):
            total += grad
    return {n: (w.detach() * g).abs() for n, w, g in zip(names, weights, grads)}


def snip(ctx: PruneContext) -> Masks:
    """Keep the globally most sensitive weights, scored in training mode (BatchNorm uses the
    batch's statistics, as a network does at the start of training)."""
    model = plain_model(ctx).train()
    return keep_top(ctx, snip_scores(model, ctx.names, training_batches(ctx, SNIP_BATCHES)))
