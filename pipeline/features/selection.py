"""Which initial weights a mask keeps: selection bias by |w_init| and by sign.

These are the statistics a mask built before training can copy: a ticket found by
magnitude pruning with rewinding keeps large initial weights more often than
chance, and may favour one sign in some layers.
"""

import numpy as np

from pipeline.features.graph import LayerView
from pipeline.features.registry import layer_feature

DECILES = 10


@layer_feature
def init_selection(layer: LayerView) -> dict[str, float]:
    """Keep rates relative to the layer's density (1 = no preference).

    keep_rel_abs_init_d{k}, k = 0..9: P(kept | |w_init| in the k-th decile of the
        layer's |w_init|) / density, deciles by rank (ties broken by position).
    keep_rel_init_positive: P(kept | w_init > 0) / density; NaN if no positive weight.
    """
    mask = layer.mask.ravel()
    kept = mask.mean()
    out: dict[str, float] = {}
    if kept == 0:
        out.update({f"keep_rel_abs_init_d{k}": np.nan for k in range(DECILES)})
        out["keep_rel_init_positive"] = np.nan
        return out
    order = np.argsort(np.abs(layer.w_init.ravel()), kind="stable")
    for k, part in enumerate(np.array_split(order, DECILES)):
        out[f"keep_rel_abs_init_d{k}"] = float(mask[part].mean() / kept) if part.size else np.nan
    positive = layer.w_init.ravel() > 0
    out["keep_rel_init_positive"] = (
        float(mask[positive].mean() / kept) if positive.any() else np.nan
    )
    return out
