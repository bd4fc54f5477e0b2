"""Schema v1 of the HDF5 feature store: the one place that names its groups, columns and attrs.

Tables are groups of equal-length 1-D datasets (one per column), so plain h5py, pandas (via
`pipeline.store.reader`) and `xarray.open_dataset(path, engine="h5netcdf", phony_dims="sort",
group=...)` all read them without PyTables or plugins. Strings are variable-length UTF-8.
"""

from __future__ import annotations

from dataclasses import dataclass

import h5py
import numpy as np

SCHEMA_VERSION = 1

STR = h5py.string_dtype()  # variable-length UTF-8; xarray/h5netcdf reads it as a unicode array
INT = np.dtype("int64")
FLOAT = np.dtype("float64")


@dataclass(frozen=True, eq=False)  # identity hash: tables are singletons used as dict keys
class Table:
    """A group of 1-D column datasets; `key` names the columns that identify a row."""

    group: str
    columns: dict[str, np.dtype]
    key: tuple[str, ...]


RUNS = Table(
    "runs",
    {
        "run_id": STR,
        "model": STR,
        "dataset": STR,
        "method": STR,
        "control": STR,
        "seed": INT,
        "fraction": FLOAT,
        "rewind": STR,
        "config_yaml": STR,
    },
    key=("run_id",),
)

LEVELS = Table(
    "levels",
    {
        "run_id": STR,
        "level": INT,
        "density": FLOAT,
        "test_accuracy": FLOAT,
        "test_loss": FLOAT,
        "best_accuracy": FLOAT,
        "best_iteration": INT,  # early-stop iteration: the evaluation with the lowest test loss
        "iterations": INT,
        "train_seconds": FLOAT,
    },
    key=("run_id", "level"),
)

CURVES = Table(
    "curves",
    {
        "run_id": STR,
        "level": INT,
        "iteration": INT,
        "test_accuracy": FLOAT,
        "test_loss": FLOAT,
    },
    key=("run_id", "level", "iteration"),
)

# Key columns only: every other dataset in /features is one FEATURE_DTYPE column per feature
# name, NaN where the feature does not apply to that row (or was never computed for it).
FEATURES = Table(
    "features",
    {"run_id": STR, "level": INT, "layer": STR},
    key=("run_id", "level", "layer"),
)
FEATURE_DTYPE = FLOAT
NETWORK_LAYER = "*"  # layer value of the network-level feature rows

TABLES = (RUNS, LEVELS, CURVES, FEATURES)

# /masks/<run_id>/level_<L>/<layer>: uint8 np.packbits of the C-order flattened bool mask.
MASKS_GROUP = "masks"
LEVEL_PREFIX = "level_"
MASK_SHAPE_ATTR = "shape"  # int64 array, the mask's shape
MASK_COUNT_ATTR = "count"  # int64, number of True entries
MASK_CHUNK_BYTES = 1 << 18

# gzip ships with every HDF5 build, so no reader needs a filter plugin.
COMPRESSION = "gzip"
COMPRESSION_LEVEL = 4

# File attrs. `created` is kept from the first write; `updated` and the provenance keys
# describe the latest write.
ATTR_SCHEMA_VERSION = "schema_version"
ATTR_CREATED = "created"
ATTR_UPDATED = "updated"
PROVENANCE_KEYS = ("package_version", "git_revision")
UNKNOWN = "unknown"


def mask_group(run_id: str, level: int) -> str:
    """Path of the group holding one (run, level)'s masks, one dataset per layer."""
    return f"{MASKS_GROUP}/{run_id}/{LEVEL_PREFIX}{level}"


def check_name(name: str, what: str) -> str:
    """Reject names HDF5 would split into a path (run ids, layers and features are link names)."""
    if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
        raise ValueError(f"invalid {what} name {name!r}: must be a non-empty str without '/'")
    return name
