"""Advisory locks: at most one process trains a run at a time.

A lock is `flock` on a lock file that is created once and never written. The kernel
(or the NFS lock manager) releases it when the holder exits, however it ends: kill -9,
a cancelled job, a requeue. Nothing is ever stale, so no one has to clean up.

A file system that does not support flock (Lustre mounted without `-o flock`) answers
with an error; the lock is then granted, so training goes on as it did before locks.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

UNSUPPORTED = {errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL}


class Lock:
    """A non-blocking exclusive lock on `path` (created if missing)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self) -> bool:
        """True if this process now holds the lock; False if another process holds it."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except OSError as error:
            if error.errno not in UNSUPPORTED:
                os.close(fd)
                raise
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor releases the flock
            self._fd = None

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
