"""`lth table SWEEP_DIR`: the accuracy-against-density table of a sweep."""

from __future__ import annotations

import argparse
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from pipeline.launch.manifest import Manifest
    from pipeline.paths import SweepPaths
    from pipeline.results import report

    report(Manifest.load(SweepPaths(Path(args.sweep_dir))), Console())
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("table", help="accuracy against density for a sweep")
    parser.add_argument("sweep_dir")
    parser.set_defaults(func=run)
