"""Disk space for a reduce: checked before anything is written, against an upper bound of
what the reduce writes, so a full disk stops it in one line before any work.

The bound: every new level's masks packed (compression only shrinks them), a feature row per
layer and level at FEATURE_COLUMNS columns of 8 bytes, LEVEL_BYTES of other rows per level,
SHARD_BYTES of HDF5 metadata per rank's shard and INDEX_BYTES per shard the new index names
(measured: a 14-level MNIST-1D shard holds about 0.3 MB of metadata, its index 0.07 MB).
A disk that fills anyway while the reduce writes (another process filling it) ends the
reduce with the same line, and nothing of it is committed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from pipeline.errors import ReduceError
from pipeline.io import free_bytes

from .plan import RunTask
from .run import graph

FEATURE_COLUMNS = 128  # the catalogue writes about 70 features per row
LEVEL_BYTES = 4096  # its levels, curve and mask-index rows
SHARD_BYTES = 1 << 19
INDEX_BYTES = 1 << 17


def needed_bytes(tasks: Sequence[RunTask], shards: int, ranks: int) -> int:
    """An upper bound of the bytes a reduce of `tasks` by `ranks` ranks writes into a store
    of `shards` shards."""
    total = ranks * SHARD_BYTES + (shards + ranks) * INDEX_BYTES
    for task in tasks:
        layers = len(graph(task.model, task.dataset))
        masks = math.ceil(task.weights / 8) + layers
        rows = (layers + 1) * FEATURE_COLUMNS * 8
        total += len(task.levels) * (masks + LEVEL_BYTES) + task.units * rows
    return total


def no_space(store: Path, needed: int | None = None, primary: bool = True) -> ReduceError:
    """The one line for a store whose file system lacks the room for a reduce (`needed`
    bytes, when known)."""
    directory = store.absolute().parent
    amount = f", {math.ceil(needed / 1e6)} MB needed" if needed is not None else ""
    return ReduceError(
        f"no space left on device on {directory}{amount} "
        f"({free_bytes(directory) / 1e6:.1f} MB free); free some space and run it again",
        primary=primary,
    )


def check_space(store: Path, needed: int) -> None:
    """Raise `no_space` unless the store's file system has `needed` bytes free."""
    if free_bytes(store.absolute().parent) < needed:
        raise no_space(store, needed)
