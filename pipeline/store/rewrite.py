"""Rewrite a store as one self-contained file: `compact` (v2 shards) and `upgrade` (v1).

Both write the new file beside the store and rename it over the store path, so a kill
leaves the old store; the shards the old index named are deleted afterwards (by this call,
or, after a kill, by the next writer). Readers that opened the old index before the rename
may then miss its shards: compact while no one reads.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from pipeline.errors import StoreError

from .h5file import reading
from .index import next_write, remove_orphans
from .lock import DEFAULT_TIMEOUT, StoreLock
from .reader import LOCKING, StoreView, frame, open_view, resolved_features
from .schema import (
    ATTR_CREATED,
    ATTR_SCHEMA_VERSION,
    ATTR_UPDATED,
    CURVES,
    FEATURES,
    LEVELS,
    MASK_INDEX,
    MASKS_GROUP,
    PROVENANCE_KEYS,
    RUNS,
    SELF,
    shape_key,
)
from .shard import ShardWriter
from .writer import feature_change, shard_stats

COPY_BYTES = 1 << 26  # masks are copied in blocks of about this size


def compact(path: str | os.PathLike, lock_timeout: float = DEFAULT_TIMEOUT) -> int:
    """Merge the shards of the store at `path` into the store file itself; shards merged."""
    path = Path(path)
    with StoreLock(path, lock_timeout):
        view = open_view(path)
        if len(view.entries) == 1 and view.entries[0]["file"] == SELF:
            return 0
        tables = {t: frame(*_read_all(view, t)) for t in (RUNS, LEVELS, CURVES, MASK_INDEX)}
        tables[FEATURES] = resolved_features(view)
        shard = ShardWriter(path, next_write(view.entries) - 1)
        try:
            _copy_masks(view, shard)
            _finish(shard, tables, view.attrs)
        except BaseException:
            shard.discard()
            raise
        remove_orphans(path, [{"file": SELF}])
    return len(view.entries)


def _read_all(view: StoreView, table) -> tuple[dict, list[str]]:
    names = view.column_names(table)
    return view.read(table, names)[0], names


def _copy_masks(view: StoreView, shard: ShardWriter) -> None:
    """Every shape array, shard after shard, so the store's mask rows keep their numbers."""
    with view.shards() as files:
        for key in dict.fromkeys(k for e in view.entries for k in e["masks"]):
            for f, entry in zip(files, view.entries, strict=True):
                if key not in entry["masks"]:
                    continue
                with reading(Path(f.filename)):
                    ds = f[f"{MASKS_GROUP}/{key}"]
                    step = max(1, COPY_BYTES // ds.shape[1])
                    for start in range(0, ds.shape[0], step):
                        shard.append_rows(key, ds[start : start + step])


def _finish(shard: ShardWriter, tables: dict, attrs: dict) -> None:
    change = feature_change(None, tables[FEATURES], set())
    keep = {k: attrs[k] for k in (ATTR_CREATED, ATTR_UPDATED, *PROVENANCE_KEYS) if k in attrs}
    shard.finish(
        tables,
        {},
        {"replace": [], "overrides": False},
        lambda frames: shard_stats(frames, change),
        keep,
    )


def upgrade(
    path: str | os.PathLike,
    seed_group: Callable[[str], str] | None = None,
    lock_timeout: float = DEFAULT_TIMEOUT,
) -> int:
    """Convert a schema v1 store in place into a one-file v2 store; the masks converted.

    `seed_group(config_yaml)` fills the runs' seed_group column (empty without it)."""
    path = Path(path)
    with StoreLock(path, lock_timeout):
        try:
            f = h5py.File(path, "r", locking=LOCKING)
        except OSError as err:
            raise StoreError(f"{path}: not an HDF5 file") from err
        with f:
            version = f.attrs.get(ATTR_SCHEMA_VERSION)
            if version is None or int(version) != 1:
                raise StoreError(f"{path}: not a schema v1 store (schema version {version})")
            tables = {t: _v1_table(f, t) for t in (RUNS, LEVELS, CURVES, FEATURES)}
            runs = tables[RUNS]
            runs["seed_group"] = [seed_group(y) if seed_group else "" for y in runs["config_yaml"]]
            attrs = {k: _text(v) for k, v in f.attrs.items() if k != ATTR_SCHEMA_VERSION}
            shard = ShardWriter(path, 0)
            try:
                masks = 0
                for run_id, run in f[MASKS_GROUP].items():
                    for level_name, level in run.items():
                        level_number = int(level_name.removeprefix("level_"))
                        for layer, ds in level.items():
                            packed = ds[()] if ds.size else np.zeros(1, np.uint8)
                            shape = shape_key(tuple(int(s) for s in ds.attrs["shape"]))
                            count = int(ds.attrs["count"])
                            shard.add_packed(run_id, level_number, layer, shape, packed, count)
                            masks += 1
                tables = {**tables}
                _finish(shard, tables, attrs)
            except BaseException:
                shard.discard()
                raise
    return masks


def _v1_table(f: h5py.File, table) -> pd.DataFrame:
    group = f[table.group]
    names = [n for n in table.columns if n in group]
    names += sorted(n for n in group if n not in table.columns)
    columns = {}
    for n in names:
        ds = group[n]
        columns[n] = ds.asstr()[()] if h5py.check_string_dtype(ds.dtype) else ds[()]
    return frame(columns, names)


def _text(value):
    return value.decode() if isinstance(value, bytes) else value
