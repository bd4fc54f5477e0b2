"""Every figure of `lth report` and `lth study`; each function draws one PNG from
already-joined frames.

One style: a bare matplotlib `Figure` (object API) saved through its Agg canvas, so no
pyplot state is shared and no display is needed. matplotlib is imported only by the
functions that draw, so importing the report modules stays cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PANEL = (5.0, 3.6)  # inches per subplot
DPI = 110
MAX_TICKS = 8
LINE_STYLES = ("-", "--", ":", "-.")  # with tab10's colours: 40 distinguishable lines


def _grid(
    rows: int, cols: int, panel: tuple[float, float] = PANEL
) -> tuple[Figure, list[list[Axes]]]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(panel[0] * cols, panel[1] * rows), layout="constrained")
    return fig, fig.subplots(rows, cols, squeeze=False)


def _save(fig: Figure, path: Path) -> Path:
    """Render with Agg into a temp file, then rename over `path` (a kill leaves no half PNG)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from pipeline.io import atomic_write  # here, not at the top: pipeline.io imports torch

    FigureCanvasAgg(fig)  # attaches itself as fig.canvas: savefig draws with Agg
    atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=DPI))
    return path


def accuracy_vs_density(table: pd.DataFrame, path: Path) -> Path:
    """Mean test accuracy against mean density per label, min-max band over seeds."""
    experiments = sorted(table["experiment"].unique())
    fig, axes = _grid(1, len(experiments))
    fig.set_figwidth(fig.get_figwidth() + 2.0)  # room for the legend on the right
    for ax, experiment in zip(axes[0], experiments, strict=True):
        groups = table[table["experiment"] == experiment].groupby("label")
        for index, (label, rows) in enumerate(groups):
            rows = rows.sort_values("level")
            (line,) = ax.plot(
                rows["density"],
                rows["accuracy"],
                marker="o",
                markersize=3,
                label=label,
                color=f"C{index % 10}",
                linestyle=LINE_STYLES[index // 10 % len(LINE_STYLES)],
            )
            ax.fill_between(
                rows["density"],
                rows["min"],
                rows["max"],
                alpha=0.2,
                color=line.get_color(),
                linewidth=0,
            )
        ax.set_xscale("log")
        ax.invert_xaxis()  # pruning goes left to right
        _density_ticks(ax, table.loc[table["experiment"] == experiment, "density"])
        ax.set(
            title=experiment, xlabel="density (fraction of weights kept)", ylabel="test accuracy"
        )
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(fig, path)


def _density_ticks(ax: Axes, densities: pd.Series) -> None:
    """Ticks at (at most MAX_TICKS of) the densities reached, labelled in percent."""
    from matplotlib.ticker import NullFormatter, PercentFormatter

    ticks = np.unique(densities.round(6))[::-1]
    ax.set_xticks(ticks[:: -(-len(ticks) // MAX_TICKS)])
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
    ax.xaxis.set_minor_formatter(NullFormatter())


def layer_density(layers: pd.DataFrame, path: Path) -> Path:
    """Density of each layer (mean over seeds) at the chosen levels, one panel per label.

    `layers` has columns experiment, label, level, layer, density, in forward layer order.
    """
    panels = layers[["experiment", "label"]].drop_duplicates().sort_values(["experiment", "label"])
    fig, axes = _grid(1, len(panels))
    for ax, (experiment, label) in zip(axes[0], panels.itertuples(index=False), strict=True):
        rows = layers[(layers["experiment"] == experiment) & (layers["label"] == label)]
        order = list(pd.unique(rows["layer"]))
        for level, at in rows.groupby("level"):
            mean = at.groupby("layer")["density"].mean().reindex(order)
            ax.plot(range(len(order)), mean.to_numpy(), marker="o", label=f"level {level}")
        ax.set_xticks(
            range(len(order)),
            [name.removesuffix(".weight") for name in order],
            rotation=45,
            ha="right",
            fontsize="small",
        )
        ax.set(title=f"{label} ({experiment})", ylabel="layer density", ylim=(0, 1.05))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    return _save(fig, path)


def feature_boxes(values: pd.DataFrame, features: list[str], path: Path) -> Path:
    """One box per label for each feature and experiment, at the given level per experiment.

    `values` has columns experiment, label, level and one column per feature.
    """
    experiments = sorted(values["experiment"].unique())
    fig, axes = _grid(len(experiments), len(features))
    for row, experiment in zip(axes, experiments, strict=True):
        at = values[values["experiment"] == experiment]
        labels = sorted(at["label"].unique())
        level = at["level"].iloc[0]
        for ax, feature in zip(row, features, strict=True):
            data = [at.loc[at["label"] == lb, feature].dropna().to_numpy() for lb in labels]
            ax.boxplot(data, tick_labels=labels)
            ax.tick_params(axis="x", labelrotation=30, labelsize="small")
            ax.set(title=f"{feature}\n{experiment}, level {level}")
            ax.grid(True, axis="y", alpha=0.3)
    return _save(fig, path)


def accuracy_vs_compute(table: pd.DataFrame, target: float, path: Path) -> Path:
    """Each label's accuracy (± std over seeds) against the training FLOPs it spent to
    reach and train its mask at density `target` (epochs, for a table without FLOPs).

    `table` has columns label, target, epochs, accuracy, std and maybe flops (one row per
    label and target).
    """
    at = table[table["target"] == target]
    flops = "flops" in at.columns and at.flops.notna().all()
    x = "flops" if flops else "epochs"
    fig, ((ax,),) = _grid(1, 1, panel=(6.0, 4.0))
    for r in at.itertuples():
        spent = getattr(r, x)
        ax.errorbar(spent, r.accuracy, yerr=0 if pd.isna(r.std) else r.std, fmt="o")
        ax.annotate(
            r.label, (spent, r.accuracy), fontsize=7, xytext=(3, 3), textcoords="offset points"
        )
    ax.set(
        xscale="log",
        xlabel=f"training {'FLOPs' if flops else 'epochs'} spent (incl. IMP's rounds)",
        ylabel="test accuracy",
        title=f"accuracy against compute at density {target:g}",
    )
    ax.grid(True, alpha=0.3)
    return _save(fig, path)
