"""How ranks talk: mpi4py with pickle-5 out-of-band buffers, or one process without MPI.

Only small metadata travels: tasks out, progress notes, and each rank's shard entry and
counts back (masks and features go from each rank straight into its own shard file).
`mpi4py.util.pkl5` keeps even large messages out of the 2 GiB limit. Parallel HDF5 is not
needed: every rank writes its own file.
"""

from __future__ import annotations

from typing import Any, Protocol

PROGRESS = 17  # message tag of "n levels done" notes to rank 0


class Comm(Protocol):
    rank: int
    size: int
    path: str  # which transport ran, for the summary

    def scatter(self, shares: list[Any] | None) -> Any: ...

    def gather(self, obj: Any) -> list[Any] | None: ...

    def allgather(self, obj: Any) -> list[Any]: ...

    def notify(self, done: int) -> None: ...

    def poll(self) -> int: ...

    def wait(self) -> int: ...

    def abort(self) -> None: ...


class Serial:
    """One process: rank 0 of 1."""

    rank, size, path = 0, 1, "single process (no MPI)"

    def scatter(self, shares: list[Any] | None) -> Any:
        return shares[0]

    def gather(self, obj: Any) -> list[Any]:
        return [obj]

    def allgather(self, obj: Any) -> list[Any]:
        return [obj]

    def notify(self, done: int) -> None:
        raise RuntimeError("rank 0 counts its own progress")

    def poll(self) -> int:
        return 0

    def wait(self) -> int:
        raise RuntimeError("no other rank to wait for")

    def abort(self) -> None:
        """Nothing to tear down: the exception propagates."""


class Mpi:
    """COMM_WORLD through `mpi4py.util.pkl5`; workers' progress notes are small isends."""

    def __init__(self, comm: Any):
        self.comm = comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.path = f"{self.size} MPI ranks, a shard per rank"
        self._sent: list[Any] = []

    def scatter(self, shares: list[Any] | None) -> Any:
        return self.comm.scatter(shares, root=0)

    def gather(self, obj: Any) -> list[Any] | None:
        self._flush()
        return self.comm.gather(obj, root=0)

    def allgather(self, obj: Any) -> list[Any]:
        self._flush()
        return self.comm.allgather(obj)

    def _flush(self) -> None:
        """Complete the progress notes sent so far before a collective."""
        from mpi4py.util import pkl5

        pkl5.Request.waitall(self._sent)
        self._sent.clear()

    def notify(self, done: int) -> None:
        self._sent.append(self.comm.isend(done, 0, tag=PROGRESS))

    def poll(self) -> int:
        """Levels other ranks reported since the last call, without blocking."""
        total = 0
        while (message := self.comm.improbe(tag=PROGRESS)) is not None:
            total += message.recv()
        return total

    def wait(self) -> int:
        return self.comm.recv(tag=PROGRESS)

    def abort(self) -> None:
        self.comm.Abort(1)


def world() -> Comm:
    """MPI when launched on several ranks with mpi4py installed, else one process."""
    try:
        from mpi4py import MPI
    except ImportError:
        return Serial()
    if MPI.COMM_WORLD.Get_size() == 1:
        return Serial()
    from mpi4py.util import pkl5

    return Mpi(pkl5.Intracomm(MPI.COMM_WORLD))
