"""Read a feature store into pandas; every entry point checks that the file is a v1 store."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from pipeline.errors import StoreError

from .schema import (
    ATTR_CREATED,
    ATTR_SCHEMA_VERSION,
    ATTR_UPDATED,
    CURVES,
    FEATURES,
    LEVELS,
    MASK_COUNT_ATTR,
    MASK_SHAPE_ATTR,
    MASKS_GROUP,
    NETWORK_LAYER,
    PROVENANCE_KEYS,
    RUNS,
    SCHEMA_VERSION,
    TABLES,
    Table,
    mask_group,
)

# Stores are never modified in place (writers rename a new file over the old one), so HDF5's
# file locks guard nothing here; "best-effort" keeps them where they work and does not fail on
# Lustre/NFS mounts without flock.
LOCKING = "best-effort"


@contextmanager
def open_store(path: str | os.PathLike) -> Iterator[h5py.File]:
    """Open a store read-only, failing early and in one line on anything that is not schema v1."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r", locking=LOCKING)
    except OSError as err:
        raise StoreError(f"{path}: not an HDF5 file") from err
    with f:
        version = f.attrs.get(ATTR_SCHEMA_VERSION)
        if version is None:
            raise StoreError(f"{path}: not a feature store (no {ATTR_SCHEMA_VERSION} attr)")
        if int(version) != SCHEMA_VERSION:
            raise StoreError(f"{path}: schema version {version}, expected {SCHEMA_VERSION}")
        missing = [g for g in (*(t.group for t in TABLES), MASKS_GROUP) if g not in f]
        if missing:
            raise StoreError(f"{path}: not a complete store, missing group(s) {missing}")
        yield f


def read_table(f: h5py.File, table: Table) -> pd.DataFrame:
    """A table's schema columns in schema order, then any extra columns (features) sorted."""
    group = f[table.group]
    names = list(table.columns) + sorted(n for n in group if n not in table.columns)
    return pd.DataFrame({n: _column(group[n]) for n in names}, columns=names)


def _column(ds: h5py.Dataset) -> pd.Series:
    if h5py.check_string_dtype(ds.dtype) is not None:
        return pd.Series(ds.asstr()[()], dtype="str")
    return pd.Series(ds[()])


def unpack_mask(ds: h5py.Dataset) -> np.ndarray:
    """Undo np.packbits: the stored shape says how many trailing pad bits to drop."""
    shape = tuple(int(s) for s in ds.attrs[MASK_SHAPE_ATTR])
    bits = np.unpackbits(ds[()], count=math.prod(shape))
    return bits.view(bool).reshape(shape)


def runs_frame(path: str | os.PathLike) -> pd.DataFrame:
    """One row per run."""
    with open_store(path) as f:
        return read_table(f, RUNS)


def levels_frame(path: str | os.PathLike) -> pd.DataFrame:
    """One row per (run, level)."""
    with open_store(path) as f:
        return read_table(f, LEVELS)


def curves_frame(path: str | os.PathLike) -> pd.DataFrame:
    """One row per evaluation during training."""
    with open_store(path) as f:
        return read_table(f, CURVES)


def features_frame(path: str | os.PathLike, long: bool = False) -> pd.DataFrame:
    """Features wide (one row per (run, level, layer), one column per feature) or long.

    The long form has columns run_id, level, layer, feature, value and omits NaN cells, since
    NaN means the feature does not apply to (or was not computed for) that row.
    """
    with open_store(path) as f:
        wide = read_table(f, FEATURES)
    if not long:
        return wide
    key = list(FEATURES.key)
    out = wide.melt(id_vars=key, var_name="feature", value_name="value").dropna(subset="value")
    return out.sort_values([*key, "feature"], kind="stable").reset_index(drop=True)


def read_masks(path: str | os.PathLike, run_id: str, level: int) -> dict[str, np.ndarray]:
    """A level's masks as bool arrays of their original shapes, in the order they were written."""
    with open_store(path) as f:
        name = mask_group(run_id, level)
        if name not in f:
            raise KeyError(f"no masks for run {run_id!r} level {level}")
        return {layer: unpack_mask(ds) for layer, ds in f[name].items()}


def summary(path: str | os.PathLike) -> dict[str, Any]:
    """What the store holds: counts, names, size and provenance (cheap: no mask is unpacked)."""
    with open_store(path) as f:
        runs = read_table(f, RUNS)
        levels = read_table(f, LEVELS)
        features = read_table(f, FEATURES)
        n_curves = len(f[CURVES.group][CURVES.key[0]])
        n_masks, mask_bits, mask_true = 0, 0, 0
        layers = set(features["layer"]) - {NETWORK_LAYER}
        for run in f[MASKS_GROUP].values():
            for level in run.values():
                for layer, ds in level.items():
                    n_masks += 1
                    layers.add(layer)
                    mask_bits += math.prod(int(s) for s in ds.attrs[MASK_SHAPE_ATTR])
                    mask_true += int(ds.attrs[MASK_COUNT_ATTR])
        attrs = {k: _attr(f.attrs.get(k)) for k in (ATTR_CREATED, ATTR_UPDATED, *PROVENANCE_KEYS)}
        version = int(f.attrs[ATTR_SCHEMA_VERSION])
    feature_names = [c for c in features.columns if c not in FEATURES.columns]
    return {
        "path": str(path),
        "file_size": Path(path).stat().st_size,
        "schema_version": version,
        "created": attrs.pop(ATTR_CREATED),
        "updated": attrs.pop(ATTR_UPDATED),
        "provenance": attrs,
        "runs": len(runs),
        "levels": len(levels),
        "curve_points": n_curves,
        "masks": n_masks,
        "mask_weights": mask_bits,
        "mask_kept": mask_true,
        "layers": len(layers),
        "layer_names": sorted(layers),
        "feature_rows": len(features),
        "features": len(feature_names),
        "feature_names": feature_names,
    }


def _attr(value: Any) -> str | None:
    return value.decode() if isinstance(value, bytes) else (None if value is None else str(value))
