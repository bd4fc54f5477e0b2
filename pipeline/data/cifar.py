"""CIFAR-10 and CIFAR-100 from the standard "python version" batch files.

Those files are pickles. They are read with an unpickler that admits only the
few numpy and builtin types the format uses, so a tampered file cannot run code.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from pipeline.data.registry import DatasetSpec, register
from pipeline.data.tensors import TensorDataset, standardized
from pipeline.errors import DataError

_ALLOWED = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),
}


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):  # noqa: ANN201
        if (module, name) not in _ALLOWED:
            raise DataError(f"refusing to load {module}.{name} from a CIFAR batch file")
        return super().find_class(module, name)


def read_batch(path: Path) -> dict:
    if not path.is_file():
        raise DataError(f"missing CIFAR batch file {path}")
    with open(path, "rb") as handle:
        batch = _BatchUnpickler(handle, encoding="bytes").load()
    return {key.decode() if isinstance(key, bytes) else key: value for key, value in batch.items()}


def _stack(batches: list[dict], label_key: str) -> tuple[np.ndarray, np.ndarray]:
    images = np.concatenate([np.asarray(b["data"], dtype=np.uint8) for b in batches])
    labels = np.concatenate([np.asarray(b[label_key], dtype=np.int64) for b in batches])
    return images.reshape(-1, 3, 32, 32) / 255.0, labels


def _load(root: Path, train: list[str], test: list[str], label_key: str, classes: int):
    folder = root
    for sub in ("cifar-10-batches-py", "cifar-100-python"):
        if (root / sub).is_dir():
            folder = root / sub
    x_train, y_train = _stack([read_batch(folder / n) for n in train], label_key)
    x_test, y_test = _stack([read_batch(folder / n) for n in test], label_key)
    return standardized(x_train, y_train, x_test, y_test, classes)


def load_cifar10(root: Path) -> TensorDataset:
    names = [f"data_batch_{i}" for i in range(1, 6)]
    return _load(root, names, ["test_batch"], "labels", 10)


def load_cifar100(root: Path) -> TensorDataset:
    return _load(root, ["train"], ["test"], "fine_labels", 100)


register(
    DatasetSpec(
        "cifar10",
        load_cifar10,
        50000,
        10000,
        (3, 32, 32),
        10,
        files="the CIFAR-10 python batches data_batch_1..5 and test_batch "
        "(or their folder cifar-10-batches-py)",
    )
)
register(
    DatasetSpec(
        "cifar100",
        load_cifar100,
        50000,
        10000,
        (3, 32, 32),
        100,
        files="the CIFAR-100 python files train and test (or their folder cifar-100-python)",
    )
)
