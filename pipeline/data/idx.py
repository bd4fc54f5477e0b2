"""MNIST and Fashion-MNIST from IDX files (optionally gzipped), as LeCun distributes them."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from pipeline.data.registry import DatasetSpec, register
from pipeline.data.tensors import TensorDataset, standardized
from pipeline.errors import DataError

_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
_DESCRIPTION = (
    "the IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte, "
    "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (each optionally .gz)"
)
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """Parse one IDX file: magic (0, 0, dtype code, ndim), big-endian dims, then the data."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise DataError(f"{path} is not an IDX file")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4).astype(int)
    data = np.frombuffer(raw, dtype=_DTYPES[raw[2]], offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DataError(f"{path}: header says {tuple(dims)} but holds {data.size} values")
    return data.reshape(tuple(dims))


def _find(root: Path, stem: str) -> Path:
    for candidate in (root / stem, root / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise DataError(f"{root} lacks {stem} (or {stem}.gz); expected {_DESCRIPTION}")


def load_idx_dir(root: Path) -> TensorDataset:
    arrays = {key: read_idx(_find(root, stem)) for key, stem in _FILES.items()}
    return standardized(
        arrays["x_train"][:, None] / 255.0,
        arrays["y_train"],
        arrays["x_test"][:, None] / 255.0,
        arrays["y_test"],
        10,
    )


register(DatasetSpec("mnist", load_idx_dir, 60000, 10000, (1, 28, 28), 10, files=_DESCRIPTION))
register(
    DatasetSpec(
        "fashion_mnist",
        load_idx_dir,
        60000,
        10000,
        (1, 28, 28),
        10,
        files=_DESCRIPTION,
        default_root="/usr/share/datasets/fashion-mnist",
    )
)
