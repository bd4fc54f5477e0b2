"""Reduce one run: its new levels' records, curve points, masks and features."""

from __future__ import annotations

import dataclasses
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from pipeline.data import dataset_spec
from pipeline.features import LayerView, compute_level_features
from pipeline.io import load_json, load_tensors
from pipeline.models.graph import LayerNode, cached_layer_graph
from pipeline.paths import RunPaths
from pipeline.store import CurvePoint, LevelPayload, LevelRecord, RunRecord, read_masks

from .plan import MaskSource, RunTask
from .stability import Masks, across_seed_rows, previous_level_rows


@dataclass(frozen=True)
class RunResult:
    """What one run adds to the store; with `error` set, nothing of the run is added."""

    run_id: str
    run: RunRecord | None = None
    levels: list[LevelRecord] = field(default_factory=list)
    curves: list[CurvePoint] = field(default_factory=list)
    payloads: list[LevelPayload] = field(default_factory=list)
    error: str | None = None


def graph(model: str, dataset: str) -> tuple[LayerNode, ...]:
    spec = dataset_spec(dataset)
    return cached_layer_graph(model, tuple(spec.input_shape), spec.num_classes)


def _arrays(path: Path, names: list[str]) -> dict[str, np.ndarray]:
    tensors = load_tensors(path)
    return {name: tensors[name].numpy() for name in names}


def _sibling_masks(source: MaskSource, level: int, store: Path, names: list[str]) -> Masks | None:
    if level in source.dir_levels:
        return _arrays(RunPaths(source.dir).level(level).mask, names)
    if level in source.store_levels:
        return read_masks(store, source.run_id, level)
    return None


def _previous(
    paths: RunPaths, level: int, last: tuple[int, Masks] | None, current: Masks
) -> Masks | None:
    """Level L-1's masks: dense for L = 1 (also for controls, whose level 0 is their
    source's dense network), else the last level loaded or its mask.pt; None for a control
    that skipped level L-1 (`prune.train_levels`)."""
    if level == 1:
        return {name: np.ones_like(m) for name, m in current.items()}
    if last is not None and last[0] == level - 1:
        return last[1]
    path = paths.level(level - 1).mask
    return _arrays(path, list(current)) if path.is_file() else None


def run_record(task: RunTask) -> RunRecord:
    cfg = task.cfg
    return RunRecord(
        run_id=task.run_id,
        model=cfg.model.name,
        dataset=cfg.data.name,
        method=cfg.prune.method,
        control=cfg.prune.control,
        seed=cfg.seed,
        fraction=cfg.prune.fraction,
        rewind=cfg.prune.rewind,
        config_yaml=yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False),
        seed_group=task.group,
    )


def level_record(run_id: str, level: int, metrics: dict) -> LevelRecord:
    return LevelRecord(
        run_id=run_id,
        level=level,
        density=metrics["density"],
        test_accuracy=metrics["test_accuracy"],
        test_loss=metrics["test_loss"],
        best_accuracy=metrics["best_accuracy"],
        best_iteration=metrics["best_iteration"],
        iterations=metrics["iterations"],
        train_seconds=metrics["seconds"],
    )


def curve_points(run_id: str, level: int, metrics: dict) -> list[CurvePoint]:
    return [
        CurvePoint(run_id, level, e["iteration"], e["test_accuracy"], e["test_loss"])
        for e in metrics["evaluations"]
    ]


def _reduce(task: RunTask, store: Path, done: Callable[[int], None]) -> RunResult:
    nodes = graph(task.model, task.dataset)
    names = [node.name for node in nodes]
    result = RunResult(task.run_id, run_record(task) if task.new_run else None)
    for level in task.refresh:
        masks = _sibling_masks(task.source, level, store, names)
        others = [_sibling_masks(s, level, store, names) for s in task.siblings]
        rows = across_seed_rows(masks, [m for m in others if m is not None])
        result.payloads.append(LevelPayload(task.run_id, level, {}, rows))
        done(1)
    if not task.levels:
        return result
    paths = RunPaths(task.source.dir)
    w_init = _arrays(paths.rewind, names)
    previous: tuple[int, Masks] | None = None
    for level in task.levels:
        level_paths = paths.level(level)
        metrics = load_json(level_paths.metrics)
        masks = _arrays(level_paths.mask, names)
        w_final = _arrays(level_paths.final, names)
        views = [
            LayerView(
                n.name,
                n.kind,
                masks[n.name],
                w_init[n.name],
                w_final[n.name],
                n.inputs,
                n.input_shape,
            )
            for n in nodes
        ]
        rows = compute_level_features(views)
        before = _previous(paths, level, previous, masks) if level >= 1 else None
        if before is not None:
            rows += previous_level_rows(before, masks)
        others = [_sibling_masks(s, level, store, names) for s in task.siblings]
        rows += across_seed_rows(masks, [m for m in others if m is not None])
        result.levels.append(level_record(task.run_id, level, metrics))
        result.curves.extend(curve_points(task.run_id, level, metrics))
        result.payloads.append(LevelPayload(task.run_id, level, masks, rows))
        previous = (level, masks)
        done(1)
    return result


def reduce_run(task: RunTask, store: Path, done: Callable[[int], None]) -> RunResult:
    """Everything `task` adds to the store; `done(n)` is called as levels finish.

    A run that fails (a missing or corrupt file) is reported and left out as a whole, so a
    later reduce retries it; its unfinished levels are reported done.
    """
    finished = 0

    def count(n: int) -> None:
        nonlocal finished
        finished += n
        done(n)

    try:
        return _reduce(task, store, count)
    except Exception:
        done(task.units - finished)
        return RunResult(task.run_id, error=traceback.format_exc(limit=-3))
