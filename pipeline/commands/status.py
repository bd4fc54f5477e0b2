"""`lth status SWEEP_DIR`: where every run of a sweep stands."""

from __future__ import annotations

import argparse
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from pipeline.launch.status import show, sweep_state
    from pipeline.paths import SweepPaths

    state = sweep_state(SweepPaths(Path(args.sweep_dir)))
    show(state, Console(), everything=args.all)
    return 0 if state.finished else 1


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "status",
        help="which runs of a sweep are done, running, failed or never started "
        "(exit code 0 iff all are done)",
    )
    parser.add_argument("sweep_dir")
    parser.add_argument(
        "--all", action="store_true", help="list every run, done and never started too"
    )
    parser.set_defaults(func=run)
