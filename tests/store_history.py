"""A fixed sequence of store writes, run by the v1 fixture generator and by the v2 tests.

It covers what the writers must agree on: new runs and levels, a stored row that a later
write repeats (kept), an empty feature cell filled later, and a `replace` column rewritten.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pipeline.store.records import CurvePoint, LevelPayload, LevelRecord, RunRecord

PROV = {"package_version": "0.1.0", "git_revision": "abc123"}
LAYERS = {"fc1.weight": (7, 3), "conv1.weight": (5, 3, 3, 3), "fc2.bias": (13,)}


def masks(run: int, level: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(100 * run + level)
    return {name: rng.random(shape) < 0.8**level for name, shape in LAYERS.items()}


def payload(run: int, level: int, extra: list | None = None) -> LevelPayload:
    rows = [
        ("fc1.weight", "density", 0.8**level),
        ("conv1.weight", "kurtosis", 3.0 + run + level / 10),
        ("*", "effective_density", 0.9 * 0.8**level),
        ("*", "across", 0.5 + run / 10),
    ]
    return LevelPayload(f"r{run}", level, masks(run, level), rows + (extra or []))


def batch(runs: range, levels: int):
    records = [
        RunRecord(f"r{r}", "lenet", "mnist", "imp", "none", r, 0.2, "0", f"seed: {r}\n")
        for r in runs
    ]
    level_rows = [
        LevelRecord(f"r{r}", lv, 0.8**lv, 0.9 - lv / 100, 0.3, 0.91, 10 * lv, 100, 1.5)
        for r in runs
        for lv in range(levels)
    ]
    curves = [
        CurvePoint(f"r{r}", lv, it, 0.5 + it / 1000, 1.0 - it / 1000)
        for r in runs
        for lv in range(levels)
        for it in (0, 50)
    ]
    return records, level_rows, curves, [payload(r, lv) for r in runs for lv in range(levels)]


def write_history(write_store: Callable, path) -> None:
    """Four writes into `path` with `write_store` (the v1 or the v2 writer)."""
    write_store(path, *batch(range(0, 2), 3), PROV, replace=["across"])
    write_store(path, *batch(range(1, 4), 2), PROV, replace=["across"])  # r1 repeated: kept
    fill = [LevelPayload("r0", 1, {}, [("fc2.bias", "alpha", 2.5), ("*", "kurtosis", 7.0)])]
    write_store(path, [], [], [], fill, PROV)
    refresh = [LevelPayload(f"r{r}", 1, {}, [("*", "across", 0.125 * r)]) for r in (0, 2)]
    write_store(path, [], [], [], refresh, PROV, replace=["across"])
