"""Atomic writes in a group-shared project directory: files take the process umask, and
the temp files of killed writes are removed by the next write to the same directory."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pipeline.io import ORPHAN_SECONDS, atomic_path, save_json, save_tensors, save_yaml
from pipeline.store import LevelPayload, LevelRecord, RunRecord, write_store


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def write_all(directory: Path) -> list[Path]:
    """One file of each kind lth writes atomically, and a store (index and shard)."""
    import torch

    save_json(directory / "status.json", {"state": "done"}, durable=False)
    save_yaml(directory / "config.yaml", {"seed": 0})
    save_tensors(directory / "final.pt", {"w": torch.ones(3)})
    with atomic_path(directory / "plot.png") as tmp:
        tmp.write_bytes(b"png")
    store = directory / "store.h5"
    run = RunRecord("r0", "lenet", "mnist", "imp", "none", 0, 0.2, "0", "seed: 0\n")
    level = LevelRecord("r0", 0, 1.0, 0.9, 0.1, 0.9, 10, 100, 1.0)
    write_store(store, [run], [level], [], [LevelPayload("r0", 0, {"w": np.ones(4, bool)}, [])], {})
    shards = list((directory / "store.h5.shards").iterdir())
    return [*(directory / n for n in ("status.json", "config.yaml", "final.pt", "plot.png")),
            store, *shards]  # fmt: skip


@pytest.mark.parametrize("umask, expected", [(0o002, 0o664), (0o007, 0o660), (0o077, 0o600)])
def test_files_take_the_process_umask(tmp_path, umask, expected):
    old = os.umask(umask)
    try:
        written = write_all(tmp_path)
    finally:
        os.umask(old)
    assert len(written) == 6
    assert {p.name: oct(mode(p)) for p in written} == {p.name: oct(expected) for p in written}


def temp_name(target: Path, suffix: str = "k3j_x9q2") -> Path:
    return target.with_name(f".{target.name}.{suffix}.tmp")


def test_temp_files_of_killed_writes_go_with_the_next_write(tmp_path):
    old = time.time() - ORPHAN_SECONDS - 60
    orphans = [temp_name(tmp_path / "final.pt"), temp_name(tmp_path / "status.json", "abcdefgh")]
    for orphan in orphans:
        orphan.write_bytes(b"half a checkpoint")
        os.utime(orphan, (old, old))
    fresh = temp_name(tmp_path / "rewind.pt", "0123abcd")  # a concurrent writer's, just now
    fresh.write_bytes(b"being written")
    recent = temp_name(tmp_path / "mask.pt", "zz__zz__")  # untouched for less than the age
    recent.write_bytes(b"paused")
    os.utime(recent, (time.time() - ORPHAN_SECONDS + 60,) * 2)
    not_ours = [tmp_path / ".notes.tmp", tmp_path / "data.tmp", tmp_path / ".x.toolong12.tmp"]
    for path in not_ours:
        path.write_bytes(b"user file")
        os.utime(path, (old, old))
    (tmp_path / "sub").mkdir()
    elsewhere = temp_name(tmp_path / "sub" / "final.pt")
    elsewhere.write_bytes(b"another directory's")
    os.utime(elsewhere, (old, old))

    save_json(tmp_path / "status.json", {"state": "running"})

    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(
        [fresh.name, recent.name, *(p.name for p in not_ours), "status.json", "sub"]
    )
    assert elsewhere.exists()


def test_a_killed_write_leaves_a_temp_file_that_the_next_write_removes(tmp_path):
    """SIGKILL in the middle of a real write: the old file survives, the temp stays until
    a write to that directory finds it older than ORPHAN_SECONDS."""
    target = tmp_path / "final.pt"
    save_json(target, {"version": 1})
    script = (
        "import sys, time; from pathlib import Path; from pipeline.io import atomic_path\n"
        "with atomic_path(Path(sys.argv[1])) as tmp:\n"
        "    tmp.write_text('half'); print(tmp, flush=True); time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(target)], stdout=subprocess.PIPE, text=True
    )
    tmp = Path(proc.stdout.readline().strip())
    proc.kill()
    proc.wait(timeout=30)
    assert tmp.exists() and tmp.parent == tmp_path
    save_json(tmp_path / "other.json", {})
    assert tmp.exists()  # too young to be taken for an orphan
    os.utime(tmp, (time.time() - ORPHAN_SECONDS - 1,) * 2)
    save_json(tmp_path / "other.json", {})
    assert not tmp.exists()
    assert target.read_text() == '{\n "version": 1\n}'
