import gzip
import pickle
import struct

import numpy as np
import pytest
import torch

from pipeline.data import DatasetSpec, load_dataset
from pipeline.data.batches import EpochPlan, augment
from pipeline.data.cifar import CIFAR10_FILES, read_batch
from pipeline.data.idx import IDX, read_idx
from pipeline.data.tensors import unit_scaled
from pipeline.errors import DataError


def _write_idx(path, array: np.ndarray, gz: bool) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if gz:
        with gzip.open(str(path) + ".gz", "wb") as handle:
            handle.write(payload)
    else:
        path.write_bytes(payload)


def _idx_dir(tmp_path, gz: bool):
    rng = np.random.default_rng(0)
    x_train = rng.integers(0, 256, (12, 28, 28))
    y_train = np.arange(12) % 10
    _write_idx(tmp_path / "train-images-idx3-ubyte", x_train, gz)
    _write_idx(tmp_path / "train-labels-idx1-ubyte", y_train, gz)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", x_train[:5], gz)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", y_train[:5], gz)
    return x_train, y_train


@pytest.mark.parametrize("gz", [False, True])
def test_idx_files_load_as_standardized_tensors(tmp_path, gz):
    x_train, y_train = _idx_dir(tmp_path, gz)
    raw = read_idx(tmp_path / ("train-images-idx3-ubyte" + (".gz" if gz else "")))
    assert raw.shape == (12, 28, 28) and (raw == x_train).all()
    # The real IDX reader under a spec of this directory's sizes (mnist's are checked).
    tiny = DatasetSpec("tiny_mnist", 12, 5, (1, 28, 28), 10, files=IDX)
    data = tiny.load(str(tmp_path))
    assert data.x_train.shape == (12, 1, 28, 28) and data.x_test.shape == (5, 1, 28, 28)
    assert data.y_train.tolist() == y_train.tolist()
    assert abs(float(data.x_train.mean())) < 1e-5
    assert abs(float(data.x_train.std(unbiased=False)) - 1) < 1e-4
    # Standardization is by the training set's statistics, applied to both splits.
    scale = x_train.std() / 255
    expected = (x_train[0, 0, 0] / 255 - x_train.mean() / 255) / scale
    assert float(data.x_train[0, 0, 0, 0]) == pytest.approx(expected, rel=1e-4)


def test_missing_directory_and_files_say_where_and_what(tmp_path):
    with pytest.raises(DataError, match="is not a directory.*train-images-idx3-ubyte"):
        load_dataset("mnist", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="lacks train-images-idx3-ubyte"):
        load_dataset("mnist", str(tmp_path))
    with pytest.raises(DataError, match="needs data.root"):
        load_dataset("cifar10", None)


def _cifar_dir(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"batch_label": name.encode(),
            b"labels": list(rng.integers(0, 10, 4)),
            b"data": rng.integers(0, 256, (4, 3072)).astype(np.uint8),
            b"filenames": [b"a.png"] * 4,
        }
        with open(folder / name, "wb") as handle:
            pickle.dump(batch, handle, protocol=2)
    return folder


def test_cifar10_python_batches_load(tmp_path):
    folder = _cifar_dir(tmp_path)
    tiny = DatasetSpec("tiny_cifar10", 20, 4, (3, 32, 32), 10, files=CIFAR10_FILES)
    data = tiny.load(str(tmp_path))
    assert data.x_train.shape == (20, 3, 32, 32) and data.x_test.shape == (4, 3, 32, 32)
    first = read_batch(folder / "data_batch_1")
    assert data.y_train[:4].tolist() == [int(v) for v in first["labels"]]
    # Row-major 3072 = 3 channel planes of 32x32.
    plane = first["data"][0, 1024:2048].reshape(32, 32) / 255.0
    red_vs_green = data.x_train[0, 1].numpy()
    assert np.corrcoef(plane.ravel(), red_vs_green.ravel())[0, 1] == pytest.approx(1, abs=1e-6)


class _Evil:
    def __reduce__(self):
        return (eval, ("1+1",))


def test_cifar_reader_refuses_code_in_pickles(tmp_path):
    path = tmp_path / "data_batch_1"
    with open(path, "wb") as handle:
        pickle.dump({b"data": _Evil(), b"labels": [1]}, handle)
    with pytest.raises(DataError, match="refusing to load builtins.eval"):
        read_batch(path)


def test_mnist1d_is_generated_deterministically():
    a = load_dataset("mnist1d")
    assert a.x_train.shape == (4000, 1, 40) and a.x_test.shape == (1000, 1, 40)
    assert sorted(a.y_train.unique().tolist()) == list(range(10))
    shuffled = load_dataset("mnist1d_shuffled")
    assert shuffled.y_train.tolist() == a.y_train.tolist()
    assert not torch.equal(shuffled.x_train, a.x_train)


def test_augment_crops_with_padding_and_flips():
    x = torch.arange(2 * 1 * 3 * 3, dtype=torch.float32).view(2, 1, 3, 3)
    out = augment(x, torch.tensor([[4, 4], [5, 3]]), torch.tensor([False, True]))
    assert torch.equal(out[0], x[0])  # offset (4, 4) is the identity crop
    # Image 2: rows 1..3 and columns -1..1 of the original (0 outside), then mirrored.
    assert out[1, 0].tolist() == [[13, 12, 0], [16, 15, 0], [0, 0, 0]]


def test_epoch_plan_is_a_function_of_seed_level_epoch_only():
    alone = EpochPlan([7], 2, 3, 100, True, torch.device("cpu"))
    together = EpochPlan([1, 7, 9], 2, 3, 100, True, torch.device("cpu"))
    assert torch.equal(alone.order[0], together.order[1])
    assert torch.equal(alone.crop[0], together.crop[1])
    assert sorted(alone.order[0].tolist()) == list(range(100))
    assert not torch.equal(together.order[0], together.order[2])
    other_epoch = EpochPlan([7], 2, 4, 100, True, torch.device("cpu"))
    assert not torch.equal(alone.order[0], other_epoch.order[0])


FASHION = "/usr/share/datasets/fashion-mnist"


@pytest.mark.skipif(
    not __import__("os").path.isdir(FASHION),
    reason="Debian's dataset-fashion-mnist is not installed (.ci/run installs it)",
)
def test_fashion_mnist_from_the_debian_package():
    data = load_dataset("fashion_mnist")
    assert data.x_train.shape == (60000, 1, 28, 28) and data.x_test.shape == (10000, 1, 28, 28)
    assert torch.bincount(data.y_train).tolist() == [6000] * 10


def test_pixels_scaled_in_float32_equal_the_float64_quotient_rounded():
    pixels = np.arange(256, dtype=np.uint8)
    scaled = unit_scaled(pixels)
    assert scaled.dtype == np.float32
    assert np.array_equal(scaled, (pixels / 255.0).astype(np.float32))  # every byte value
    assert scaled[0] == 0 and scaled[255] == 1 and scaled[51] == np.float32(0.2)
