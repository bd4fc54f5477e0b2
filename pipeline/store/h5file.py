"""HDF5 files of the store: damage read as one StoreError, a full disk written as one
OSError, never a traceback or a crash.

Reading: h5py reports a damaged file (one flipped byte in a header, a B-tree or a chunk) as
OSError, RuntimeError ("Link iteration failed"), KeyError, or a decoding ValueError,
depending on where the damage is; `reading(path)` turns each into a StoreError naming the
file, around the blocks that read it.

Writing: HDF5 can crash the process when it closes a file after a failed write (`lth reduce` on a
full disk ended with SIGSEGV). So the store's writers hand HDF5 a Python file object
(h5py's fileobj driver; as fast here, where compression dominates) that keeps every I/O
error from it: the first error is recorded and later writes are dropped, HDF5 closes
cleanly, and `NewFile.check` (called by the writer after each step, and by `close`) raises
the error, a full disk as OSError(ENOSPC) naming the file. From the first error on the
file's content is garbage: it is only ever a temp file, which the writer then deletes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import h5py

from pipeline.errors import StoreError
from pipeline.io import disk_full, no_space

# What h5py raises on a damaged file (IndexError: a damaged table pointing past its shards).
DAMAGE = (OSError, RuntimeError, KeyError, ValueError, IndexError)


def damaged(path: Path, error: BaseException) -> StoreError:
    text = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    reason = (text.strip().splitlines() or [type(error).__name__])[0][:200]
    return StoreError(
        f"{path}: damaged ({reason}); restore it or rebuild the store with lth reduce"
    )


@contextmanager
def reading(path: Path) -> Iterator[None]:
    """`with reading(path):` around reads of `path`: damage raises `damaged(path)`."""
    try:
        yield
    except StoreError:
        raise
    except DAMAGE as err:
        raise damaged(path, err) from err


class _Sink:
    """The unbuffered file HDF5 reads and writes through; write errors are kept, not raised."""

    def __init__(self, path: Path):
        self.raw = open(path, "w+b", buffering=0)  # noqa: SIM115 (closed by NewFile.close)
        self.error: OSError | None = None

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()

    def read(self, size: int = -1) -> bytes:
        return self.raw.read(size)

    def readinto(self, buffer) -> int:
        return self.raw.readinto(buffer)

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        if self.error is None:
            try:
                done = 0
                while done < len(view):
                    done += self.raw.write(view[done:])
            except OSError as err:
                self.error = err
        return len(view)

    def truncate(self, size: int | None = None) -> int:
        if self.error is None:
            try:
                return self.raw.truncate(size)
            except OSError as err:
                self.error = err
        return self.raw.tell() if size is None else size

    def flush(self) -> None:
        """Nothing is buffered here."""


class NewFile:
    """An HDF5 file created (or truncated) at `path` for writing, as `h5`; errors name
    `target` (the file a temp file will become), else `path`."""

    def __init__(self, path: Path, target: Path | None = None):
        self.path = Path(path)
        self.target = Path(target) if target is not None else self.path
        self._sink = _Sink(self.path)
        try:
            self.h5 = h5py.File(self._sink, "w")
        except BaseException:
            self._sink.raw.close()
            raise
        self.check()

    def check(self) -> None:
        """Raise the first I/O error of the writes so far, a full disk as OSError(ENOSPC)."""
        error = self._sink.error
        if error is None:
            return
        if disk_full(error):
            raise no_space(self.target) from error
        raise OSError(error.errno, error.strerror, str(self.target)) from error

    def close(self) -> None:
        """Close the file; raise the first I/O error of any write (the file is then garbage)."""
        if self.h5.id.valid:
            try:
                self.h5.close()
            except Exception:
                if self._sink.error is None:
                    raise
        if not self.h5.id.valid:
            self._sink.raw.close()
        self.check()

    def abandon(self) -> None:
        """Close the file after an error of the caller's own, raising nothing of its own."""
        with suppress(Exception):  # the caller's error is the one to report
            self.close()


@contextmanager
def created(path: Path, target: Path | None = None) -> Iterator[h5py.File]:
    """`with created(tmp, target) as f:` an HDF5 file written through `NewFile`, closed at
    the end (and its first I/O error raised)."""
    out = NewFile(path, target)
    try:
        yield out.h5
    except BaseException:
        out.abandon()
        raise
    out.close()
