"""Incremental, atomic writes of the feature store.

Every write builds a complete new file next to the old one (old tables merged with the new rows,
old masks copied chunk-for-chunk with H5Ocopy), fsyncs it and os.replace()s it over the old path,
so a crash or kill at any point leaves the previous store intact. Rows already present win: a run,
(run, level), curve point or mask already stored is never rewritten, and feature values only fill
cells that are still NaN, except the `replace` columns (group statistics such as across-seed
means), which a write that brings them for a (run, level) replaces as a whole. One writer at
a time (the reducer's root rank): a write starts by deleting temp files left by earlier
writers, so a concurrent writer fails on its rename.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import astuple, dataclass
from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from .reader import LOCKING, open_store, read_table
from .records import CurvePoint, LevelPayload, LevelRecord, RunRecord
from .schema import (
    ATTR_CREATED,
    ATTR_SCHEMA_VERSION,
    ATTR_UPDATED,
    COMPRESSION,
    COMPRESSION_LEVEL,
    CURVES,
    FEATURE_DTYPE,
    FEATURES,
    INT,
    LEVEL_PREFIX,
    LEVELS,
    MASK_CHUNK_BYTES,
    MASK_COUNT_ATTR,
    MASK_SHAPE_ATTR,
    MASKS_GROUP,
    PROVENANCE_KEYS,
    RUNS,
    SCHEMA_VERSION,
    STR,
    TABLES,
    UNKNOWN,
    Table,
    check_name,
    mask_group,
)

MaskKey = tuple[str, int, str]
GZIP = {"compression": COMPRESSION, "compression_opts": COMPRESSION_LEVEL}  # empty: unchunked


@dataclass(frozen=True)
class Added:
    """How much one write added (all zero: the store was left untouched)."""

    runs: int
    levels: int
    curves: int
    masks: int
    feature_rows: int
    feature_cells: int
    replaced_cells: int = 0  # stored values of `replace` columns that changed


def store_keys(path: str | os.PathLike) -> tuple[set[str], set[tuple[str, int]]]:
    """Run ids and (run_id, level) pairs already stored, so a reducer can skip them."""
    if not Path(path).exists():
        return set(), set()
    with open_store(path) as f:
        levels = read_table(f, LEVELS)
        run_ids = set(read_table(f, RUNS)["run_id"])
    return run_ids, {(r, int(lv)) for r, lv in zip(levels["run_id"], levels["level"], strict=True)}


def write_store(
    path: str | os.PathLike,
    runs: Iterable[RunRecord],
    levels: Iterable[LevelRecord],
    curves: Iterable[CurvePoint],
    payloads: Iterable[LevelPayload],
    provenance: Mapping[str, str],
    replace: Collection[str] = (),
) -> Added:
    """Add what is not yet in the store at `path` (created if absent) and return the counts.

    `provenance` may hold `package_version` and `git_revision` (missing ones are "unknown").
    Features named in `replace` are group statistics: a new value overwrites a stored one.
    Every level, curve point and payload must belong to a run / (run, level) that is either
    already stored or given in the same call. Nothing is written if any input is invalid.
    """
    path = Path(path)
    attrs = _provenance(provenance)
    payloads = _checked_payloads(payloads)
    new = {
        RUNS: _frame(RUNS, runs),
        LEVELS: _frame(LEVELS, levels),
        CURVES: _frame(CURVES, curves),
        FEATURES: _feature_frame(payloads),
    }
    _remove_stale_temps(path)
    exists = path.exists()
    old, created, present = _read_existing(path, payloads) if exists else (_empty(), None, set())
    merged = {t: _merge_rows(old[t], new[t], t.key) for t in (RUNS, LEVELS, CURVES)}
    merged[FEATURES] = _merge_features(old[FEATURES], new[FEATURES], replace)
    masks = _new_masks(payloads, present)
    mask_keys = pd.DataFrame(list(masks), columns=["run_id", "level", "layer"])
    _check_parents(new[LEVELS], merged[RUNS], RUNS.key, "level")
    for child, what in (
        (new[CURVES], "curve point"),
        (new[FEATURES], "feature row"),
        (mask_keys, "mask"),
    ):
        _check_parents(child, merged[LEVELS], LEVELS.key, what)

    added = _count(old, merged, len(masks))
    if exists and not any(astuple(added)):
        return added
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    attrs = {
        ATTR_SCHEMA_VERSION: np.int64(SCHEMA_VERSION),
        ATTR_CREATED: created or now,
        ATTR_UPDATED: now,
        **attrs,
    }
    _replace_atomically(path, lambda f: _fill(f, attrs, merged, path if exists else None, masks))
    return added


def _fill(
    f: h5py.File,
    attrs: dict,
    tables: dict[Table, pd.DataFrame],
    old_path: Path | None,
    masks: dict[MaskKey, np.ndarray],
) -> None:
    """Write a whole store: attrs, tables, the old file's masks (raw chunk copy), new masks."""
    f.attrs.update(attrs)
    for table in TABLES:
        _write_table(f, table, tables[table])
    if old_path is None:
        f.create_group(MASKS_GROUP)
    else:
        with h5py.File(old_path, "r", locking=LOCKING) as src:
            src.copy(src[MASKS_GROUP], f, name=MASKS_GROUP)
    for (run_id, level, layer), mask in masks.items():
        _write_mask(_level_group(f, run_id, level), layer, mask)


def _count(old: dict[Table, pd.DataFrame], merged: dict[Table, pd.DataFrame], masks: int) -> Added:
    def cells(features: pd.DataFrame) -> int:
        return int(features.iloc[:, len(FEATURES.key) :].notna().to_numpy().sum())

    key = list(FEATURES.key)
    before = old[FEATURES].set_index(key)
    after = merged[FEATURES].set_index(key).reindex(index=before.index, columns=before.columns)
    replaced = int((before.notna() & (after != before)).to_numpy().sum())
    rows = {t: len(merged[t]) - len(old[t]) for t in TABLES}
    return Added(
        runs=rows[RUNS],
        levels=rows[LEVELS],
        curves=rows[CURVES],
        masks=masks,
        feature_rows=rows[FEATURES],
        feature_cells=cells(merged[FEATURES]) - cells(old[FEATURES]),
        replaced_cells=replaced,
    )


def _provenance(provenance: Mapping[str, str]) -> dict[str, str]:
    unknown = set(provenance) - set(PROVENANCE_KEYS)
    if unknown:
        raise ValueError(f"unknown provenance keys {sorted(unknown)}; allowed {PROVENANCE_KEYS}")
    return {k: str(provenance.get(k, UNKNOWN)) for k in PROVENANCE_KEYS}


def _to_array(values: Sequence | pd.Series, dtype: np.dtype, name: str) -> np.ndarray:
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


def _frame(table: Table, records: Iterable) -> pd.DataFrame:
    records = list(records)
    return pd.DataFrame(
        {c: _to_array([getattr(r, c) for r in records], dt, c) for c, dt in table.columns.items()}
    )


def _empty() -> dict[Table, pd.DataFrame]:
    return {t: _frame(t, []) for t in TABLES}


def _feature_frame(payloads: list[LevelPayload]) -> pd.DataFrame:
    """Payload feature triples as a wide frame keyed like /features (first value wins)."""
    key = list(FEATURES.key)
    long = pd.DataFrame(
        [(p.run_id, p.level, *row) for p in payloads for row in p.feature_rows],
        columns=[*key, "feature", "value"],
    ).astype({"level": "int64", "value": FEATURE_DTYPE})
    for layer in long["layer"].unique():
        check_name(layer, "layer")
    for name in long["feature"].unique():
        if name in FEATURES.columns:
            raise ValueError(f"feature name {name!r} collides with a key column of /features")
        check_name(name, "feature")
    long = long.drop_duplicates([*key, "feature"])
    wide = long.pivot(index=key, columns="feature", values="value")
    order = pd.MultiIndex.from_frame(long[key].drop_duplicates())
    return wide.reindex(order).reset_index().rename_axis(columns=None)


def _read_existing(
    path: Path, payloads: list[LevelPayload]
) -> tuple[dict[Table, pd.DataFrame], str | None, set[MaskKey]]:
    """Old tables, creation time, and which of the payloads' masks the store already holds."""
    with open_store(path) as f:
        tables = {t: read_table(f, t) for t in TABLES}
        created = f.attrs.get(ATTR_CREATED)
        present = {
            (p.run_id, int(p.level), layer)
            for p in payloads
            for layer in p.masks
            if f"{mask_group(p.run_id, p.level)}/{layer}" in f
        }
    return tables, created, present


def _merge_rows(old: pd.DataFrame, new: pd.DataFrame, key: tuple[str, ...]) -> pd.DataFrame:
    """Old rows, then new rows whose key is neither stored nor repeated earlier in `new`."""
    new = new.drop_duplicates(list(key))
    if old.empty:
        return new.reset_index(drop=True)
    stored = pd.MultiIndex.from_frame(old[list(key)])
    new = new[~pd.MultiIndex.from_frame(new[list(key)]).isin(stored)]
    return pd.concat([old, new], ignore_index=True) if len(new) else old


def _check_parents(
    child: pd.DataFrame, parent: pd.DataFrame, key: tuple[str, ...], what: str
) -> None:
    parents = set(parent[list(key)].itertuples(index=False, name=None))
    for row in child[list(key)].drop_duplicates().itertuples(index=False, name=None):
        if row not in parents:
            raise ValueError(f"{what} for {row} has no stored or new parent row {key}")


def _merge_features(
    old: pd.DataFrame, new: pd.DataFrame, replace: Collection[str] = ()
) -> pd.DataFrame:
    """Union of rows and feature columns; new values fill only cells that are still NaN,
    except in the `replace` columns, where a new non-NaN value wins.

    `first()` takes each column's first non-NaN value per key, and old rows come first.
    """
    key = list(FEATURES.key)
    both = pd.concat([old, new], ignore_index=True)
    merged = both.groupby(key, sort=False).first()
    columns = [c for c in replace if c in new.columns]
    if columns:  # clear every layer's old values of each (run, level) that brings new ones
        fresh = new.dropna(how="all", subset=columns)
        touched = pd.MultiIndex.from_frame(fresh[["run_id", "level"]]).unique()
        merged.loc[merged.index.droplevel("layer").isin(touched), columns] = np.nan
        merged.update(fresh.groupby(key, sort=False)[columns].first())
    merged = merged.reset_index()
    return merged.astype({c: FEATURE_DTYPE for c in merged.columns[len(key) :]})


def _checked_payloads(payloads: Iterable[LevelPayload]) -> list[LevelPayload]:
    """Payload keys and masks become HDF5 names and packed bits: check them up front."""
    payloads = list(payloads)
    _to_array([p.run_id for p in payloads], STR, "payload run_id")
    _to_array([p.level for p in payloads], INT, "payload level")
    for p in payloads:
        check_name(p.run_id, "run")
        for layer, mask in p.masks.items():
            check_name(layer, "layer")
            if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
                raise TypeError(f"mask {p.run_id}/{p.level}/{layer} must be a bool np.ndarray")
    return payloads


def _new_masks(payloads: list[LevelPayload], present: set[MaskKey]) -> dict[MaskKey, np.ndarray]:
    """The payloads' masks not yet stored, first one winning within the call."""
    masks: dict[MaskKey, np.ndarray] = {}
    for p in payloads:
        for layer, mask in p.masks.items():
            key = (p.run_id, int(p.level), layer)
            if key not in present:
                masks.setdefault(key, mask)
    return masks


def _write_table(f: h5py.File, table: Table, frame: pd.DataFrame) -> None:
    group = f.create_group(table.group)
    for name in frame.columns:
        dtype = table.columns.get(name, FEATURE_DTYPE)
        data = _to_array(frame[name], dtype, name)
        group.create_dataset(name, data=data, dtype=dtype, **(GZIP if len(data) else {}))


def _level_group(f: h5py.File, run_id: str, level: int) -> h5py.Group:
    run = f[MASKS_GROUP].require_group(run_id)
    name = f"{LEVEL_PREFIX}{level}"
    # Creation order is tracked so read_masks returns layers in the order they were written.
    return run[name] if name in run else run.create_group(name, track_order=True)


def _write_mask(group: h5py.Group, layer: str, mask: np.ndarray) -> None:
    packed = np.packbits(mask.reshape(-1))
    opts = {"chunks": (min(packed.size, MASK_CHUNK_BYTES),), **GZIP} if packed.size else {}
    ds = group.create_dataset(layer, data=packed, **opts)
    ds.attrs[MASK_SHAPE_ATTR] = np.asarray(mask.shape, dtype=np.int64)
    ds.attrs[MASK_COUNT_ATTR] = np.int64(np.count_nonzero(mask))


def _temp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _remove_stale_temps(path: Path) -> None:
    """Delete temp files of writers that died before their rename (they hold nothing new)."""
    if not path.parent.is_dir():
        return
    prefix = f".{path.name}."
    for entry in path.parent.iterdir():
        if entry.name.startswith(prefix) and entry.name.endswith(".tmp"):
            entry.unlink(missing_ok=True)


def _replace_atomically(path: Path, fill: Callable[[h5py.File], None]) -> None:
    """Write via `fill` into a temp file in the same directory, fsync, rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_path(path)
    try:
        with h5py.File(tmp, "w", locking=LOCKING) as f:
            fill(f)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
