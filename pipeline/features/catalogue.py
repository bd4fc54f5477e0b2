"""The feature catalogue: every registered feature of a network level."""

# The feature modules register their families on import.
from pipeline.features import (  # noqa: F401
    heavy_tail,
    kernel_positions,
    locality,
    paths,
    persistence,
    profile,
    reachability,
    selection,
    spectral,
    statistical,
    structural,
)
from pipeline.features.dag import Network
from pipeline.features.graph import LayerView
from pipeline.features.registry import LAYER_FEATURES, NETWORK_FEATURES, Row
from pipeline.features.stability import compute_pair_features

__all__ = ["compute_level_features", "compute_pair_features"]


def compute_level_features(layers: list[LayerView]) -> list[Row]:
    """All features of one network level as rows ``(layer_name, feature, value)``.

    ``layers`` are in forward order (docs/INTERFACES.md). Per-layer families run
    on every layer, then network families; network-level rows have layer
    ``"*"``. A family that does not apply to a layer (e.g. conv kernels of a
    linear layer) gives no row. Values are floats and may be NaN or +-inf where
    a docstring says so.
    """
    net = Network(layers)
    rows: list[Row] = []
    for layer in net.layers:
        for family in LAYER_FEATURES.values():
            rows += [(layer.name, name, float(v)) for name, v in family(layer).items()]
    for family in NETWORK_FEATURES.values():
        rows += [(layer, name, float(v)) for layer, name, v in family(net)]
    return rows
