"""Which weights and units lie on an input-to-output path of the network DAG."""

import numpy as np

from pipeline.features.dag import Network
from pipeline.features.graph import NETWORK
from pipeline.features.registry import Row, network_feature


@network_feature
def reachability(net: Network) -> list[Row]:
    """Effective density and disconnected units (boolean reachability).

    A unit is *forward reachable* if a path of surviving weights leads to it from
    the network input, and *co-reachable* if one leads from it to the last
    layer's outputs; residual sums and flattening follow `pipeline.features.dag`.
    A surviving weight (a kernel entry, for a conv) lies on an input-output path
    iff its input unit is forward reachable and its output unit co-reachable.

    effective_density: surviving weights on a path / surviving weights, per
        layer and over the network ("*"); NaN without survivors.
    units_disconnected: output units (neurons, conv channels) that are not both
        forward reachable and co-reachable, per layer and summed ("*").
    input_units_disconnected ("*"): network input units (features, or channels
        for a conv first layer) with no path to the output.
    """
    ins_reached, outs_reached = net.forward_reach()
    ins_coreached, outs_coreached, input_coreached = net.backward_reach()
    rows: list[Row] = []
    on_path_total = kept_total = disconnected_total = 0.0
    for i, layer in enumerate(net.layers):
        counts = net.counts[i]
        on_path = float(outs_coreached[i] @ counts @ ins_reached[i])
        kept = float(counts.sum())
        disconnected = float((~(outs_reached[i] & outs_coreached[i])).sum())
        rows.append((layer.name, "effective_density", on_path / kept if kept else np.nan))
        rows.append((layer.name, "units_disconnected", disconnected))
        on_path_total += on_path
        kept_total += kept
        disconnected_total += disconnected
    effective = on_path_total / kept_total if kept_total else np.nan
    return rows + [
        (NETWORK, "effective_density", effective),
        (NETWORK, "units_disconnected", disconnected_total),
        (NETWORK, "input_units_disconnected", float((~input_coreached).sum())),
    ]
