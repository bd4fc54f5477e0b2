"""`lth reduce RUNS_DIR STORE`: turn run directories into the HDF5 feature store.

Rank 0 plans (`plan`: the complete levels the store lacks), splits the runs over the ranks
(`balance`), every rank computes records, masks and features of its runs (`run`), the results
are gathered to rank 0 (`transport`: mpi4py pickle-5 with out-of-band buffers), and rank 0
writes them with one atomic, incremental `pipeline.store.write_store`. Without mpiexec, or
without mpi4py, the same code runs as one process.
"""

from .reducer import Summary, reduce

__all__ = ["Summary", "reduce"]
