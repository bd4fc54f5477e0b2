"""`lth inspect STORE`: summarize a feature store, or query its (run, level) rows with features."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from pipeline.errors import StoreError

from .reader import features_frame, levels_frame, runs_frame, summary
from .schema import FEATURES, NETWORK_LAYER

RUN_COLUMNS = ["run_id", "model", "dataset", "method", "control", "seed"]
LEVEL_COLUMNS = ["level", "density", "test_accuracy", "best_accuracy", "best_iteration"]
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
    """
    runs, levels, feats = runs_frame(path), levels_frame(path), features_frame(path)
    rows = levels[["run_id", *LEVEL_COLUMNS]].merge(runs[RUN_COLUMNS], on="run_id", how="left")
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

    if layer != NETWORK_LAYER and layer not in set(feats["layer"]):
        layers = sorted(set(feats["layer"]) - {NETWORK_LAYER})
        raise ValueError(f"no features for layer {layer!r}; layers: {', '.join(layers) or 'none'}")
    feats = feats[feats["layer"] == layer]
    names = [c for c in feats.columns if c not in FEATURES.columns]
    if features:
        unknown = [f for f in features if f not in names]
        if unknown:
            raise ValueError(f"unknown feature(s) {', '.join(unknown)}; known: {', '.join(names)}")
        names = list(features)
    else:
        names = [c for c in names if feats[c].notna().any()]
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


def _table(title: str, frame: pd.DataFrame) -> Table:
    table = Table(title=title)
    for column in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[column])
        table.add_column(str(column), justify="right" if numeric else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*(_fmt(v) for v in row))
    return table


def _print(*tables: Table) -> None:
    """Print tables; when piped, at their natural width rather than rich's default 80 columns."""
    console = Console()
    if not console.is_terminal:
        natural = max(Console(width=1 << 16).measure(t).maximum for t in tables)
        console = Console(width=max(natural, console.width))
    for table in tables:
        console.print(table)


def _summary_tables(path: str) -> list[Table]:
    info = summary(path)
    kept = info["mask_kept"] / info["mask_weights"] if info["mask_weights"] else float("nan")
    store = pd.DataFrame(
        [
            ("file", info["path"]),
            ("size", f"{info['file_size'] / 1e6:.2f} MB"),
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
        ],
        columns=["", "value"],
    ).astype(str)

    runs, levels, feats = runs_frame(path), levels_frame(path), features_frame(path)
    group = ["model", "dataset", "method", "control"]
    per_run = levels.groupby("run_id").agg(levels=("level", "size"), min_density=("density", "min"))
    runs = runs.join(per_run, on="run_id")
    by_kind = runs.groupby(group, as_index=False).agg(
        runs=("run_id", "size"), levels=("levels", "sum"), min_density=("min_density", "min")
    )

    network = feats["layer"] == NETWORK_LAYER
    names = [c for c in feats.columns if c not in FEATURES.columns]
    sizes = pd.DataFrame(
        [
            (
                n,
                int(feats[n].notna().sum()),
                int(feats.loc[network, n].notna().sum()),
                int(feats.loc[~network, n].notna().sum()),
            )
            for n in names
        ],
        columns=["feature", "values", "network rows", "layer rows"],
    )
    return [_table("Store", store), _table("Runs", by_kind), _table("Features", sizes)]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lth inspect",
        description="Summarize a feature store; with any query option, list matching levels.",
    )
    parser.add_argument("store", help="path of the HDF5 feature store")
    parser.add_argument("--model")
    parser.add_argument("--method")
    parser.add_argument("--dataset")
    parser.add_argument("--max-density", type=float)
    parser.add_argument("--min-density", type=float)
    parser.add_argument("--level", type=int)
    parser.add_argument(
        "--features",
        nargs="+",
        metavar="NAME",
        help="feature columns to show (default: all with values)",
    )
    parser.add_argument(
        "--layer",
        help=f"layer whose features to join (default: "
        f"{NETWORK_LAYER!r}, the network-level features)",
    )
    parser.add_argument("--csv", action="store_true", help="write the query result as CSV")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    is_query = args.csv or any(getattr(args, name) is not None for name in QUERY_OPTIONS)
    try:
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
    except (OSError, StoreError, ValueError) as err:
        print(f"lth inspect: error: {err}", file=sys.stderr)
        return 2
    if args.csv:
        rows.to_csv(sys.stdout, index=False)
    else:
        _print(_table(f"{len(rows)} level(s)", rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
