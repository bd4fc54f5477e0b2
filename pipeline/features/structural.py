"""Structural features: degrees, conv kernel survival and density, unit survival.

Degrees are taken in the layer's bipartite graph (see `pipeline.features.graph`)
with edge multiplicities, so a unit's degree is its number of surviving weights:
the fan-in of an output unit counts the surviving weights into it (for a conv
filter, all its surviving kernel entries), the fan-out of an input unit the
surviving weights out of it. Degree vectors include zero-degree units.
"""

import numpy as np

from pipeline.features.dag import Network, through
from pipeline.features.graph import NETWORK, LayerView, edge_counts
from pipeline.features.registry import Row, layer_feature, network_feature


def coefficient_of_variation(x: np.ndarray) -> float:
    """std(x) / mean(x) (population std); NaN when the mean is 0."""
    mean = float(np.mean(x))
    return float(np.std(x)) / mean if mean > 0 else np.nan


def gini(x: np.ndarray) -> float:
    """Gini coefficient of a nonnegative vector.

    ``G = sum_ij |x_i - x_j| / (2 n^2 mean(x))``, computed from the sorted values
    as ``2 sum_i i x_(i) / (n sum x) - (n + 1) / n``. 0 when all values are equal,
    ``(n - 1) / n`` when one value holds everything; NaN when all are 0.
    """
    x = np.sort(np.asarray(x, dtype=np.float64))
    total, n = x.sum(), x.size
    if total <= 0:
        return np.nan
    ranks = np.arange(1, n + 1)
    return float(2 * np.dot(ranks, x) / (n * total) - (n + 1) / n)


@layer_feature
def degree_distribution(layer: LayerView) -> dict[str, float]:
    """Fan-in (per output unit) and fan-out (per input unit) degree statistics.

    fan_in_mean, fan_in_cv, fan_in_gini: mean, `coefficient_of_variation` and
        `gini` of the surviving weights into each output unit (neuron or filter).
    fan_out_mean, fan_out_cv, fan_out_gini: the same for the surviving weights
        out of each input unit (input feature or input channel).
    """
    counts = edge_counts(layer)
    out = {}
    for side, degrees in (("fan_in", counts.sum(axis=1)), ("fan_out", counts.sum(axis=0))):
        out[f"{side}_mean"] = float(degrees.mean())
        out[f"{side}_cv"] = coefficient_of_variation(degrees)
        out[f"{side}_gini"] = gini(degrees)
    return out


def pattern_entropy(patterns: np.ndarray) -> float:
    """Shannon entropy (bits) of the distribution of the rows of a 2-D array."""
    if patterns.shape[0] == 0:
        return np.nan
    _, counts = np.unique(patterns, axis=0, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


@layer_feature
def conv_kernels(layer: LayerView) -> dict[str, float]:
    """Survival of a conv layer's filters, input channels and kernels.

    A kernel is ``mask[o, i]``; it is nonzero if any of its entries survives.
    conv_filters_alive: output channels with a nonzero kernel.
    conv_filters_alive_fraction: conv_filters_alive / output channels.
    conv_in_channels_alive: input channels read by a nonzero kernel.
    conv_in_channels_alive_fraction: conv_in_channels_alive / input channels.
    conv_kernels_nonzero_fraction: nonzero kernels / (out * in channels).
    conv_kept_kernel_density_mean: mean over the nonzero kernels of the share of
        their entries that survive; NaN if there are none. With
        conv_kernels_nonzero_fraction it splits the layer's density into
        whole-kernel pruning and pruning inside kernels (their product).
    conv_filters_dense_fraction: filters whose every entry survives / output
        channels.
    conv_kernel_pattern_entropy_bits: Shannon entropy in bits of the distribution
        of binary kernel patterns (the kernel's mask as a bit vector) over the
        nonzero kernels; NaN if there are none. No rows for linear layers.
    """
    if layer.kind != "conv":
        return {}
    kernels = layer.mask.reshape(layer.out_units, layer.in_units, -1)
    nonzero = kernels.any(axis=2)
    filters, channels = nonzero.any(axis=1).sum(), nonzero.any(axis=0).sum()
    kept_density = kernels[nonzero].mean(axis=1)
    return {
        "conv_filters_alive": float(filters),
        "conv_filters_alive_fraction": float(filters / layer.out_units),
        "conv_in_channels_alive": float(channels),
        "conv_in_channels_alive_fraction": float(channels / layer.in_units),
        "conv_kernels_nonzero_fraction": float(nonzero.mean()),
        "conv_kept_kernel_density_mean": float(kept_density.mean()) if filters else np.nan,
        "conv_filters_dense_fraction": float(kernels.all(axis=(1, 2)).mean()),
        "conv_kernel_pattern_entropy_bits": pattern_entropy(kernels[nonzero]),
    }


@network_feature
def unit_survival(net: Network) -> list[Row]:
    """units_alive_fraction: fraction of a layer's output units that are alive.

    An output unit (neuron, or channel of a conv) is alive iff its in-degree > 0
    (a surviving weight into it) and its out-degree > 0 (a surviving weight of
    some consumer reads it, through the residual/flatten feeds of
    `pipeline.features.dag`). The last layer's outputs are the network output
    and need only in-degree > 0. Reported per layer and pooled over all layers'
    output units as ``"*"``. This is local: see `reachability` for the global
    counterpart.
    """
    read = [np.zeros(layer.out_units, bool) for layer in net.layers]
    read[-1][:] = True
    for counts, feeds in zip(net.counts, net.feeds):
        inputs_read = counts.sum(axis=0) > 0
        for feed in feeds:
            if feed.source >= 0:
                read[feed.source] |= through(feed.matrix.T, inputs_read)
    alive = [(c.sum(axis=1) > 0) & r for c, r in zip(net.counts, read)]
    name = "units_alive_fraction"
    rows = [(layer.name, name, float(a.mean())) for layer, a in zip(net.layers, alive)]
    pooled = np.concatenate(alive).mean()
    return rows + [(NETWORK, name, float(pooled))]
