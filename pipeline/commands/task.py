"""`lth task SWEEP_DIR --cohort I`: train cohorts of a sweep (what array tasks run)."""

from __future__ import annotations

import argparse
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    from pipeline.launch.runner import run_task

    return run_task(Path(args.sweep_dir), args.cohort, args.device, not args.no_progress)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "task", help="train cohorts of a sweep (what array tasks and local workers run)"
    )
    parser.add_argument("sweep_dir")
    parser.add_argument("--cohort", type=int, action="append", required=True)
    parser.add_argument("--device", default=None)
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(func=run)
