"""The dataset registry: adding a dataset is one decorated loader."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.data.tensors import TensorDataset
from pipeline.errors import DataError


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    loader: Callable[[Path | None], TensorDataset]
    train_size: int
    test_size: int
    input_shape: tuple[int, ...]
    num_classes: int
    files: str = ""  # what a user must put in `root`, for error messages
    default_root: str | None = None  # None: the data needs no directory

    @property
    def needs_root(self) -> bool:
        return bool(self.files)

    def resolve_root(self, root: str | None) -> Path | None:
        if not self.needs_root:
            return None
        chosen = root or self.default_root
        if chosen is None:
            raise DataError(
                f"dataset {self.name!r} needs data.root: a directory holding {self.files}"
            )
        path = Path(chosen).expanduser()
        if not path.is_dir():
            raise DataError(
                f"data.root={str(path)!r} is not a directory; dataset {self.name!r} "
                f"expects {self.files} there"
            )
        return path


DATASETS: dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec) -> DatasetSpec:
    DATASETS[spec.name] = spec
    return spec


def dataset_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}") from None


def load_dataset(name: str, root: str | None = None) -> TensorDataset:
    spec = dataset_spec(name)
    return spec.loader(spec.resolve_root(root))
