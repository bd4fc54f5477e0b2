"""`lth` subcommands, one module each.

Every command module has `register(subparsers)`, which adds its parser and sets
`func(args) -> exit code`. Modules import only the standard library at the top and the
rest of the pipeline inside `func`, so `lth --help` and the commands that do not train
answer without loading torch. User errors are raised as `pipeline.errors.LthError` and
reported by `pipeline.cli.main` in one line.
"""
