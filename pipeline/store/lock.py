"""One writer at a time: an advisory lock on a file next to the store.

fcntl.flock is released by the kernel when the holder exits or is killed, so a crashed
writer never leaves the store locked. A second writer waits, says so once, and gives up
after `timeout` seconds with a StoreError.
"""

from __future__ import annotations

import fcntl
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType

from pipeline.errors import StoreError

from .schema import LOCK_SUFFIX

DEFAULT_TIMEOUT = 3600.0
POLL_SECONDS = 0.2


def lock_path(store: Path) -> Path:
    return store.with_name(store.name + LOCK_SUFFIX)


class StoreLock:
    """`with StoreLock(store, timeout):` holds the store's write lock for the block."""

    def __init__(self, store: str | os.PathLike, timeout: float = DEFAULT_TIMEOUT):
        self.path = lock_path(Path(store))
        self.timeout = timeout
        self._fd: int | None = None

    def __enter__(self) -> StoreLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                pass
            except OSError as err:  # a file system without flock (some NFS/Lustre mounts)
                os.close(fd)
                raise StoreError(f"{self.path}: cannot lock ({err.strerror})") from err
            if time.monotonic() >= deadline:
                holder = _holder(fd)
                os.close(fd)
                raise StoreError(
                    f"{self.path.with_suffix('')}: still locked by {holder} after "
                    f"{self.timeout:g} s; try again when that writer ends"
                )
            if not told:
                print(
                    f"waiting for the store lock {self.path} (held by {_holder(fd)}; "
                    f"timeout {self.timeout:g} s)",
                    file=sys.stderr,
                    flush=True,
                )
                told = True
            time.sleep(POLL_SECONDS)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


def _holder(fd: int) -> str:
    text = os.pread(fd, 200, 0).decode(errors="replace").strip()
    return text or "another writer"
