"""Atomic file writes and safe loading: a kill leaves either the old file or the new one.

torch is imported only by the functions that need it, so modules that only write files
(the feature store, the CLI) do not pay for it.
"""

from __future__ import annotations

import json
import os
import tempfile
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


@contextmanager
def atomic_path(path: Path, durable: bool = True) -> Iterator[Path]:
    """A temp path beside `path`, for writers that open files by name (h5py).

    When the block ends without error the temp file is fsynced and renamed over `path`
    (and the directory fsynced); on any error it is removed and `path` is untouched.
    durable=False skips the fsyncs (see `atomic_write`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if durable:
            fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
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
