"""Write one immutable shard: masks stream to disk as they come, tables are written at the end.

A shard holds only what one writer (one reducer rank) adds. Masks are appended to one
resizable packed array per shape, so a writer's memory holds one run at a time; the rows
of the tables and the feature log are small and are written when the shard is finished.
A full disk raises OSError(ENOSPC) naming the shard (`h5file`), and the temp file goes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from pipeline.io import atomic_path

from .h5file import NewFile
from .schema import (
    ATTR_SCHEMA_VERSION,
    ATTR_SHARD,
    COMPRESSION,
    COMPRESSION_LEVEL,
    FEATURE_DTYPE,
    FEATURES,
    MASK_CHUNK_BYTES,
    MASK_INDEX,
    MASKS_GROUP,
    SCHEMA_VERSION,
    STR,
    TABLE_CHUNK_ROWS,
    TABLES,
    Table,
    run_hash,
    shape_key,
)

GZIP = {"compression": COMPRESSION, "compression_opts": COMPRESSION_LEVEL}


def to_array(values, dtype: np.dtype, name: str) -> np.ndarray:
    """Coerce a column to its schema dtype, refusing lossy conversions (None ids, 2.5 levels)."""
    arr = np.asarray(values, dtype=object)
    if dtype == STR:
        bad = [v for v in arr if not isinstance(v, str)]
        if bad:
            raise TypeError(f"column {name!r} needs str values, got {bad[0]!r}")
        return arr
    try:
        out = arr.astype(dtype)
    except (TypeError, ValueError) as err:
        raise TypeError(f"column {name!r} needs {dtype} values") from err
    if dtype.kind == "i" and not np.array_equal(out, arr.astype(np.float64)):
        raise TypeError(f"column {name!r} needs integer values")
    return out


def write_table(f: h5py.File, table: Table, frame: pd.DataFrame) -> None:
    """A table as one dataset per column (feature columns beyond the schema as floats)."""
    group = f.create_group(table.group)
    for name in frame.columns:
        dtype = table.columns.get(name, FEATURE_DTYPE)
        column = frame[name]
        numeric = dtype != STR and pd.api.types.is_numeric_dtype(column)
        data = column.to_numpy(dtype) if numeric else to_array(column, dtype, name)
        opts = {"chunks": (min(len(data), TABLE_CHUNK_ROWS),), **GZIP} if len(data) else {}
        group.create_dataset(name, data=data, dtype=dtype, **opts)


class ShardWriter:
    """A shard being written under a temp name beside `target` (`pipeline.io.atomic_path`);
    `finish` fsyncs and renames it there, `discard` deletes it."""

    def __init__(self, target: Path, write: int):
        self.target = target
        self.write = write
        self.finished = False  # renamed to `target`
        self._rename = ExitStack()  # leaving it renames the temp file to `target`
        self.tmp = self._rename.enter_context(atomic_path(target))
        try:
            self._out = NewFile(self.tmp, target)
        except BaseException:
            self._rename.pop_all()
            self.tmp.unlink(missing_ok=True)
            raise
        self.file = self._out.h5
        self.file.create_group(MASKS_GROUP)
        self._rows: dict[str, int] = {}  # shape key -> rows appended
        # Open datasets kept open: closing one flushes (recompresses) its partial chunk.
        self._arrays: dict[str, h5py.Dataset] = {}
        self._index: list[tuple[str, int, str, str, int, int]] = []

    def add_mask(self, run_id: str, level: int, layer: str, mask: np.ndarray) -> None:
        packed = np.packbits(mask.reshape(-1))
        if packed.size == 0:
            packed = np.zeros(1, np.uint8)
        self.add_packed(run_id, level, layer, shape_key(mask.shape), packed, np.count_nonzero(mask))

    def add_packed(
        self, run_id: str, level: int, layer: str, shape: str, packed: np.ndarray, count: int
    ) -> None:
        """Append one packed mask and its index row."""
        row = self.append_rows(shape, packed[None, :])
        self._index.append((run_id, int(level), layer, shape, row, int(count)))

    def append_rows(self, shape: str, packed: np.ndarray) -> int:
        """Append packed masks (one per row) to the array of their shape; its first row."""
        row = self._rows.get(shape, 0)
        ds = self._arrays.get(shape)
        if ds is None:
            width = packed.shape[1]
            ds = self._arrays[shape] = self.file[MASKS_GROUP].create_dataset(
                shape,
                shape=(0, width),
                maxshape=(None, width),
                dtype=np.uint8,
                chunks=(max(1, MASK_CHUNK_BYTES // width), width),
                **GZIP,
            )
        ds.resize(row + len(packed), axis=0)
        ds[row:] = packed
        self._out.check()  # a full disk stops the writer here, not after the last mask
        self._rows[shape] = row + len(packed)
        return row

    @property
    def mask_rows(self) -> dict[str, int]:
        """Rows per shape array so far (what `finish`'s `base` offsets)."""
        return dict(self._rows)

    def finish(
        self,
        tables: Mapping[Table, pd.DataFrame],
        base: Mapping[str, int],
        entry: dict,
        stats: Callable[[Mapping[Table, pd.DataFrame]], dict],
        attrs: Mapping[str, object] | None = None,
    ) -> dict:
        """Write the tables (`base[shape]`: the store's row of this shard's first mask of that
        shape; a MASK_INDEX in `tables` replaces the one of the masks added), fsync and rename
        into place; the shard's manifest entry, with `stats` of its tables."""
        index = pd.DataFrame(self._index, columns=list(MASK_INDEX.columns)[1:])
        index["row"] += index["shape"].map(lambda s: base.get(s, 0)).astype(np.int64)
        index.insert(0, "run_hash", [run_hash(r) for r in index["run_id"]])
        frames = {MASK_INDEX: index, **tables}
        order = np.argsort(frames[MASK_INDEX]["run_hash"].to_numpy(), kind="stable")
        frames[MASK_INDEX] = frames[MASK_INDEX].iloc[order].reset_index(drop=True)
        for table in TABLES:
            write_table(self.file, table, frames[table])
        masks = self._arrays
        entry = {
            **entry,
            "file": self.target.name,
            "write": self.write,
            "rows": {t.group: len(frames[t]) for t in TABLES},
            "features": [c for c in frames[FEATURES].columns if c not in FEATURES.columns],
            "masks": {k: [int(n), int(masks[k].shape[1])] for k, n in self._rows.items()},
            "stats": stats(frames),
        }
        self.file.attrs.update(attrs or {})
        self.file.attrs[ATTR_SCHEMA_VERSION] = np.int64(SCHEMA_VERSION)
        self.file.attrs[ATTR_SHARD] = json.dumps(entry)
        self._out.close()
        self._rename.close()
        self.finished = True
        return entry

    def discard(self) -> None:
        """Drop the shard, finished or not (nothing of it was committed)."""
        self._out.abandon()
        self._rename.pop_all()
        self.tmp.unlink(missing_ok=True)
        if self.finished:
            self.target.unlink(missing_ok=True)
