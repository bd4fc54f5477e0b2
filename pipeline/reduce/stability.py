"""Stability rows of one level: agreement with the run's previous level and with other seeds.

Both reuse `compute_pair_features` and rename its rows, so the definitions live in one place
(`pipeline.features.stability`).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from pipeline.features import compute_pair_features
from pipeline.features.graph import NETWORK
from pipeline.features.registry import Row

Masks = dict[str, np.ndarray]

PREVIOUS = {
    "mask_iou": "mask_iou_prev_level",
    "mask_iou_chance": "mask_iou_prev_level_chance",
    "mask_hamming": "mask_hamming_prev_level",
}
ACROSS_SEEDS = {
    "mask_iou": "mask_iou_across_seeds",
    "mask_iou_chance": "mask_iou_across_seeds_chance",
}
SEED_COUNT = "mask_iou_across_seeds_count"  # how many other seeds the means are over
# Group statistics: recomputed, and replaced in the store, whenever a seed joins the group.
ACROSS_SEED_FEATURES = frozenset([*ACROSS_SEEDS.values(), SEED_COUNT])


def previous_level_rows(previous: Masks, current: Masks) -> list[Row]:
    """IoU, its chance level and Hamming distance between level L-1's mask and level L's."""
    return [(layer, PREVIOUS[f], v) for layer, f, v in compute_pair_features(previous, current)]


def across_seed_rows(current: Masks, others: list[Masks]) -> list[Row]:
    """Mean IoU (and mean chance IoU) of this mask with each other seed's mask at its level.

    No rows without other seeds. When a later reduce adds a seed's level, the reducer
    recomputes these rows for every stored sibling at that level (`RunTask.refresh`).
    """
    if not others:
        return []
    values: dict[tuple[str, str], list[float]] = defaultdict(list)
    for other in others:
        for layer, f, v in compute_pair_features(current, other):
            if f in ACROSS_SEEDS:
                values[layer, ACROSS_SEEDS[f]].append(v)
    rows = [(layer, name, float(np.mean(v))) for (layer, name), v in values.items()]
    return [*rows, (NETWORK, SEED_COUNT, float(len(others)))]
