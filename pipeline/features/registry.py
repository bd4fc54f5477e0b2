"""Registries of feature families, filled by decorators at import time.

A *family* computes several related features in one pass. A layer family maps a
`LayerView` to ``{feature_name: value}``; a network family maps a `Network` to
rows ``(layer_name, feature_name, value)``, where ``layer_name`` is ``"*"`` for
a network-level value. A (layer, feature) pair occurs once in a level's rows.
"""

from collections.abc import Callable

from pipeline.features.dag import Network
from pipeline.features.graph import LayerView

Row = tuple[str, str, float]

LayerFamily = Callable[[LayerView], dict[str, float]]
NetworkFamily = Callable[[Network], list[Row]]

LAYER_FEATURES: dict[str, LayerFamily] = {}
NETWORK_FEATURES: dict[str, NetworkFamily] = {}


def _register(table: dict, fn: Callable) -> Callable:
    if fn.__name__ in table:
        raise ValueError(f"feature family {fn.__name__!r} is registered twice")
    table[fn.__name__] = fn
    return fn


def layer_feature(fn: LayerFamily) -> LayerFamily:
    """Register a per-layer feature family under its function name."""
    return _register(LAYER_FEATURES, fn)


def network_feature(fn: NetworkFamily) -> NetworkFamily:
    """Register a network feature family under its function name."""
    return _register(NETWORK_FEATURES, fn)
