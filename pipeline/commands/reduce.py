"""`lth reduce RUNS_DIR STORE` (under `mpiexec -n N` to spread the work over N ranks)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the command imports the reducer lazily: `lth --help` stays fast
    from rich.console import Console

    from pipeline.reduce.reducer import Summary


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `reduce` subcommand to `lth`'s subparsers."""
    parser = subparsers.add_parser(
        "reduce",
        help="add the complete levels of run directories to an HDF5 feature store",
        description="Add every complete level under RUNS_DIR that STORE does not hold yet "
        "(masks, accuracies, curves, features). Run under `mpiexec -n N` to use N "
        "ranks (with OMP_NUM_THREADS=1 when ranks share a node's cores); each rank "
        "writes its own shard and rank 0 commits them atomically. A second reduce into "
        "the same store waits for the first.",
    )
    parser.add_argument("runs_dir", type=Path, help="directory of run directories (OUT/runs)")
    parser.add_argument("store", type=Path, help="HDF5 feature store, created if absent")
    parser.add_argument(
        "--lock-timeout",
        type=float,
        metavar="SECONDS",
        help="how long to wait for another writer of STORE (default: an hour)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from pipeline.reduce.reducer import reduce
    from pipeline.store.lock import DEFAULT_TIMEOUT

    timeout = DEFAULT_TIMEOUT if args.lock_timeout is None else args.lock_timeout
    summary = reduce(args.runs_dir, args.store, lock_timeout=timeout)
    if summary is not None:
        _print(summary, Console(highlight=False, soft_wrap=True))
        return 1 if summary.failed else 0
    return 0


def _print(summary: Summary, console: Console) -> None:
    from rich.markup import escape

    a = summary.added
    console.print(
        f"added {a.runs} runs, {a.levels} levels, {a.curves} curve points, {a.masks} masks, "
        f"{a.feature_rows} feature rows"
        + (f" (and updated {a.replaced_cells} across-seed values)" if a.replaced_cells else "")
        + f" to {escape(str(summary.store))} in {summary.seconds:.2f} s "
        f"({summary.runs_per_second:.2f} runs/s; {summary.transport})"
    )
    for run, why in summary.skipped.items():
        console.print(f"[yellow]skipped[/yellow] {run}: {escape(why)}")
    for run, error in summary.failed.items():
        console.print(f"[red]failed[/red] {run} (not stored):\n{escape(error)}")
