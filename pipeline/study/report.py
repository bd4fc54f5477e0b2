"""The study report: a Markdown file and PNG plots in one folder."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from pipeline.lottery import Run  # noqa: E402
from pipeline.report.plots import accuracy_vs_density  # noqa: E402
from pipeline.store import features_frame  # noqa: E402
from pipeline.study.analysis import (  # noqa: E402
    effect_sizes,
    gap_closed,
    level_table,
    paired_gap,
    summary,
)
from pipeline.study.plan import StudyPlan  # noqa: E402

SHUFFLE_CHECKED = ("snip", "grasp", "synflow")
TOP_FEATURES = 12


def _fmt(value: float, digits: int = 3) -> str:
    return (
        "-"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else f"{value:.{digits}f}"
    )


def _accuracy_md(table: pd.DataFrame, targets: list[float]) -> list[str]:
    labels = sorted(table.label.unique(), key=lambda s: (s.split("+")[0], s))
    lines = [
        "| method | " + " | ".join(f"{t:g}" for t in targets) + " |",
        "|---|" + "---:|" * len(targets),
    ]
    for label in labels:
        rows = table[table.label == label].set_index("target")
        cells = [
            f"{_fmt(rows.accuracy[t])} ± {_fmt(rows['std'][t])}" if t in rows.index else "-"
            for t in targets
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def _compute_md(table: pd.DataFrame, targets: list[float]) -> list[str]:
    lines = [
        "| method | " + " | ".join(f"{t:g}: epochs / s" for t in targets) + " |",
        "|---|" + "---:|" * len(targets),
    ]
    for label in sorted(table.label.unique()):
        rows = table[table.label == label].set_index("target")
        cells = [
            f"{rows.epochs[t]:.0f} / {rows.seconds[t]:.1f}" if t in rows.index else "-"
            for t in targets
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def _effects_md(effects: pd.DataFrame) -> list[str]:
    ranked = (
        effects.assign(order=effects.abs().mean(axis=1))
        .sort_values("order", ascending=False)
        .drop(columns="order")
        .head(TOP_FEATURES)
    )
    lines = [
        "| feature | " + " | ".join(f"{t:g}" for t in ranked.columns) + " |",
        "|---|" + "---:|" * len(ranked.columns),
    ]
    for name, row in ranked.iterrows():
        lines.append(f"| {name} | " + " | ".join(_fmt(v, 2) for v in row) + " |")
    return lines


def _gap_md(table: pd.DataFrame, first: str, second: str) -> str:
    gap = paired_gap(table, first, second)
    cells = [
        f"{t:g}: {_fmt(r.accuracy_a)} vs {_fmt(r.accuracy_b)} ({r.difference:+.3f})"
        for t, r in gap.iterrows()
    ]
    return f"- {first} vs {second}: " + "; ".join(cells)


BASELINES = ("snip", "grasp", "synflow", "erk", "su_ratios", "random")


def _cell(rows: pd.DataFrame, label: str) -> str:
    return f"{rows.accuracy[label]:.3f} ± {_fmt(rows['std'][label])}"


def _prior_md(table: pd.DataFrame, targets: tuple[float, ...]) -> list[str]:
    """Per density: prior, IMP, and the best pruning-at-init or ratio baseline."""
    lines = [
        "| density | prior | imp | best baseline | prior - imp | prior - best |",
        "|---:|---:|---:|---|---:|---:|",
    ]
    for target in targets:
        rows = table[table.target == target].set_index("label")
        if "prior" not in rows.index or "imp" not in rows.index:
            continue
        baselines = rows[rows.index.isin(BASELINES)]
        best = baselines.accuracy.idxmax() if not baselines.empty else None
        best_cell = f"{best} {_cell(rows, best)}" if best else "-"
        lines.append(
            f"| {target:g} | {_cell(rows, 'prior')} | {_cell(rows, 'imp')} | {best_cell} | "
            f"{rows.accuracy['prior'] - rows.accuracy['imp']:+.3f} | "
            + (f"{rows.accuracy['prior'] - rows.accuracy[best]:+.3f} |" if best else "- |")
        )
    return lines


def _compute_plot(table: pd.DataFrame, target: float, path: Path) -> Path:
    rows = table[table.target == target]
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in rows.itertuples():
        ax.errorbar(r.epochs, r.accuracy, yerr=0 if pd.isna(r.std) else r.std, fmt="o")
        ax.annotate(
            r.label, (r.epochs, r.accuracy), fontsize=7, xytext=(3, 3), textcoords="offset points"
        )
    ax.set(
        xscale="log",
        xlabel="training epochs spent (incl. IMP's rounds)",
        ylabel="test accuracy",
        title=f"accuracy against compute at density {target:g}",
    )
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_study_report(plan: StudyPlan, runs: dict[str, Run], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    levels = level_table(runs, plan.level_targets)
    table = summary(levels)
    targets = [1.0, *plan.densities]
    first = next(iter(runs.values())).cfg
    experiment = f"{first.model.name}/{first.data.name}"
    plot_table = table.assign(experiment=experiment, level=table.target.rank(ascending=False))
    ablation = plot_table.label.str.startswith("prior-no_")
    accuracy_vs_density(plot_table[~ablation], folder / "accuracy_vs_density.png")
    if ablation.any():
        keep = ablation | plot_table.label.isin(["prior", "imp", "imp+shuffle"])
        accuracy_vs_density(plot_table[keep], folder / "prior_ablations.png")
    low = min(plan.densities, key=lambda d: abs(d - 0.05))
    _compute_plot(table, low, folder / "compute.png")
    features = [
        c
        for c in features_frame(plan.layout.store).columns
        if c not in ("run_id", "level", "layer")
    ]
    shuffle_effects = effect_sizes(plan.layout.store, levels, "imp", "imp+shuffle", features)
    closed = (
        gap_closed(table, "prior").reindex(list(plan.densities))
        if "prior" in set(table.label)
        else pd.Series(dtype=float)
    )
    lines = [
        f"# Study {plan.name}: {experiment}",
        "",
        "Reproduce with:",
        "",
        "```",
        plan.command or "(command not recorded)",
        "```",
        "",
        f"Seeds: {plan.seeds} for tickets, controls and baselines; {plan.prior_seeds} new "
        "seeds for `prior` (learned from this study's tickets). Accuracy is the final test "
        "accuracy, mean ± std over seeds.",
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
        "## Accuracy against density",
        "",
        *_accuracy_md(table, targets),
        "",
        "![accuracy](accuracy_vs_density.png)",
        "",
        *(
            ["![prior ablations](prior_ablations.png)", ""]
            if (folder / "prior_ablations.png").is_file()
            else []
        ),
        "## Compute spent to reach each mask and train it",
        "",
        "Epochs of training per run, including every IMP round that produced the mask "
        "(controls are charged their ticket's rounds), and wall-clock seconds per run "
        "(a cohort's time divided by its size).",
        "",
        *_compute_md(table, targets),
        "",
        "![compute](compute.png)",
        "",
        "## Does `prior` close the gap?",
        "",
        "Fraction of the gap between random pruning with the ticket's layer densities "
        "(imp+shuffle) and IMP tickets that `prior` closes, per density (1 = as good as the "
        "tickets, 0 = no better than the shuffled control). The tickets' IMP rounds that "
        "built the store are not charged to `prior` in the compute table above.",
        "",
        "| density | " + " | ".join(f"{t:g}" for t in closed.index) + " |",
        "|---|" + "---:|" * len(closed),
        "| gap closed | " + " | ".join(_fmt(v, 2) for v in closed) + " |",
        "",
        "Mean ± std over seeds:",
        "",
        *_prior_md(table, plan.densities),
        "",
        "## Shuffle sanity check (Frankle et al. 2021)",
        "",
        *[_gap_md(table, m, f"{m}+shuffle") for m in SHUFFLE_CHECKED if m in set(table.label)],
        "- for reference, " + _gap_md(table, "imp", "imp+shuffle")[2:],
        "",
        *(
            [
                "## What IMP's iterations add",
                "",
                "IMP against one-shot magnitude pruning of the same trained dense network, "
                "rewound alike (one dense training instead of one per level):",
                "",
                _gap_md(table, "imp", "oneshot"),
                "",
            ]
            if "oneshot" in set(table.label)
            else []
        ),
        "## Features that separate tickets from their shuffled control",
        "",
        f"Cohen's d (imp minus imp+shuffle) per density; the {TOP_FEATURES} largest by mean "
        "|d|. With a few seeds per group these are rough, and some separate by construction "
        "(a shuffled mask shares little with the previous level's).",
        "",
        *_effects_md(shuffle_effects),
        "",
    ]
    levels.to_csv(folder / "levels.csv", index=False)
    path = folder / "README.md"
    path.write_text("\n".join(lines))
    return path
