"""Advisory locks: at most one process trains a run at a time.

A lock is `flock` on a lock file beside what it guards. The holder writes its name
into it ("pid 12 on node7") for messages, in place: an atomic replace would give the
next process another file to lock. The kernel (or the NFS lock manager) releases the
lock when the holder exits, however it ends: kill -9, a cancelled job, a requeue.
Nothing is ever stale, so no one has to clean up.

A file system that does not support flock (Lustre mounted without `-o flock`) answers
with an error; a run's lock is then granted, so training goes on as it did before locks,
while a `required` lock (the feature store's, whose writers must never overlap) raises it.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from pathlib import Path

UNSUPPORTED = {errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL}


class Lock:
    """A non-blocking exclusive lock on `path` (created if missing)."""

    def __init__(self, path: Path, required: bool = False):
        self.path = Path(path)
        self.required = required
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
            if self.required or error.errno not in UNSUPPORTED:
                os.close(fd)
                raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        self._fd = fd
        return True

    def held_elsewhere(self) -> bool:
        """Whether another process holds the lock now. A probe: it takes the lock for an
        instant if free, writes nothing, and creates no lock file."""
        if self._fd is not None:
            return False
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError as error:
            if error.errno in UNSUPPORTED:
                return False
            raise
        finally:
            os.close(fd)
        return False

    def holder(self) -> str:
        """Who holds (or last held) the lock, as it wrote itself: "pid 12 on node7"."""
        try:
            text = self.path.read_text(errors="replace").strip()
        except OSError:
            text = ""
        return text or "another process"

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor releases the flock
            self._fd = None

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
