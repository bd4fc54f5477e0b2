"""Data checked before any work, dataset fingerprints, and model/data fit.

Every case writes real files in the real formats (IDX, gzip, pickled CIFAR batches).
The valid directories are full-size (the check compares counts with the dataset's
sizes): IDX image files are a header plus a sparse zero body, CIFAR batches hold
zero images. Each case links the valid files into its own directory and replaces
one file, so the cases cannot disturb each other.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import pickle
import re
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from pipeline.data import dataset_spec, fingerprint
from pipeline.data.fingerprint import CACHE_NAME
from pipeline.errors import DataError, ModelError
from pipeline.models import MODELS, check_fit
from pipeline.models.registry import ModelSpec

IMAGES, LABELS = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"
T_IMAGES, T_LABELS = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"
NO_CACHE = shutil.ignore_patterns(CACHE_NAME)
OLD = 1_500_000_000  # an mtime long past, so digests of the file may be cached


def idx_header(code: int, shape: tuple[int, ...]) -> bytes:
    return bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)


def write_idx(path: Path, array: np.ndarray) -> None:
    path.write_bytes(idx_header(0x08, array.shape) + array.astype(np.uint8).tobytes())


def labels(count: int) -> bytes:
    return (np.arange(count) % 10).astype(np.uint8).tobytes()


def write_zero_images(path: Path, count: int) -> None:
    """A valid IDX image file of `count` black 28x28 images, written sparse."""
    with open(path, "wb") as handle:
        handle.write(idx_header(0x08, (count, 28, 28)))
        handle.truncate(16 + count * 784)


def gzip_file(path: Path) -> Path:
    target = path.with_name(path.name + ".gz")
    with open(path, "rb") as source, gzip.open(target, "wb", compresslevel=1) as sink:
        shutil.copyfileobj(source, sink)
    path.unlink()
    return target


def linked_copy(source: Path, target: Path) -> Path:
    """Hard links to every file of `source`: free, and replacing one leaves `source` as it was."""
    target.mkdir()
    for path in source.iterdir():
        if path.is_dir():
            linked_copy(path, target / path.name)
        else:
            os.link(path, target / path.name)
    return target


def replace(path: Path, content: bytes) -> None:
    path.unlink()
    path.write_bytes(content)


@pytest.fixture(scope="module")
def mnist_dirs(tmp_path_factory):
    """Valid full-size MNIST-format directories: plain and gzipped."""
    plain = tmp_path_factory.mktemp("mnist_plain")
    write_zero_images(plain / IMAGES, 60000)
    write_idx(plain / LABELS, np.arange(60000) % 10)
    write_zero_images(plain / T_IMAGES, 10000)
    write_idx(plain / T_LABELS, np.arange(10000) % 10)
    gz = tmp_path_factory.mktemp("mnist_gz")
    for path in plain.iterdir():
        shutil.copy(path, gz / path.name)
        gzip_file(gz / path.name)
    return {"plain": plain, "gz": gz}


def labels_59000(d: Path) -> None:
    replace(d / LABELS, idx_header(0x08, (59000,)) + labels(59000))


def garbage_images(d: Path) -> None:
    replace(d / IMAGES, np.random.default_rng(0).integers(1, 256, 4096).astype(np.uint8).tobytes())


def truncated_images(d: Path) -> None:
    replace(d / T_IMAGES, idx_header(0x08, (10000, 28, 28)) + bytes(10000 * 784 // 2))


def empty_labels(d: Path) -> None:
    replace(d / T_LABELS, b"")


def label_out_of_range(d: Path) -> None:
    labels = np.arange(10000) % 10
    labels[7] = 10
    replace(d / T_LABELS, idx_header(0x08, (10000,)) + labels.astype(np.uint8).tobytes())


def missing_labels(d: Path) -> None:
    (d / T_LABELS).unlink()


def images_32x32(d: Path) -> None:
    replace(d / T_IMAGES, idx_header(0x08, (10000, 32, 32)) + bytes(10000 * 1024))


def trailing_bytes(d: Path) -> None:
    replace(d / LABELS, idx_header(0x08, (60000,)) + labels(60000) + b"\0" * 7)


def float_labels(d: Path) -> None:
    labels = (np.arange(10000) % 10).astype(">f4")
    replace(d / T_LABELS, idx_header(0x0D, (10000,)) + labels.tobytes())


def gz_truncated(d: Path) -> None:
    data = (d / f"{LABELS}.gz").read_bytes()
    replace(d / f"{LABELS}.gz", data[: len(data) // 2])


def gz_of_truncated_idx(d: Path) -> None:
    """A sound gzip whose content is an IDX file cut short: the ISIZE differs."""
    replace(d / f"{LABELS}.gz", gzip.compress(idx_header(0x08, (60000,)) + bytes(59990)))


def gz_labels_59000(d: Path) -> None:
    replace(d / f"{LABELS}.gz", gzip.compress(idx_header(0x08, (59000,)) + labels(59000)))


def gz_not_gzip(d: Path) -> None:
    replace(d / f"{T_LABELS}.gz", idx_header(0x08, (10000,)) + bytes(10000))


def gz_garbage_inside(d: Path) -> None:
    replace(d / f"{T_IMAGES}.gz", gzip.compress(b"<html>not found</html>"))


IDX_CASES = [
    # (layout, how the valid directory is broken, the file named, what the line says)
    ("plain", labels_59000, LABELS, r"holds an array of shape \(59000,\); expected \(60000,\)"),
    ("plain", garbage_images, IMAGES, r"is not an IDX file \(it starts [0-9a-f ]+\)"),
    ("plain", truncated_images, T_IMAGES, r"is truncated: 3920016 bytes .* needs 7840016"),
    ("plain", empty_labels, T_LABELS, r"is empty; expected an IDX file of mnist's 10000 test"),
    ("plain", label_out_of_range, T_LABELS, r"holds label 10 \(at index 7\); expected .*0\.\.9"),
    ("plain", missing_labels, None, r"lacks t10k-labels-idx1-ubyte \(or t10k-labels-idx1-ubyte"),
    ("plain", images_32x32, T_IMAGES, r"shape \(10000, 32, 32\); expected \(10000, 28, 28\)"),
    ("plain", trailing_bytes, LABELS, r"has 7 bytes after the 60008"),
    ("plain", float_labels, T_LABELS, r"IDX type 0x0d; expected 0x08"),
    ("gz", gz_truncated, f"{LABELS}.gz", r"is a truncated or damaged gzip file"),
    ("gz", gz_of_truncated_idx, f"{LABELS}.gz", r"is truncated: 59998 bytes .* needs 60008"),
    ("gz", gz_not_gzip, f"{T_LABELS}.gz", r"is not a gzip file"),
    ("gz", gz_garbage_inside, f"{T_IMAGES}.gz", r"is not an IDX file \(it starts 3c 68 74 6d\)"),
    ("gz", gz_labels_59000, f"{LABELS}.gz", r"holds an array of shape \(59000,\)"),
]


@pytest.mark.parametrize("layout", ["plain", "gz"])
def test_valid_mnist_files_pass_the_check(mnist_dirs, layout):
    spec = dataset_spec("mnist")
    assert spec.check(str(mnist_dirs[layout])) == mnist_dirs[layout]


@pytest.mark.parametrize(
    "layout, damage, named, message", IDX_CASES, ids=[case[1].__name__ for case in IDX_CASES]
)
def test_bad_idx_files_are_named_in_one_line(mnist_dirs, tmp_path, layout, damage, named, message):
    root = linked_copy(mnist_dirs[layout], tmp_path / "data")
    damage(root)
    with pytest.raises(DataError) as caught:
        dataset_spec("mnist").check(str(root))
    text = str(caught.value)
    assert "\n" not in text
    assert str(root / named if named else root) in text
    assert re.search(message, text), text


def test_the_check_runs_again_when_a_file_changes(mnist_dirs, tmp_path):
    root = linked_copy(mnist_dirs["plain"], tmp_path / "data")
    spec = dataset_spec("mnist")
    assert spec.check(str(root)) == root
    label_out_of_range(root)  # a new file: another size or mtime than the one checked
    with pytest.raises(DataError, match="holds label 10"):
        spec.check(str(root))


# -- CIFAR ---------------------------------------------------------------------------

CIFAR10_BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def cifar_batch(rows: int = 10000, width: int = 3072, label_key: bytes = b"labels", **labels):
    return {
        b"batch_label": b"training batch",
        label_key: labels.get("values", [i % 10 for i in range(rows)]),
        b"data": np.zeros((rows, width), np.uint8),
        b"filenames": [b"x.png"] * rows,
    }


def pickled(obj) -> bytes:
    return pickle.dumps(obj, protocol=2)


@pytest.fixture(scope="module")
def cifar10_dir(tmp_path_factory):
    """A valid full-size CIFAR-10 folder of black images, as extracted from the tarball."""
    root = tmp_path_factory.mktemp("cifar10")
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    for name in CIFAR10_BATCHES:
        (folder / name).write_bytes(pickled(cifar_batch()))
    return root


def cifar_garbage(folder: Path) -> None:
    replace(folder / "data_batch_2", b"this is not a pickle\n" * 100)


def cifar_truncated(folder: Path) -> None:
    replace(folder / "data_batch_3", pickled(cifar_batch())[:1_000_000])


def cifar_wrong_shape(folder: Path) -> None:
    replace(folder / "data_batch_4", pickled(cifar_batch(width=1024)))


def cifar_short_batch(folder: Path) -> None:
    replace(folder / "data_batch_1", pickled(cifar_batch(rows=9000)))


def cifar_missing_batch(folder: Path) -> None:
    (folder / "data_batch_5").unlink()


def cifar_label_10(folder: Path) -> None:
    replace(folder / "test_batch", pickled(cifar_batch(values=[3] * 9999 + [10])))


def cifar_negative_label(folder: Path) -> None:
    replace(folder / "test_batch", pickled(cifar_batch(values=[-1] + [3] * 9999)))


def cifar_empty(folder: Path) -> None:
    replace(folder / "data_batch_2", b"")


def cifar_not_a_dict(folder: Path) -> None:
    replace(folder / "data_batch_2", pickled([1, 2, 3]))


def cifar_no_labels(folder: Path) -> None:
    batch = cifar_batch()
    del batch[b"labels"]
    replace(folder / "data_batch_2", pickled(batch))


def cifar_ragged_labels(folder: Path) -> None:
    replace(folder / "data_batch_2", pickled(cifar_batch(values=[[1], [2, 3]] * 5000)))


class Evil:
    def __reduce__(self):
        return (eval, ("1+1",))


def cifar_code(folder: Path) -> None:
    replace(folder / "data_batch_2", pickled({b"data": Evil(), b"labels": [1]}))


CIFAR_CASES = [
    (cifar_garbage, "data_batch_2", r"is not a pickled CIFAR python batch"),
    (cifar_truncated, "data_batch_3", r"is truncated"),
    (cifar_wrong_shape, "data_batch_4", r"shape \(10000, 1024\); expected \(10000, 3072\)"),
    (cifar_short_batch, "data_batch_1", r"shape \(9000, 3072\); expected \(10000, 3072\)"),
    (cifar_missing_batch, "data_batch_5", r"missing CIFAR batch file"),
    (cifar_label_10, "test_batch", r"holds label 10 \(at index 9999\); expected labels 0\.\.9"),
    (cifar_negative_label, "test_batch", r"holds label -1 \(at index 0\)"),
    (cifar_empty, "data_batch_2", r"is empty"),
    (cifar_not_a_dict, "data_batch_2", r"holds a pickled list"),
    (cifar_no_labels, "data_batch_2", r"lacks the key 'labels'"),
    (
        cifar_ragged_labels,
        "data_batch_2",
        r"labels is not an array; expected 10000 integer labels",
    ),
    (cifar_code, "data_batch_2", r"refusing to load (__builtin__|builtins)\.eval"),
]


def test_a_valid_cifar10_folder_passes_the_check(cifar10_dir):
    assert dataset_spec("cifar10").check(str(cifar10_dir)) == cifar10_dir


@pytest.mark.parametrize(
    "damage, named, message", CIFAR_CASES, ids=[case[0].__name__ for case in CIFAR_CASES]
)
def test_bad_cifar_batches_are_named_in_one_line(cifar10_dir, tmp_path, damage, named, message):
    root = linked_copy(cifar10_dir, tmp_path / "data")
    folder = root / "cifar-10-batches-py"
    damage(folder)
    with pytest.raises(DataError) as caught:
        dataset_spec("cifar10").check(str(root))
    text = str(caught.value)
    assert "\n" not in text
    assert str(folder / named) in text
    assert re.search(message, text), text


def test_cifar100_uses_fine_labels_and_100_classes(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    fine = [i % 100 for i in range(10000)]
    (folder / "test").write_bytes(pickled(cifar_batch(label_key=b"fine_labels", values=fine)))
    train = cifar_batch(rows=50000, label_key=b"fine_labels", values=[99] * 50000)
    (folder / "train").write_bytes(pickled(train))
    spec = dataset_spec("cifar100")
    assert spec.check(str(tmp_path)) == tmp_path
    replace(folder / "test", pickled(cifar_batch(label_key=b"fine_labels", values=[100] * 10000)))
    with pytest.raises(DataError, match=r"test holds label 100 .* expected labels 0\.\.99"):
        spec.check(str(tmp_path))


# -- fingerprints --------------------------------------------------------------------


def age(folder: Path) -> None:
    """Give every file an old mtime, as files that have been there a while have."""
    for path in folder.iterdir():
        os.utime(path, (OLD, OLD))


def test_same_content_has_one_fingerprint_and_a_changed_byte_another(mnist_dirs, tmp_path):
    first = fingerprint("mnist", str(mnist_dirs["plain"]))
    assert first is not None and len(first) == 64  # not the published MNIST
    moved = shutil.copytree(mnist_dirs["plain"], tmp_path / "moved", ignore=NO_CACHE)
    assert fingerprint("mnist", str(moved)) == first
    # The content is what counts: the same data gzipped has the same fingerprint.
    assert fingerprint("mnist", str(mnist_dirs["gz"])) == first
    data = bytearray((moved / T_LABELS).read_bytes())
    data[100] = (data[100] + 1) % 10
    replace(moved / T_LABELS, bytes(data))
    changed = fingerprint("mnist", str(moved))
    assert changed is not None and changed != first


def test_digests_are_cached_beside_the_files_by_name_size_and_mtime(mnist_dirs, tmp_path):
    root = shutil.copytree(
        mnist_dirs["gz"], tmp_path / "data", ignore=NO_CACHE, copy_function=shutil.copy
    )
    fresh = fingerprint("mnist", str(root))
    assert not (root / CACHE_NAME).exists()  # files written just now are not cached
    age(root)
    assert fingerprint("mnist", str(root)) == fresh
    cache = json.loads((root / CACHE_NAME).read_text())
    entry = cache[f"{T_LABELS}.gz"]
    stat = (root / f"{T_LABELS}.gz").stat()
    assert (entry["size"], entry["mtime_ns"]) == (stat.st_size, stat.st_mtime_ns)
    assert (
        entry["sha256"]
        == hashlib.sha256(gzip.decompress((root / f"{T_LABELS}.gz").read_bytes())).hexdigest()
    )
    assert entry["md5"] == hashlib.md5((root / f"{T_LABELS}.gz").read_bytes()).hexdigest()
    # Another file at that name (another size or mtime) is hashed anew.
    replace(root / f"{T_LABELS}.gz", gzip.compress(idx_header(0x08, (10000,)) + bytes(10000)))
    assert fingerprint("mnist", str(root)) not in (None, fresh)


def test_generated_data_has_no_fingerprint():
    for name in ("mnist1d", "mnist1d_shuffled", "synthetic_mnist", "synthetic_cifar10"):
        assert fingerprint(name, None) is None


FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(
    not FASHION.is_dir(),
    reason="Debian's dataset-fashion-mnist is not installed (.ci/run installs it)",
)
def test_the_standard_fashion_mnist_files_have_no_fingerprint(tmp_path):
    copy = shutil.copytree(FASHION, tmp_path / "fashion", ignore=NO_CACHE)
    assert fingerprint("fashion_mnist", str(copy)) is None
    # Gunzipped, the content is still the published one.
    for path in list(copy.glob("*.gz")):
        path.with_suffix("").write_bytes(gzip.decompress(path.read_bytes()))
        path.unlink()
    assert fingerprint("fashion_mnist", str(copy)) is None
    # The same files presented as MNIST are not MNIST.
    assert fingerprint("mnist", str(copy)) is not None
    labels = bytearray((copy / T_LABELS).read_bytes())
    labels[-1] = (labels[-1] + 1) % 10
    replace(copy / T_LABELS, bytes(labels))
    assert fingerprint("fashion_mnist", str(copy)) is not None


# -- model and data fit --------------------------------------------------------------


@pytest.mark.parametrize(
    "model, dataset, message",
    [
        (
            "conv2",
            "mnist1d",
            r"^model conv2 takes 2-D images \[C, H, W\]; dataset mnist1d gives \[1, 40\]$",
        ),
        ("resnet20", "mnist1d", r"^model resnet20 takes 2-D images \[C, H, W\]; dataset mnist1d"),
        (
            "mnist1d_cnn",
            "mnist",
            r"^model mnist1d_cnn takes 1-D signals \[C, L\]; dataset mnist gives \[1, 28, 28\]$",
        ),
        (
            "vgg11",
            "fashion_mnist",
            r"^model vgg11 does not fit: dataset fashion_mnist gives \[1, 28, 28\] \(.*too small",
        ),
    ],
)
def test_a_model_that_does_not_fit_the_data_is_refused_naming_both(model, dataset, message):
    with pytest.raises(ModelError, match=message):
        check_fit(model, dataset_spec(dataset))


@pytest.mark.parametrize(
    "model, dataset",
    [
        ("mnist1d_cnn", "mnist1d"),
        ("mnist1d_mlp", "mnist1d_shuffled"),
        ("lenet_300_100", "mnist1d"),
        ("lenet_300_100", "cifar10"),
        ("conv2", "mnist"),
        ("conv6", "cifar10"),
        ("vgg19", "cifar100"),
        ("resnet20", "mnist"),
    ],
)
def test_models_that_fit_the_data_are_accepted(model, dataset):
    assert check_fit(model, dataset_spec(dataset)) is None


def test_a_model_with_the_wrong_number_of_outputs_is_refused(monkeypatch):
    from torch import nn

    def build(kit, input_shape, num_classes):
        return nn.Sequential(nn.Flatten(), kit.linear(40, 7))

    monkeypatch.setitem(MODELS, "seven_outputs", ModelSpec("seven_outputs", build, "vector"))
    with pytest.raises(
        ModelError, match=r"model seven_outputs gives \[7\] outputs .* mnist1d has 10"
    ):
        check_fit("seven_outputs", dataset_spec("mnist1d"))
