"""The reduce driver: plan on rank 0, scatter, compute, gather, one atomic write on rank 0."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import pipeline
from pipeline.errors import ReduceError, StoreError
from pipeline.store import Added, write_store

from .balance import partition
from .plan import RunTask, make_plan, seed_group
from .run import RunResult, reduce_run
from .stability import ACROSS_SEED_FEATURES
from .transport import Comm, world


@dataclass(frozen=True)
class Summary:
    store: Path
    added: Added
    runs: int  # runs with at least one level reduced
    failed: dict[str, str]  # run id -> traceback; nothing of these runs was written
    skipped: dict[str, str]  # run id -> why it was not read
    seconds: float
    transport: str

    @property
    def runs_per_second(self) -> float:
        return self.runs / self.seconds if self.seconds else 0.0


def provenance() -> dict[str, str]:
    """Package version and the git revision of the source tree, "unknown" outside a checkout."""
    try:
        revision = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(pipeline.__file__).parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        revision = ""
    return {"package_version": pipeline.__version__, "git_revision": revision or "unknown"}


def reduce(runs_dir: Path, store: Path, comm: Comm | None = None) -> Summary | None:
    """Add the complete levels under `runs_dir` that `store` lacks; the Summary on rank 0.

    Every rank of the communicator calls this. An unexpected error on any rank aborts the
    whole MPI job (the others would otherwise wait for it forever).
    """
    comm = comm or world()
    try:
        return _reduce(Path(runs_dir), Path(store), comm)
    except ReduceError:
        raise
    except BaseException:
        if comm.size > 1:
            traceback.print_exc()
            sys.stderr.flush()
            comm.abort()
        raise


def _reduce(runs_dir: Path, store: Path, comm: Comm) -> Summary | None:
    start = time.perf_counter()
    shares = None
    if comm.rank == 0:
        try:
            if not runs_dir.is_dir():
                raise ReduceError(f"{runs_dir}: not a directory")
            plan = make_plan(runs_dir, store)
            if not plan.found:
                raise ReduceError(
                    f"{runs_dir}: no run directories (with a config.yaml) in it; "
                    "pass the runs/ folder of a sweep's output"
                )
        except (OSError, StoreError, ReduceError) as err:
            shares = [ReduceError(str(err))] * comm.size
        else:
            groups = partition([t.cost for t in plan.tasks], comm.size)
            shares = [[plan.tasks[i] for i in group] for group in groups]
    share = comm.scatter(shares)
    if isinstance(share, ReduceError):
        raise ReduceError(str(share), primary=comm.rank == 0)
    if comm.rank != 0:
        comm.gather([reduce_run(task, store, comm.notify) for task in share])
        return None

    results = _reduce_with_progress(share, store, comm, sum(t.units for t in plan.tasks))
    results.sort(key=lambda r: r.run_id)
    good = _without_broken_group_rows(results, plan.tasks)
    added = write_store(
        store,
        [r.run for r in good if r.run is not None],
        [lv for r in good for lv in r.levels],
        [c for r in good for c in r.curves],
        [p for r in good for p in r.payloads],
        provenance(),
        replace=ACROSS_SEED_FEATURES,
    )
    return Summary(
        store=store,
        added=added,
        runs=len(good),
        failed={r.run_id: r.error for r in results if r.error is not None},
        skipped=plan.skipped,
        seconds=time.perf_counter() - start,
        transport=comm.path,
    )


def _without_broken_group_rows(results: list[RunResult], tasks: list[RunTask]) -> list[RunResult]:
    """The runs reduced without error. In a seed group where a run failed, their across-seed
    rows would count a seed the store does not hold: those wait for a later reduce (the failed
    run's levels, once stored, refresh them)."""
    group = {t.run_id: seed_group(t.cfg) for t in tasks}
    broken = {group[r.run_id] for r in results if r.error is not None}
    good = []
    for result in (r for r in results if r.error is None):
        if group[result.run_id] in broken:
            payloads = [
                dataclasses.replace(
                    p,
                    feature_rows=[
                        row for row in p.feature_rows if row[1] not in ACROSS_SEED_FEATURES
                    ],
                )
                for p in result.payloads
            ]
            result = dataclasses.replace(
                result, payloads=[p for p in payloads if p.masks or p.feature_rows]
            )
        good.append(result)
    return good


def _reduce_with_progress(share: list, store: Path, comm: Comm, total: int) -> list[RunResult]:
    """Rank 0's own runs, with a bar of every rank's finished levels; then all results."""
    columns = (
        TextColumn("reducing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("levels"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as progress:
        bar = progress.add_task("reduce", total=total)
        done = 0

        def advance(n: int) -> None:
            nonlocal done
            n += comm.poll()
            done += n
            progress.advance(bar, n)

        mine = [reduce_run(task, store, advance) for task in share]
        while done < total:
            advance(comm.wait())
    return [r for rank in comm.gather(mine) for r in rank]
