"""Incremental, crash-safe writes: each write adds one shard (per writer) and a new index.

Rows already present win: a run, (run, level), curve point or mask already stored is never
written again, and feature values only fill cells that are still NaN, except the `replace`
columns (group statistics such as across-seed means), which a write that brings them for a
(run, level) replaces as a whole (see `schema`: the feature log). Writers take the store's
lock (`lock.StoreLock`) for the whole write, so two writers never interleave.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Mapping
from dataclasses import astuple, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from .index import commit, next_write, remove_orphans, shard_dir
from .lock import DEFAULT_TIMEOUT, StoreLock
from .reader import StoreView, open_view, resolved_features
from .records import CurvePoint, LevelPayload, LevelRecord, RunRecord
from .schema import (
    ATTR_CREATED,
    ATTR_UPDATED,
    CURVES,
    FEATURE_DTYPE,
    FEATURES,
    INT,
    LEVELS,
    MASK_INDEX,
    NETWORK_LAYER,
    PROVENANCE_KEYS,
    RUNS,
    STR,
    TABLES,
    UNKNOWN,
    Table,
    check_name,
    key_shape,
    shard_name,
)
from .shard import ShardWriter, to_array

Pair = tuple[str, int]


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

    def __add__(self, other: Added) -> Added:
        return Added(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


NOTHING = Added(0, 0, 0, 0, 0, 0, 0)


def provenance_attrs(provenance: Mapping[str, str], view: StoreView | None) -> dict[str, str]:
    """File attrs of a write: provenance (missing keys "unknown"), `created` kept, `updated`."""
    unknown = set(provenance) - set(PROVENANCE_KEYS)
    if unknown:
        raise ValueError(f"unknown provenance keys {sorted(unknown)}; allowed {PROVENANCE_KEYS}")
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    created = view.attrs.get(ATTR_CREATED) if view is not None else None
    return {
        ATTR_CREATED: created or now,
        ATTR_UPDATED: now,
        **{k: str(provenance.get(k, UNKNOWN)) for k in PROVENANCE_KEYS},
    }


def records_frame(table: Table, records: Iterable) -> pd.DataFrame:
    records = list(records)
    return pd.DataFrame(
        {c: to_array([getattr(r, c) for r in records], dt, c) for c, dt in table.columns.items()}
    )


def feature_frame(payloads: Iterable[LevelPayload]) -> pd.DataFrame:
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


def merge_features(
    old: pd.DataFrame, new: pd.DataFrame, replace: Collection[str] = ()
) -> pd.DataFrame:
    """Union of rows and feature columns; new values fill only cells that are still NaN,
    except in the `replace` columns, where a new non-NaN value wins and clears the other
    old values of its (run, level). `first()` takes each column's first non-NaN value."""
    key = list(FEATURES.key)
    both = pd.concat([old, new], ignore_index=True)
    merged = both.groupby(key, sort=False).first()
    columns = [c for c in replace if c in new.columns]
    if columns:
        fresh = new.dropna(how="all", subset=columns)
        touched = pd.MultiIndex.from_frame(fresh[["run_id", "level"]]).unique()
        merged.loc[merged.index.droplevel("layer").isin(touched), columns] = np.nan
        merged.update(fresh.groupby(key, sort=False)[columns].first())
    merged = merged.reset_index()
    return merged.astype({c: FEATURE_DTYPE for c in merged.columns[len(key) :]})


@dataclass(frozen=True)
class FeatureChange:
    rows: int
    cells: int
    replaced: int
    overrides: bool  # the write brings rows for (run, level)s whose features are stored
    counts: dict[str, list[int]]  # feature -> change of [values, network rows, layer rows]


def feature_change(
    view: StoreView | None,
    new: pd.DataFrame,
    stored_levels: set[Pair],
    replace: Collection[str] = (),
) -> FeatureChange:
    """What adding the feature rows `new` changes, reading only the stored rows of the
    (run, level)s it touches that are already stored."""
    pairs = set(zip(new["run_id"], new["level"].tolist(), strict=True))
    touched = pairs & stored_levels
    if touched and view is not None:
        names = [c for c in view.feature_names if c in new.columns or c in replace]
        keys = pd.MultiIndex.from_tuples(sorted(touched))
        before = resolved_features(view, names, keys)
    else:
        before = new.iloc[:0]
    after = merge_features(before, new, replace)
    key = list(FEATURES.key)
    old = before.set_index(key)
    aligned = after.set_index(key).reindex(index=old.index, columns=old.columns)
    replaced = int((old.notna() & (aligned != old)).to_numpy().sum())
    counts = {}
    for name in after.columns[len(key) :]:
        delta = _value_counts(after, name) - _value_counts(before, name)
        if delta.any():
            counts[name] = delta.tolist()
    return FeatureChange(
        rows=len(after) - len(before),
        cells=_cells(after) - _cells(before),
        replaced=replaced,
        overrides=bool(touched) and len(before) > 0,
        counts=counts,
    )


def _cells(features: pd.DataFrame) -> int:
    return int(features.iloc[:, len(FEATURES.key) :].notna().to_numpy().sum())


def _value_counts(features: pd.DataFrame, name: str) -> np.ndarray:
    if name not in features.columns:
        return np.zeros(3, np.int64)
    has = features[name].notna().to_numpy()
    network = (features["layer"] == NETWORK_LAYER).to_numpy()
    return np.array([has.sum(), (has & network).sum(), (has & ~network).sum()], np.int64)


def shard_stats(tables: Mapping[Table, pd.DataFrame], change: FeatureChange) -> dict:
    """A shard's contribution to `summary`: counts it adds (feature counts as changes)."""
    index = tables[MASK_INDEX]
    weights = sum(int(np.prod(key_shape(s))) for s in index["shape"])
    layers = set(index["layer"]) | set(tables[FEATURES]["layer"])
    return {
        "runs": len(tables[RUNS]),
        "levels": len(tables[LEVELS]),
        "curves": len(tables[CURVES]),
        "masks": len(index),
        "mask_weights": weights,
        "mask_kept": int(index["count"].sum()),
        "feature_rows": change.rows,
        "layers": sorted(layers),
        "features": change.counts,
    }


def write_store(
    path: str | os.PathLike,
    runs: Iterable[RunRecord],
    levels: Iterable[LevelRecord],
    curves: Iterable[CurvePoint],
    payloads: Iterable[LevelPayload],
    provenance: Mapping[str, str],
    replace: Collection[str] = (),
    lock_timeout: float = DEFAULT_TIMEOUT,
) -> Added:
    """Add what is not yet in the store at `path` (created if absent) and return the counts.

    `provenance` may hold `package_version` and `git_revision` (missing ones are "unknown").
    Features named in `replace` are group statistics: a new value overwrites a stored one.
    Every level, curve point and payload must belong to a run / (run, level) that is either
    already stored or given in the same call. Nothing is written if any input is invalid.
    """
    path = Path(path)
    payloads = checked_payloads(payloads)
    new = {
        RUNS: records_frame(RUNS, runs),
        LEVELS: records_frame(LEVELS, levels),
        CURVES: records_frame(CURVES, curves),
        FEATURES: feature_frame(payloads),
    }
    with StoreLock(path, lock_timeout):
        view = open_view(path) if path.exists() else None
        attrs = provenance_attrs(provenance, view)
        entries = view.entries if view is not None else []
        remove_orphans(path, entries)
        stored = _stored_keys(view, new, payloads)
        tables = {t: _merge_rows(stored[t], new[t], t.key) for t in (RUNS, LEVELS, CURVES)}
        masks = _new_masks(payloads, stored[MASK_INDEX])
        _check_parents(tables[LEVELS], stored[RUNS], tables[RUNS], RUNS.key, "level")
        mask_keys = pd.DataFrame([k for k, _ in masks], columns=["run_id", "level", "layer"])
        for child, what in (
            (tables[CURVES], "curve point"),
            (new[FEATURES], "feature row"),
            (mask_keys, "mask"),
        ):
            _check_parents(child, stored[LEVELS], tables[LEVELS], LEVELS.key, what)
        stored_levels = set(stored[LEVELS].itertuples(index=False, name=None))
        change = feature_change(view, new[FEATURES], stored_levels, replace)
        added = Added(
            runs=len(tables[RUNS]),
            levels=len(tables[LEVELS]),
            curves=len(tables[CURVES]),
            masks=len(masks),
            feature_rows=change.rows,
            feature_cells=change.cells,
            replaced_cells=change.replaced,
        )
        if view is not None and added == NOTHING:
            return added
        write = next_write(entries)
        shard = ShardWriter(shard_dir(path) / shard_name(write, "p0"), write)
        try:
            for (run_id, level, layer), mask in masks:
                shard.add_mask(run_id, level, layer, mask)
            tables[FEATURES] = new[FEATURES]
            entry = shard.finish(
                tables,
                view.mask_rows if view is not None else {},
                {
                    "replace": sorted(set(replace) & set(new[FEATURES].columns)),
                    "overrides": change.overrides,
                },
                lambda frames: shard_stats(frames, change),
            )
        except BaseException:
            shard.discard()
            raise
        commit(path, entries, [entry], attrs)
    return added


def _stored_keys(
    view: StoreView | None, new: Mapping[Table, pd.DataFrame], payloads: list[LevelPayload]
) -> dict[Table, pd.DataFrame]:
    """Key columns of the stored rows the new rows could repeat (curve points and masks only
    of the (run, level)s this write touches that are stored)."""
    if view is None:
        return {t: pd.DataFrame(columns=list(t.key)) for t in TABLES}
    runs, _ = view.read(RUNS, RUNS.key)
    levels, _ = view.read(LEVELS, LEVELS.key)
    out = {
        RUNS: pd.DataFrame(runs),
        LEVELS: pd.DataFrame(levels),
    }
    stored = pd.MultiIndex.from_frame(out[LEVELS]) if len(out[LEVELS]) else None
    for table, pairs in (
        (CURVES, new[CURVES][["run_id", "level"]]),
        (MASK_INDEX, pd.DataFrame([(p.run_id, p.level) for p in payloads if p.masks])),
    ):
        touched = (
            stored is not None
            and len(pairs) > 0
            and bool(pd.MultiIndex.from_frame(pairs).isin(stored).any())
        )
        cols = view.read(table, table.key)[0] if touched else {k: [] for k in table.key}
        out[table] = pd.DataFrame(cols, columns=list(table.key))
    return out


def _merge_rows(stored: pd.DataFrame, new: pd.DataFrame, key: tuple[str, ...]) -> pd.DataFrame:
    """New rows whose key is neither stored nor repeated earlier in `new`."""
    new = new.drop_duplicates(list(key))
    if stored.empty or new.empty:
        return new.reset_index(drop=True)
    seen = pd.MultiIndex.from_frame(stored[list(key)].astype({k: new[k].dtype for k in key}))
    return new[~pd.MultiIndex.from_frame(new[list(key)]).isin(seen)].reset_index(drop=True)


def _check_parents(
    child: pd.DataFrame,
    stored: pd.DataFrame,
    added: pd.DataFrame,
    key: tuple[str, ...],
    what: str,
) -> None:
    parents = set(stored[list(key)].itertuples(index=False, name=None))
    parents |= set(added[list(key)].itertuples(index=False, name=None))
    for row in child[list(key)].drop_duplicates().itertuples(index=False, name=None):
        if row not in parents:
            raise ValueError(f"{what} for {row} has no stored or new parent row {key}")


def checked_payloads(payloads: Iterable[LevelPayload]) -> list[LevelPayload]:
    """Payload keys and masks become table rows and packed bits: check them up front."""
    payloads = list(payloads)
    to_array([p.run_id for p in payloads], STR, "payload run_id")
    to_array([p.level for p in payloads], INT, "payload level")
    for p in payloads:
        check_name(p.run_id, "run")
        for layer, mask in p.masks.items():
            check_name(layer, "layer")
            if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
                raise TypeError(f"mask {p.run_id}/{p.level}/{layer} must be a bool np.ndarray")
    return payloads


def _new_masks(
    payloads: list[LevelPayload], stored: pd.DataFrame
) -> list[tuple[tuple[str, int, str], np.ndarray]]:
    """The payloads' masks not yet stored, first one winning within the call."""
    present = set(zip(stored["run_id"], (int(v) for v in stored["level"]), stored["layer"]))
    masks: dict[tuple[str, int, str], np.ndarray] = {}
    for p in payloads:
        for layer, mask in p.masks.items():
            key = (p.run_id, int(p.level), layer)
            if key not in present:
                masks.setdefault(key, mask)
    return list(masks.items())
