"""Atomic file writes and safe loading: a kill leaves either the old file or the new one.

A write goes to a temp file `.NAME.XXXXXXXX.tmp` beside its target, created with the
process umask (group-readable in a group-shared project directory), then renamed over the
target. Temp files that killed writes left behind are removed by the next atomic write to
the same directory, once they are ORPHAN_SECONDS old (see `remove_stale_temps`). A write
that fails because the disk (or the quota) is full raises OSError(ENOSPC) naming the target,
whatever the writing library made of the error.

torch is imported only by the functions that need it, so modules that only write files
(the feature store, the CLI) do not pay for it.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    import torch


def fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


# A live writer keeps writing its temp file (its mtime moves) until it renames it, within
# seconds for every file lth writes; one untouched for this long belongs to a killed write.
# The wide margin covers a job suspended mid-write and clocks that differ between the nodes
# sharing a directory. (Whether another node still holds a file open cannot be asked.)
ORPHAN_SECONDS = 600.0
TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")  # also tempfile.mkstemp's names
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789_"
FULL = (errno.ENOSPC, errno.EDQUOT)


def remove_stale_temps(directory: Path, older_than: float = ORPHAN_SECONDS) -> list[Path]:
    """Delete the temp files of atomic writes in `directory` untouched for `older_than`
    seconds (killed writes); the paths removed."""
    removed = []
    cutoff = time.time() - older_than
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        if not TEMP_NAME.match(entry.name):
            continue
        try:
            if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:  # gone already (another cleaner), or not ours to delete
            continue
    return removed


def _create_temp(path: Path) -> Path:
    """A new empty temp file beside `path`, mode 0666 less the umask (mkstemp's is 0600)."""
    for _ in range(100):
        suffix = "".join(secrets.choice(_ALPHABET) for _ in range(8))
        tmp = path.with_name(f".{path.name}.{suffix}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(errno.EEXIST, "no free temp file name", str(path))


def disk_full(error: BaseException) -> bool:
    """Whether `error`, or an error it was raised from or during, is a full disk or quota
    (torch reports one as "unexpected pos" with the OSError in its context)."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, OSError) and error.errno in FULL:
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def no_space(path: Path) -> OSError:
    """OSError(ENOSPC) naming `path`, for `lth`'s one line "no space left on device on PATH"."""
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def free_bytes(path: Path) -> int:
    """Free bytes for an unprivileged user on the file system that holds (or will hold) `path`."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


@contextmanager
def atomic_path(path: Path, durable: bool = True) -> Iterator[Path]:
    """A temp path beside `path`, for writers that open files by name (h5py).

    When the block ends without error the temp file is fsynced and renamed over `path`
    (and the directory fsynced); on any error it is removed and `path` is untouched (a full
    disk raises OSError(ENOSPC) naming `path`). durable=False skips the fsyncs (see
    `atomic_write`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path.parent)
    tmp = _create_temp(path)
    try:
        yield tmp
        if durable:
            fsync_file(tmp)
        os.replace(tmp, path)
    except Exception as error:
        tmp.unlink(missing_ok=True)
        if disk_full(error):
            raise no_space(path) from error
        raise
    except BaseException:  # an interrupt, or the generator closed unfinished
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def atomic_write(
    path: Path, write: Callable[[Any], None], binary: bool = True, durable: bool = True
) -> None:
    """Write through `write(handle)` to a temp file beside `path`, fsync, then rename.

    durable=False skips the fsyncs: the file is still replaced whole (a crash of this
    process leaves the old or the new one), but a power loss may lose the update. For
    advisory files rewritten often, such as status.json, where an fsync per write would
    stall training on a parallel file system."""
    with atomic_path(path, durable=durable) as tmp, open(tmp, "wb" if binary else "w") as handle:
        write(handle)


def save_tensors(path: Path, payload: dict) -> None:
    """Save a dict of tensors and plain Python values (loadable with weights_only=True)."""
    import torch

    atomic_write(path, lambda handle: torch.save(payload, handle))


def load_tensors(path: Path, device: str | torch.device = "cpu") -> dict:
    import torch

    return torch.load(path, map_location=device, weights_only=True)


def save_json(path: Path, payload: Any, durable: bool = True) -> None:
    atomic_write(
        path, lambda handle: json.dump(payload, handle, indent=1), binary=False, durable=durable
    )


def load_json(path: Path) -> Any:
    with open(path) as handle:
        return json.load(handle)


def save_yaml(path: Path, payload: Any) -> None:
    atomic_write(
        path, lambda handle: yaml.safe_dump(payload, handle, sort_keys=False), binary=False
    )


def load_yaml(path: Path) -> Any:
    with open(path) as handle:
        return yaml.safe_load(handle)
