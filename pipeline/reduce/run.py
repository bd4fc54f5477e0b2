"""Reduce one run: its new levels' records, curve points, masks and features.

Every file of the run is read through `_read`, so a damaged one (garbage, truncated, a
metrics.json without its numbers) fails only this run, with one line naming the file; a
sibling seed whose masks cannot be read is left out of this run's across-seed rows, and the
seed group's across-seed rows wait for a later reduce. NaN metrics are stored as NaN, with
a warning naming the run and level.
"""

from __future__ import annotations

import dataclasses
import math
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from pipeline.data import dataset_spec
from pipeline.errors import ReduceError
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
    warnings: list[str] = field(default_factory=list)
    sibling_missing: bool = False  # a sibling's masks were unreadable: its group is incomplete


def graph(model: str, dataset: str) -> tuple[LayerNode, ...]:
    spec = dataset_spec(dataset)
    return cached_layer_graph(model, tuple(spec.input_shape), spec.num_classes)


def _read(path: Path, load: Callable[[Path], object]) -> object:
    """`load(path)`; any failure is a ReduceError naming the file, in one line. `load`
    raises ReduceError with its own reason; other errors are named by their type."""
    try:
        return load(path)
    except ReduceError as err:
        reason = str(err)
    except Exception as err:  # noqa: BLE001 (JSON, key and type errors alike)
        reason = f"{type(err).__name__}: {(str(err).strip().splitlines() or [''])[0][:200]}"
    raise ReduceError(f"{path}: damaged or unreadable ({reason})")


def _arrays(path: Path, names: list[str], mask: bool = False) -> dict[str, np.ndarray]:
    """The named tensors of a checkpoint (`mask`: of a mask file, which must be boolean)."""

    def load(p: Path) -> dict[str, np.ndarray]:
        try:
            tensors = load_tensors(p)
        except Exception as err:  # noqa: BLE001 (garbage: unpickling; truncated: zip errors)
            raise ReduceError(f"torch cannot load it: {type(err).__name__}") from err
        missing = [n for n in names if n not in tensors]
        if missing:
            raise ReduceError(f"no tensor for layer(s) {', '.join(missing)}")
        arrays = {n: tensors[n].numpy() for n in names}
        if mask and any(a.dtype != np.bool_ for a in arrays.values()):
            raise ReduceError("a mask that is not boolean")
        return arrays

    return _read(path, load)


# The fields of metrics.json the store keeps: of the level, and of each evaluation.
NUMBERS = (
    "density",
    "test_accuracy",
    "test_loss",
    "best_accuracy",
    "best_iteration",
    "iterations",
    "seconds",
)
POINT = ("iteration", "test_accuracy", "test_loss")


def _metrics(path: Path) -> dict:
    """A level's metrics.json, with a number for each stored field."""

    def load(p: Path) -> dict:
        metrics = load_json(p)
        points = metrics["evaluations"]
        for record, keys in [(metrics, NUMBERS), *((e, POINT) for e in points)]:
            bad = [k for k in keys if not _number(record.get(k))]
            if bad:
                raise ReduceError(f"no number for {', '.join(bad)}")
        return metrics

    return _read(path, load)


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _nan_fields(metrics: dict) -> list[str]:
    """Fields of a level stored as NaN (a diverged training run, or a hand-edited file)."""
    fields = [k for k in NUMBERS if math.isnan(metrics[k])]
    if any(math.isnan(e[k]) for e in metrics["evaluations"] for k in POINT):
        fields.append("evaluations")
    return fields


def _same_shapes(*files: tuple[Path, dict[str, np.ndarray]]) -> None:
    """Mask, rewind and final weights must agree layer by layer."""
    (first, arrays), *rest = files
    for path, other in rest:
        for name, a in arrays.items():
            if other[name].shape != a.shape:
                raise ReduceError(
                    f"{path}: {name} has shape {tuple(other[name].shape)}, but "
                    f"{tuple(a.shape)} in {first}; the files do not belong to one run"
                )


def _sibling_masks(source: MaskSource, level: int, store: Path, names: list[str]) -> Masks | None:
    """A sibling's masks at `level`: from its directory, else the store; None if it has
    none there. A damaged sibling file raises ReduceError (unless the store holds the level)."""
    if level in source.dir_levels:
        try:
            return _arrays(RunPaths(source.dir).level(level).mask, names, mask=True)
        except ReduceError:
            if level not in source.store_levels:
                raise
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
    return _arrays(path, list(current), mask=True) if path.is_file() else None


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


def _siblings(task: RunTask, level: int, store: Path, names: list[str]) -> tuple[list, bool]:
    """The readable siblings' masks at `level`, and whether one was unreadable."""
    found, missing = [], False
    for sibling in task.siblings:
        try:
            masks = _sibling_masks(sibling, level, store, names)
        except ReduceError:
            missing = True
            continue
        if masks is not None:
            found.append(masks)
    return found, missing


def _reduce(task: RunTask, store: Path, done: Callable[[int], None]) -> RunResult:
    nodes = graph(task.model, task.dataset)
    names = [node.name for node in nodes]
    result = RunResult(task.run_id, run_record(task) if task.new_run else None)
    missing = False
    for level in task.refresh:
        masks = _sibling_masks(task.source, level, store, names)
        others, gap = _siblings(task, level, store, names)
        missing |= gap
        rows = across_seed_rows(masks, others)
        result.payloads.append(LevelPayload(task.run_id, level, {}, rows))
        done(1)
    if not task.levels:
        return dataclasses.replace(result, sibling_missing=missing)
    paths = RunPaths(task.source.dir)
    w_init = _arrays(paths.rewind, names)
    previous: tuple[int, Masks] | None = None
    for level in task.levels:
        level_paths = paths.level(level)
        metrics = _metrics(level_paths.metrics)
        masks = _arrays(level_paths.mask, names, mask=True)
        w_final = _arrays(level_paths.final, names)
        _same_shapes(
            (level_paths.mask, masks), (paths.rewind, w_init), (level_paths.final, w_final)
        )
        nan = _nan_fields(metrics)
        if nan:
            result.warnings.append(
                f"run {task.run_id} level {level}: {', '.join(nan)} NaN in "
                f"{level_paths.metrics} (stored as NaN; tables leave it out of means and counts)"
            )
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
        others, gap = _siblings(task, level, store, names)
        missing |= gap
        rows += across_seed_rows(masks, others)
        result.levels.append(level_record(task.run_id, level, metrics))
        result.curves.extend(curve_points(task.run_id, level, metrics))
        result.payloads.append(LevelPayload(task.run_id, level, masks, rows))
        previous = (level, masks)
        done(1)
    return dataclasses.replace(result, sibling_missing=missing)


def reduce_run(task: RunTask, store: Path, done: Callable[[int], None]) -> RunResult:
    """Everything `task` adds to the store; `done(n)` is called as levels finish.

    A run that fails is reported and left out as a whole, so a later reduce retries it; its
    unfinished levels are reported done. A damaged file is reported in one line naming it;
    any other error (a bug) with its traceback.
    """
    finished = 0

    def count(n: int) -> None:
        nonlocal finished
        finished += n
        done(n)

    try:
        return _reduce(task, store, count)
    except ReduceError as err:
        done(task.units - finished)
        return RunResult(task.run_id, error=str(err))
    except Exception:
        done(task.units - finished)
        return RunResult(task.run_id, error=traceback.format_exc(limit=-3))
