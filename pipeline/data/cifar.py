"""CIFAR-10 and CIFAR-100 from the standard "python version" batch files.

Those files are pickles. They are read with an unpickler that admits only the
few numpy and builtin types the format uses, so a tampered file cannot run code.
A pickle has no header to check, so the check unpickles each batch (about 0.05 s
for a standard 30 MB batch) and checks its keys, the image array's shape and type,
the label count and the label range; the full read checks the same as it reads.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from pipeline.data.registry import DataFiles, DatasetSpec, Files, register, standard_digests
from pipeline.data.tensors import TensorDataset, standardized, unit_scaled
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
    def __init__(self, handle, path: Path):
        super().__init__(handle, encoding="bytes")
        self.path = path

    def find_class(self, module: str, name: str):  # noqa: ANN201
        if (module, name) not in _ALLOWED:
            raise DataError(
                f"{self.path}: refusing to load {module}.{name}; a CIFAR batch holds only "
                "numpy arrays, lists and strings"
            )
        return super().find_class(module, name)


def read_batch(path: Path) -> dict:
    """Unpickle one batch file; garbage and truncation raise DataError naming the file."""
    if not path.is_file():
        raise DataError(f"missing CIFAR batch file {path}")
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty; expected a pickled CIFAR python batch")
    try:
        with open(path, "rb") as handle:
            batch = _BatchUnpickler(handle, path).load()
    except DataError:
        raise
    except EOFError:
        raise DataError(f"{path} is truncated; expected a complete pickled CIFAR batch") from None
    except Exception as error:  # noqa: BLE001  (garbage can make the unpickler raise anything)
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        if "truncated" in reason:
            raise DataError(
                f"{path} is truncated ({reason}); expected a complete pickled CIFAR batch"
            ) from None
        raise DataError(
            f"{path} is not a pickled CIFAR python batch ({type(error).__name__}: {reason})"
        ) from None
    if not isinstance(batch, dict):
        raise DataError(
            f"{path} holds a pickled {type(batch).__name__}; expected a CIFAR batch "
            "(a dict with data and labels)"
        )
    return {key.decode() if isinstance(key, bytes) else key: value for key, value in batch.items()}


class _Layout:
    """One CIFAR variant: its folder, batch files and label key."""

    def __init__(self, folder: str, train: list[str], test: list[str], label_key: str):
        self.folder, self.train, self.test, self.label_key = folder, train, test, label_key
        self.description = (
            f"the CIFAR python batches {', '.join(train + test)} (or their folder {folder})"
        )

    def locate(self, root: Path) -> Files:
        folder = root / self.folder if (root / self.folder).is_dir() else root
        files = {name: folder / name for name in self.train + self.test}
        for path in files.values():
            if not path.is_file():
                raise DataError(f"missing CIFAR batch file {path}; expected {self.description}")
        return files

    def _batch(self, spec: DatasetSpec, path: Path, rows: int) -> tuple[np.ndarray, np.ndarray]:
        """A batch's images [rows, 3072] uint8 and labels [rows], checked."""
        batch = read_batch(path)
        width = int(np.prod(spec.input_shape))
        for key in ("data", self.label_key):
            if key not in batch:
                raise DataError(
                    f"{path} lacks the key {key!r} (has {sorted(map(str, batch))}); "
                    f"expected a {spec.name} python batch"
                )
        images = batch["data"]
        if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
            kind = getattr(images, "dtype", type(images).__name__)
            raise DataError(f"{path}: data is {kind}; expected a uint8 array [{rows}, {width}]")
        if images.shape != (rows, width):
            raise DataError(
                f"{path}: data has shape {images.shape}; expected ({rows}, {width}) "
                f"({rows} images of {'x'.join(map(str, spec.input_shape))} bytes)"
            )
        try:
            labels = np.asarray(batch[self.label_key])
            found = f"{labels.dtype} of shape {labels.shape}"
        except (ValueError, TypeError, OverflowError):  # ragged, or not numbers
            labels, found = None, "not an array"
        if labels is None or labels.shape != (rows,) or labels.dtype.kind not in "iu":
            raise DataError(f"{path}: {self.label_key} is {found}; expected {rows} integer labels")
        bad = np.flatnonzero((labels < 0) | (labels >= spec.num_classes))
        if bad.size:
            raise DataError(
                f"{path} holds label {int(labels[bad[0]])} (at index {int(bad[0])}); expected "
                f"labels 0..{spec.num_classes - 1} ({spec.name} has {spec.num_classes} classes)"
            )
        return images, labels.astype(np.int64)

    def _batches(self, spec: DatasetSpec, files: Files, train: bool):
        """Each batch of the split, checked, one at a time."""
        names = self.train if train else self.test
        rows = (spec.train_size if train else spec.test_size) // len(names)
        for name in names:
            yield self._batch(spec, files[name], rows)

    def check(self, spec: DatasetSpec, files: Files) -> None:
        for train in (True, False):
            for _ in self._batches(spec, files, train):
                pass

    def read(self, spec: DatasetSpec, files: Files) -> TensorDataset:
        splits = []
        for train in (True, False):
            images, labels = zip(*self._batches(spec, files, train))
            splits += [unit_scaled(np.concatenate(images).reshape(-1, *spec.input_shape))]
            splits += [np.concatenate(labels)]
        return standardized(*splits, spec.num_classes)

    def data_files(self) -> DataFiles:
        return DataFiles(self.description, self.locate, self.check, self.read)


CIFAR10_FILES = _Layout(
    "cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "labels"
).data_files()
CIFAR100_FILES = _Layout("cifar-100-python", ["train"], ["test"], "fine_labels").data_files()

# md5 of the extracted batch files, as torchvision lists them (a batch is not
# compressed, so this is also the md5 of its content).
_CIFAR10_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}
_CIFAR100_MD5 = {
    "train": "16019d7e3df5f24257cddd939b257f8d",
    "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
}


register(
    DatasetSpec(
        "cifar10",
        50000,
        10000,
        (3, 32, 32),
        10,
        files=CIFAR10_FILES,
        standard=standard_digests(_CIFAR10_MD5),
    )
)
register(
    DatasetSpec(
        "cifar100",
        50000,
        10000,
        (3, 32, 32),
        100,
        files=CIFAR100_FILES,
        standard=standard_digests(_CIFAR100_MD5),
    )
)
