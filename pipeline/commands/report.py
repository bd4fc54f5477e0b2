"""`lth report STORE -o DIR`: PNG figures and summary.md from a feature store."""

from __future__ import annotations

import argparse
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    from pipeline.report.report import write_report

    for path in write_report(args.store, args.out, args.features, args.levels):
        print(path)
    return 0


def register(subparsers) -> None:
    from pipeline.report import DEFAULT_FEATURES

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
        help="levels of the layer-density profiles (default: three up to the deepest level "
        "every method reached)",
    )
    parser.set_defaults(func=run)
