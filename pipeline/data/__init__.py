"""Datasets as device-resident tensors, and per-run batching on the device."""

from pipeline.data import cifar, idx, mnist1d, synthetic  # noqa: F401  (registers datasets)
from pipeline.data.fingerprint import fingerprint
from pipeline.data.registry import DATASETS, DatasetSpec, dataset_spec, load_dataset
from pipeline.data.tensors import TensorDataset

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "TensorDataset",
    "dataset_spec",
    "fingerprint",
    "load_dataset",
]
