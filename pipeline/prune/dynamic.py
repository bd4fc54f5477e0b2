"""Dynamic sparse training's mask update (RigL: Evci et al., ICML 2020; SET: Mocanu et al.,
Nature Communications 2018).

Every `interval` iterations until `end`, each layer drops the fraction alpha_t of its active
weights with the smallest magnitude and grows as many inactive ones (the just-dropped
included), so its count never changes. RigL grows the largest dense-gradient magnitudes,
SET uniformly random positions; with a prior's steer (`prune.dst_steer`) each position's
grow score is multiplied by its weight exp(beta * s), s the prior's structural log-score
(pipeline.prior.draw), so regrowth favours the tickets' degree and locality profiles.
The cohort trainer calls `update_masks` per member on plain-shaped views of the cohort's
tensors; grown weights and their optimizer state are then zeroed there.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from pipeline.data.batches import epoch_seed

Masks = dict[str, torch.Tensor]
# grow rule -> the score each inactive position is grown by (the largest first), from the
# layer's dense gradient (its weights, for their shape, when the rule needs no gradient) and
# the update's generator
GROWERS: dict[str, Callable[[torch.Tensor, torch.Generator], torch.Tensor]] = {
    "rigl": lambda gradient, generator: gradient.abs(),
    "set": lambda gradient, generator: torch.rand(
        gradient.shape, generator=generator, device="cpu"
    ).to(gradient.device),
}
NEEDS_GRADIENT = frozenset({"rigl"})


@dataclass(frozen=True)
class MaskUpdate:
    """One member's update rule in a level; `t` counts iterations from the level's start."""

    grow: str  # a key of GROWERS
    interval: int  # iterations between updates
    end: int  # no update at t >= end
    alpha: float  # the fraction dropped at t = 0 (cosine-decayed to 0 at `end`)
    seed: int  # seeds the random draws of the update at each t
    # per layer, a weight each position's grow score is multiplied by (a prior's steer,
    # `prune.dst_steer`); None grows by the rule alone
    weights: Masks | None = field(default=None, compare=False)

    @property
    def needs_gradient(self) -> bool:
        return self.grow in NEEDS_GRADIENT

    def due(self, t: int) -> bool:
        return 0 < t < self.end and t % self.interval == 0

    def fraction(self, t: int) -> float:
        """alpha_t = alpha / 2 * (1 + cos(pi t / end))."""
        return self.alpha / 2 * (1 + math.cos(math.pi * t / self.end))

    def generator(self, t: int) -> torch.Generator:
        """A fresh generator per update, so a resumed level draws what an unbroken one did."""
        return torch.Generator().manual_seed(epoch_seed(self.seed, 0, t))

    def updates(self, iterations: int) -> int:
        """How many updates a level of `iterations` iterations makes."""
        return len([t for t in range(1, iterations + 1) if self.due(t)])


def drop_and_grow(
    weight: torch.Tensor, mask: torch.Tensor, fraction: float, grow_score: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """One layer: floor(fraction * active) of the active weights with the smallest |weight|
    leave, as many positions inactive after the drop with the largest `grow_score` join
    (ties by position). Returns the new bool mask and the grown positions (newly active or
    regrown right after being dropped)."""
    active = mask.flatten().bool()
    count = math.floor(fraction * int(active.sum()))
    if count == 0:
        return mask.bool().clone(), torch.zeros_like(mask, dtype=torch.bool)
    inf = torch.tensor(float("inf"), device=weight.device)
    drop_score = torch.where(active, weight.detach().flatten().abs().float(), inf)
    dropped = torch.argsort(drop_score, stable=True)[:count]
    kept = active.clone()
    kept[dropped] = False
    grow = torch.where(kept, -inf, grow_score.flatten().float())
    grown = torch.argsort(grow, descending=True, stable=True)[:count]
    new = kept.clone()
    new[grown] = True
    grown_mask = torch.zeros_like(active)
    grown_mask[grown] = True
    return new.view_as(mask), grown_mask.view_as(mask)


def update_masks(
    rule: MaskUpdate,
    t: int,
    weights: Masks,
    masks: Masks,
    gradients: Masks | None,
) -> tuple[Masks, Masks]:
    """Every layer of `masks` of one member at update `t`: (new masks, grown positions)."""
    generator = rule.generator(t)
    fraction = rule.fraction(t)
    new, grown = {}, {}
    for name, mask in masks.items():
        gradient = gradients[name] if gradients is not None else weights[name]
        score = GROWERS[rule.grow](gradient, generator)
        if rule.weights is not None:
            score = score * rule.weights[name].to(score.device)
        new[name], grown[name] = drop_and_grow(weights[name], mask, fraction, score)
    return new, grown
