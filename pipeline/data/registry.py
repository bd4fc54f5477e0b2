"""The dataset registry: adding a dataset is one registered spec.

A dataset is either generated (MNIST-1D, synthetic: `generate`, no directory) or read
from files in `data.root` (`files`: how the files are found, checked and read). File
datasets are checked before anything is written or submitted (`DatasetSpec.check`);
the check is remembered per (dataset, root, the files' sizes and mtimes), so a sweep
checks each distinct data directory once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.data.tensors import TensorDataset
from pipeline.errors import DataError

Files = dict[str, Path]  # role (the file's standard name) -> the file actually read


@dataclass(frozen=True)
class DataFiles:
    """A file format: where its files are, the cheap check, and the full read.

    `check` reads headers and sizes where the format allows and raises DataError naming
    the file, what is wrong and what is expected; `read` checks what it reads as well.
    """

    description: str  # what a user must put in data.root, for error messages
    locate: Callable[[Path], Files]  # DataError naming a missing file
    check: Callable[[DatasetSpec, Files], None]
    read: Callable[[DatasetSpec, Files], TensorDataset]


@dataclass(frozen=True, eq=False)
class DatasetSpec:
    name: str
    train_size: int
    test_size: int
    input_shape: tuple[int, ...]
    num_classes: int
    generate: Callable[[], TensorDataset] | None = None
    files: DataFiles | None = None
    default_root: str | None = None
    # role -> digests of the published files ("md5:<hex>" of the file as stored,
    # "sha256:<hex>" of its uncompressed content); see pipeline/data/fingerprint.py
    standard: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @property
    def needs_root(self) -> bool:
        return self.files is not None

    def resolve_root(self, root: str | None) -> Path | None:
        if self.files is None:
            return None
        chosen = root or self.default_root
        if chosen is None:
            raise DataError(
                f"dataset {self.name!r} needs data.root: a directory holding "
                f"{self.files.description}"
            )
        path = Path(chosen).expanduser()
        if not path.is_dir():
            raise DataError(
                f"data.root={str(path)!r} is not a directory; dataset {self.name!r} "
                f"expects {self.files.description} there"
            )
        return path

    def locate(self, root: str | None) -> Files | None:
        """The files this dataset reads from `root` (None for generated data)."""
        path = self.resolve_root(root)
        return None if path is None else self.files.locate(path)

    def check(self, root: str | None) -> Path | None:
        """Check the data files in `root` (or the default root) before any work.

        Returns the root (None for generated data); raises DataError with one line
        naming the file, what is wrong and what is expected."""
        path = self.resolve_root(root)
        if path is None:
            return None
        files = self.files.locate(path)
        key = (self.name, str(path.resolve()), _stats(files))
        if key not in _CHECKED:
            self.files.check(self, files)
            _CHECKED.add(key)
        return path

    def load(self, root: str | None) -> TensorDataset:
        if self.files is None:
            return self.generate()
        return self.files.read(self, self.files.locate(self.resolve_root(root)))


_CHECKED: set[tuple] = set()


def _stats(files: Files) -> tuple:
    out = []
    for role, path in sorted(files.items()):
        stat = path.stat()
        out.append((role, str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(out)


def standard_digests(
    md5: dict[str, str], sha256: dict[str, str] | None = None
) -> dict[str, frozenset[str]]:
    """role -> the digests that identify the published file: the md5 of the file as
    distributed and, where known, the sha256 of its uncompressed content."""
    sha256 = sha256 or {}
    return {
        role: frozenset(
            {f"md5:{md5[role]}"} | ({f"sha256:{sha256[role]}"} if role in sha256 else set())
        )
        for role in md5
    }


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
    return dataset_spec(name).load(root)
