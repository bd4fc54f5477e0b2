"""Run one cohort of a manifest: the body of a local worker and of a cluster array task."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import torch

from pipeline.data import load_dataset
from pipeline.launch.manifest import Manifest
from pipeline.launch.progress import RichReporter
from pipeline.launch.sizing import resolve_device
from pipeline.lottery import CohortDriver
from pipeline.paths import SweepPaths

_DATA_CACHE: dict[tuple, object] = {}


def _data(name: str, root: str | None, device: torch.device):
    key = (name, root, str(device))
    if key not in _DATA_CACHE:
        _DATA_CACHE.clear()  # one dataset resident at a time
        _DATA_CACHE[key] = load_dataset(name, root).to(device)
    return _DATA_CACHE[key]


def run_cohort(
    manifest: Manifest, index: int, device: str | None = None, show_progress: bool = True,
    should_stop: Callable[[], bool] = lambda: False,
) -> None:
    runs = manifest.cohort_runs(index)
    cfg = runs[0].cfg
    target = resolve_device(device or cfg.launcher.device)
    if cfg.launcher.threads:
        torch.set_num_threads(cfg.launcher.threads)
    data = _data(cfg.data.name, cfg.data.root, target)
    label = f"cohort {index + 1}/{len(manifest.cohorts)}"
    reporter = RichReporter(label, max(r.levels for r in runs)) if show_progress else None
    with reporter or nullcontext():
        CohortDriver(runs, data, target, reporter, should_stop).run()


def run_task(sweep_dir: Path, cohorts: list[int], device: str | None, progress: bool) -> int:
    """Train the given cohorts of a sweep; the exit code says whether all of them finished."""
    manifest = Manifest.load(SweepPaths(sweep_dir))
    for index in cohorts:
        run_cohort(manifest, index, device, show_progress=progress)
    return 0
