"""Sample a mask from a ticket prior: a product of per-unit, per-position and per-weight
preferences, drawn without replacement (Gumbel top-k) to each layer's exact count.

The score of weight (i, j) of a layer is the sum of the enabled components' log-weights:

- degrees: log of unit i's fan-in share and of input j's fan-out share, each taken
  from the learned sorted profile in a random unit order (hidden units are
  exchangeable); inputs of the network are not, so a layer reading the input uses
  the learned per-position keep rate instead;
- locality: for a linear layer reading a gridded input, a Gaussian window around a
  centre drawn per unit from the per-position keep rate, with the width that gives
  the tickets' `input_locality_spread`; for a convolution, log of the tickets' keep rate
  of each kernel position relative to the layer's density (the same for every filter);
- magnitude: log of the relative keep rate of w_init's |w| decile in this layer;
- sign: log of the relative keep rate of w_init's sign.

`profile` sets each layer's count from the tickets' layer densities (rescaled to the
target total); without it every layer takes the ladder's density, as `random` does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from pipeline.allocation import capped_proportional
from pipeline.prior.learn import LayerPrior, TicketPrior

EPS = 1e-6


def layer_counts(
    prior: TicketPrior,
    sizes: dict[str, int],
    total: int,
    use_profile: bool,
    fallback: dict[str, float],
) -> dict[str, int]:
    """Keep counts per layer summing to `total`, shaped by the prior's densities.

    The densities are scaled by one common factor, each layer capped at its size
    (`capped_proportional`); each layer's share is rounded to the nearest count and the
    rest of the gap goes to the layers with the most room. (This rounding, not largest
    remainder, keeps the masks of existing `prior` runs: the two differ in about a
    quarter of the fallback ladders.)
    """
    base = {n: (prior.layers[n].density if use_profile else fallback[n]) for n in sizes}
    densities = capped_proportional(base, sizes, total)
    counts = {n: round(densities[n] * sizes[n]) for n in sizes}
    for n in sorted(sizes, key=lambda n: sizes[n] - counts[n], reverse=True):
        gap = total - sum(counts.values())
        if gap == 0:
            break
        counts[n] = int(np.clip(counts[n] + gap, 0, sizes[n]))
    return counts


def _permuted(profile: np.ndarray, generator: torch.Generator) -> np.ndarray:
    order = torch.randperm(len(profile), generator=generator).numpy()
    return profile[order]


def _window(
    layer: LayerPrior, grid: tuple[int, ...], units: int, channels: int, generator: torch.Generator
) -> np.ndarray:
    """log Gaussian windows [units, C * prod(grid)] around centres drawn from the
    per-position keep rate."""
    cells = math.prod(grid)
    marginal = layer.position.reshape(channels, cells).mean(axis=0) + EPS
    centres = torch.multinomial(
        torch.tensor(marginal / marginal.sum()), units, replacement=True, generator=generator
    ).numpy()
    position = np.stack(np.unravel_index(np.arange(cells), grid), axis=1).astype(float)
    centre = position[centres]  # [units, ndim]
    uniform = sum((length**2 - 1) / 12 for length in grid)
    sigma = max(layer.spread, 0.05) * math.sqrt(uniform / len(grid))
    distance = ((centre[:, None, :] - position[None, :, :]) ** 2).sum(axis=2)
    return np.tile(-distance / (2 * sigma**2), (1, channels))


def _structure(
    layer: LayerPrior,
    shape: tuple[int, ...],
    components: set[str],
    gridded: bool,
    grid: tuple[int, ...],
    generator: torch.Generator,
) -> tuple[np.ndarray, set[str]]:
    """The unit- and position-level log-weights (degrees, locality) of a layer, broadcast
    to its shape, and the components among them that acted on it."""
    out_units, in_units = shape[0], shape[1]
    unit = np.zeros((out_units, in_units))
    applied = set()
    if "degrees" in components:
        unit += np.log(_permuted(layer.fan_in, generator) + EPS)[:, None]
        if gridded:
            unit += np.log(layer.position + EPS)[None, :]
        else:
            unit += np.log(_permuted(layer.fan_out, generator) + EPS)[None, :]
        applied.add("degrees")
    if "locality" in components and gridded and layer.spread is not None:
        unit += _window(layer, grid, out_units, in_units // math.prod(grid), generator)
        applied.add("locality")
    scores = np.broadcast_to(
        unit.reshape(out_units, in_units, *[1] * (len(shape) - 2)), shape
    ).copy()
    if "locality" in components and layer.kernel is not None and layer.kernel.size > 1:
        scores += np.log(layer.kernel + EPS).reshape(1, 1, *shape[2:])
        applied.add("locality")
    return scores, applied


def _add_per_weight(
    scores: np.ndarray, layer: LayerPrior, w_init: np.ndarray, components: set[str]
) -> set[str]:
    """Add to `scores` the log-weights of each weight's own initial value (magnitude, sign);
    returns the components that acted."""
    shape = scores.shape
    applied = set()
    if "magnitude" in components and layer.decile_rel is not None:
        order = np.argsort(np.abs(w_init).ravel(), kind="stable")
        decile = np.empty(order.size, dtype=int)
        for k, part in enumerate(np.array_split(order, 10)):
            decile[part] = k
        scores += np.log(layer.decile_rel[decile] + EPS).reshape(shape)
        applied.add("magnitude")
    if "sign" in components and layer.positive_rel is not None:
        positive = w_init > 0
        share = positive.mean()
        negative_rel = max((1 - share * layer.positive_rel) / max(1 - share, EPS), 0.0)
        scores += np.where(positive, np.log(layer.positive_rel + EPS), np.log(negative_rel + EPS))
        applied.add("sign")
    return applied


@dataclass
class LayerScores:
    structure: np.ndarray  # degrees and locality: where in the layer's graph weights go
    total: np.ndarray  # structure plus the per-weight terms (magnitude, sign)
    applied: set[str]  # the score components that acted on this layer


def layer_scores(
    layer: LayerPrior,
    shape: tuple[int, ...],
    w_init: np.ndarray,
    components: set[str],
    reads_input: bool,
    grid: tuple[int, ...],
    generator: torch.Generator,
) -> LayerScores:
    gridded = bool(reads_input and grid and len(shape) == 2 and layer.position is not None)
    structure, applied = _structure(layer, shape, components, gridded, grid, generator)
    total = structure.copy()
    applied |= _add_per_weight(total, layer, w_init, components)
    return LayerScores(structure, total, applied)


def gumbel_top_k(scores: np.ndarray, count: int, generator: torch.Generator) -> torch.Tensor:
    """Sample `count` positions without replacement with probabilities ~ exp(scores)."""
    uniform = torch.rand(scores.size, generator=generator, dtype=torch.float64)
    keys = torch.from_numpy(scores.ravel()) - torch.log(-torch.log(uniform.clamp_min(1e-300)))
    chosen = torch.zeros(scores.size, dtype=torch.bool)
    chosen[torch.topk(keys, count).indices] = True
    return chosen.view(scores.shape)
