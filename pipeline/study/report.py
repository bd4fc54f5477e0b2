"""The study report: README.md, levels.csv and PNG figures in one folder.

`study_markdown` turns the study's numbers into the README's text (every table through
`pipeline.report.markdown`); `write_study_report` computes those numbers from the runs and
the store, draws the figures (`pipeline.report.plots`) and writes the files.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from pipeline.report import plots
from pipeline.report.markdown import Table, markdown, number
from pipeline.store import features_frame
from pipeline.study.analysis import (
    GOAL_CLOSED,
    GOAL_DENSITY,
    GOAL_FLOPS,
    closing_the_gap,
    effect_sizes,
    level_table,
    paired_gap,
    summary,
)
from pipeline.study.plan import StudyPlan

if TYPE_CHECKING:
    from pipeline.runs import Run

SHUFFLE_CHECKED = ("snip", "grasp", "synflow")
BASELINES = ("snip", "grasp", "synflow", "erk", "su_ratios", "random")
TOP_FEATURES = 12


def _targets(targets: list[float]) -> list[str]:
    return [f"{t:g}" for t in targets]


def accuracy_by_density(table: pd.DataFrame, targets: list[float]) -> Table:
    """Per method (controls beside their method), mean ± std accuracy at each target."""
    rows = []
    for label in sorted(table.label.unique(), key=lambda s: (s.split("+")[0], s)):
        at = table[table.label == label].set_index("target")
        cells = [
            f"{number(at.accuracy[t])} ± {number(at['std'][t])}" if t in at.index else "-"
            for t in targets
        ]
        rows.append([label, *cells])
    return Table(["method", *_targets(targets)], rows)


def compute_by_density(table: pd.DataFrame, targets: list[float]) -> Table:
    """Per method, epochs and seconds spent per run at each target."""
    rows = []
    for label in sorted(table.label.unique()):
        at = table[table.label == label].set_index("target")
        cells = [
            f"{at.epochs[t]:.0f} / {at.seconds[t]:.1f}" if t in at.index else "-" for t in targets
        ]
        rows.append([label, *cells])
    return Table(["method", *(f"{t}: epochs / s" for t in _targets(targets))], rows)


def flops_by_density(table: pd.DataFrame, targets: list[float]) -> Table:
    """Per method, the FLOPs spent per run at each target and, in brackets, their share of
    IMP's at the same target."""
    imp = table[table.label == "imp"].set_index("target").flops
    rows = []
    for label in sorted(table.label.unique()):
        at = table[table.label == label].set_index("target").flops
        cells = [
            "-"
            if t not in at.index or pd.isna(at[t])
            else f"{at[t]:.2e}" + (f" ({at[t] / imp[t]:.3g})" if t in imp.index else "")
            for t in targets
        ]
        rows.append([label, *cells])
    return Table(["method", *(f"{t}: FLOPs (of imp)" for t in _targets(targets))], rows)


def convergence_by_density(table: pd.DataFrame, targets: list[float]) -> Table:
    """Per method, the mean iterations its training took to first reach 95% and 99% of its
    final test accuracy, at each target."""
    rows = []
    for label in sorted(table.label.unique()):
        at = table[table.label == label].set_index("target")
        cells = [
            f"{at.iterations_95[t]:.0f} / {at.iterations_99[t]:.0f}" if t in at.index else "-"
            for t in targets
        ]
        rows.append([label, *cells])
    return Table(["method", *(f"{t}: 95% / 99%" for t in _targets(targets))], rows)


def _flops_sections(table: pd.DataFrame, targets: list[float]) -> list[str]:
    """The FLOPs and convergence sections; none for a study recorded before FLOPs were
    counted (its levels have no FLOPs)."""
    if "flops" not in table.columns or table.flops.isna().all():
        return []
    return [
        "## FLOPs spent to reach each mask and train it",
        "",
        "Training FLOPs per run (mean over seeds), counted per layer from the masks actually "
        "trained: 2 per kept weight and output position in the forward pass, the backward "
        "counted as twice the forward, times the examples seen; plus what the method spent "
        "building its mask (score or search steps) and, for IMP and its controls, every "
        "earlier round. In brackets: the share of IMP's FLOPs at the same density.",
        "",
        markdown(flops_by_density(table, targets)),
        "## Convergence",
        "",
        "Iterations of the level's own training until the test accuracy first reached 95% "
        "and 99% of its final value (mean over seeds; evaluated every `train.eval_every`).",
        "",
        markdown(convergence_by_density(table, targets)),
    ]


def top_effects(effects: pd.DataFrame) -> Table:
    """The TOP_FEATURES features (rows of `effects`) with the largest mean |d| over targets."""
    ranked = (
        effects.assign(order=effects.abs().mean(axis=1))
        .sort_values("order", ascending=False)
        .drop(columns="order")
        .head(TOP_FEATURES)
    )
    rows = [[name, *(number(v, 2) for v in row)] for name, row in ranked.iterrows()]
    return Table(["feature", *_targets(list(ranked.columns))], rows)


def gap_by_method(gaps: pd.DataFrame, targets: tuple[float, ...]) -> Table:
    """Per goal candidate: the gap closed and, after the slash, its share of IMP's FLOPs."""
    rows = []
    for label, group in gaps.groupby("label"):
        at = group.set_index("target")
        cells = [
            f"{number(at.closed[t], 2)} / {number(at.flops_share[t], 3)}" if t in at.index else "-"
            for t in targets
        ]
        rows.append([label, *cells])
    return Table(["method", *(f"{t}: closed / FLOPs" for t in _targets(list(targets)))], rows)


def goal_verdict(gaps: pd.DataFrame, densities: tuple[float, ...]) -> str:
    """One paragraph: whether some method met the goal at the density nearest GOAL_DENSITY,
    and which matched the tickets."""
    density = min(densities, key=lambda d: abs(math.log(d / GOAL_DENSITY)))
    at = gaps[(gaps.target == density) & gaps.closed.notna()]
    where = f"at density {density:g}"
    if at.empty:
        return f"**Goal {where}: not evaluated** (no method without IMP was trained there)."
    if at.flops_share.isna().all():
        return f"**Goal {where}: not evaluated** (the levels have no FLOPs recorded)."
    cheap = at[at.flops_share <= GOAL_FLOPS]
    met = cheap[cheap.closed >= GOAL_CLOSED]
    best = at.loc[at.closed.idxmax()]

    def cited(row) -> str:
        return (
            f"`{row.label}` closes {row.closed:.2f} of the gap with "
            f"{row.flops_share:.3f} of IMP's FLOPs (accuracy {number(row.accuracy)} ± "
            f"{number(row['std'])} against IMP's {number(row.imp_accuracy)} ± "
            f"{number(row.imp_std)})"
        )

    if not met.empty:
        text = f"**Goal {where}: met.** " + cited(met.loc[met.closed.idxmax()]) + "."
    else:
        text = (
            f"**Goal {where}: not met.** No method without IMP closes {GOAL_CLOSED:g} of the "
            f"gap within {GOAL_FLOPS:g} of IMP's FLOPs. "
            + (
                "Within that budget, " + cited(cheap.loc[cheap.closed.idxmax()]) + "; "
                if not cheap.empty
                else "No method stays within that budget; "
            )
            + "the most at any cost: "
            + cited(best)
            + "."
        )
    matched = sorted(at[at.matches].label)
    text += (
        " Matching the tickets (accuracy at least IMP's): "
        + (", ".join(f"`{m}`" for m in matched) if matched else "none")
        + "."
    )
    return text


def _cell(at: pd.DataFrame, label: str) -> str:
    return f"{number(at.accuracy[label])} ± {number(at['std'][label])}"


def prior_against_baselines(table: pd.DataFrame, targets: tuple[float, ...]) -> Table:
    """Per density: prior, IMP, and the best pruning-at-init or ratio baseline."""
    rows = []
    for target in targets:
        at = table[table.target == target].set_index("label")
        if "prior" not in at.index or "imp" not in at.index:
            continue
        baselines = at[at.index.isin(BASELINES)]
        best = baselines.accuracy.idxmax() if not baselines.empty else None
        rows.append(
            [
                f"{target:g}",
                _cell(at, "prior"),
                _cell(at, "imp"),
                f"{best} {_cell(at, best)}" if best else "-",
                f"{at.accuracy['prior'] - at.accuracy['imp']:+.3f}",
                f"{at.accuracy['prior'] - at.accuracy[best]:+.3f}" if best else "-",
            ]
        )
    columns = ["density", "prior", "imp", "best baseline", "prior - imp", "prior - best"]
    return Table(columns, rows, align="rrrlrr")


def _gap_line(table: pd.DataFrame, first: str, second: str) -> str:
    gap = paired_gap(table, first, second)
    cells = [
        f"{t:g}: {number(r.accuracy_a)} vs {number(r.accuracy_b)} ({r.difference:+.3f})"
        for t, r in gap.iterrows()
    ]
    return f"- {first} vs {second}: " + "; ".join(cells)


def study_markdown(
    plan: StudyPlan, experiment: str, table: pd.DataFrame, effects: pd.DataFrame, ablations: bool
) -> str:
    """The README's text. `table`: `analysis.summary` of the study's levels; `effects`:
    Cohen's d of imp against imp+shuffle (features x targets); `ablations`: whether
    prior_ablations.png was drawn."""
    labels = set(table.label)
    gaps = closing_the_gap(table)
    lines = [
        f"# Study {plan.name}: {experiment}",
        "",
        "Reproduce with:",
        "",
        "```",
        plan.command or "(command not recorded)",
        "```",
        "",
        goal_verdict(gaps, plan.densities),
        "",
        f"Seeds: {plan.seeds} for tickets, controls, baselines, searches and dynamic sparse "
        f"training; {plan.prior_seeds} new seeds for the methods that learn from this "
        "study's tickets (`prior`, the `+prior` starts, `+steer`, and `transfer` of the "
        "seed-0 ticket). Accuracy is the final test accuracy, mean ± std over seeds.",
        "",
        f"IMP prunes {plan.imp_fraction:g} of the remaining weights per level (the output "
        "layer at its model's `prune.output_scale` times that); each target density is read "
        "at the nearest IMP level: "
        + ", ".join(
            f"{t:g} at level {lv} (hidden density {r.density:.4f})"
            for t, lv, r in zip(plan.densities, plan.imp_levels, plan.rungs)
        )
        + ". Every other method trains at those hidden and output-layer densities (to within "
        "one weight of rounding per layer).",
        "",
        *(
            [
                "Left out, refused by their own checks at these densities: "
                + "; ".join(f"`{m}` ({reason})" for m, reason in plan.left_out.items())
                + ".",
                "",
            ]
            if plan.left_out
            else []
        ),
        "## Accuracy against density",
        "",
        markdown(accuracy_by_density(table, [1.0, *plan.densities])),
        "![accuracy](accuracy_vs_density.png)",
        "",
        *(["![prior ablations](prior_ablations.png)", ""] if ablations else []),
        "## Compute spent to reach each mask and train it",
        "",
        "Epochs of training per run, including every IMP round that produced the mask "
        "(controls are charged their ticket's rounds), and wall-clock seconds per run "
        "(a cohort's time divided by its size). A search's own steps (GEM-MINER's score "
        "training, early-bird's dense training) are not epochs here; the FLOPs below count "
        "them.",
        "",
        markdown(compute_by_density(table, [1.0, *plan.densities])),
        "![compute](compute.png)",
        "",
        *_flops_sections(table, [1.0, *plan.densities]),
        "## Which method closes the gap without IMP?",
        "",
        "For each method that never runs IMP on its own seed: the fraction of the gap "
        "between random pruning with the ticket's layer densities (imp+shuffle) and the IMP "
        "tickets that it closes (1 = as good as the tickets, 0 = no better than the "
        "shuffled control), and after the slash its training FLOPs as a share of IMP's at "
        "that density. The tickets' IMP rounds that built the store are not charged to the "
        "methods that learn from it. The goal: at least "
        f"{GOAL_CLOSED:g} of the gap at 5% density with at most {GOAL_FLOPS:g} of IMP's FLOPs.",
        "",
        markdown(gap_by_method(gaps, plan.densities)),
        goal_verdict(gaps, plan.densities),
        "",
        "Mean ± std over seeds:",
        "",
        markdown(prior_against_baselines(table, plan.densities)),
        "## Shuffle sanity check (Frankle et al. 2021)",
        "",
        *[_gap_line(table, m, f"{m}+shuffle") for m in SHUFFLE_CHECKED if m in labels],
        "- for reference, " + _gap_line(table, "imp", "imp+shuffle")[2:],
        "",
        *(
            [
                "## What IMP's iterations add",
                "",
                "IMP against one-shot magnitude pruning of the same trained dense network, "
                "rewound alike (one dense training instead of one per level):",
                "",
                _gap_line(table, "imp", "oneshot"),
                "",
            ]
            if "oneshot" in labels
            else []
        ),
        "## Features that separate tickets from their shuffled control",
        "",
        f"Cohen's d (imp minus imp+shuffle) per density; the {TOP_FEATURES} largest by mean "
        "|d|. With a few seeds per group these are rough, and some separate by construction "
        "(a shuffled mask shares little with the previous level's).",
        "",
        markdown(top_effects(effects)),
    ]
    return "\n".join(lines)


def write_study_report(plan: StudyPlan, runs: dict[str, Run], folder: Path) -> Path:
    """README.md, levels.csv and the figures into `folder`; returns the README's path."""
    from pipeline.io import atomic_write  # here, not at the top: pipeline.io imports torch

    folder.mkdir(parents=True, exist_ok=True)
    levels = level_table(runs, plan.level_targets)
    table = summary(levels)
    first = next(iter(runs.values())).cfg
    experiment = f"{first.model.name}/{first.data.name}"
    plot_table = table.assign(experiment=experiment, level=table.target.rank(ascending=False))
    ablation = plot_table.label.str.startswith("prior-no_")
    plots.accuracy_vs_density(plot_table[~ablation], folder / "accuracy_vs_density.png")
    if ablation.any():
        keep = ablation | plot_table.label.isin(["prior", "imp", "imp+shuffle"])
        plots.accuracy_vs_density(plot_table[keep], folder / "prior_ablations.png")
    low = min(plan.densities, key=lambda d: abs(d - 0.05))
    plots.accuracy_vs_compute(table, low, folder / "compute.png")
    features = [
        c
        for c in features_frame(plan.layout.store).columns
        if c not in ("run_id", "level", "layer")
    ]
    effects = effect_sizes(plan.layout.store, levels, "imp", "imp+shuffle", features)
    text = study_markdown(plan, experiment, table, effects, bool(ablation.any()))
    atomic_write(folder / "levels.csv", lambda h: levels.to_csv(h, index=False), binary=False)
    path = folder / "README.md"
    atomic_write(path, lambda handle: handle.write(text), binary=False)
    return path
