"""Every bad input of issue 11, through `lth` as a user types it: one line on stderr naming
what is wrong, the documented exit code, no traceback, and nothing written.

Each case builds its inputs (real IDX and CIFAR files from test_data_checks' generators, a
real sweep manifest, a real HDF5 store with one flipped byte), snapshots the working
directory, runs `pipeline.cli.main` in this process and compares the snapshot after: no
out/ directory, manifest, run directory or store file appears or changes. (A store's lock
file is rewritten by whoever takes the lock; only its name is compared.) The disk-full
cases are in test_disk_full.py, the reducer's damaged run files in test_reduce.py.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from test_data_checks import (
    CIFAR10_BATCHES,
    IMAGES,
    LABELS,
    T_IMAGES,
    T_LABELS,
    cifar_batch,
    cifar_garbage,
    cifar_missing_batch,
    cifar_truncated,
    cifar_wrong_shape,
    empty_labels,
    garbage_images,
    gz_truncated,
    gzip_file,
    label_out_of_range,
    labels_59000,
    linked_copy,
    pickled,
    truncated_images,
    write_idx,
    write_zero_images,
)

from pipeline.cli import main
from pipeline.errors import BAD_INPUT
from pipeline.store import LevelPayload, LevelRecord, RunRecord, write_store

BASE = ["sweep=none", "prune.levels=1", "train.duration=2ep", "launcher.threads=1"]


def sweep(*overrides: str) -> list[str]:
    return ["sweep", *BASE, *overrides, "out=out", "sweep.name=s"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    """Valid full-size MNIST (plain and gzipped) and CIFAR-10 folders, as in
    test_data_checks; each case damages its own hard-linked copy."""
    plain = tmp_path_factory.mktemp("mnist")
    write_zero_images(plain / IMAGES, 60000)
    write_idx(plain / LABELS, np.arange(60000) % 10)
    write_zero_images(plain / T_IMAGES, 10000)
    write_idx(plain / T_LABELS, np.arange(10000) % 10)
    gz = tmp_path_factory.mktemp("mnist_gz")
    for path in plain.iterdir():
        (gz / path.name).write_bytes(path.read_bytes())
        gzip_file(gz / path.name)
    cifar = tmp_path_factory.mktemp("cifar10")
    (cifar / "cifar-10-batches-py").mkdir()
    batch = pickled(cifar_batch())
    for name in CIFAR10_BATCHES:
        (cifar / "cifar-10-batches-py" / name).write_bytes(batch)
    return {"mnist": plain, "mnist_gz": gz, "cifar10": cifar}


@dataclass(frozen=True)
class Case:
    name: str
    argv: Callable[[Path, dict[str, Path]], list[str]]  # (working directory, data) -> argv
    message: str  # a regex the one line matches after "lth COMMAND: error: "
    code: int = BAD_INPUT


def mnist(damage: Callable[[Path], None], layout: str = "mnist") -> Callable:
    def argv(work: Path, data: dict[str, Path]) -> list[str]:
        root = linked_copy(data[layout], work / "data")
        damage(root)
        return sweep("data=mnist", "model=lenet_300_100", f"data.root={root}")

    return argv


def cifar(damage: Callable[[Path], None]) -> Callable:
    def argv(work: Path, data: dict[str, Path]) -> list[str]:
        root = linked_copy(data["cifar10"], work / "data")
        damage(root / "cifar-10-batches-py")
        return sweep("data=cifar10", "model=conv2", f"data.root={root}")

    return argv


def config(*overrides: str) -> Callable:
    return lambda work, data: sweep(*overrides)


def damaged_manifest(command: str) -> Callable:
    def argv(work: Path, data: dict[str, Path]) -> list[str]:
        assert main([*sweep(), "--dry-run"]) == 0
        manifest = work / "out" / "sweeps" / "s" / "manifest.json"
        manifest.write_text(manifest.read_text()[:200])  # cut mid-object, as a torn copy is
        return [command, "out/sweeps/s"]

    return argv


def small_store(path: Path) -> None:
    """A real store of two runs, written by the store's writer."""
    rng = np.random.default_rng(0)
    runs = [
        RunRecord(r, "lenet", "mnist", "imp", "none", s, 0.2, "0", "")
        for s, r in enumerate(("r0", "r1"))
    ]
    levels = [LevelRecord(r.run_id, 0, 1.0, 0.9, 0.1, 0.9, 10, 100, 1.0) for r in runs]
    masks = [
        LevelPayload(
            r.run_id, 0, {"fc.weight": rng.random((30, 20)) < 0.5}, [("*", "density", 0.5)]
        )
        for r in runs
    ]
    write_store(path, runs, levels, [], masks, {})


def at_signature(signature: bytes) -> Callable[[Path], int]:
    """The byte after an HDF5 metadata signature (B-tree "TREE", local heap "HEAP"): its
    version or node type, which HDF5 checks on every read of that structure."""
    return lambda path: path.read_bytes().index(signature) + len(signature)


def in_chunk(dataset: str) -> Callable[[Path], int]:
    """A byte in the middle of a dataset's compressed chunk."""

    def offset(path: Path) -> int:
        import h5py

        with h5py.File(path, "r") as f:
            info = f[dataset].id.get_chunk_info(0)
        return info.byte_offset + info.size // 2

    return offset


def damaged_store(command: str, which: str, where: Callable[[Path], int]) -> Callable:
    def argv(work: Path, data: dict[str, Path]) -> list[str]:
        store = work / "store.h5"
        small_store(store)
        path = store if which == "index" else next((work / "store.h5.shards").iterdir())
        content = bytearray(path.read_bytes())
        content[where(path)] ^= 0xFF
        path.write_bytes(bytes(content))
        (work / "runs").mkdir()
        return ["inspect", str(store)] if command == "inspect" else ["reduce", "runs", str(store)]

    return argv


DAMAGED = r"{}: damaged \(.+\); restore it or rebuild the store with lth reduce"
INDEX = "store.h5"
SHARD = r"store.h5.shards/w000000-p0-[0-9a-f]{8}.h5"

CASES = [
    # data, checked when the config is composed
    Case(
        "idx_59000_labels",
        mnist(labels_59000),
        r"train-labels-idx1-ubyte holds an array of shape \(59000,\); expected \(60000,\)",
    ),
    Case("idx_garbage", mnist(garbage_images), r"train-images-idx3-ubyte is not an IDX file"),
    Case("idx_truncated", mnist(truncated_images), r"t10k-images-idx3-ubyte is truncated"),
    Case(
        "idx_gzip_truncated",
        mnist(gz_truncated, "mnist_gz"),
        r"train-labels-idx1-ubyte.gz is a truncated or damaged gzip file",
    ),
    Case("idx_empty", mnist(empty_labels), r"t10k-labels-idx1-ubyte is empty"),
    Case("idx_label_out_of_range", mnist(label_out_of_range), r"holds label 10 \(at index 7\)"),
    Case(
        "cifar_garbage", cifar(cifar_garbage), r"data_batch_2 is not a pickled CIFAR python batch"
    ),
    Case("cifar_truncated", cifar(cifar_truncated), r"data_batch_3 is truncated"),
    Case(
        "cifar_wrong_shape",
        cifar(cifar_wrong_shape),
        r"data_batch_4: data has shape \(10000, 1024\); expected \(10000, 3072\)",
    ),
    Case(
        "cifar_missing_batch",
        cifar(cifar_missing_batch),
        r"missing CIFAR batch file .*/data_batch_5",
    ),
    Case(
        "missing_data_dir",
        config("data=mnist", "model=lenet_300_100", "data.root=/nowhere/m"),
        r"data.root: data.root='/nowhere/m' is not a directory",
    ),
    # config
    Case("empty_seed_range", config("seed=range(0,0)"), r"the sweep is empty"),
    Case("glob_matching_nothing", config("model=glob(nothing*)"), r"the sweep is empty"),
    Case(
        "conv_model_on_1d_data",
        config("model=conv4"),
        r"model.name: model conv4 takes 2-D images .*; dataset mnist1d gives \[1, 40\]",
    ),
    Case("unknown_model", config("model.name=nonet"), r"model.name: unknown model 'nonet'"),
    Case("negative_momentum", config("train.momentum=-0.5"), r"train.momentum: -0.5 must be >= 0"),
    Case(
        "negative_weight_decay",
        config("train.weight_decay=-0.1"),
        r"train.weight_decay: -0.1 must be >= 0",
    ),
    Case(
        "density_above_1",
        config("prune.densities=[0.5,1.5]"),
        r"prune.densities\[1\]: density 1.5 is outside \(0, 1\]",
    ),
    Case("density_0", config("prune.densities=[0.0]"), r"density 0.0 is outside \(0, 1\]"),
    Case(
        "rewind_past_the_end",
        config("prune.rewind=5ep"),
        r"prune.rewind: rewind point 5ep .* is not before the end of training",
    ),
    Case(
        "su_ratios_output_share_past_the_budget",  # 30% of the CNN's fc: 375 > 5% of 5210
        config("model=mnist1d_cnn", "prune.method=su_ratios", "prune.densities=[0.05]"),
        r"prune.method: su_ratios keeps 30% of fc.weight \(375 weights\), more than level 1's "
        r"budget of 257 weights",
    ),
    Case(
        "cluster_account_missing",
        config("launcher=narwhal"),
        r"launcher.account: .*export LTH_ACCOUNT",
    ),
    Case(
        "cuda_without_a_gpu",
        config("launcher.device=cuda"),
        r"launcher.device: cuda: no CUDA GPU is visible here",
    ),
    # a damaged manifest
    *(
        Case(f"damaged_manifest_{c}", damaged_manifest(c), r"manifest.json is damaged")
        for c in ("status", "table", "resume")
    ),
    # a damaged store: index B-tree and heap, shard B-tree and a table's compressed chunk
    *(
        Case(f"damaged_{name}_{c}", damaged_store(c, which, where), DAMAGED.format(file))
        for c in ("inspect", "reduce")
        for name, which, where, file in (
            ("index_btree", "index", at_signature(b"TREE"), INDEX),
            ("index_heap", "index", at_signature(b"HEAP"), INDEX),
            ("shard_btree", "shard", at_signature(b"TREE"), SHARD),
            ("shard_runs_chunk", "shard", in_chunk("runs/run_id"), SHARD),
        )
    ),
]


def snapshot(directory: Path) -> dict[str, str]:
    """Every path under `directory` with its content's hash (a lock file: its name only)."""
    return {
        str(p.relative_to(directory)): (
            "dir"
            if p.is_dir()
            else "lock"
            if p.suffix == ".lock"
            else hashlib.sha256(p.read_bytes()).hexdigest()
        )
        for p in sorted(directory.rglob("*"))
    }


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_bad_input_is_one_line_and_writes_nothing(case, data, tmp_path, monkeypatch, capsys):
    if case.name == "cuda_without_a_gpu" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    monkeypatch.delenv("LTH_ACCOUNT", raising=False)
    monkeypatch.chdir(tmp_path)
    argv = case.argv(tmp_path, data)
    capsys.readouterr()
    before = snapshot(tmp_path)

    code = main(argv)

    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert code == case.code, captured.err
    assert len(lines) == 1 and "Traceback" not in captured.err + captured.out, captured.err
    prefix = f"lth {argv[0]}: error: "
    assert lines[0].startswith(prefix)
    assert re.search(case.message, lines[0].removeprefix(prefix)), lines[0]
    assert snapshot(tmp_path) == before
    if argv[0] == "sweep":
        assert not (tmp_path / "out").exists()
