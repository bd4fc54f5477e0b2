"""The sweep's results table (`lth sweep`, `lth table`): runs of different settings in
different columns, and the numbers of the run directories of a real sweep."""

from __future__ import annotations

import dataclasses
import io
import json
import statistics
from pathlib import Path

import pytest
from rich.console import Console
from test_reduce import built_sweep

from pipeline.config import Config, PruneConfig, TrainConfig
from pipeline.launch.manifest import Manifest
from pipeline.paths import SweepPaths
from pipeline.results import report, variants

COLUMN = "mnist1d_mlp/mnist1d "  # experiment, then the method label


def test_settings_that_vary_besides_seed_method_and_control_name_the_column():
    base = Config(train=TrainConfig(lr=0.1))
    configs = {
        "a": base,
        "b": dataclasses.replace(base, seed=1),
        "c": dataclasses.replace(base, prune=PruneConfig(control="shuffle")),
        "d": dataclasses.replace(base, train=TrainConfig(lr=0.01)),
    }
    assert variants(configs) == {
        "a": "train.lr=0.1",
        "b": "train.lr=0.1",
        "c": "train.lr=0.1",
        "d": "train.lr=0.01",
    }
    same = {k: v for k, v in configs.items() if k != "d"}
    assert variants(same) == {"a": "", "b": "", "c": ""}


def _metrics(out: Path, manifest: Manifest) -> dict[tuple[str, int], dict[int, dict]]:
    """(method label, level) -> seed -> metrics.json, read straight from the runs."""
    found: dict[tuple[str, int], dict[int, dict]] = {}
    for run_id, cfg in manifest.runs.items():
        control = cfg["prune"]["control"]
        label = "imp" if control == "none" else f"imp+{control}"
        for path in sorted((out / "runs" / run_id).glob("level_*/metrics.json")):
            level = json.loads(path.read_text())
            found.setdefault((label, level["level"]), {})[cfg["seed"]] = level
    return found


def _tables(text: str) -> dict[str, list[list[str]]]:
    """Markdown heading -> the rows (cells) of the table under it, header row first."""
    tables: dict[str, list[list[str]]] = {}
    for line in text.splitlines():
        if line.startswith("### "):
            rows = tables.setdefault(line[4:], [])
        elif line.startswith("|") and not line.startswith("|---"):
            rows.append([c.strip() for c in line.strip("|").split("|")])
    return tables


def test_the_tables_hold_the_seed_means_of_the_run_directories(tmp_path_factory):
    out = built_sweep(tmp_path_factory)  # 2 seeds of IMP, reinit and shuffle, 2 levels
    manifest = Manifest.load(SweepPaths(out / "sweeps" / "t"))
    screen = io.StringIO()
    text = report(manifest, Console(file=screen, width=250))
    tables = _tables(text)
    summary = tables["Test accuracy against density (mean ± std over seeds)"]
    labels = ["imp", "imp+reinit", "imp+shuffle"]
    assert summary[0] == ["level", "density", *(COLUMN + label for label in labels)]
    metrics = _metrics(out, manifest)
    assert [row[0] for row in summary[1:]] == ["0", "1", "2"]
    for row in summary[1:]:
        level = int(row[0])
        at = [m for label in labels for m in metrics.get((label, level), {}).values()]
        densities = [m["density"] for m in at]
        assert float(row[1]) == pytest.approx(statistics.mean(densities), abs=5e-5)
        for label, cell in zip(labels, row[2:], strict=True):
            if (label, level) not in metrics:  # controls start at level 1
                assert level == 0 and cell == "-"
                continue
            acc = [m["test_accuracy"] for m in metrics[label, level].values()]
            assert cell == f"{statistics.mean(acc):.3f} ± {statistics.stdev(acc):.3f} (n=2)"
    per_seed = tables["Per seed at level 2 (the lowest density every method reached)"]
    assert per_seed[0] == ["seed", *(COLUMN + label for label in labels)]
    assert [row[0] for row in per_seed[1:]] == ["0", "1"]
    for row in per_seed[1:]:
        seed = int(row[0])
        for label, cell in zip(labels, row[1:], strict=True):
            assert cell == f"{metrics[label, 2][seed]['test_accuracy']:.3f}"
    assert "|---:|---:|---:|---:|---:|\n" in text  # numbers right-aligned, as on the terminal
    # the terminal shows the same rows: every row's cells, in order, on one line
    lines = screen.getvalue().splitlines()
    for rows in tables.values():
        for row in rows[1:]:
            assert any([c.strip() for c in line.strip("│ ").split("│")] == row for line in lines)
