"""The `lth status` and `lth resume` subcommands (registered by pipeline.cli)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from pipeline.paths import SweepPaths


def cmd_status(args: argparse.Namespace) -> int:
    from pipeline.launch.status import show, sweep_state

    state = sweep_state(SweepPaths(Path(args.sweep_dir)))
    show(state, Console(), everything=args.all)
    return 0 if state.finished else 1


def cmd_resume(args: argparse.Namespace) -> int:
    from pipeline.launch.resume import resume

    return resume(SweepPaths(Path(args.sweep_dir)), args.overrides, Console(stderr=True))


def register(subparsers) -> None:
    status = subparsers.add_parser(
        "status",
        help="which runs of a sweep are done, running, failed or never started "
        "(exit code 0 iff all are done)",
    )
    status.add_argument("sweep_dir")
    status.add_argument(
        "--all", action="store_true", help="list every run, done and never started too"
    )
    status.set_defaults(func=cmd_status)

    resume = subparsers.add_parser(
        "resume",
        help="submit the unfinished cohorts of a sweep again (never one that is "
        "still queued or running)",
    )
    resume.add_argument("sweep_dir")
    resume.add_argument(
        "overrides", nargs="*", help="launcher.* overrides, e.g. launcher.walltime=08:00:00"
    )
    resume.set_defaults(func=cmd_resume)
