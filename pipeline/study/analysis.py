"""The study's numbers: accuracy, compute, feature effect sizes and sanity checks."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from pipeline.config import PruneConfig
from pipeline.data import dataset_spec
from pipeline.data.batches import iterations_per_epoch
from pipeline.labels import method_label
from pipeline.prior.components import COMPONENTS
from pipeline.report.tables import accuracy_table, network_values
from pipeline.runs import Run, level_metrics

# Levels whose training produced a run's level-L mask (besides level L's own training).
MASK_COST: dict[str, Callable[[int], list[int]]] = {
    "imp": lambda level: list(range(level)),
    "oneshot": lambda level: [0] if level else [],
}


# Methods that never run IMP on the run's own seed: the candidates of the study's goal.
# (`transfer` counts only aligned: an unaligned ticket on a new seed is a known failure.)
WITHOUT_IMP = ("prior", "gem_miner", "early_bird", "rigl", "set")
ALIGNED_TRANSFER = ("transfer+weights", "transfer+activations")


def run_label(run: Run) -> str:
    """The method, then the study's variants of it (a `prior` start, a steer, an
    alignment), then the control: e.g. `rigl+prior+steer`, `transfer+weights`,
    `imp+shuffle`; `prior-no_X` for a prior ablation."""
    prune = run.cfg.prune
    if prune.method == "prior" and list(prune.prior_components) != list(COMPONENTS):
        dropped = [c for c in COMPONENTS if c not in prune.prior_components]
        return "prior-no_" + "+".join(dropped)
    variants = [
        name
        for name, on in (
            ("prior", prune.start == "prior"),
            ("steer", bool(prune.dst_steer)),
            (prune.transfer_align, prune.transfer_align != "none"),
        )
        if on
    ]
    return method_label("+".join([prune.method, *variants]), prune.control)


def without_imp(label: str) -> bool:
    """A label of the goal's candidates (not an ablation, not a control)."""
    return label.split("+")[0] in WITHOUT_IMP or label in ALIGNED_TRANSFER


def _mask_producers(run: Run, level: int) -> list[tuple[Run, int]]:
    if run.is_control:
        return _mask_producers(run.source, level)
    rule = MASK_COST.get(run.cfg.prune.method)
    return [(run, lv) for lv in rule(level)] if rule else []


# Shares of a level's final test accuracy whose first arrival the convergence columns give.
CONVERGENCE = {"iterations_95": 0.95, "iterations_99": 0.99}


def iterations_to(evaluations: list[dict], share: float) -> int:
    """Iterations the level had trained when its test accuracy first reached `share` of its
    final accuracy (0: already at the first evaluation)."""
    start, final = evaluations[0]["iteration"], evaluations[-1]["test_accuracy"]
    return next(e["iteration"] - start for e in evaluations if e["test_accuracy"] >= share * final)


def _flops(spent: list[dict]) -> float:
    """Training and mask-building FLOPs of the levels in `spent`; NaN for levels recorded
    before FLOPs were counted."""
    if any("train_flops" not in m for m in spent):
        return math.nan
    return float(sum(m["train_flops"] + m["mask_flops"] for m in spent))


def level_table(
    runs: dict[str, Run], level_targets: Callable[[PruneConfig], dict[int, float]]
) -> pd.DataFrame:
    """One row per (run, level at a target density): accuracy, the epochs, seconds and
    FLOPs spent to get there (IMP's levels in between count as spent, not as rows), and
    the iterations its training took to reach 95% and 99% of its final accuracy."""
    metrics = {
        run_id: {m["level"]: m for m in level_metrics(run.paths)} for run_id, run in runs.items()
    }
    rows = []
    for run_id, run in runs.items():
        spec = dataset_spec(run.cfg.data.name)
        ipe = iterations_per_epoch(
            spec.train_size, run.cfg.train.batch_size, run.cfg.train.drop_last
        )
        targets = level_targets(run.cfg.prune)
        for level, m in metrics[run_id].items():
            if level not in targets:
                continue
            spent = [metrics[r.id][lv] for r, lv in _mask_producers(run, level)] + [m]
            rows.append(
                {
                    "run_id": run_id,
                    "label": run_label(run),
                    "seed": run.cfg.seed,
                    "level": level,
                    "target": targets[level],
                    "density": m["density"],
                    "accuracy": m["test_accuracy"],
                    "epochs": sum(s["iterations"] for s in spent) / ipe,
                    "seconds": sum(s["seconds"] / s["cohort_size"] for s in spent),
                    "flops": _flops(spent),
                    **{
                        key: iterations_to(m["evaluations"], share)
                        for key, share in CONVERGENCE.items()
                    },
                }
            )
    return pd.DataFrame(rows)


def summary(levels: pd.DataFrame) -> pd.DataFrame:
    """Per label and target density: the accuracy over seeds (as `lth report`'s table)
    and the mean epochs, seconds, FLOPs and convergence iterations (those of the columns
    `levels` has: a study's levels.csv from before FLOPs were counted has neither)."""
    means = [c for c in ("epochs", "seconds", "flops", *CONVERGENCE) if c in levels.columns]
    return accuracy_table(levels, ["label", "target"], "accuracy", means)


def cohens_d(a: np.ndarray, b: np.ndarray) -> float:
    """(mean_a - mean_b) / pooled standard deviation; NaN if undefined."""
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if len(a) < 2 or len(b) < 2:
        return math.nan
    pooled = math.sqrt(
        ((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2)
    )
    return (a.mean() - b.mean()) / pooled if pooled > 0 else math.nan


def effect_sizes(
    store, levels: pd.DataFrame, ticket: str, control: str, features: list[str]
) -> pd.DataFrame:
    """Cohen's d of each feature, tickets against a control, at each target density."""
    values = network_values(store, features).merge(
        levels[["run_id", "level", "label", "target"]], on=["run_id", "level"]
    )
    rows = []
    for target, group in values[values.target < 1].groupby("target"):
        a = group[group.label == ticket]
        b = group[group.label == control]
        rows.append(
            {
                "target": target,
                **{f: cohens_d(a[f].to_numpy(float), b[f].to_numpy(float)) for f in features},
            }
        )
    return pd.DataFrame(rows).set_index("target").T


def paired_gap(table: pd.DataFrame, first: str, second: str) -> pd.DataFrame:
    """Accuracy of `first` minus `second` at each target density (means over seeds)."""
    a = table[table.label == first].set_index("target")
    b = table[table.label == second].set_index("target")
    joined = a[["accuracy", "std"]].merge(
        b[["accuracy", "std"]], left_index=True, right_index=True, suffixes=("_a", "_b")
    )
    joined["difference"] = joined.accuracy_a - joined.accuracy_b
    return joined


def gap_closed(
    table: pd.DataFrame, candidate: str, low: str = "imp+shuffle", high: str = "imp"
) -> pd.Series:
    """(candidate - low) / (high - low) at each target density: 1 matches the tickets."""
    pick = {
        label: table[table.label == label].set_index("target").accuracy
        for label in (candidate, low, high)
    }
    return (pick[candidate] - pick[low]) / (pick[high] - pick[low])


# The study's goal (docs/STUDY.md): at the density nearest GOAL_DENSITY, a method that never
# runs IMP on its seed closes GOAL_CLOSED of the gap between imp+shuffle and imp using at
# most GOAL_FLOPS of IMP's training FLOPs.
GOAL_DENSITY, GOAL_CLOSED, GOAL_FLOPS = 0.05, 0.5, 0.1


def closing_the_gap(table: pd.DataFrame) -> pd.DataFrame:
    """Per goal candidate (`without_imp`) and target density: accuracy (± std over seeds)
    beside IMP's, the gap closed (`gap_closed`) and its FLOPs as a share of IMP's."""
    imp = table[table.label == "imp"].set_index("target")
    rows = []
    for label in sorted(filter(without_imp, table.label.unique())):
        at = table[table.label == label].set_index("target")
        closed = gap_closed(table, label)
        for target in at.index:
            rows.append(
                {
                    "label": label,
                    "target": target,
                    "accuracy": at.accuracy[target],
                    "std": at["std"][target],
                    "imp_accuracy": imp.accuracy.get(target, math.nan),
                    "imp_std": imp["std"].get(target, math.nan),
                    "closed": closed.get(target, math.nan),
                    "flops_share": at.flops[target] / imp.flops[target]
                    if "flops" in at.columns and target in imp.index
                    else math.nan,
                    "matches": target in imp.index and at.accuracy[target] >= imp.accuracy[target],
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "label",
            "target",
            "accuracy",
            "std",
            "imp_accuracy",
            "imp_std",
            "closed",
            "flops_share",
            "matches",
        ],
    )
