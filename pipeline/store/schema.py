"""Schema v2 of the HDF5 feature store: the one place that names its files, groups and columns.

A store at `store.h5` is an *index* file plus immutable *shard* files in `store.h5.shards/`:

    store.h5                      index: attrs, /shards (JSON manifest), and every table column
                                  and mask array as an HDF5 virtual dataset over the shards
    store.h5.shards/w<N>-<part>-<token>.h5
                                  one shard per reducer rank per write (write N), never modified
    store.h5.lock                 writers' advisory lock (fcntl.flock; freed when a holder dies)

A write adds its rows and masks to new shard files (temp name, fsync, rename into the shard
directory), then replaces the index atomically (temp file, fsync, rename). A kill at any
instant leaves the old index, which names only complete shards (the new ones are orphans,
deleted by the next writer), or the new one: the store holds the state before or after the
write. Its cost is its own data plus an index of (shards x columns) virtual mappings, never
a copy of stored data. `compact` merges everything into one self-contained file (a store
with a single shard: the file itself), for archiving or copying off a cluster.

Every file, index or shard, has the same groups, read by plain h5py and by
`xarray.open_dataset(path, engine="h5netcdf", phony_dims="sort", group=...)`:

- Tables are groups of equal-length 1-D column datasets: /runs, /levels, /curves, /features,
  /mask_index. Strings are variable-length UTF-8.
- /masks/<shape> (e.g. `300x784`): one 2-D uint8 array per mask shape, a row per mask,
  np.packbits of the C-order flattened bool mask. /mask_index maps (run_id, level, layer) to
  its `shape` and `row` (the row in the store's concatenated /masks/<shape>) and its `count`
  of True entries; each file's mask_index is sorted by `run_hash`, and the index's
  /run_shards names the shards that hold each run's masks, so one level's masks are found
  by opening one shard and a binary search.
- /features is the write log: a (run_id, level, layer) row appears again when a later write
  fills its empty cells or replaces its group statistics (across-seed means, the shard's
  `replace` columns). `features_frame` resolves the log as the writes did: the first value
  wins, except that a write bringing `replace` values for a (run, level) replaces them whole.
  A compacted store holds the resolved table.

Within one write, rows are ordered by run_id when read (the ranks' shards interleave), so a
store reduced with any number of ranks reads the same.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import h5py
import numpy as np

SCHEMA_VERSION = 2  # v1 stores (one dataset per mask) are converted by `lth store upgrade`

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
        # Identity of the config with the seed left out: runs sharing it are seed siblings.
        # Lets the reducer plan from this column instead of parsing every stored config.
        "seed_group": STR,
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

MASK_INDEX = Table(
    "mask_index",
    {
        "run_hash": INT,  # `run_hash(run_id)`: a file's rows are sorted by it (stable)
        "run_id": STR,
        "level": INT,
        "layer": STR,
        "shape": STR,  # name of the /masks array: the mask's shape, e.g. "300x784"
        "row": INT,  # row in the store's /masks/<shape>
        "count": INT,  # number of True entries
    },
    key=("run_id", "level", "layer"),
)

TABLES = (RUNS, LEVELS, CURVES, FEATURES, MASK_INDEX)

MASKS_GROUP = "masks"
MASK_CHUNK_BYTES = 1 << 17  # a mask read decompresses at most about this much per layer

# gzip ships with every HDF5 build, so no reader needs a filter plugin.
COMPRESSION = "gzip"
COMPRESSION_LEVEL = 4
TABLE_CHUNK_ROWS = 1 << 14

# File attrs. `created` is kept from the first write; `updated` and the provenance keys
# describe the latest write.
ATTR_SCHEMA_VERSION = "schema_version"
ATTR_CREATED = "created"
ATTR_UPDATED = "updated"
PROVENANCE_KEYS = ("package_version", "git_revision")
UNKNOWN = "unknown"

# The index's manifest: a scalar JSON string dataset listing its shards in write order. A
# shard file describes itself in the ATTR_SHARD attr (the same JSON entry); a file without
# /shards is a one-shard store (a compacted store). An entry holds: `file` (relative to the
# store's directory), `write` (the write number: one per reduce, shared by its ranks'
# shards), `rows` (per table), `features` (its feature columns), `masks` (shape -> [rows,
# bytes per row]), `replace` (its group-statistic columns), `overrides` (whether it brings
# feature rows of (run, level)s stored before) and `stats` (what it adds to `summary`).
SHARDS_DATASET = "shards"
# The index's (run_hash, shard position) pairs, sorted: which shards hold a run's masks, so
# reading one level opens one shard and binary-searches its mask_index.
RUN_SHARDS = "run_shards"
ATTR_SHARD = "shard"
SELF = "."  # the manifest's file name of a shard that is the store file itself
SHARD_DIR_SUFFIX = ".shards"
LOCK_SUFFIX = ".lock"
SHARD_SUFFIX = ".h5"

# Files are never modified in place (writers add new files and rename a new index over the
# old one), so HDF5's file locks guard nothing here; "best-effort" keeps them where they work
# and does not fail on Lustre/NFS mounts without flock.
LOCKING = "best-effort"


def shard_name(write: int, part: str) -> str:
    """A new shard's file name: write number, writer (rank) and a token against reuse."""
    return f"w{write:06d}-{part}-{secrets.token_hex(4)}{SHARD_SUFFIX}"


def run_hash(run_id: str) -> int:
    """A stable 64-bit hash of a run id (the key masks are looked up by)."""
    digest = hashlib.blake2b(run_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def shape_key(shape: tuple[int, ...]) -> str:
    """Name of the /masks array for masks of `shape`."""
    return "x".join(str(int(s)) for s in shape) or "scalar"


def key_shape(key: str) -> tuple[int, ...]:
    return () if key == "scalar" else tuple(int(s) for s in key.split("x"))


def check_name(name: str, what: str) -> str:
    """Reject names HDF5 would split into a path (layers and features name datasets)."""
    if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
        raise ValueError(f"invalid {what} name {name!r}: must be a non-empty str without '/'")
    return name
