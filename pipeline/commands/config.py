"""`lth config [KEY...]`: every config key with its default and help, from the schema."""

from __future__ import annotations

import argparse
import dataclasses


def _rows(cls: type, prefix: str = "") -> list[tuple[str, object, str]]:
    """(dotted key, default, help) of every leaf field of the dataclass `cls`."""
    rows = []
    default = cls()
    for f in dataclasses.fields(cls):
        value = getattr(default, f.name)
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            rows.extend(_rows(type(value), f"{key}."))
        else:
            rows.append((key, value, f.metadata.get("help", "")))
    return rows


def describe(keys: list[str]) -> list[str]:
    """Lines describing `keys` (or every key): `key = default  help`, and for
    `prune.method` every method with its summary and options."""
    from pipeline.config import METHOD_OPTIONS, Config
    from pipeline.errors import ConfigError
    from pipeline.methods import METHODS

    rows = _rows(Config)
    chosen = [
        row
        for row in rows
        if not keys or any(row[0] == k or row[0].startswith(f"{k}.") for k in keys)
    ]
    unknown = [k for k in keys if not any(r[0] == k or r[0].startswith(f"{k}.") for r in rows)]
    if unknown:
        raise ConfigError(unknown[0], "no such config key (`lth config` lists them all)")
    width = min(max(len(f"{key} = {default!r}") for key, default, _ in chosen), 44)
    lines = []
    for key, default, text in chosen:
        methods = METHOD_OPTIONS.get(tuple(key.split(".")))
        if methods:
            text = f"{text} [{', '.join(sorted(methods))} only]"
        lines.append(f"{f'{key} = {default!r}':<{width}}  {text}")
        if key == "prune.method":
            for name, spec in sorted(METHODS.items()):
                options = (
                    f" (options: {', '.join(sorted(spec.option_names))})" if spec.options else ""
                )
                lines.append(f"    {name:<12} {spec.summary}{options}")
    return lines


def run(args: argparse.Namespace) -> int:
    print("\n".join(describe(args.keys)))
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "config",
        help="every config key with its default and help (lth config prune.method)",
        description="Keys are set as Hydra overrides of `lth sweep` (prune.fraction=0.3). A "
        "group (`lth config train`) lists its keys; `prune.method` lists the methods.",
    )
    parser.add_argument("keys", nargs="*", metavar="KEY", help="keys or groups to describe")
    parser.set_defaults(func=run)
