"""The network's layer-density profile against reference profiles."""

import math

import numpy as np

from pipeline.allocation import capped_proportional
from pipeline.features.dag import Network
from pipeline.features.graph import NETWORK
from pipeline.features.registry import Row, network_feature


def erk_profile(shapes: list[tuple[int, ...]], kept: int) -> np.ndarray:
    """Erdos-Renyi-Kernel layer densities keeping ``kept`` weights in all.

    Layer l of shape ``(n_1, ..., n_k)`` (kernel dims included) gets density
    ``min(1, eps * sum(n) / prod(n))``, with ``eps`` chosen so that the kept
    counts sum to ``kept`` (Evci et al. 2020; `capped_proportional`).
    """
    raw = {i: sum(s) / math.prod(s) for i, s in enumerate(shapes)}
    sizes = {i: math.prod(s) for i, s in enumerate(shapes)}
    return np.array(list(capped_proportional(raw, sizes, kept).values()))


@network_feature
def density_profile(net: Network) -> list[Row]:
    """Overall density and the distance of the layer densities to references.

    density ("*"): surviving weights / weights, over all layers.
    density_profile_mean_abs_diff_erk: mean over layers of |d_l - erk_l|, with
        erk_l the `erk_profile` keeping the same total number of weights.
    density_profile_mean_abs_diff_uniform: mean over layers of |d_l - density|.
    """
    kept = np.array([layer.mask.sum() for layer in net.layers], dtype=np.float64)
    sizes = np.array([layer.mask.size for layer in net.layers], dtype=np.float64)
    densities = kept / sizes
    overall = kept.sum() / sizes.sum()
    erk = erk_profile([layer.mask.shape for layer in net.layers], int(kept.sum()))
    return [
        (NETWORK, "density", float(overall)),
        (NETWORK, "density_profile_mean_abs_diff_erk", float(np.abs(densities - erk).mean())),
        (
            NETWORK,
            "density_profile_mean_abs_diff_uniform",
            float(np.abs(densities - overall).mean()),
        ),
    ]
