"""`lth inspect STORE`: summarize a feature store, or query its (run, level) rows with features.

The summary reads the shard manifest and two small tables with numpy; pandas is imported
only by a query, which reads just the columns it shows.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from rich.console import Console
from rich.table import Table

from pipeline.errors import StoreError

from .reader import open_view, resolved_features, stored_feature, summary
from .schema import LEVELS, NETWORK_LAYER, RUNS

if TYPE_CHECKING:
    import pandas as pd

RUN_COLUMNS = ["run_id", "model", "dataset", "method", "control", "seed"]
LEVEL_COLUMNS = ["level", "density", "test_accuracy", "best_accuracy", "best_iteration"]
KIND_COLUMNS = ["model", "dataset", "method", "control"]
QUERY_OPTIONS = (
    "model",
    "method",
    "dataset",
    "max_density",
    "min_density",
    "level",
    "features",
    "layer",
)


def query(
    path: str | os.PathLike,
    *,
    model: str | None = None,
    method: str | None = None,
    dataset: str | None = None,
    min_density: float | None = None,
    max_density: float | None = None,
    level: int | None = None,
    features: Sequence[str] | None = None,
    layer: str = NETWORK_LAYER,
) -> pd.DataFrame:
    """Matching (run, level) rows joined with one layer's features (default: network-level).

    Without `features`, every feature with at least one value for that layer is included.
    A feature renamed since the store was written answers under the name asked for.
    """
    import pandas as pd

    from .reader import frame

    view = open_view(path)
    runs = frame(view.read(RUNS, RUN_COLUMNS)[0], RUN_COLUMNS)
    levels = frame(view.read(LEVELS, ["run_id", *LEVEL_COLUMNS])[0], ["run_id", *LEVEL_COLUMNS])
    rows = levels.merge(runs, on="run_id", how="left")
    for column, value in (
        ("model", model),
        ("method", method),
        ("dataset", dataset),
        ("level", level),
    ):
        if value is not None:
            rows = rows[rows[column] == value]
    if min_density is not None:
        rows = rows[rows["density"] >= min_density]
    if max_density is not None:
        rows = rows[rows["density"] <= max_density]

    known = view.feature_names
    if features:
        stored = {f: stored_feature(f, known) for f in features}
        unknown = [f for f, s in stored.items() if s is None]
        if unknown:
            raise StoreError(f"unknown feature(s) {', '.join(unknown)}; known: {', '.join(known)}")
    else:
        stored = {n: n for n in known}
    keys = pd.MultiIndex.from_frame(rows[["run_id", "level"]])
    layers = summary(path)["layer_names"]
    if layer != NETWORK_LAYER and layer not in layers:
        raise StoreError(f"no features for layer {layer!r}; layers: {', '.join(layers) or 'none'}")
    feats = resolved_features(view, sorted(set(stored.values())), keys)
    feats = feats[feats["layer"] == layer]
    feats = pd.DataFrame(
        {"run_id": feats["run_id"], "level": feats["level"]}
        | {asked: feats[name] for asked, name in stored.items()}
    )
    names = list(stored) if features else [n for n in stored if feats[n].notna().any()]
    # A feature named like a level column (e.g. a layer's "density") is shown as "density[layer]".
    suffix = f"[{layer}]"
    shown = [f"{n}{suffix}" if n in rows.columns else n for n in names]
    rows = rows.merge(
        feats[["run_id", "level", *names]],
        on=["run_id", "level"],
        how="left",
        suffixes=("", suffix),
    )
    rows = rows[[*RUN_COLUMNS, *LEVEL_COLUMNS, *shown]]
    return rows.sort_values(
        ["model", "dataset", "method", "seed", "run_id", "level"], kind="stable"
    ).reset_index(drop=True)


def _fmt(value: object) -> str:
    if isinstance(value, (float, np.floating)):
        return "" if np.isnan(value) else f"{value:.4g}"
    return str(value)


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> Table:
    table = Table(title=title)
    for i, column in enumerate(columns):
        numeric = bool(rows) and all(
            isinstance(r[i], (int, float, np.number)) and not isinstance(r[i], bool) for r in rows
        )
        table.add_column(str(column), justify="right" if numeric else "left")
    for row in rows:
        table.add_row(*(_fmt(v) for v in row))
    return table


def _frame_table(title: str, frame: pd.DataFrame) -> Table:
    return _table(title, list(frame.columns), list(frame.itertuples(index=False)))


def _print(*tables: Table) -> None:
    """Print tables; when piped, at their natural width rather than rich's default 80 columns."""
    console = Console()
    if not console.is_terminal:
        natural = max(Console(width=1 << 16).measure(t).maximum for t in tables)
        console = Console(width=max(natural, console.width))
    for table in tables:
        console.print(table)


def _by_kind(path: str) -> list[tuple]:
    """Per (model, dataset, method, control): runs, levels and the lowest density."""
    view = open_view(path)
    runs, _ = view.read(RUNS, ["run_id", *KIND_COLUMNS])
    levels, _ = view.read(LEVELS, ["run_id", "density"])
    count: dict[str, int] = {}
    lowest: dict[str, float] = {}
    for run, density in zip(levels["run_id"], levels["density"].tolist(), strict=True):
        count[run] = count.get(run, 0) + 1
        lowest[run] = min(lowest.get(run, np.inf), density)
    kinds: dict[tuple, list] = {}
    for run, *kind in zip(*(runs[c] for c in ["run_id", *KIND_COLUMNS]), strict=True):
        agg = kinds.setdefault(tuple(kind), [0, 0, np.inf])
        agg[0] += 1
        agg[1] += count.get(run, 0)
        agg[2] = min(agg[2], lowest.get(run, np.inf))
    return [
        (*kind, n, levels_, low if np.isfinite(low) else np.nan)
        for kind, (n, levels_, low) in sorted(kinds.items())
    ]


def _summary_tables(path: str) -> list[Table]:
    info = summary(path)
    kept = info["mask_kept"] / info["mask_weights"] if info["mask_weights"] else float("nan")
    store = [
        ("file", info["path"]),
        ("size", f"{info['file_size'] / 1e6:.2f} MB ({info['shards']} shard(s))"),
        ("schema version", info["schema_version"]),
        ("created", info["created"]),
        ("updated", info["updated"]),
        *info["provenance"].items(),
        ("runs", info["runs"]),
        ("levels", info["levels"]),
        ("curve points", info["curve_points"]),
        ("masks", f"{info['masks']} ({_fmt(kept)} of weights kept)"),
        ("layers", info["layers"]),
        ("feature rows", info["feature_rows"]),
        ("features", info["features"]),
    ]
    store = [(k, str(v)) for k, v in store]
    sizes = [(name, *counts) for name, counts in info["feature_counts"].items()]
    return [
        _table("Store", ["", "value"], store),
        _table("Runs", [*KIND_COLUMNS, "runs", "levels", "min_density"], _by_kind(path)),
        _table("Features", ["feature", "values", "network rows", "layer rows"], sizes),
    ]


def run(args: argparse.Namespace) -> int:
    """The summary, or with any query option the matching levels (as a table or CSV)."""
    is_query = args.csv or any(getattr(args, name) is not None for name in QUERY_OPTIONS)
    if not is_query:
        _print(*_summary_tables(args.store))
        return 0
    rows = query(
        args.store,
        model=args.model,
        method=args.method,
        dataset=args.dataset,
        min_density=args.min_density,
        max_density=args.max_density,
        level=args.level,
        features=args.features,
        layer=args.layer or NETWORK_LAYER,
    )
    if args.csv:
        rows.to_csv(sys.stdout, index=False)
    else:
        _print(_frame_table(f"{len(rows)} level(s)", rows))
    return 0
