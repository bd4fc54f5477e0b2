"""One stored IMP ticket: the `transfer` method's mask, read from a feature store.

For each level the run takes the stored mask of one IMP ticket (method imp, no control) of
the same architecture: the ticket trained on `prune.transfer_dataset` (default: the run's
own dataset) with seed `prune.transfer_seed` (default: the run's own seed), at its level
whose overall density is nearest the rung's in log scale. The run trains it from its own
initialization. With the ticket's own dataset and seed this reproduces the ticket; with
another seed it is the fresh-initialization control of a store's ticket; with other data
it asks whether a ticket transfers (Morcos et al. 2019), e.g. from MNIST-1D to its
spatially shuffled variant. With `prune.transfer_align` the mask is first permuted to the
run's own units (pipeline.prior.align).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

from pipeline.errors import PriorError
from pipeline.models.members import initial_state
from pipeline.prior.align import ALIGNMENTS, permute_masks, unit_chain
from pipeline.prior.learn import nearest_levels
from pipeline.prune.context import PruneContext
from pipeline.prune.masks import Masks
from pipeline.prune.pai.scoring import target_count
from pipeline.store import levels_frame, read_masks, runs_frame


@lru_cache(maxsize=8)
def _tickets(store: str, stamp: float) -> dict[tuple[str, str, int], list[str]]:
    runs = runs_frame(store)
    runs = runs[(runs.method == "imp") & (runs.control == "none")]
    found: dict[tuple[str, str, int], list[str]] = {}
    for rid, model, dataset, seed in zip(runs.run_id, runs.model, runs.dataset, runs.seed):
        found.setdefault((model, dataset, int(seed)), []).append(rid)
    return found


def ticket_run(store: str | Path, model: str, dataset: str, seed: int) -> str:
    """The run id of the one stored IMP ticket of `model` on `dataset` with `seed`."""
    path = Path(store).resolve()
    match = _tickets(str(path), path.stat().st_mtime).get((model, dataset, seed), [])
    if len(match) != 1:
        raise PriorError(
            f"{store} holds {len(match)} IMP tickets of {model} on {dataset} with "
            f"seed {seed}; `transfer` needs exactly one"
        )
    return match[0]


@lru_cache(maxsize=8)
def _pruned_levels(store: str, stamp: float):
    """The store's pruned levels, read once per store version (every level of every
    `transfer` run asks)."""
    levels = levels_frame(store)
    return levels[levels.level > 0]


def ticket_level(
    store: Path, model: str, dataset: str, seed: int, density: float
) -> tuple[str, int]:
    """(run id, level) of the stored IMP ticket's level nearest `density`."""
    run_id = ticket_run(store, model, dataset, seed)
    path = Path(store).resolve()
    levels = _pruned_levels(str(path), path.stat().st_mtime)
    levels = levels[levels.run_id == run_id]
    if levels.empty:
        raise PriorError(f"ticket {run_id} in {store} has no pruned level yet")
    return run_id, int(nearest_levels(levels, density).level.iloc[0])


def ticket_source(prune, dataset: str, seed: int) -> tuple[str, int]:
    """(dataset, seed) of the ticket a `transfer` run trains: its options, else its own."""
    return (
        prune.transfer_dataset or dataset,
        seed if prune.transfer_seed is None else prune.transfer_seed,
    )


def transfer_mask(ctx: PruneContext) -> Masks:
    prune = ctx.config
    density = target_count(ctx) / sum(ctx.shapes[n].numel() for n in ctx.names)
    store = Path(prune.transfer_store)
    dataset, seed = ticket_source(prune, ctx.dataset, ctx.seed)
    run_id, level = ticket_level(store, ctx.model, dataset, seed, density)
    masks = read_masks(store, run_id, level)
    for name in ctx.names:
        if name not in masks or masks[name].shape != tuple(ctx.shapes[name]):
            raise PriorError(
                f"ticket {run_id}'s mask does not fit {name} {tuple(ctx.shapes[name])}"
            )
    mask = {name: torch.from_numpy(masks[name].astype(bool)) for name in ctx.names}
    match = ALIGNMENTS.get(prune.transfer_align)
    return aligned(mask, seed, match, ctx) if match else mask


def aligned(mask: Masks, ticket_seed: int, match, ctx: PruneContext) -> Masks:
    """The ticket's mask permuted to the units of the weights this level trains from,
    matched against the ticket's initialization, rebuilt from its seed."""
    data = ctx.data
    chain = unit_chain(ctx.model, data.input_shape, data.num_classes)
    ticket = initial_state(ctx.model, data.input_shape, data.num_classes, ticket_seed)
    new = {key: value.cpu() for key, value in ctx.rewind_state().items()}
    return permute_masks(mask, chain, match(ticket, new, chain, ctx))
