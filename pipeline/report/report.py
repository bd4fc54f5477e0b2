"""Assemble the report: three figures and summary.md from one feature store."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.errors import StoreError
from pipeline.store import features_frame
from pipeline.store.schema import FEATURES, NETWORK_LAYER

from . import DEFAULT_FEATURES, plots
from .markdown import Table, markdown, number
from .tables import accuracy_table, deepest_common_level, level_rows, network_values


def _features(store: str | os.PathLike, chosen: Sequence[str] | None) -> list[str]:
    """The chosen features (all must exist), or the defaults the store has."""
    known = [c for c in features_frame(store).columns if c not in FEATURES.columns]
    if chosen is None:
        return [f for f in DEFAULT_FEATURES if f in known]
    unknown = [f for f in chosen if f not in known]
    if unknown:
        raise StoreError(f"unknown feature(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return list(chosen)


def _default_levels(rows: pd.DataFrame) -> list[int]:
    """Three levels from 1 to the deepest level all labels reached (level 0 is dense)."""
    deepest = int(deepest_common_level(rows).min())
    return sorted({int(round(x)) for x in np.linspace(min(1, deepest), deepest, 3)})


def write_report(
    store: str | os.PathLike,
    out: Path,
    features: Sequence[str] | None = None,
    levels: Sequence[int] | None = None,
) -> list[Path]:
    """Write the figures and summary.md into `out`; returns the files written.

    `levels`: levels of the layer-density profiles (default: three up to the deepest common
    level). `features`: features whose distributions are compared, per label, at each
    experiment's deepest common level (default: `DEFAULT_FEATURES` present in the store).
    """
    rows = level_rows(store)
    if rows.empty:
        raise StoreError(f"{store}: the store holds no levels")
    names = _features(store, features)
    levels = list(levels) if levels else _default_levels(rows)
    out.mkdir(parents=True, exist_ok=True)
    table = accuracy_table(rows)
    written = [plots.accuracy_vs_density(table, out / "accuracy_vs_density.png")]

    tags = rows[["run_id", "level", "experiment", "label"]]
    feats = features_frame(store)
    layers = feats.loc[feats["layer"] != NETWORK_LAYER, ["run_id", "level", "layer", "density"]]
    layers = layers[layers["level"].isin(levels)].merge(tags, on=["run_id", "level"])
    written.append(plots.layer_density(layers, out / "layer_density.png"))

    deepest = deepest_common_level(rows)
    values = network_values(store, names).merge(tags, on=["run_id", "level"])
    values = values[values["level"] == values["experiment"].map(deepest)]
    if names:
        written.append(plots.feature_boxes(values, names, out / "features.png"))

    from pipeline.io import atomic_write  # here, not at the top: pipeline.io imports torch

    summary = out / "summary.md"
    text = _summary(store, table, written, levels, names, deepest)
    atomic_write(summary, lambda handle: handle.write(text), binary=False)
    return [*written, summary]


def accuracy_by_experiment(table: pd.DataFrame) -> list[Table]:
    """The accuracy table (`tables.accuracy_table`) as one Markdown table per experiment."""
    columns = ["method", "level", "density", "accuracy", "std", "min", "max", "seeds"]
    return [
        Table(columns, [_accuracy_row(r) for r in rows.itertuples()], title=experiment)
        for experiment, rows in table.groupby("experiment", sort=True)
    ]


def _accuracy_row(r) -> list[str]:
    stats = (r.density, r.accuracy, r.std, r.min, r.max)
    return [r.label, str(r.level), *(number(v, 4) for v in stats), str(r.seeds)]


def _summary(
    store: str | os.PathLike,
    table: pd.DataFrame,
    figures: list[Path],
    levels: list[int],
    features: list[str],
    deepest: pd.Series,
) -> str:
    at = ", ".join(f"{e}: level {lv}" for e, lv in deepest.items())
    notes = {
        "accuracy_vs_density.png": "mean test accuracy against mean density, min-max band "
        "over seeds",
        "layer_density.png": f"layer densities at levels {', '.join(map(str, levels))}",
        "features.png": f"{', '.join(features)} per method ({at}); network value, or the "
        "mean over layers for per-layer features",
    }
    lines = [
        f"# Report on {Path(store).name}",
        "",
        "Test accuracy at the end of each level against density: mean over seeds, "
        "sample std, min and max.",
        "",
        *(markdown(t, heading=2) for t in accuracy_by_experiment(table)),
        "## Figures",
        "",
    ]
    lines += [f"- `{f.name}`: {notes[f.name]}" for f in figures]
    return "\n".join(lines) + "\n"
