"""Every error a user can cause, in one module that imports nothing of the pipeline.

`lth` prints an `LthError` as one line, `lth COMMAND: error: MESSAGE`, and exits
with the error's `exit_code` (no traceback unless `--debug`). Any other exception
is a bug and keeps its traceback.

Exit codes of every `lth` command:

| code | meaning |
| ---: | --- |
| 0 | done |
| 1 | some work failed or was left to another process (`lth status` says which) |
| 2 | bad input (config, data, paths, manifest, store): nothing was started or written |
| 3 | waiting: jobs are still out on a cluster; run the same command again when they end |
| 75 | a task stopped at a checkpoint on a signal (EX_TEMPFAIL): `lth resume` continues it |
"""

from __future__ import annotations

import errno

DONE, FAILED, BAD_INPUT, WAITING, STOPPED = 0, 1, 2, 3, 75


class LthError(Exception):
    """A failure the user can act on; its message says what is wrong and what to do."""

    exit_code = BAD_INPUT


class ConfigError(LthError, ValueError):
    """A config value that cannot run; `key` is its dotted path (`prune.rewind`)."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}")
        self.key = key


class ModelError(LthError, ValueError):
    """An unknown architecture, or one that does not fit the data."""


class DataError(LthError, ValueError):
    """An unknown dataset, or data files that are missing or malformed."""


class ManifestError(LthError, ValueError):
    """A sweep directory whose manifest this version of lth cannot use as written."""


class StoreError(LthError):
    """A feature store that is missing, damaged or of an unknown schema."""


class PriorError(LthError, ValueError):
    """A feature store that holds no tickets a store-based method can learn from."""


class ReduceError(LthError):
    """The reducer could not start, could not read one run's files, or has no room to
    write. `primary` is False on MPI ranks other than the one that reports it, so the
    message is printed once."""

    def __init__(self, message: str, primary: bool = True):
        super().__init__(message)
        self.primary = primary


class SchedulerError(LthError):
    """The cluster's scheduler refused a submission; nothing was queued."""


class LaunchError(LthError):
    """Local training ended with failed or stopped cohorts, or runs left to another
    process that holds their lock."""

    exit_code = FAILED


def user_message(error: BaseException) -> tuple[str, int] | None:
    """The one line and the exit code for an error a user can act on (an LthError, a full
    disk, a missing or unreadable path); None for anything else, which is a bug."""
    if isinstance(error, LthError):
        return str(error), error.exit_code
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f" on {error.filename}" if error.filename else ""
        return f"no space left on device{where}: free some space and run it again", FAILED
    if isinstance(error, OSError) and error.errno in (errno.ENOENT, errno.EACCES, errno.EISDIR):
        return f"{error.strerror}: {error.filename}", BAD_INPUT
    return None
