"""Which weights and units lie on an input-to-output path of the network DAG."""

import numpy as np

from pipeline.features.dag import Network
from pipeline.features.graph import NETWORK
from pipeline.features.registry import Row, network_feature

# Features renamed since schema v1 stores were written: old name -> current name. Readers of
# older stores answer queries for the old name with the current one.
RENAMED = {"effective_density": "path_share_of_kept"}


def _share(part: float, whole: float) -> float:
    return part / whole if whole else np.nan


@network_feature
def reachability(net: Network) -> list[Row]:
    """Weights on input-output paths and disconnected units (boolean reachability).

    A unit is *forward reachable* if a path of surviving weights leads to it from
    the network input, and *co-reachable* if one leads from it to the last
    layer's outputs; residual sums and flattening follow `pipeline.features.dag`.
    A surviving weight (a kernel entry, for a conv) lies on an input-output path
    iff its input unit is forward reachable and its output unit co-reachable.

    path_share_of_kept: surviving weights on a path / surviving weights, per layer
        and over the network ("*"); NaN without survivors. Stores written before the
        rename call it `effective_density` (see `RENAMED`).
    effective_density_vk: surviving weights on a path / all weights, per layer and
        over the network ("*"): the effective density of Vysogorets & Kempe
        ("Connectivity matters: neural network pruning through the lens of effective
        sparsity", JMLR 24, 2023), i.e. path_share_of_kept * density.
    units_disconnected: output units (neurons, conv channels) that are not both
        forward reachable and co-reachable, per layer and summed ("*").
    input_units_disconnected ("*"): network input units (features, or channels
        for a conv first layer) with no path to the output.
    """
    ins_reached, outs_reached = net.forward_reach()
    ins_coreached, outs_coreached, input_coreached = net.backward_reach()
    rows: list[Row] = []
    on_path_total = kept_total = size_total = disconnected_total = 0.0
    for i, layer in enumerate(net.layers):
        counts = net.counts[i]
        on_path = float(outs_coreached[i] @ counts @ ins_reached[i])
        kept = float(counts.sum())
        size = float(layer.mask.size)
        disconnected = float((~(outs_reached[i] & outs_coreached[i])).sum())
        rows.append((layer.name, "path_share_of_kept", _share(on_path, kept)))
        rows.append((layer.name, "effective_density_vk", _share(on_path, size)))
        rows.append((layer.name, "units_disconnected", disconnected))
        on_path_total += on_path
        kept_total += kept
        size_total += size
        disconnected_total += disconnected
    return rows + [
        (NETWORK, "path_share_of_kept", _share(on_path_total, kept_total)),
        (NETWORK, "effective_density_vk", _share(on_path_total, size_total)),
        (NETWORK, "units_disconnected", disconnected_total),
        (NETWORK, "input_units_disconnected", float((~input_coreached).sum())),
    ]
