"""`lth inspect STORE [query options]`: what a feature store holds, and queries over it.
Its options are parsed by `pipeline.store.inspect` (`lth inspect -h`)."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    from pipeline.store.inspect import main

    return main(args.arguments)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="what a feature store holds, and queries (lth inspect -h)",
        add_help=False,
    )
    parser.add_argument("arguments", nargs=argparse.REMAINDER)
    parser.set_defaults(func=run)
