"""`lth reduce RUNS_DIR STORE`: turn run directories into the HDF5 feature store.

Rank 0 takes the store's write lock and plans (`plan`: the complete levels the store lacks,
from the store's tables), splits the runs over the ranks (`balance`), every rank computes
records, masks and features of its runs one run at a time (`run`) and streams them into its
own shard (`output`); only small metadata travels (`transport`), and rank 0 commits every
rank's shard with one atomic index replacement. Without mpiexec, or without mpi4py, the
same code runs as one process.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Summary", "reduce"]


def __getattr__(name: str) -> Any:
    """The reducer is imported on first use, so `lth --help` (which registers `reduce`
    from `pipeline.commands.reduce`) does not load torch."""
    if name in __all__:
        from . import reducer

        return getattr(reducer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
