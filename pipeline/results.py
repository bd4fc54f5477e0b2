"""Accuracy against density, per method, read from the run directories of a sweep."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from pipeline.labels import method_label
from pipeline.launch.manifest import Manifest
from pipeline.lottery import level_metrics


@dataclass
class Cell:
    density: float
    accuracies: dict[int, float]  # seed -> final test accuracy

    @property
    def summary(self) -> str:
        values = list(self.accuracies.values())
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.mean(values):.3f} ± {spread:.3f} (n={len(values)})"


def collect(manifest: Manifest) -> dict[tuple[str, int], Cell]:
    """(method label, level) -> densities and accuracies over seeds."""
    cells: dict[tuple[str, int], Cell] = {}
    for run_id in manifest.runs:
        cfg = manifest.config(run_id)
        label = method_label(cfg.prune.method, cfg.prune.control)
        group = f"{cfg.model.name}/{cfg.data.name}"
        for m in level_metrics(manifest.layout.run(run_id)):
            cell = cells.setdefault((f"{group} {label}", m["level"]), Cell(m["density"], {}))
            cell.accuracies[cfg.seed] = m["test_accuracy"]
    return cells


def accuracy_table(cells: dict[tuple[str, int], Cell]) -> Table:
    labels = sorted({label for label, _ in cells})
    levels = sorted({level for _, level in cells})
    table = Table(title="Test accuracy against density (mean ± std over seeds)")
    table.add_column("level", justify="right")
    table.add_column("density", justify="right")
    for label in labels:
        table.add_column(label, justify="right")
    for level in levels:
        densities = [c.density for (_, lv), c in cells.items() if lv == level]
        row = [str(level), f"{statistics.mean(densities):.4f}"]
        row += [cells[(label, level)].summary if (label, level) in cells else "-"
                for label in labels]
        table.add_row(*row)
    return table


def lowest_density_table(cells: dict[tuple[str, int], Cell]) -> Table:
    """Per seed, every method at the deepest level that all of them reached."""
    labels = sorted({label for label, _ in cells})
    shared = [lv for lv in sorted({lv for _, lv in cells})
              if all((label, lv) in cells for label in labels)]
    level = shared[-1] if shared else max(lv for _, lv in cells)
    seeds = sorted({s for (_, lv), c in cells.items() if lv == level for s in c.accuracies})
    table = Table(title=f"Per seed at level {level} (the lowest density every method reached)")
    table.add_column("seed", justify="right")
    for label in labels:
        table.add_column(label, justify="right")
    for seed in seeds:
        table.add_row(str(seed), *[
            f"{cells[(label, level)].accuracies[seed]:.3f}"
            if (label, level) in cells and seed in cells[(label, level)].accuracies else "-"
            for label in labels
        ])
    return table


def markdown(table: Table) -> str:
    headers = [c.header for c in table.columns]
    rows = list(zip(*[c._cells for c in table.columns]))
    lines = [f"### {table.title}", "", "| " + " | ".join(headers) + " |",
             "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def report(manifest: Manifest, console: Console | None = None) -> str:
    """Print the tables and return them as markdown."""
    console = console or Console()
    cells = collect(manifest)
    if not cells:
        console.print("no finished levels yet")
        return ""
    tables = [accuracy_table(cells), lowest_density_table(cells)]
    for table in tables:
        console.print(table)
    return "\n".join(markdown(t) for t in tables)
