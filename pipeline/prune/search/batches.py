"""Minibatches for a search's own training loop, drawn with the level's generator."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from pipeline.prune.context import PruneContext
from pipeline.prune.pai.scoring import Batch


def epoch_batches(ctx: PruneContext) -> Iterator[Batch]:
    """One pass over the training set in a fresh random order, in minibatches of the run's
    batch size (the last one short, or dropped with train.drop_last): reproducible for a
    run's seed and level."""
    data, train = ctx.data, ctx.train
    order = torch.randperm(len(data.y_train), generator=ctx.generator)
    order = order.to(data.x_train.device)
    for idx in order.split(train.batch_size):
        if len(idx) < train.batch_size and train.drop_last:
            return
        yield data.x_train[idx], data.y_train[idx]
