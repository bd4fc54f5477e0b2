"""A tiny real file system for disk-full tests: a tmpfs of a few hundred KB.

Mounting needs root (the CI containers run as root); elsewhere the tests that use it skip.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def tmpfs(directory: Path, size: str) -> Iterator[Path]:
    """`directory` as a tmpfs of `size` ("1m", "200k") for the block, unmounted after."""
    directory.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except OSError as err:
        pytest.skip(f"cannot run mount: {err}")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (root needed): {done.stderr.strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=True, timeout=30)


def fill(directory: Path, leave: int) -> Path:
    """A ballast file that leaves about `leave` bytes free on `directory`'s file system."""
    ballast = directory / "ballast"
    free = shutil.disk_usage(directory).free
    with open(ballast, "wb") as handle:
        handle.write(b"\1" * max(0, free - leave))
    return ballast
