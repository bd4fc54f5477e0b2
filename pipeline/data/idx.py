"""MNIST and Fashion-MNIST from IDX files (optionally gzipped), as LeCun distributes them.

An IDX file is 4 magic bytes (0, 0, type code, number of dimensions), the dimensions
as big-endian uint32, then the values. The check reads only that header and the file's
size: for a plain file the size must be header + values exactly; for a gzipped one
the gzip trailer's ISIZE (the uncompressed size mod 2**32) must match, and only when
it does not is the file decompressed, to tell a truncated gzip from a wrong size.
Label files (60 kB) are read whole to check the label range.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from pipeline.data.registry import DataFiles, DatasetSpec, Files, register, standard_digests
from pipeline.data.tensors import TensorDataset, standardized, unit_scaled
from pipeline.errors import DataError

_ROLES = {  # role -> (split, images or labels)
    "train-images-idx3-ubyte": ("train", "images"),
    "train-labels-idx1-ubyte": ("train", "labels"),
    "t10k-images-idx3-ubyte": ("test", "images"),
    "t10k-labels-idx1-ubyte": ("test", "labels"),
}
_DESCRIPTION = (
    "the IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte, "
    "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (each optionally .gz)"
)
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_UBYTE = 0x08  # MNIST-format images and labels are unsigned bytes
_GZIP_ERRORS = (EOFError, OSError, zlib.error)  # gzip.BadGzipFile is an OSError


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_idx(path: Path) -> np.ndarray:
    """Parse one IDX file: magic (0, 0, dtype code, ndim), big-endian dims, then the data."""
    try:
        with _open(path) as handle:
            raw = handle.read()
    except _GZIP_ERRORS as error:
        raise DataError(f"{path} is not a readable gzip file ({error})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise DataError(f"{path} is not an IDX file")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise DataError(f"{path} is truncated inside its IDX header")
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4).astype(int)
    data = np.frombuffer(raw, dtype=_DTYPES[raw[2]], offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DataError(f"{path}: header says {tuple(dims)} but holds {data.size} values")
    return data.reshape(tuple(dims))


def locate(root: Path) -> Files:
    """The plain file if present, else the .gz one, for each of the four roles."""
    files = {}
    for stem in _ROLES:
        for candidate in (root / stem, root / f"{stem}.gz"):
            if candidate.is_file():
                files[stem] = candidate
                break
        else:
            raise DataError(f"{root} lacks {stem} (or {stem}.gz); expected {_DESCRIPTION}")
    return files


def _expected_shape(spec: DatasetSpec, role: str) -> tuple[int, ...]:
    split, kind = _ROLES[role]
    count = spec.train_size if split == "train" else spec.test_size
    return (count, *spec.input_shape[1:]) if kind == "images" else (count,)


def _what(spec: DatasetSpec, role: str) -> str:
    split, kind = _ROLES[role]
    count = spec.train_size if split == "train" else spec.test_size
    size = "x".join(map(str, spec.input_shape[1:]))
    thing = f"{kind} of {size} bytes" if kind == "images" else "labels as bytes"
    return f"{spec.name}'s {count} {'training' if split == 'train' else 'test'} {thing}"


def _header(path: Path, what: str) -> tuple[int, ...]:
    """The dimensions, read from the first bytes only."""
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty; expected an IDX file of {what}")
    if path.suffix == ".gz":
        with open(path, "rb") as handle:
            if handle.read(2) != b"\x1f\x8b":
                raise DataError(f"{path} is not a gzip file; expected a gzipped IDX file of {what}")
    try:
        with _open(path) as handle:
            head = handle.read(4)
            ndim = head[3] if len(head) == 4 else 0
            head += handle.read(4 * ndim)
    except _GZIP_ERRORS as error:
        raise DataError(f"{path} is not a readable gzip file ({error}); expected {what}") from None
    if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _DTYPES:
        raise DataError(
            f"{path} is not an IDX file (it starts {head[:4].hex(' ')}); expected the IDX "
            f"magic 00 00 08 and {what}"
        )
    if head[2] != _UBYTE:
        raise DataError(
            f"{path} holds IDX type 0x{head[2]:02x}; expected 0x08 (unsigned bytes) for {what}"
        )
    if len(head) < 4 + 4 * ndim:
        raise DataError(f"{path} is truncated inside its IDX header; expected {what}")
    return struct.unpack(f">{ndim}I", head[4:])


def _gzip_isize(path: Path) -> int:
    """The uncompressed size mod 2**32 that the gzip trailer records."""
    with open(path, "rb") as handle:
        handle.seek(-4, 2)
        return struct.unpack("<I", handle.read(4))[0]


def _decompressed_size(path: Path, what: str) -> int:
    """Decompress to count the bytes; a truncated gzip fails here, naming the file."""
    size = 0
    try:
        with gzip.open(path, "rb") as handle:
            while chunk := handle.read(1 << 22):
                size += len(chunk)
    except _GZIP_ERRORS as error:
        raise DataError(
            f"{path} is a truncated or damaged gzip file ({error}); expected a complete "
            f"gzipped IDX file of {what}"
        ) from None
    return size


def _check_size(path: Path, shape: tuple[int, ...], what: str) -> None:
    needed = 4 + 4 * len(shape) + math.prod(shape)
    if path.suffix == ".gz":
        if _gzip_isize(path) == needed % 2**32:
            return
        actual = _decompressed_size(path, what)
    else:
        actual = path.stat().st_size
    if actual < needed:
        raise DataError(
            f"{path} is truncated: {actual} bytes of IDX data where its header "
            f"{shape} needs {needed}; expected {what}"
        )
    if actual > needed:
        raise DataError(
            f"{path} has {actual - needed} bytes after the {needed} its header {shape} "
            f"describes; expected {what}"
        )


def _check_labels(spec: DatasetSpec, path: Path) -> None:
    labels = read_idx(path)
    bad = np.flatnonzero(labels >= spec.num_classes)
    if bad.size:
        raise DataError(
            f"{path} holds label {int(labels[bad[0]])} (at index {int(bad[0])}); expected "
            f"labels 0..{spec.num_classes - 1} ({spec.name} has {spec.num_classes} classes)"
        )


def check(spec: DatasetSpec, files: Files) -> None:
    """Headers, shapes and sizes of all four files first, then the label range."""
    for role, path in files.items():
        what = _what(spec, role)
        dims = _header(path, what)
        shape = _expected_shape(spec, role)
        if dims != shape:
            raise DataError(f"{path} holds an array of shape {dims}; expected {shape} ({what})")
        _check_size(path, shape, what)
    for role, path in files.items():
        if _ROLES[role][1] == "labels":
            _check_labels(spec, path)


def read(spec: DatasetSpec, files: Files) -> TensorDataset:
    check(spec, files)
    arrays = {role: read_idx(path) for role, path in files.items()}
    return standardized(
        unit_scaled(arrays["train-images-idx3-ubyte"][:, None]),
        arrays["train-labels-idx1-ubyte"],
        unit_scaled(arrays["t10k-images-idx3-ubyte"][:, None]),
        arrays["t10k-labels-idx1-ubyte"],
        spec.num_classes,
    )


IDX = DataFiles(_DESCRIPTION, locate, check, read)


# md5 of the published .gz files (as torchvision lists them). The uncompressed MNIST
# files' hashes are not published, so plain (gunzipped) MNIST files get a content
# fingerprint. For Fashion-MNIST the sha256 of the uncompressed content was computed
# from Debian's dataset-fashion-mnist package, whose .gz files are compressed
# differently from the published ones (other md5) but hold the same data.
_MNIST = standard_digests(
    {
        "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
    }
)
_FASHION = standard_digests(
    {
        "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",  # noqa: E501
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",  # noqa: E501
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",  # noqa: E501
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",  # noqa: E501
    },
)

register(DatasetSpec("mnist", 60000, 10000, (1, 28, 28), 10, files=IDX, standard=_MNIST))
register(
    DatasetSpec(
        "fashion_mnist",
        60000,
        10000,
        (1, 28, 28),
        10,
        files=IDX,
        default_root="/usr/share/datasets/fashion-mnist",
        standard=_FASHION,
    )
)
