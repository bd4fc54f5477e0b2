"""`lth inspect STORE [query options]`: what a feature store holds, and queries over it."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    from pipeline.store.inspect import run as inspect

    return inspect(args)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="what a feature store holds, and queries over its levels and features",
        description="Summarize a feature store; with any query option, list matching levels.",
    )
    parser.add_argument("store", help="path of the HDF5 feature store")
    parser.add_argument("--model")
    parser.add_argument("--method")
    parser.add_argument("--dataset")
    parser.add_argument("--max-density", type=float)
    parser.add_argument("--min-density", type=float)
    parser.add_argument("--level", type=int)
    parser.add_argument(
        "--features", nargs="+", metavar="NAME", help="feature columns to show (default: all)"
    )
    parser.add_argument(
        "--layer", help="layer whose features to join (default: '*', the network-level features)"
    )
    parser.add_argument("--csv", action="store_true", help="write the query result as CSV")
    parser.set_defaults(func=run)
