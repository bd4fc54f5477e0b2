"""Atomic file writes and safe loading: a kill leaves either the old file or the new one."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import yaml


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(
    path: Path, write: Callable[[Any], None], binary: bool = True, durable: bool = True
) -> None:
    """Write through `write(handle)` to a temp file beside `path`, fsync, then rename.

    durable=False skips the fsyncs: the file is still replaced whole (a crash of this
    process leaves the old or the new one), but a power loss may lose the update. For
    advisory files rewritten often, such as status.json, where an fsync per write would
    stall training on a parallel file system."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w") as handle:
            write(handle)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        _fsync_dir(path.parent)


def save_tensors(path: Path, payload: dict) -> None:
    """Save a dict of tensors and plain Python values (loadable with weights_only=True)."""
    atomic_write(path, lambda handle: torch.save(payload, handle))


def load_tensors(path: Path, device: str | torch.device = "cpu") -> dict:
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
