"""Shared fixtures: tiny real sweeps on MNIST-1D, trained on the CPU with one thread."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def ticket_store(tmp_path_factory):
    """A real feature store of two IMP tickets, shared by the transfer and prior tests."""
    from sweep_helpers import TICKETS

    from pipeline.cli import main
    from pipeline.reduce.reducer import reduce

    out = tmp_path_factory.mktemp("tickets")
    assert main(["sweep", *TICKETS, "seed=0,1", f"out={out}", "sweep.name=t"]) == 0
    reduce(out / "runs", out / "store.h5")
    return out / "store.h5"
