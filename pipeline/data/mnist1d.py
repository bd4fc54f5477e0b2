"""MNIST-1D (Greydanus 2020), generated locally and deterministically."""

from __future__ import annotations

from functools import lru_cache

from pipeline.data.registry import DatasetSpec, register
from pipeline.data.tensors import TensorDataset, standardized


@lru_cache(maxsize=2)
def _generate(shuffle_seq: bool) -> TensorDataset:
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()  # the paper's defaults: 4000 train / 1000 test, length 40, seed 42
    args.shuffle_seq = shuffle_seq
    data = make_dataset(args)
    return standardized(
        data["x"][:, None, :], data["y"], data["x_test"][:, None, :], data["y_test"], 10
    )


register(DatasetSpec("mnist1d", 4000, 1000, (1, 40), 10, generate=lambda: _generate(False)))
# The same signals with the spatial positions permuted by one fixed permutation: the
# control for the claim that tickets exploit local structure.
register(DatasetSpec("mnist1d_shuffled", 4000, 1000, (1, 40), 10, generate=lambda: _generate(True)))
