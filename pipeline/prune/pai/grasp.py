"""GraSP (Wang, Zhang & Grosse, ICLR 2020): gradient signal preservation.

Removing weights, a change delta = -w on them, changes the squared gradient norm g^T g
by about 2 delta^T H g, which is twice the sum over the removed weights of the score
S = -w * (H g). GraSP removes the weights with the highest S, whose removal reduces the
gradient flow least (or increases it), so it keeps the lowest S, i.e. the highest
w * (H g). As in the paper's code the logits are divided by a temperature T = 200 in
both the gradient and the Hessian-gradient product, softening the softmax of the
untrained network."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pipeline.prune.context import PruneContext
from pipeline.prune.masks import Masks
from pipeline.prune.pai.scoring import Batch, keep_top, plain_model, prunable, training_batches

TEMPERATURE = 200.0
GRASP_BATCHES = 1


def _loss(model: nn.Module, batch: Batch, temperature: float, batches: int) -> torch.Tensor:
    x, y = batch
    return F.cross_entropy(model(x) / temperature, y) / batches


def hessian_gradient(
    model: nn.Module, names: list[str], batches: list[Batch], temperature: float = TEMPERATURE
) -> Masks:
    """H g for the loss averaged over `batches`, with H and g taken with respect to the
    prunable weights only (biases and BatchNorm parameters held fixed), by double backprop:
    g is computed and detached first, then H g = d(g . dL/dw)/dw."""
    weights = prunable(model, names)
    grad = [torch.zeros_like(w) for w in weights]
    for batch in batches:
        loss = _loss(model, batch, temperature, len(batches))
        for total, part in zip(grad, torch.autograd.grad(loss, weights)):
            total += part
    product = [torch.zeros_like(w) for w in weights]
    for batch in batches:
        loss = _loss(model, batch, temperature, len(batches))
        first = torch.autograd.grad(loss, weights, create_graph=True)
        z = sum((g * f).sum() for g, f in zip(grad, first))
        for total, part in zip(product, torch.autograd.grad(z, weights)):
            total += part
    return dict(zip(names, product))


def grasp_scores(model: nn.Module, names: list[str], batches: list[Batch]) -> Masks:
    """The paper's S = -w * (H g); GraSP removes the highest."""
    weights = dict(zip(names, prunable(model, names)))
    hg = hessian_gradient(model, names, batches)
    return {n: -weights[n].detach() * hg[n] for n in names}


def grasp(ctx: PruneContext) -> Masks:
    """Keep the globally lowest GraSP scores, scored in training mode."""
    model = plain_model(ctx).train()
    scores = grasp_scores(model, ctx.names, training_batches(ctx, GRASP_BATCHES))
    return keep_top(ctx, {n: -s for n, s in scores.items()})
