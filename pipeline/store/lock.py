"""One writer at a time: the store's advisory lock (`pipeline.locks.Lock`) on a file next
to it, required (a file system without flock is an error here, not a free pass).

The kernel releases the lock when the holder exits or is killed, so a crashed writer
never leaves the store locked. A second writer waits, says so once, and gives up after
`timeout` seconds with a StoreError.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from types import TracebackType

from pipeline.errors import StoreError
from pipeline.locks import Lock

from .schema import LOCK_SUFFIX

DEFAULT_TIMEOUT = 3600.0
POLL_SECONDS = 0.2


def lock_path(store: Path) -> Path:
    return store.with_name(store.name + LOCK_SUFFIX)


class StoreLock:
    """`with StoreLock(store, timeout):` holds the store's write lock for the block."""

    def __init__(self, store: str | os.PathLike, timeout: float = DEFAULT_TIMEOUT):
        self.lock = Lock(lock_path(Path(store)), required=True)
        self.timeout = timeout

    def _acquire(self) -> bool:
        try:
            return self.lock.acquire()
        except OSError as err:  # a file system without flock (some NFS/Lustre mounts)
            raise StoreError(f"{self.lock.path}: cannot lock ({err.strerror})") from err

    def __enter__(self) -> StoreLock:
        deadline = time.monotonic() + self.timeout
        told = False
        while not self._acquire():
            if time.monotonic() >= deadline:
                raise StoreError(
                    f"{self.lock.path.with_suffix('')}: still locked by {self.lock.holder()} "
                    f"after {self.timeout:g} s; try again when that writer ends"
                )
            if not told:
                print(
                    f"waiting for the store lock {self.lock.path} (held by "
                    f"{self.lock.holder()}; timeout {self.timeout:g} s)",
                    file=sys.stderr,
                    flush=True,
                )
                told = True
            time.sleep(POLL_SECONDS)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.lock.release()
