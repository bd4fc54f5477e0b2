"""Read a feature store: tables from its shards (each opened once), masks by (run, level).

Readers open the index once, then read the shard files directly rather than through the
virtual datasets (which reopen every source file for every column). A store's parsed
manifest and run_shards are cached per process while its index file is unchanged.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Collection, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np
from h5py import h5s

from pipeline.errors import StoreError

from .h5file import damaged, reading
from .index import read_manifest, run_shards, shard_path
from .schema import (
    ATTR_CREATED,
    ATTR_SCHEMA_VERSION,
    ATTR_UPDATED,
    CURVES,
    FEATURES,
    LEVELS,
    LOCKING,
    MASK_INDEX,
    MASKS_GROUP,
    NETWORK_LAYER,
    PROVENANCE_KEYS,
    RUNS,
    SCHEMA_VERSION,
    STR,
    Table,
    key_shape,
    run_hash,
)

if TYPE_CHECKING:
    import pandas as pd

Columns = dict[str, np.ndarray]


@dataclass
class StoreView:
    """An opened store: its attrs and shards (manifest entries with their files)."""

    path: Path
    attrs: dict[str, Any]
    entries: list[dict]
    files: list[Path] = field(repr=False)

    @contextmanager
    def shards(self) -> Iterator[list[h5py.File]]:
        with ExitStack() as stack:
            opened = {}
            for file in self.files:
                if file not in opened:
                    opened[file] = stack.enter_context(_open_shard(file))
            yield [opened[file] for file in self.files]

    def read(
        self, table: Table, columns: Collection[str] | None = None
    ) -> tuple[Columns, np.ndarray]:
        """`columns` of `table` over all shards in store order (missing ones NaN), and the
        write number of each row."""
        names = list(columns) if columns is not None else self.column_names(table)
        counts = [e["rows"][table.group] for e in self.entries]
        parts: dict[str, list[np.ndarray]] = {n: [] for n in names}
        with self.shards() as files:
            for f, n in zip(files, counts, strict=True):
                if not n:
                    continue
                with reading(Path(f.filename)):
                    group = f[table.group]
                    for name in names:
                        parts[name].append(_column(group, name, n, table))
        out = {n: _concat(p, table.columns.get(n)) for n, p in parts.items()}
        writes = np.repeat([e["write"] for e in self.entries], counts).astype(np.int64)
        order = self._write_order(out, writes, counts)
        if order is not None:
            out = {n: a[order] for n, a in out.items()}
            writes = writes[order]
        return out, writes

    def _write_order(self, out: Columns, writes: np.ndarray, counts: list[int]):
        """Within a write made of several shards (MPI ranks), rows by run_id (stable), so the
        rows read the same whatever the number of ranks."""
        shards = Counter(e["write"] for e, n in zip(self.entries, counts, strict=True) if n)
        shared = [w for w, n in shards.items() if n > 1]
        if not shared or "run_id" not in out:
            return None
        order = np.arange(len(writes))
        for w in shared:
            rows = np.flatnonzero(writes == w)
            order[rows] = rows[np.argsort(out["run_id"][rows], kind="stable")]
        return order

    def column_names(self, table: Table) -> list[str]:
        if table is not FEATURES:
            return list(table.columns)
        return list(table.columns) + self.feature_names

    @property
    def feature_names(self) -> list[str]:
        return sorted({n for e in self.entries for n in e["features"]})

    @property
    def overrides(self) -> bool:
        """Whether some write filled or replaced stored feature rows (the log has repeats)."""
        return any(e.get("overrides") for e in self.entries)

    def mask_bases(self) -> list[dict[str, int]]:
        """Rows of each shape array before each shard, then in the whole store (the last:
        the next write's base); a shard's own rows start at its base."""
        total: dict[str, int] = {}
        bases = [dict(total)]
        for e in self.entries:
            for key, (rows, _) in e["masks"].items():
                total[key] = total.get(key, 0) + rows
            bases.append(dict(total))
        return bases

    @property
    def mask_rows(self) -> dict[str, int]:
        return self.mask_bases()[-1]

    @cached_property
    def run_shards(self) -> np.ndarray:
        """(run_hash, shard position) rows, sorted by hash."""
        with reading(self.path), h5py.File(self.path, "r", locking=LOCKING) as f:
            pairs = run_shards(f)
            if len(pairs) and not 0 <= pairs[:, 1].min() <= pairs[:, 1].max() < len(self.files):
                raise IndexError("run_shards names a shard the manifest lacks")
            return pairs

    def masks(self, run_id: str, level: int) -> dict[str, np.ndarray]:
        """One level's masks: the shards holding the run, a binary search in each."""
        key = run_hash(run_id)
        pairs = self.run_shards
        lo, hi = (
            np.searchsorted(pairs[:, 0], key, "left"),
            np.searchsorted(pairs[:, 0], key, "right"),
        )
        bases = self.mask_bases()
        out = {}
        for i in pairs[lo:hi, 1].tolist():
            with _open_shard(self.files[i]) as f, reading(self.files[i]):
                index = f[MASK_INDEX.group]
                hashes = _read(index["run_hash"])
                a, b = np.searchsorted(hashes, key, "left"), np.searchsorted(hashes, key, "right")
                rows = zip(
                    index["run_id"].asstr()[a:b], index["level"][a:b].tolist(),
                    index["layer"].asstr()[a:b], index["shape"].asstr()[a:b],
                    index["row"][a:b].tolist(), strict=True,
                )  # fmt: skip
                for run, lv, layer, shape, row in rows:
                    if run != run_id or lv != level:
                        continue
                    packed = f[f"{MASKS_GROUP}/{shape}"][row - bases[i].get(shape, 0)]
                    dims = key_shape(shape)
                    bits = np.unpackbits(packed, count=math.prod(dims))
                    out[layer] = bits.view(bool).reshape(dims)
        if not out:
            raise KeyError(f"no masks for run {run_id!r} level {level}")
        return out


@contextmanager
def _open_shard(path: Path) -> Iterator[h5py.File]:
    try:
        f = h5py.File(path, "r", locking=LOCKING)
    except FileNotFoundError as err:
        raise StoreError(
            f"{path}: shard missing (was the store moved without its shards?)"
        ) from err
    except OSError as err:
        raise damaged(path, err) from err
    with f:
        yield f


def _column(group: h5py.Group, name: str, rows: int, table: Table) -> np.ndarray:
    if name not in group:
        if name in table.columns:
            raise StoreError(f"{group.file.filename}: column {table.group}/{name} missing")
        return np.full(rows, np.nan)
    return _read(group[name])


def _read(ds: h5py.Dataset) -> np.ndarray:
    """A whole 1-D column (numbers through the low-level API: half the per-call cost)."""
    if h5py.check_string_dtype(ds.dtype) is not None:
        return ds.asstr()[()]
    out = np.empty(ds.shape, ds.dtype)
    if out.size:
        ds.id.read(h5s.ALL, h5s.ALL, out)
    return out


def _concat(parts: list[np.ndarray], dtype: np.dtype | None) -> np.ndarray:
    if parts:
        return np.concatenate(parts)
    if dtype == STR:
        return np.array([], dtype=object)
    return np.array([], dtype=dtype or np.float64)


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_CACHE: dict[Path, tuple[tuple[int, int, int], StoreView]] = {}
CACHED_STORES = 4


def open_view(path: str | os.PathLike) -> StoreView:
    """The store at `path`, failing early and in one line on anything that is not schema v2."""
    path = Path(path)
    if not path.is_file():
        raise StoreError(f"{path}: no such file")
    stat = path.stat()
    stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
    key = path.resolve()
    hit = _CACHE.get(key)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    try:
        f = h5py.File(path, "r", locking=LOCKING)
    except OSError as err:
        if _signed(path):
            raise damaged(path, err) from err
        raise StoreError(f"{path}: not an HDF5 file") from err
    with f, reading(path):
        version = f.attrs.get(ATTR_SCHEMA_VERSION)
        if version is None:
            raise StoreError(f"{path}: not a feature store (no {ATTR_SCHEMA_VERSION} attr)")
        if int(version) == 1:
            raise StoreError(
                f"{path}: a schema v1 store; convert it once with `lth store upgrade {path}`"
            )
        if int(version) != SCHEMA_VERSION:
            raise StoreError(f"{path}: schema version {version}, expected {SCHEMA_VERSION}")
        try:
            entries = read_manifest(f)
        except (KeyError, ValueError) as err:
            raise StoreError(f"{path}: not a complete store (no shard manifest)") from err
        attrs = {k: _attr(v) for k, v in f.attrs.items()}
    view = StoreView(path, attrs, entries, [shard_path(path, e) for e in entries])
    if len(_CACHE) >= CACHED_STORES:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = (stamp, view)
    return view


def _signed(path: Path) -> bool:
    """Whether `path` starts as an HDF5 file does (one that then fails to open is damaged)."""
    with open(path, "rb") as handle:
        return handle.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE


def frame(columns: Columns, names: list[str]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(
        {n: pd.Series(columns[n], dtype="str") if columns[n].dtype == object else columns[n]
         for n in names},
        columns=names,
    )  # fmt: skip


def read_table(path: str | os.PathLike, table: Table) -> pd.DataFrame:
    view = open_view(path)
    names = view.column_names(table)
    return frame(view.read(table, names)[0], names)


def runs_frame(path: str | os.PathLike) -> pd.DataFrame:
    """One row per run."""
    return read_table(path, RUNS)


def levels_frame(path: str | os.PathLike) -> pd.DataFrame:
    """One row per (run, level)."""
    return read_table(path, LEVELS)


def curves_frame(path: str | os.PathLike) -> pd.DataFrame:
    """One row per evaluation during training."""
    return read_table(path, CURVES)


def renamed() -> dict[str, str]:
    """Old feature name -> current name (imported only when a name is not found)."""
    from pipeline import features

    return dict(getattr(features, "RENAMED", {}))


def stored_feature(name: str, available: Collection[str]) -> str | None:
    """The column that answers a query for feature `name`: itself, or its old or new name
    when the store was written before or after a rename (`pipeline.features.RENAMED`)."""
    if name in available:
        return name
    for old, new in renamed().items():
        if name == old and new in available:
            return new
        if name == new and old in available:
            return old
    return None


def resolved_features(
    view: StoreView, columns: list[str] | None = None, keys: pd.MultiIndex | None = None
) -> pd.DataFrame:
    """The feature table as the writes left it (see schema: the log resolved), restricted to
    feature `columns` and to the (run_id, level) pairs in `keys` when given."""
    names = view.feature_names if columns is None else list(columns)
    cols, writes = view.read(FEATURES, [*FEATURES.columns, *names])
    table = frame(cols, [*FEATURES.columns, *names])
    if keys is not None:
        import pandas as pd

        keep = pd.MultiIndex.from_arrays([table["run_id"], table["level"]]).isin(keys)
        table, writes = table[keep].reset_index(drop=True), writes[keep]
    if view.overrides:
        table = _resolve(table, writes, view.entries)
    return table


def _resolve(table: pd.DataFrame, writes: np.ndarray, entries: list[dict]) -> pd.DataFrame:
    """Apply the writes in order: a cell keeps its first value, except in a write's `replace`
    columns, which replace every earlier value of each (run, level) the write brings them for."""
    import pandas as pd

    key = list(FEATURES.key)
    by_write: dict[int, tuple[set[str], set[str]]] = {}
    for e in entries:
        replace, present = by_write.setdefault(e["write"], (set(), set()))
        replace.update(e.get("replace", ()))
        present.update(e["features"])
    table = table.copy()
    pair = pd.MultiIndex.from_arrays([table["run_id"], table["level"]])
    starts: dict[str, list[pd.Series]] = {}
    for w, (replace, present) in sorted(by_write.items()):
        columns = sorted(replace & present & set(table.columns))
        if not columns:
            continue
        rows = (writes == w) & table[columns].notna().any(axis=1).to_numpy()
        touched = pair[rows].unique()
        for c in columns:
            starts.setdefault(c, []).append(pd.Series(w, index=touched))
    for c, series in starts.items():
        start = pd.concat(series).groupby(level=[0, 1]).max()
        first = start.reindex(pair).to_numpy()
        table.loc[writes < np.nan_to_num(first, nan=-1), c] = np.nan
    merged = table.groupby(key, sort=False).first().reset_index()
    return merged.astype({c: "float64" for c in merged.columns[len(key) :]})


def features_frame(
    path: str | os.PathLike, long: bool = False, features: Collection[str] | None = None
) -> pd.DataFrame:
    """Features wide (one row per (run, level, layer), one column per feature) or long.

    `features` restricts the columns (a renamed feature answers under the name asked for).
    The long form has columns run_id, level, layer, feature, value and omits NaN cells, since
    NaN means the feature does not apply to (or was not computed for) that row.
    """
    view = open_view(path)
    if features is None:
        wide = resolved_features(view)
    else:
        stored = {n: stored_feature(n, view.feature_names) for n in features}
        missing = [n for n, s in stored.items() if s is None]
        if missing:
            raise KeyError(f"unknown feature(s) {', '.join(missing)}")
        wide = resolved_features(view, sorted(set(stored.values())))
        wide = wide[[*FEATURES.columns, *stored.values()]]
        wide.columns = [*FEATURES.columns, *stored]
    if not long:
        return wide
    key = list(FEATURES.key)
    out = wide.melt(id_vars=key, var_name="feature", value_name="value").dropna(subset="value")
    return out.sort_values([*key, "feature"], kind="stable").reset_index(drop=True)


def read_masks(path: str | os.PathLike, run_id: str, level: int) -> dict[str, np.ndarray]:
    """A level's masks as bool arrays of their original shapes, in the order they were written."""
    return open_view(path).masks(run_id, level)


def store_keys(path: str | os.PathLike) -> tuple[set[str], set[tuple[str, int]]]:
    """Run ids and (run_id, level) pairs already stored, so a reducer can skip them."""
    if not Path(path).exists():
        return set(), set()
    view = open_view(path)
    runs, _ = view.read(RUNS, ["run_id"])
    levels, _ = view.read(LEVELS, ["run_id", "level"])
    return set(runs["run_id"]), set(zip(levels["run_id"], levels["level"].tolist(), strict=True))


def summary(path: str | os.PathLike) -> dict[str, Any]:
    """What the store holds, from the shards' manifest entries (no table or mask is read)."""
    view = open_view(path)
    totals: dict[str, int] = {}
    features: dict[str, list[int]] = {}
    layers: set[str] = set()
    for e in view.entries:
        stats = e["stats"]
        for k, v in stats.items():
            if isinstance(v, int):
                totals[k] = totals.get(k, 0) + v
        layers.update(stats["layers"])
        for name, counts in stats["features"].items():
            old = features.setdefault(name, [0, 0, 0])
            features[name] = [a + b for a, b in zip(old, counts, strict=True)]
    size = view.path.stat().st_size + sum(
        f.stat().st_size for f in set(view.files) if f != view.path
    )
    return {
        "path": str(path),
        "file_size": size,
        "shards": len(view.entries),
        "schema_version": SCHEMA_VERSION,
        "created": view.attrs.get(ATTR_CREATED),
        "updated": view.attrs.get(ATTR_UPDATED),
        "provenance": {k: view.attrs.get(k) for k in PROVENANCE_KEYS},
        "runs": totals.get("runs", 0),
        "levels": totals.get("levels", 0),
        "curve_points": totals.get("curves", 0),
        "masks": totals.get("masks", 0),
        "mask_weights": totals.get("mask_weights", 0),
        "mask_kept": totals.get("mask_kept", 0),
        "layers": len(layers - {NETWORK_LAYER}),
        "layer_names": sorted(layers - {NETWORK_LAYER}),
        "feature_rows": totals.get("feature_rows", 0),
        "features": len(features),
        "feature_names": sorted(features),
        "feature_counts": {n: tuple(features[n]) for n in sorted(features)},
    }


def _attr(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value
