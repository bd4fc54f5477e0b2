"""`lth resume SWEEP_DIR`: submit the unfinished cohorts of a sweep again."""

from __future__ import annotations

import argparse
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from pipeline.launch.resume import resume
    from pipeline.paths import SweepPaths

    return resume(SweepPaths(Path(args.sweep_dir)), args.overrides, Console(stderr=True))


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "resume",
        help="submit the unfinished cohorts of a sweep again (never one that is still "
        "queued or running)",
    )
    parser.add_argument("sweep_dir")
    parser.add_argument(
        "overrides", nargs="*", help="launcher.* overrides, e.g. launcher.walltime=08:00:00"
    )
    parser.set_defaults(func=run)
