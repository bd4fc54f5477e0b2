"""GEM-MINER (Sreenivasan et al., NeurIPS 2022): mask scores trained at the rewind weights.

Every prunable weight w gets a score p in [0, 1] (uniform at random at the start, or
starting from a `prior` mask with `prune.start=prior`: see `initial_scores`). The
weights stay frozen; the network computes with w * m, where m = 1[p >= 0.5] on the weights
not yet pruned and 0 on the others, and the scores learn through the rounding by the
straight-through estimator (dm/dp = 1). The loss is the cross-entropy plus the paper's
L2 regularizer lambda * sum(p^2); after each step the scores are clipped to [0, 1]. Every
`gem_period` epochs the lowest-scoring surviving weights are pruned for good ("iterative
freezing"), on a geometric schedule that reaches the level's weight count at the last
round; the mask is the set of survivors (the paper's `unflag_before_finetune`), exactly
`target_count` weights.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.func import functional_call

from pipeline.data.batches import iterations_per_epoch
from pipeline.prune.context import PruneContext
from pipeline.prune.flops import dense_forward_flops, output_positions
from pipeline.prune.masks import Masks
from pipeline.prune.pai.scoring import plain_model, target_count
from pipeline.prune.search.batches import epoch_batches

MOMENTUM = 0.9  # the paper's SGD on the scores (weight decay 0, cosine learning rate)
THRESHOLD = 0.5  # a score rounds to 1 at or above this


def survivors(total: int, keep: int, rounds: int) -> list[int]:
    """Weights left after each pruning round: round(total * (keep / total) ** (r / rounds)),
    the last exactly `keep`."""
    return [round(total * (keep / total) ** (r / rounds)) for r in range(1, rounds)] + [keep]


def keep_top_random_ties(scores: Masks, alive: Masks, count: int, gen: torch.Generator) -> Masks:
    """The `count` highest alive scores over all layers. Clipped scores tie at 0 and 1, so
    ties break in a random order drawn from `gen` (not by position, which would favour
    the first layers)."""
    names = list(scores)
    flat = torch.cat(
        [torch.where(alive[n].flatten(), scores[n].flatten(), -math.inf) for n in names]
    )
    shuffle = torch.randperm(len(flat), generator=gen)
    chosen = torch.zeros(len(flat), dtype=torch.bool)
    chosen[shuffle[torch.sort(flat[shuffle], descending=True, stable=True).indices[:count]]] = True
    out, offset = {}, 0
    for n in names:
        out[n] = chosen[offset : offset + scores[n].numel()].view_as(scores[n])
        offset += scores[n].numel()
    return out


def initial_scores(ctx: PruneContext) -> Masks:
    """Uniform in [0, 1] (the paper's start: about half the weights round to 1), or with
    `prune.start=prior` uniform in [0.5, 1) on the `prior` method's mask for this level
    (drawn first, so it is that method's mask) and in [0, 0.5) elsewhere."""
    start = None
    if (ctx.config.start or "random") == "prior":
        from pipeline.prior.draw import prior_mask

        start = prior_mask(ctx)
    uniform = {n: torch.rand(ctx.shapes[n], generator=ctx.generator) for n in ctx.names}
    if start is None:
        return uniform
    return {n: (uniform[n] + start[n].float()) / 2 for n in ctx.names}


def gem_miner(ctx: PruneContext) -> Masks:
    prune, names = ctx.config, ctx.names
    model = plain_model(ctx).train()  # BatchNorm on batch statistics, as in training
    frozen = {k: v.detach() for k, v in model.state_dict().items()}
    device = ctx.data.x_train.device
    scores = {n: s.to(device).requires_grad_() for n, s in initial_scores(ctx).items()}
    alive = {n: torch.ones(ctx.shapes[n], dtype=torch.bool, device=device) for n in names}
    optimizer = torch.optim.SGD(scores.values(), lr=prune.gem_lr, momentum=MOMENTUM)
    rounds = (prune.gem_epochs - 1) // prune.gem_period
    total = sum(ctx.shapes[n].numel() for n in names)
    counts = survivors(total, target_count(ctx), rounds) if rounds else []
    positions = output_positions(ctx.model, ctx.data.input_shape, ctx.data.num_classes)
    dense = dense_forward_flops(ctx.shapes, positions)
    kept_flops = torch.zeros((), dtype=torch.int64, device=device)  # sum of b * fwd(m)
    examples, step = 0, 0
    train = ctx.train
    steps = prune.gem_epochs * iterations_per_epoch(
        len(ctx.data.y_train), train.batch_size, train.drop_last
    )
    for epoch in range(prune.gem_epochs):
        if epoch and epoch % prune.gem_period == 0 and epoch // prune.gem_period <= rounds:
            count = counts[epoch // prune.gem_period - 1]
            alive = {n: m.to(device) for n, m in _cut(scores, alive, count, ctx).items()}
        for x, y in epoch_batches(ctx):
            for group in optimizer.param_groups:  # cosine decay over all score steps
                group["lr"] = 0.5 * prune.gem_lr * (1 + math.cos(math.pi * step / steps))
            hard = {n: alive[n] & (scores[n] >= THRESHOLD) for n in names}
            masks = {n: alive[n] * (hard[n] + scores[n] - scores[n].detach()) for n in names}
            weights = {**frozen, **{n: frozen[n] * masks[n] for n in names}}
            loss = F.cross_entropy(functional_call(model, weights, (x,)), y)
            loss = loss + prune.gem_lambda * sum((s**2).sum() for s in scores.values())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                for s in scores.values():
                    s.clamp_(0.0, 1.0)
                kept_flops += len(y) * sum(2 * positions[n] * hard[n].sum() for n in names)
            examples += len(y)
            step += 1
    # forward and activation gradients through the rounded mask, score gradients dense
    ctx.spent_flops.append(2 * int(kept_flops.item()) + dense * examples)
    return _cut(scores, alive, target_count(ctx), ctx)


def _cut(scores: Masks, alive: Masks, count: int, ctx: PruneContext) -> Masks:
    """The `count` best-scoring survivors, as CPU masks."""
    cpu = {n: s.detach().cpu() for n, s in scores.items()}
    return keep_top_random_ties(cpu, {n: m.cpu() for n, m in alive.items()}, count, ctx.generator)
