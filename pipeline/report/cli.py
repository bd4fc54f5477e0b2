"""`lth report STORE -o DIR`: PNG figures and summary.md from a feature store."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `report` subcommand to `lth`'s subparsers."""
    from . import DEFAULT_FEATURES

    parser = subparsers.add_parser(
        "report",
        help="plots and an accuracy table from a feature store",
        description="Write accuracy_vs_density.png, layer_density.png, features.png and "
        "summary.md (the accuracy-against-density table) into DIR.",
    )
    parser.add_argument("store", type=Path, help="HDF5 feature store (from lth reduce)")
    parser.add_argument("-o", "--out", type=Path, required=True, help="output directory")
    parser.add_argument(
        "--features",
        nargs="+",
        metavar="NAME",
        help=f"features to compare across methods (default: {' '.join(DEFAULT_FEATURES)})",
    )
    parser.add_argument(
        "--levels",
        nargs="+",
        type=int,
        metavar="L",
        help="levels of the layer-density profiles (default: three up to the "
        "deepest level every method reached)",
    )
    parser.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from pipeline.errors import StoreError

    from .report import write_report

    try:
        files = write_report(args.store, args.out, args.features, args.levels)
    except (OSError, StoreError, ValueError) as err:
        print(f"lth report: error: {err}", file=sys.stderr)
        return 2
    for path in files:
        print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lth")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["report", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)
