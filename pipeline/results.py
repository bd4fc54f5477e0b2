"""Accuracy against density, per method, read from the run directories of a sweep.

The same aggregation as the store's report (`pipeline.report.tables`), fed from the run
directories, so a sweep shows its table as soon as it finishes, before any reduce.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
from rich.console import Console
from rich.table import Table as RichTable

from pipeline.config import Config
from pipeline.identity import scientific_dict
from pipeline.labels import method_label
from pipeline.launch.manifest import Manifest
from pipeline.report.markdown import Table, markdown
from pipeline.report.tables import accuracy_table, deepest_common_level
from pipeline.runs import level_metrics

# Settings a column already names, or that runs are averaged over.
NAMED = {"seed", "model.name", "data.name", "prune.method", "prune.control"}


def _flat(tree: dict, prefix: str = "") -> dict[str, object]:
    out = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        out.update(_flat(value, f"{name}.") if isinstance(value, dict) else {name: value})
    return out


def variants(configs: dict[str, Config]) -> dict[str, str]:
    """Per run, the scientific settings that differ across the sweep besides those the
    column names already (e.g. `train.lr=0.01`), so that such runs are not averaged."""
    keys = sorted(set().union(*(_flat(scientific_dict(c)) for c in configs.values())) - NAMED)
    flat = {rid: _flat(dataclasses.asdict(cfg)) for rid, cfg in configs.items()}
    varying = [k for k in keys if len({repr(f[k]) for f in flat.values()}) > 1]
    return {rid: " ".join(f"{k}={f[k]}" for k in varying) for rid, f in flat.items()}


def level_rows(manifest: Manifest) -> pd.DataFrame:
    """One row per finished (run, level), with the columns of `report.tables.level_rows`."""
    configs = {run_id: manifest.config(run_id) for run_id in manifest.runs}
    variant = variants(configs)
    rows = []
    for run_id, cfg in configs.items():
        label = " ".join(
            filter(None, [method_label(cfg.prune.method, cfg.prune.control), variant[run_id]])
        )
        base = {
            "run_id": run_id,
            "experiment": f"{cfg.model.name}/{cfg.data.name}",
            "label": label,
            "seed": cfg.seed,
        }
        rows += [
            {
                **base,
                "level": m["level"],
                "density": m["density"],
                "test_accuracy": m["test_accuracy"],
            }
            for m in level_metrics(manifest.layout.run(run_id))
        ]
    return pd.DataFrame(rows)


def _column(row) -> str:
    return f"{row.experiment} {row.label}"


def summary_table(levels: pd.DataFrame) -> Table:
    """Levels as rows, one column per experiment and method: mean ± std over seeds."""
    stats = accuracy_table(levels)
    stats["column"] = [_column(r) for r in stats.itertuples()]
    columns = sorted(set(stats.column))
    rows = []
    for level, at in stats.groupby("level"):
        cells = {
            r.column: f"{r.accuracy:.3f} ± {0 if pd.isna(r.std) else r.std:.3f} (n={r.seeds})"
            for r in at.itertuples()
        }
        rows.append([str(level), f"{at.density.mean():.4f}", *[cells.get(c, "-") for c in columns]])
    return Table(
        ["level", "density", *columns],
        rows,
        align="r" * (2 + len(columns)),
        title="Test accuracy against density (mean ± std over seeds)",
    )


def per_seed_table(levels: pd.DataFrame) -> Table:
    """Per seed, every method at the deepest level that all of them reached."""
    level = int(deepest_common_level(levels).min())
    at = levels[levels.level == level].assign(column=lambda f: [_column(r) for r in f.itertuples()])
    columns = sorted(set(at.column))
    rows = []
    for seed, runs in at.groupby("seed"):
        cells = {r.column: f"{r.test_accuracy:.3f}" for r in runs.itertuples()}
        rows.append([str(seed), *[cells.get(c, "-") for c in columns]])
    return Table(
        ["seed", *columns],
        rows,
        align="r" * (1 + len(columns)),
        title=f"Per seed at level {level} (the lowest density every method reached)",
    )


def terminal(table: Table) -> RichTable:
    """The same rows as the Markdown, drawn by rich for the terminal."""
    out = RichTable(title=table.title)
    for name, align in zip(table.columns, table.align, strict=True):
        out.add_column(name, justify="right" if align == "r" else "left")
    for row in table.rows:
        out.add_row(*row)
    return out


def report(manifest: Manifest, console: Console | None = None) -> str:
    """Print the tables and return them as Markdown."""
    console = console or Console()
    levels = level_rows(manifest)
    if levels.empty:
        console.print("no finished levels yet")
        return ""
    tables = [summary_table(levels), per_seed_table(levels)]
    for table in tables:
        console.print(terminal(table))
    return "\n".join(markdown(t) for t in tables)
