"""The index file: a manifest of the shards and virtual datasets that read them as one store.

Committing a write rewrites only the index (one virtual mapping per shard and column, about
15 us each), then renames it over the store path; shards are never copied.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
from h5py import h5d, h5p, h5s, h5t

from pipeline.io import atomic_path, fsync_dir

from .h5file import created, reading
from .schema import (
    ATTR_SCHEMA_VERSION,
    ATTR_SHARD,
    FEATURE_DTYPE,
    FEATURES,
    LOCKING,
    MASK_INDEX,
    MASKS_GROUP,
    RUN_SHARDS,
    SCHEMA_VERSION,
    SELF,
    SHARD_DIR_SUFFIX,
    SHARDS_DATASET,
    STR,
    TABLES,
    Table,
    shard_name,
)


def shard_dir(store: Path) -> Path:
    return store.with_name(store.name + SHARD_DIR_SUFFIX)


def read_manifest(f: h5py.File) -> list[dict]:
    """The shards of an open store file, in write order (a one-shard store names itself)."""
    if SHARDS_DATASET in f:
        return json.loads(f[SHARDS_DATASET][()])
    return [{**json.loads(f.attrs[ATTR_SHARD]), "file": SELF}]


def shard_path(store: Path, entry: dict) -> Path:
    return store if entry["file"] == SELF else store.parent / entry["file"]


def next_write(entries: Sequence[dict]) -> int:
    return max((e["write"] for e in entries), default=-1) + 1


def remove_orphans(store: Path, entries: Sequence[dict]) -> None:
    """Delete what writers that died before their commit left: shard-directory files no
    committed index names, and temp files beside the store. Call with the store's lock held."""
    if store.parent.is_dir():  # atomic_path's temp files of the store (index or compaction)
        for child in store.parent.iterdir():
            if child.name.startswith(f".{store.name}.") and child.name.endswith(".tmp"):
                child.unlink(missing_ok=True)
    directory = shard_dir(store)
    if not directory.is_dir():
        return
    live = {Path(e["file"]).name for e in entries if e["file"] != SELF}
    for child in directory.iterdir():
        if child.name not in live:
            child.unlink(missing_ok=True)
    if not live:
        directory.rmdir()


def _as_shard(store: Path, entries: list[dict]) -> list[dict]:
    """A one-shard store gains a second name in the shard directory before an index
    replaces it, so its data stays where the new index can point (a hard link, no copy)."""
    if not entries or entries[0]["file"] != SELF:
        return entries
    directory = shard_dir(store)
    directory.mkdir(parents=True, exist_ok=True)
    name = shard_name(entries[0]["write"], "c")
    try:
        os.link(store, directory / name)
    except OSError:  # no hard links on this file system: copy once
        with atomic_path(directory / name) as tmp:
            shutil.copyfile(store, tmp)
    fsync_dir(directory)
    return [{**entries[0], "file": f"{directory.name}/{name}"}]


def commit(store: Path, old: list[dict], new: list[dict], attrs: dict) -> list[dict]:
    """Replace the index with one over `old` + `new` shards (new ones already in place)."""
    pairs = [_run_shards(store, old)]
    for position, e in enumerate(new, start=len(old)):
        with h5py.File(shard_dir(store) / e["file"], "r", locking=LOCKING) as f:
            hashes = np.unique(f[f"{MASK_INDEX.group}/run_hash"][()])
        pairs.append(np.stack([hashes, np.full_like(hashes, position)], axis=1))
    pairs = np.concatenate(pairs)
    pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
    entries = _as_shard(store, old) + [
        {**e, "file": f"{shard_dir(store).name}/{e['file']}"} for e in new
    ]
    with atomic_path(store) as tmp, created(tmp, store) as f:
        f.attrs.update(attrs)
        f.attrs[ATTR_SCHEMA_VERSION] = np.int64(SCHEMA_VERSION)
        f.create_dataset(SHARDS_DATASET, data=json.dumps(entries), dtype=STR)
        f.create_dataset(RUN_SHARDS, data=pairs, dtype=np.int64)
        for table in TABLES:
            _virtual_table(f, table, entries)
        _virtual_masks(f, entries)
    return entries


def run_shards(f: h5py.File) -> np.ndarray:
    """(run_hash, shard position) rows of an open store file, sorted by hash."""
    if RUN_SHARDS in f:
        return f[RUN_SHARDS][()]
    hashes = np.unique(f[f"{MASK_INDEX.group}/run_hash"][()])  # a one-file store
    return np.stack([hashes, np.zeros_like(hashes)], axis=1)


def _run_shards(store: Path, old: list[dict]) -> np.ndarray:
    if not old:
        return np.zeros((0, 2), np.int64)
    with reading(store), h5py.File(store, "r", locking=LOCKING) as f:
        return run_shards(f)


def _virtual_table(f: h5py.File, table: Table, entries: list[dict]) -> None:
    group = f.create_group(table.group)
    columns = dict(table.columns)
    if table is FEATURES:
        names = sorted({n for e in entries for n in e["features"]})
        columns.update({n: FEATURE_DTYPE for n in names})
    for name, dtype in columns.items():
        sources = [(e["file"], e["rows"][table.group], _has(e, table, name)) for e in entries]
        _virtual(group, name, f"/{table.group}/{name}", dtype, (), sources)


def _has(entry: dict, table: Table, name: str) -> bool:
    return name in table.columns or name in entry["features"]


def _virtual_masks(f: h5py.File, entries: list[dict]) -> None:
    group = f.create_group(MASKS_GROUP)
    widths = {k: w for e in entries for k, (_, w) in e["masks"].items()}
    for key, width in widths.items():
        sources = [
            (e["file"], e["masks"].get(key, (0, width))[0], key in e["masks"]) for e in entries
        ]
        _virtual(group, key, f"/{MASKS_GROUP}/{key}", np.dtype(np.uint8), (width,), sources)


def _virtual(
    group: h5py.Group,
    name: str,
    source: str,
    dtype: np.dtype,
    tail: tuple[int, ...],
    sources: list[tuple[str, int, bool]],
) -> None:
    """A dataset concatenating `source` of each (file, rows, present) along axis 0; rows of
    files that lack it read as the fill value (NaN for features)."""
    total = sum(rows for _, rows, _ in sources)
    if not any(present and rows for _, rows, present in sources):
        group.create_dataset(name, shape=(total, *tail), dtype=dtype)
        return
    space = h5s.create_simple((total, *tail))
    dcpl = h5p.create(h5p.DATASET_CREATE)
    if dtype.kind == "f":
        dcpl.set_fill_value(np.array(np.nan, dtype))
    offset = 0
    for file, rows, present in sources:
        if present and rows:
            space.select_hyperslab((offset, *(0 for _ in tail)), (rows, *tail))
            dcpl.set_virtual(
                space, file.encode(), source.encode(), h5s.create_simple((rows, *tail))
            )
        offset += rows
    space.select_all()
    h5d.create(group.id, name.encode(), h5t.py_create(dtype, logical=True), space, dcpl=dcpl)
