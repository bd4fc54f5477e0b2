"""A full disk, for real: a tmpfs of a few hundred KB (root only; the tests skip elsewhere).

A checkpoint, a task's level and a reduce each end with one line "no space left on device on
PATH", a reduce with how much it needs, and none of them leaves a partial file or crashes
(HDF5 used to end a reduce on a full disk with SIGSEGV).
"""

from __future__ import annotations

import errno
import re
import subprocess
import sys

import pytest
import torch
from sweep_helpers import dry_run, run_dir, task
from test_reduce import ENV, MPIEXEC, NO_MPI, REPO, built_sweep
from tmpfs import fill, tmpfs

from pipeline.errors import user_message
from pipeline.io import load_json, load_tensors, save_json, save_tensors

PYTHON = sys.executable
# The reducer with its free-space check turned off, to reach a disk that fills mid-write.
UNCHECKED = (
    "import sys; import pipeline.reduce.reducer as r; "
    "r.check_space = lambda store, needed: None; from pipeline.cli import main; "
    "sys.exit(main(['reduce', *sys.argv[1:]]))"
)


def files(directory) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


def test_a_checkpoint_on_a_full_disk_is_enospc_naming_it(tmp_path):
    with tmpfs(tmp_path / "disk", "256k") as disk:
        target = disk / "run" / "final.pt"
        with pytest.raises(OSError) as caught:
            save_tensors(target, {"w": torch.zeros(200_000)})  # 800 KB
        error = caught.value
        assert error.errno == errno.ENOSPC and error.filename == str(target)
        # what torch itself raised: the OSError only in the context of its own error
        assert isinstance(error.__cause__, RuntimeError) and "unexpected pos" in str(
            error.__cause__
        )
        assert files(disk) == ["run"]  # the temp file is gone
        message, code = user_message(error)
        assert message.startswith(f"no space left on device on {target}") and code == 1
        with pytest.raises(OSError) as caught:
            save_json(disk / "run" / "big.json", list(range(100_000)))
        assert caught.value.errno == errno.ENOSPC
        assert caught.value.filename == str(disk / "run" / "big.json")
        save_tensors(target, {"w": torch.arange(1000.0)})  # what fits is written
        assert load_tensors(target)["w"][999] == 999.0


def test_a_task_on_a_full_disk_fails_its_run_with_the_file_named(tmp_path):
    with tmpfs(tmp_path / "disk", "150k") as disk:
        paths, manifest = dry_run(disk)
        assert task(paths, 0, log=tmp_path / "task.log").wait(timeout=180) == 1
        marker = load_json(run_dir(manifest, 0) / "status.json")
        assert marker["state"] == "failed"
        assert marker["error"].startswith(f"no space left on device on {run_dir(manifest, 0)}/")
        assert f"{run_dir(manifest, 0)}/level_0/" in marker["error"]  # the checkpoint named
        assert not [p for p in disk.rglob("*.tmp")]


def test_reduce_refuses_a_full_disk_before_writing(tmp_path, tmp_path_factory):
    runs = built_sweep(tmp_path_factory) / "runs"
    with tmpfs(tmp_path / "disk", "1m") as disk:
        ballast = fill(disk, leave=100_000)
        store = disk / "store.h5"
        done = subprocess.run(
            [PYTHON, "-c", NO_MPI, str(runs), str(store)],
            cwd=REPO,
            env=ENV,
            text=True,
            capture_output=True,
            timeout=300,
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr.splitlines() == [
            f"lth reduce: error: no space left on device on {disk}, 1 MB needed (0.1 MB free); "
            "free some space and run it again"
        ]
        assert files(disk) == ["ballast", "store.h5.lock"]  # the lock only: nothing of a store
        ballast.unlink()
        done = subprocess.run(
            [PYTHON, "-c", NO_MPI, str(runs), str(store)],
            cwd=REPO,
            env=ENV,
            text=True,
            capture_output=True,
            timeout=300,
        )
        assert done.returncode == 0 and "added 6 runs, 14 levels" in done.stdout


@pytest.mark.parametrize("size", ["64k", "300k"])
def test_a_disk_that_fills_while_two_ranks_write_ends_in_one_line(tmp_path, tmp_path_factory, size):
    runs = built_sweep(tmp_path_factory) / "runs"
    with tmpfs(tmp_path / "disk", size) as disk:
        store = disk / "store.h5"
        done = subprocess.run(
            [MPIEXEC, "-n", "2", PYTHON, "-c", UNCHECKED, str(runs), str(store)],
            cwd=REPO,
            env=ENV,
            text=True,
            capture_output=True,
            timeout=300,
        )
        assert done.returncode == 2, done.stderr  # not 139 (SIGSEGV), not a hang
        assert "Traceback" not in done.stderr
        (error,) = [line for line in done.stderr.splitlines() if "error" in line]
        assert re.fullmatch(
            f"lth reduce: error: no space left on device on {disk}, 2 MB needed "
            r"\(0\.\d MB free\); free some space and run it again",
            error,
        )
        assert files(disk) in (["store.h5.lock"], ["store.h5.lock", "store.h5.shards"])
        assert not list(disk.glob("store.h5.shards/*"))


WRITE_STORE = """
import errno, sys
import numpy as np
from pipeline.store import LevelPayload, LevelRecord, RunRecord, write_store
rng = np.random.default_rng(0)
runs = [RunRecord("r0", "lenet", "mnist", "imp", "none", 0, 0.2, "0", "seed: 0\\n")]
levels = [LevelRecord("r0", lv, 0.5, 0.9, 0.1, 0.9, 10, 100, 1.0) for lv in range(4)]
payloads = [LevelPayload("r0", lv, {"fc.weight": rng.random((300, 300)) < 0.5}, [])
            for lv in range(4)]
try:
    write_store(sys.argv[1], runs, levels, [], payloads, {})
except OSError as err:
    print(errno.errorcode[err.errno], err.filename)
"""


def test_a_store_write_on_a_full_disk_is_enospc_not_a_crash(tmp_path):
    """Four incompressible 300x300 masks (45 KB packed) into a 64 KB file system."""
    with tmpfs(tmp_path / "disk", "64k") as disk:
        store = disk / "store.h5"
        done = subprocess.run(
            [PYTHON, "-c", WRITE_STORE, str(store)], cwd=REPO, text=True, capture_output=True
        )
        assert done.returncode == 0, done.stderr  # a crash in HDF5 would be -11
        code, name = done.stdout.split()
        assert code == "ENOSPC" and name.startswith(f"{disk}/store.h5.shards/w000000-p0-")
        assert not [p for p in files(disk) if p.endswith(".tmp") or p.endswith(".h5")]
