"""`lth store compact STORE` and `lth store upgrade STORE`: rewrite a store as one file."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `store` command (with its `compact` and `upgrade` subcommands) to `lth`."""
    parser = subparsers.add_parser(
        "store",
        help="maintain a feature store: compact its shards, upgrade a schema v1 store",
        description="Maintenance of an HDF5 feature store. Both commands take the store's "
        "write lock and replace the store atomically.",
    )
    commands = parser.add_subparsers(dest="store_command", required=True)
    compact = commands.add_parser(
        "compact",
        help="merge the store's shards into the store file itself",
        description="Merge every shard of STORE into one self-contained file at STORE (for "
        "archiving or copying off a cluster); later writes add shards again. Run it while "
        "no one reads the store: readers that opened it before may miss the old shards.",
    )
    compact.add_argument("store", type=Path)
    compact.set_defaults(func=cmd_compact)
    upgrade = commands.add_parser(
        "upgrade",
        help="convert a schema v1 store into a v2 store (one file), in place",
        description="Convert a schema v1 store (one dataset per mask) into schema v2, in "
        "place. The runs' seed groups are computed from their stored configs.",
    )
    upgrade.add_argument("store", type=Path)
    upgrade.set_defaults(func=cmd_upgrade)


def cmd_compact(args: argparse.Namespace) -> int:
    from pipeline.store.rewrite import compact

    merged = compact(_existing(args.store))
    print(f"{args.store}: " + (f"merged {merged} shard(s)" if merged else "one file already"))
    return 0


def cmd_upgrade(args: argparse.Namespace) -> int:
    from pipeline.store.rewrite import upgrade

    masks = upgrade(_existing(args.store), seed_group=_seed_group)
    print(f"{args.store}: converted to schema v2 ({masks} masks)")
    return 0


def _seed_group(config_yaml: str) -> str:
    """A stored config's seed group, as the reducer computes it ("" if it no longer parses)."""
    import yaml

    from pipeline.config import config_from_dict
    from pipeline.reduce.plan import seed_group

    try:
        return seed_group(config_from_dict(yaml.safe_load(config_yaml)))
    except Exception:  # an older config schema: the reducer parses it again when planning
        return ""


def _existing(path: Path) -> Path:
    from pipeline.errors import StoreError

    if not path.is_file():
        raise StoreError(f"{path}: no such file")
    return path
