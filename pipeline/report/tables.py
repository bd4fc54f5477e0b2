"""The store's levels joined with their runs, and the accuracy-against-density table."""

from __future__ import annotations

import os
from collections.abc import Sequence

import pandas as pd

from pipeline.labels import method_label
from pipeline.store import features_frame, levels_frame, runs_frame
from pipeline.store.schema import NETWORK_LAYER

KEY = ["experiment", "label", "level"]


def level_rows(store: str | os.PathLike) -> pd.DataFrame:
    """One row per (run, level) with its run's experiment (model/dataset), label and seed."""
    runs = runs_frame(store)
    runs["experiment"] = runs["model"] + "/" + runs["dataset"]
    runs["label"] = [
        method_label(m, c) for m, c in zip(runs["method"], runs["control"], strict=True)
    ]
    return levels_frame(store).merge(runs[["run_id", "experiment", "label", "seed"]], on="run_id")


def accuracy_table(
    levels: pd.DataFrame,
    key: Sequence[str] = KEY,
    accuracy: str = "test_accuracy",
    means: Sequence[str] = (),
) -> pd.DataFrame:
    """Per `key` (default: experiment, label, level): mean density and accuracy over seeds,
    sample std, min, max, the number of seeds, and the mean of each column in `means`.

    A NaN accuracy (a diverged run) is left out of the statistics and of the seed count, so
    `seeds` is the n the mean and std are over."""
    counted = levels.assign(_counted=levels["seed"].where(levels[accuracy].notna()))
    table = counted.groupby(list(key)).agg(
        density=("density", "mean"),
        accuracy=(accuracy, "mean"),
        std=(accuracy, "std"),
        min=(accuracy, "min"),
        max=(accuracy, "max"),
        seeds=("_counted", "nunique"),
        **{name: (name, "mean") for name in means},
    )
    return table.reset_index()


def deepest_common_level(levels: pd.DataFrame) -> pd.Series:
    """Per experiment, the deepest level that every label reached."""
    return levels.groupby(["experiment", "label"])["level"].max().groupby("experiment").min()


def network_values(store: str | os.PathLike, names: list[str]) -> pd.DataFrame:
    """Per (run, level), each feature's network value ("*" row), else its mean over layers.

    Features defined only per layer (e.g. fan_in_gini) are summarized by the layer mean;
    a feature of one layer only (input_locality_spread) keeps that layer's value.
    """
    feats = features_frame(store)
    key = ["run_id", "level"]
    network = feats[feats["layer"] == NETWORK_LAYER].set_index(key)[names]
    layers = feats[feats["layer"] != NETWORK_LAYER].groupby(key)[names].mean()
    return network.combine_first(layers).reset_index()
