"""Run one cohort of a manifest: the body of a local worker and of a cluster array task.

A task's exit code is what the scheduler records, so it tells the truth: 0 when
every run of its cohorts is finished when it ends, FAILED when training raised or a
run was left unfinished to another process training it (its lock was held), STOPPED
when a signal asked it to checkpoint and stop. A failure or a stop also leaves a
marker in each unfinished run's status.json that this task may write (the runs it can
lock), for `lth status` to show and `lth resume` to act on.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import torch

from pipeline.data import load_dataset
from pipeline.driver import CohortDriver
from pipeline.errors import user_message
from pipeline.io import load_json, save_json
from pipeline.launch.manifest import Manifest
from pipeline.launch.progress import RichReporter
from pipeline.launch.signals import StopOnSignal
from pipeline.launch.sizing import resolve_device
from pipeline.locks import Lock
from pipeline.paths import SweepPaths
from pipeline.runs import Run
from pipeline.train.trainer import Stopped

FINISHED, FAILED, STOPPED = 0, 1, 75  # 75: EX_TEMPFAIL, "try again later"

_DATA_CACHE: dict[tuple, object] = {}


def _data(name: str, root: str | None, device: torch.device):
    key = (name, root, str(device))
    if key not in _DATA_CACHE:
        _DATA_CACHE.clear()  # one dataset resident at a time
        _DATA_CACHE[key] = load_dataset(name, root).to(device)
    return _DATA_CACHE[key]


def run_cohort(
    manifest: Manifest,
    index: int,
    device: str | None = None,
    show_progress: bool = True,
    should_stop: Callable[[], bool] = lambda: False,
) -> list[Run]:
    """Train cohort `index`; return its runs left to other processes (locked there)."""
    runs = manifest.cohort_runs(index)
    cfg = runs[0].cfg
    target = resolve_device(device or cfg.launcher.device)
    if cfg.launcher.threads:
        torch.set_num_threads(cfg.launcher.threads)
    data = _data(cfg.data.name, cfg.data.root, target)
    label = f"cohort {index + 1}/{len(manifest.cohorts)}"
    reporter = RichReporter(label, max(r.levels for r in runs)) if show_progress else None
    with reporter or nullcontext():
        return CohortDriver(runs, data, target, reporter, should_stop).run()


def scheduler_task_id() -> str | None:
    """This process's array task as the scheduler names it, if it runs under one."""
    env = os.environ
    if "SLURM_ARRAY_JOB_ID" in env:
        return f"{env['SLURM_ARRAY_JOB_ID']}_{env.get('SLURM_ARRAY_TASK_ID', '')}"
    return env.get("SLURM_JOB_ID") or env.get("PBS_JOBID")


def where_from(run: Run) -> str:
    """Where a run starts: the log line that shows a restart really resumed."""
    done = run.paths.completed_levels()
    pending = run.pending_levels()
    if not pending:
        return f"run {run.id}: done"
    partial = run.paths.level(pending[0]).partial.is_file()
    start = "its mid-level checkpoint" if partial else "the start"
    return f"run {run.id}: levels done {done}; level {pending[0]} from {start}"


def mark(runs: list[Run], state: str, **fields) -> None:
    """Record `state` in the status.json of every unfinished run, keeping its progress;
    a run locked by another process is that process's to describe."""
    for run in runs:
        with Lock(run.paths.lock) as mine:
            if not mine or not run.pending_levels():
                continue
            previous = load_json(run.paths.status) if run.paths.status.is_file() else {}
            progress = {k: previous[k] for k in ("level", "iteration", "of") if k in previous}
            save_json(
                run.paths.status,
                {
                    "state": state,
                    **progress,
                    **fields,
                    "job": scheduler_task_id(),
                    "updated": time.time(),
                },
            )


def run_task(
    sweep_dir: Path,
    cohorts: list[int],
    device: str | None,
    progress: bool,
    *,
    should_stop: StopOnSignal | None = None,
    log: str | None = None,
) -> int:
    """Train the given cohorts of a sweep; the exit code says whether all of them finished.

    Without `should_stop`, SIGTERM (PBS before walltime, qdel, scancel) stops the task
    at a checkpoint. `log` (default $LTH_LOG, set by job scripts) goes into failure markers.
    """
    if should_stop is None:
        with StopOnSignal() as stop:
            return run_task(sweep_dir, cohorts, device, progress, should_stop=stop, log=log)
    log = log or os.environ.get("LTH_LOG")
    paths = SweepPaths(sweep_dir)
    manifest = Manifest.load(paths)
    if manifest.launcher.compile:
        from pipeline.train.compiled import use_cache_dir

        use_cache_dir(paths.inductor_cache)  # Inductor's kernels, unless the job set a folder
    code = FINISHED
    elsewhere: dict[int, list[Run]] = {}
    for index in cohorts:
        runs = manifest.cohort_runs(index)
        for run in runs:
            print(f"cohort {index}: {where_from(run)}", file=sys.stderr, flush=True)
        try:
            elsewhere[index] = run_cohort(
                manifest, index, device, show_progress=progress, should_stop=should_stop
            )
        except Stopped as stopped:
            reason = f"{stopped} by {should_stop.received.name} (checkpoint written)"
            mark(runs, "stopped", reason=reason, log=log)
            print(f"cohort {index}: {reason}", file=sys.stderr, flush=True)
            return STOPPED
        except Exception as error:  # noqa: BLE001 (recorded, then reported by the exit code)
            known = user_message(error)
            if known is None:  # a bug: its traceback goes to the task's log
                traceback.print_exc()
            reason = known[0] if known else f"{type(error).__name__}: {error}"
            print(f"cohort {index}: failed: {reason}", file=sys.stderr, flush=True)
            mark(runs, "failed", error=reason, log=log)
            code = FAILED
    return FAILED if left_unfinished(elsewhere) else code


def left_unfinished(elsewhere: dict[int, list[Run]]) -> bool:
    """Report the runs left to other processes that are still unfinished now."""
    unfinished = False
    for index, runs in elsewhere.items():
        for run in runs:
            if run.pending_levels():
                unfinished = True
                source = run.source
                owner = source if source and source.pending_levels() else run
                print(
                    f"cohort {index}: run {run.id} left unfinished to "
                    f"{Lock(owner.paths.lock).holder()}, which holds the lock of run "
                    f"{owner.id}; `lth resume` trains it if that process does not finish it",
                    file=sys.stderr,
                    flush=True,
                )
    return unfinished
