"""The reduce driver: rank 0 locks the store and plans; every rank computes its runs and
writes its own shard; rank 0 commits the shards with one atomic index replacement.
"""

from __future__ import annotations

import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import pipeline
from pipeline.errors import ReduceError, StoreError
from pipeline.io import disk_full
from pipeline.store.index import commit, next_write, remove_orphans, shard_dir
from pipeline.store.lock import DEFAULT_TIMEOUT, StoreLock
from pipeline.store.reader import StoreView, open_view
from pipeline.store.writer import NOTHING, Added, provenance_attrs

from .balance import partition
from .output import RankOutput, RankReport
from .plan import RunTask, make_plan
from .run import reduce_run
from .space import check_space, needed_bytes, no_space
from .transport import Comm, world


@dataclass(frozen=True)
class Share:
    """A rank's runs and what it needs to write its shard into this reduce."""

    tasks: list[RunTask]
    write: int  # the write number every shard of this reduce carries
    base: dict[str, int]  # the store's mask rows per shape before this reduce
    needed: int  # bytes the whole reduce may write (`space.needed_bytes`)


@dataclass(frozen=True)
class Summary:
    store: Path
    added: Added
    runs: int  # runs with at least one level reduced
    failed: dict[str, str]  # run id -> why; nothing of these runs was written
    skipped: dict[str, str]  # run id -> why it was not read
    warnings: list[str]  # stored, but worth a look (NaN metrics)
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


def reduce(
    runs_dir: Path, store: Path, comm: Comm | None = None, lock_timeout: float = DEFAULT_TIMEOUT
) -> Summary | None:
    """Add the complete levels under `runs_dir` that `store` lacks; the Summary on rank 0.

    Every rank of the communicator calls this. An unexpected error on any rank aborts the
    whole MPI job (the others would otherwise wait for it forever).
    """
    comm = comm or world()
    try:
        with ExitStack() as held:  # rank 0 holds the store's lock from planning to commit
            summary = _reduce(Path(runs_dir), Path(store), comm, held, lock_timeout)
    except ReduceError:
        raise
    except BaseException:
        if comm.size > 1:
            traceback.print_exc()
            sys.stderr.flush()
            comm.abort()
        raise
    for warning in summary.warnings if summary is not None else ():
        print(f"warning: {warning}", file=sys.stderr)
    return summary


def _plan(
    runs_dir: Path, store: Path, comm: Comm, held: ExitStack, lock_timeout: float
) -> tuple[list, StoreView | None, object]:
    """Rank 0: lock, clean up after dead writers, plan; the shares (or the error) to send."""
    try:
        if not runs_dir.is_dir():
            raise ReduceError(f"{runs_dir}: not a directory")
        held.enter_context(StoreLock(store, lock_timeout))
        view = open_view(store) if store.exists() else None
        entries = view.entries if view is not None else []
        remove_orphans(store, entries)
        plan = make_plan(runs_dir, store)
        if not plan.found:
            raise ReduceError(
                f"{runs_dir}: no run directories (with a config.yaml) in it; "
                "pass the runs/ folder of a sweep's output"
            )
        needed = needed_bytes(plan.tasks, len(entries), comm.size) if plan.tasks else 0
        check_space(store, needed)
    except (OSError, StoreError, ReduceError) as err:
        message = str(no_space(store) if disk_full(err) else err)  # the lock file, say
        return [ReduceError(message)] * comm.size, None, None
    groups = partition([t.cost for t in plan.tasks], comm.size)
    base = view.mask_rows if view is not None else {}
    write = next_write(entries)
    shares = [
        Share(sorted((plan.tasks[i] for i in group), key=lambda t: t.run_id), write, base, needed)
        for group in groups
    ]
    return shares, view, plan


def _reduce(
    runs_dir: Path, store: Path, comm: Comm, held: ExitStack, lock_timeout: float
) -> Summary | None:
    start = time.perf_counter()
    shares, view, plan = (
        _plan(runs_dir, store, comm, held, lock_timeout) if comm.rank == 0 else (None, None, None)
    )
    share = comm.scatter(shares)
    if isinstance(share, ReduceError):
        raise ReduceError(str(share), primary=comm.rank == 0)
    if comm.rank != 0:
        view = open_view(store) if store.exists() else None
    output = RankOutput(store, share.write, comm.rank)
    try:
        if comm.rank == 0:
            total = sum(t.units for t in plan.tasks)
            _reduce_with_progress(share.tasks, store, comm, total, output)
        else:
            _reduce_tasks(share.tasks, store, comm.notify, output)
        broken = set().union(*comm.allgather(output.failed_groups))
        counts = comm.allgather(output.mask_rows)
        base = dict(share.base)
        for rank_counts in counts[: comm.rank]:
            for key, rows in rank_counts.items():
                base[key] = base.get(key, 0) + rows
        report = output.finish(view, broken, base)
        if any(comm.allgather(report.full)):  # every rank ends alike; nothing is committed
            raise no_space(store, share.needed, primary=comm.rank == 0)
    except BaseException:
        output.discard()
        raise
    reports = comm.gather(report)
    if comm.rank != 0:
        return None
    try:
        return _commit(store, view, reports, plan.skipped, time.perf_counter() - start, comm.path)
    except OSError as err:
        if not disk_full(err):
            raise
        for r in reports:  # the shards no index names
            if r.entry is not None:
                (shard_dir(store) / r.entry["file"]).unlink(missing_ok=True)
        raise no_space(store, share.needed) from err


def _reduce_tasks(
    tasks: list[RunTask], store: Path, done: Callable[[int], None], output: RankOutput
) -> None:
    """Reduce `tasks` into `output`; once the disk is full, only count them done."""
    for task in tasks:
        if output.full:
            done(task.units)
        else:
            output.add(task, reduce_run(task, store, done))


def _commit(
    store: Path,
    view: StoreView | None,
    reports: list[RankReport],
    skipped: dict[str, str],
    seconds: float,
    transport: str,
) -> Summary:
    """Rank 0: name the ranks' shards in a new index (nothing to do if none adds anything)."""
    entries = [r.entry for r in reports if r.entry is not None]
    if entries:
        old = view.entries if view is not None else []
        commit(store, old, entries, provenance_attrs(provenance(), view))
    added = sum((r.added for r in reports), NOTHING)
    failed = {run: error for r in reports for run, error in r.failed.items()}
    return Summary(
        store=store,
        added=added,
        runs=sum(r.runs for r in reports),
        failed=dict(sorted(failed.items())),
        skipped=skipped,
        warnings=sorted(w for r in reports for w in r.warnings),
        seconds=seconds,
        transport=transport,
    )


def _reduce_with_progress(
    tasks: list[RunTask], store: Path, comm: Comm, total: int, output: RankOutput
) -> None:
    """Rank 0's own runs, with a bar of every rank's finished levels."""
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

        _reduce_tasks(tasks, store, advance, output)
        while done < total:
            advance(comm.wait())
