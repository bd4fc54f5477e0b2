"""Mask arithmetic on dicts {param_name: bool tensor}, in plain-model shapes."""

from __future__ import annotations

import torch

from pipeline.data.batches import epoch_seed

Masks = dict[str, torch.Tensor]


def full_masks(shapes: dict[str, torch.Size]) -> Masks:
    """The dense mask of layers with these shapes."""
    return {name: torch.ones(shape, dtype=torch.bool) for name, shape in shapes.items()}


def density(masks: Masks) -> float:
    kept = sum(int(m.sum()) for m in masks.values())
    total = sum(m.numel() for m in masks.values())
    return kept / total


def layer_densities(masks: Masks) -> dict[str, float]:
    return {name: float(m.float().mean()) for name, m in masks.items()}


def keep_largest(scores: Masks, alive: Masks, keep: int) -> Masks:
    """Keep the `keep` highest-scoring alive entries across all layers in `scores`.

    Ties break by position (a stable sort), so the result is deterministic.
    """
    names = list(scores)
    flat = torch.cat(
        [torch.where(alive[n].flatten(), scores[n].flatten().float(), float("-inf")) for n in names]
    )
    order = torch.sort(flat, descending=True, stable=True).indices[:keep]
    chosen = torch.zeros_like(flat, dtype=torch.bool)
    chosen[order] = True
    out, offset = {}, 0
    for n in names:
        size = scores[n].numel()
        out[n] = chosen[offset : offset + size].view_as(scores[n])
        offset += size
    return out


def prune_smallest(
    weights: Masks,
    alive: Masks,
    fraction: float,
    output_fraction: float,
    output: str,
    scope: str,
) -> Masks:
    """Remove `fraction` of the alive weights with the smallest |w| (the output layer:
    `output_fraction` of its own), ranked over all hidden layers together ("global") or
    within each layer ("layerwise")."""
    scores = {n: weights[n].abs() for n in alive}
    groups = (
        [[n] for n in alive]
        if scope == "layerwise"
        else [[n for n in alive if n != output], [output]]
    )
    out: Masks = {}
    for group in groups:
        if not group:
            continue
        rate = output_fraction if group == [output] else fraction
        count = sum(int(alive[n].sum()) for n in group)
        keep = count - round(rate * count)
        out.update(keep_largest({n: scores[n] for n in group}, alive, keep))
    return out


def random_with_densities(
    shapes: dict[str, torch.Size], densities: dict[str, float], generator: torch.Generator
) -> Masks:
    """Each layer keeps round(density * size) positions chosen uniformly at random."""
    out = {}
    for name, shape in shapes.items():
        size = int(torch.Size(shape).numel())
        keep = round(densities[name] * size)
        chosen = torch.zeros(size, dtype=torch.bool)
        chosen[torch.randperm(size, generator=generator)[:keep]] = True
        out[name] = chosen.view(shape)
    return out


def shuffle_within_layers(masks: Masks, generator: torch.Generator) -> Masks:
    """Permute each layer's mask entries: same layer densities, random positions."""
    return {
        name: m.flatten()[torch.randperm(m.numel(), generator=generator)].view_as(m)
        for name, m in masks.items()
    }


def mask_generator(seed: int, level: int, salt: int) -> torch.Generator:
    """Mask draws of a run (salt 0: its method; 1: its control; 2: a dynamic method's
    steer), independent of every other (seed, level, salt): the salt enters through its
    own odd multiplier."""
    return torch.Generator().manual_seed(
        epoch_seed(seed, level, 0x6D61736B + salt * 0xD1B54A32D192ED03)
    )
