"""lth: lottery-ticket sweeps, feature stores and a-priori masks (see README.md).

Exit codes (pipeline/errors.py): 0 done, 1 some work failed, 2 bad input (nothing was
started), 3 waiting for cluster jobs, 75 a task stopped at a checkpoint.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback

from pipeline.errors import LthError, user_message

# Every subcommand, in the order `lth --help` lists them: a module with register(subparsers).
COMMANDS = (
    "pipeline.commands.sweep",
    "pipeline.commands.status",
    "pipeline.commands.resume",
    "pipeline.commands.table",
    "pipeline.commands.reduce",
    "pipeline.commands.inspect",
    "pipeline.commands.store",
    "pipeline.commands.report",
    "pipeline.commands.study",
    "pipeline.commands.config",
    "pipeline.commands.task",
)
INTERRUPTED = 130


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="lth", description=__doc__.split("\n\n")[0])
    top.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    top = parser()
    args, extra = top.parse_known_args(argv)
    if extra:  # Hydra overrides after an option: `lth study --seeds 2 model=conv4`
        if not hasattr(args, "overrides") or any(e.startswith("-") for e in extra):
            top.error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides = [*args.overrides, *extra]
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"lth {args.command}: interrupted", file=sys.stderr)
        return INTERRUPTED
    except (LthError, OSError) as error:
        known = user_message(error)
        if known is None:
            raise
        message, code = known
        if args.debug:
            traceback.print_exc()
        if getattr(error, "primary", True):  # MPI ranks other than the reporting one stay quiet
            print(f"lth {args.command}: error: {message}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
