"""SynFlow (Tanaka, Kunin, Yamins & Ganguli, NeurIPS 2020): iterative synaptic flow.

Data-free. The network is made linear-positive (every weight, bias and BatchNorm entry
replaced by its absolute value, BatchNorm in eval mode with its stored statistics, as
the paper's code does), an all-ones input of the data's shape goes in, and the objective
R = 1^T f(1) is the sum of the outputs; for a bias-free ReLU network R is the l1 path
norm, the sum over all input-output paths of the product of |w| along the path. A
weight's score |w * dR/dw| is the total path norm through it. Scores are conserved
layer by layer, so a layer that is pruned hard gets higher scores for its survivors:
re-scoring after each of many small pruning steps avoids layer collapse (a layer
pruned entirely) that single-shot saliency methods suffer at high sparsity.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

from pipeline.prune.context import PruneContext
from pipeline.prune.masks import Masks, keep_largest
from pipeline.prune.pai.scoring import plain_model, prunable, target_count

ROUNDS = 100  # the paper's schedule: 100 rounds, densities decaying exponentially


def linearize(model: nn.Module) -> nn.Module:
    """The linear-positive network, in float64: R of ResNet-20 at initialization is about
    1e25, and its path products too close to float32's limit (3e38) for comfort."""
    model.double().eval()
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.abs_()
    return model


def synflow_scores(
    model: nn.Module, magnitudes: Masks, masks: Masks, input_shape: tuple[int, ...]
) -> Masks:
    """|w * dR/dw| with w = magnitudes * masks put in place of the prunable weights."""
    weights = {n: (magnitudes[n] * masks[n]).requires_grad_() for n in magnitudes}
    first = next(iter(magnitudes.values()))
    ones = torch.ones(1, *input_shape, dtype=first.dtype, device=first.device)
    flow = functional_call(model, weights, (ones,)).sum()
    grads = torch.autograd.grad(flow, list(weights.values()))
    return {n: (w.detach() * g).abs() for (n, w), g in zip(weights.items(), grads)}


def _relative(scores: Masks) -> Masks:
    """Scores over the largest one, so keep_largest's float32 ranking neither overflows
    nor loses the order of large float64 scores."""
    peak = max(float(s.max()) for s in scores.values())
    return {n: s / max(peak, torch.finfo(torch.float64).tiny) for n, s in scores.items()}


def synflow(ctx: PruneContext) -> Masks:
    """ROUNDS rounds; round r keeps round(N * d^(r / ROUNDS)) of all N prunable weights
    (d = the level's overall target density), ranked globally by scores recomputed on the
    network masked by the previous round."""
    model = linearize(plain_model(ctx))
    magnitudes = {n: w.detach() for n, w in zip(ctx.names, prunable(model, ctx.names))}
    masks = {n: torch.ones_like(w, dtype=torch.bool) for n, w in magnitudes.items()}
    total, keep = sum(w.numel() for w in magnitudes.values()), target_count(ctx)
    for step in range(1, ROUNDS + 1):
        scores = synflow_scores(model, magnitudes, masks, ctx.data.input_shape)
        count = round(total * (keep / total) ** (step / ROUNDS))
        masks = keep_largest(_relative(scores), masks, count)
    return {n: m.cpu() for n, m in masks.items()}
