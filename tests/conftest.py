"""Shared fixtures: tiny real sweeps on MNIST-1D, trained on the CPU with one thread."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)
