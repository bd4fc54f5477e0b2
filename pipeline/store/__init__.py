"""The HDF5 feature store (schema v2): masks, accuracies and features of every run and level.

Names are imported on first use, so `lth inspect` and `lth --help` do not load pandas or the
writer until they need them.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "SCHEMA_VERSION": "schema",
    "StoreError": "pipeline.errors",
    "CurvePoint": "records",
    "LevelPayload": "records",
    "LevelRecord": "records",
    "RunRecord": "records",
    "curves_frame": "reader",
    "features_frame": "reader",
    "levels_frame": "reader",
    "read_masks": "reader",
    "runs_frame": "reader",
    "store_keys": "reader",
    "summary": "reader",
    "Added": "writer",
    "write_store": "writer",
    "compact": "rewrite",
    "upgrade": "rewrite",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    target = import_module(module if module.startswith("pipeline.") else f"{__name__}.{module}")
    return getattr(target, name)
