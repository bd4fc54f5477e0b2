"""Schema v2 at the file level: shards and index, v1 conversion, compaction, kills, two writers."""

from __future__ import annotations

import argparse
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from store_history import PROV, batch, write_history

from pipeline.cli import main as lth
from pipeline.commands.store import register
from pipeline.errors import StoreError
from pipeline.store import (
    compact,
    curves_frame,
    features_frame,
    levels_frame,
    read_masks,
    runs_frame,
    store_keys,
    summary,
    upgrade,
    write_store,
)
from pipeline.store.lock import StoreLock

REPO = Path(__file__).resolve().parents[1]
V1 = REPO / "tests" / "fixtures" / "store_v1" / "store_v1.h5"
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def lth_inspect(argv: list[str]) -> int:
    return lth(["inspect", *argv])


def frames(path: Path) -> dict[str, pd.DataFrame]:
    return {
        "runs": runs_frame(path),
        "levels": levels_frame(path),
        "curves": curves_frame(path),
        "features": features_frame(path),
    }


def all_masks(path: Path) -> dict[tuple[str, int], dict[str, np.ndarray]]:
    levels = levels_frame(path)
    return {
        (r, lv): read_masks(path, r, lv)
        for r, lv in zip(levels["run_id"], levels["level"], strict=True)
    }


def assert_same_store(a: Path, b: Path, skip_columns: tuple[str, ...] = ()) -> None:
    fa, fb = frames(a), frames(b)
    for name in fa:
        kept = [c for c in fa[name].columns if c not in skip_columns]
        pd.testing.assert_frame_equal(fa[name][kept], fb[name][kept], check_like=False)
    ma, mb = all_masks(a), all_masks(b)
    assert ma.keys() == mb.keys()
    for key, masks in ma.items():
        assert list(masks) == list(mb[key])
        for layer, mask in masks.items():
            np.testing.assert_array_equal(mask, mb[key][layer])


@pytest.fixture
def history(tmp_path: Path) -> Path:
    path = tmp_path / "v2" / "store.h5"
    write_history(write_store, path)
    return path


def test_v2_writes_read_like_the_v1_writer_and_upgrade_converts(history: Path, tmp_path: Path):
    """The same writes through the v1 writer (committed fixture) and the v2 writer agree."""
    old = tmp_path / "v1" / "store.h5"
    old.parent.mkdir()
    shutil.copy(V1, old)
    with pytest.raises(StoreError, match="lth store upgrade"):
        levels_frame(old)
    masks = upgrade(old, seed_group=lambda text: f"group of {text.strip()}")
    assert masks == (3 + 3 + 2 + 2) * 3  # r0, r1: 3 levels; r2, r3: 2 levels; 3 layers each
    assert_same_store(history, old, skip_columns=("seed_group",))
    assert runs_frame(old)["seed_group"].tolist() == [f"group of seed: {r}" for r in range(4)]

    feats = features_frame(history).set_index(["run_id", "level", "layer"])
    assert feats.loc[("r0", 1, "fc2.bias"), "alpha"] == 2.5  # filled cell of a stored level
    assert feats.loc[("r0", 1, "*"), "kurtosis"] == 7.0
    assert feats.loc[("r0", 1, "conv1.weight"), "kurtosis"] == 3.1  # first value kept
    assert feats.loc[("r1", 0, "*"), "across"] == 0.6
    assert feats.loc[("r2", 1, "*"), "across"] == 0.25  # replaced by the last write
    assert feats.loc[("r1", 1, "*"), "across"] == 0.6
    info, v1_info = summary(history), summary(old)
    for key in ("runs", "levels", "curve_points", "masks", "mask_weights", "mask_kept"):
        assert info[key] == v1_info[key]
    assert info["feature_counts"] == v1_info["feature_counts"]
    assert info["feature_rows"] == len(feats) == 10 * 3 + 1  # 3 rows per level, 1 filled
    assert info["feature_counts"]["alpha"] == (1, 0, 1)

    write_store(old, *batch(range(4, 5), 1), PROV)  # a converted store takes writes
    assert store_keys(old)[0] == {"r0", "r1", "r2", "r3", "r4"}


def test_compact_merges_shards_into_one_file_that_reads_the_same(history: Path, tmp_path: Path):
    shards = history.with_name("store.h5.shards")
    assert len(list(shards.iterdir())) == 4
    reference = tmp_path / "reference"
    shutil.copytree(history.parent, reference)
    assert compact(history) == 4
    assert not shards.exists()
    moved = tmp_path / "elsewhere" / "copy.h5"  # one file: it travels alone
    moved.parent.mkdir()
    shutil.copy(history, moved)
    assert_same_store(reference / "store.h5", moved)
    with h5py.File(moved, "r") as f:
        assert "shards" not in f and not f["levels/run_id"].is_virtual
        assert len(f["features/run_id"]) == 31  # the resolved table, no repeated rows
    assert compact(moved) == 0  # already one file

    write_store(moved, *batch(range(4, 6), 2), PROV)  # writes go on after compaction
    assert len(levels_frame(moved)) == 14
    assert sorted(p.name[:9] for p in moved.with_name("copy.h5.shards").iterdir()) == [
        "w000003-c",
        "w000004-p",
    ]
    np.testing.assert_array_equal(
        read_masks(moved, "r3", 1)["conv1.weight"], read_masks(history, "r3", 1)["conv1.weight"]
    )


def test_store_command_compacts_and_upgrades(history: Path, tmp_path: Path):
    parser = argparse.ArgumentParser(prog="lth")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["store", "compact", str(history)])
    assert args.func(args) == 0
    assert not history.with_name("store.h5.shards").exists()
    assert len(levels_frame(history)) == 10

    old = tmp_path / "old.h5"
    shutil.copy(V1, old)
    args = parser.parse_args(["store", "upgrade", str(old)])
    assert args.func(args) == 0
    assert len(levels_frame(old)) == 10
    groups = set(runs_frame(old)["seed_group"])  # configs "seed: N" (defaults elsewhere)
    assert len(groups) == 1 and len(groups.pop()) == 12
    args = parser.parse_args(["store", "compact", str(tmp_path / "missing.h5")])
    with pytest.raises(StoreError, match="no such file"):
        args.func(args)


WRITER = """
import sys
import numpy as np
from pipeline.store import LevelPayload, LevelRecord, RunRecord, write_store
rng = np.random.default_rng(0)
masks = {f"layer{i}.weight": rng.random((1000, 1000)) < 0.5 for i in range(int(sys.argv[2]))}
write_store(sys.argv[1], [RunRecord("big", "m", "d", "imp", "none", 0, 0.2, "0", "")],
            [LevelRecord("big", 0, 0.5, 0.5, 0.5, 0.5, 1, 1, 1.0)], [],
            [LevelPayload("big", 0, masks, [("*", "f", 1.0)])], {})
"""


def test_sigkill_at_any_instant_leaves_the_state_before_or_after(history: Path):
    """Kill a writer at instants spread over its whole run: the store always opens, with
    exactly the old rows or exactly the old rows plus the new run."""
    before = frames(history)
    writer = [sys.executable, "-c", WRITER, str(history), "24"]
    start = time.monotonic()
    scratch = history.with_name("scratch.h5")
    subprocess.run([*writer[:3], str(scratch), "24"], env=ENV, check=True)
    duration = time.monotonic() - start
    outcomes = set()
    for i in range(10):
        proc = subprocess.Popen(writer, env=ENV)
        time.sleep(duration * (0.5 + 0.06 * i))  # from import time to just after the end
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        now = frames(history)
        added = "big" in set(now["runs"]["run_id"])
        outcomes.add(added)
        for name, old in before.items():
            rows = now[name][now[name]["run_id"] != "big"].reset_index(drop=True)
            extra = [c for c in rows.columns if c not in old.columns]
            pd.testing.assert_frame_equal(rows.drop(columns=extra), old)
        if added:
            assert read_masks(history, "big", 0)["layer3.weight"].shape == (1000, 1000)
            break
    assert False in outcomes, "no kill landed before the commit"
    write_store(history, *batch(range(7, 8), 1), PROV)  # the next writer cleans up
    live = {p.name for p in history.with_name("store.h5.shards").iterdir()}
    assert not any(name.endswith(".tmp") for name in live)
    assert len(live) == 4 + added + 1
    assert sorted(p.name for p in history.parent.iterdir()) == [
        "scratch.h5",
        "scratch.h5.lock",
        "scratch.h5.shards",
        "store.h5",
        "store.h5.lock",
        "store.h5.shards",
    ]


HOLDER = """
import sys
from pipeline.store.lock import StoreLock
with StoreLock(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.readline()  # hold the lock until told
"""

ADD = """
import sys
sys.path.insert(0, sys.argv[3])
from store_history import PROV, batch
from pipeline.store import write_store
runs = range(int(sys.argv[2]), int(sys.argv[2]) + 3)
print(write_store(sys.argv[1], *batch(runs, 2), PROV, lock_timeout=60))
"""


def test_a_second_writer_waits_for_the_lock_or_times_out(history: Path):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(history)],
        env=ENV,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(StoreError, match="still locked by pid"), StoreLock(history, timeout=0.5):
        pass
    waiter = subprocess.Popen(
        [sys.executable, "-c", ADD, str(history), "10", str(REPO / "tests")],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    message = waiter.stderr.readline()  # blocks until the waiter reports that it waits
    assert "waiting for the store lock" in message and f"held by pid {holder.pid}" in message
    assert waiter.poll() is None and len(levels_frame(history)) == 10  # it wrote nothing yet
    holder.communicate("release\n", timeout=30)
    out, err = waiter.communicate(timeout=60)
    assert holder.returncode == 0 and waiter.returncode == 0, err
    assert "Added(runs=3, levels=6" in out
    assert len(levels_frame(history)) == 16

    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(history)], env=ENV,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
    assert holder.stdout.readline().strip() == b"locked"
    holder.send_signal(signal.SIGKILL)  # a dead holder's lock is freed by the kernel
    holder.wait()
    with StoreLock(history, timeout=5):
        pass


def test_two_concurrent_writers_lose_and_duplicate_nothing(history: Path):
    before = levels_frame(history)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", ADD, str(history), first, str(REPO / "tests")],
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for first in ("20", "21")  # overlapping runs r21 and r22
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    added = sorted(out for out, _ in outputs)
    assert added[0].startswith("Added(runs=1, levels=2") and "runs=3, levels=6" in added[1]
    levels = levels_frame(history)
    assert len(levels) == len(before) + 2 * 4
    assert not levels.duplicated(["run_id", "level"]).any()
    feats = features_frame(history)
    assert not feats.duplicated(["run_id", "level", "layer"]).any()
    assert summary(history)["levels"] == len(levels)


def test_a_renamed_feature_answers_under_either_name(tmp_path: Path, capsys):
    from pipeline.features import RENAMED

    (old, new), *_ = RENAMED.items()
    path = tmp_path / "store.h5"
    runs, levels, curves, _ = batch(range(2), 1)
    payloads = [
        type(p)(p.run_id, p.level, {}, [("*", new, 0.25 + i)])
        for i, p in enumerate(batch(range(2), 1)[3])
    ]
    write_store(path, runs, levels, curves, payloads, PROV)
    assert features_frame(path, features=[old])[old].tolist() == [0.25, 1.25]
    assert lth_inspect([str(path), "--features", old, "--csv"]) == 0
    rows = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert rows[old].tolist() == [0.25, 1.25]


SUMMARY = """
import sys
from pipeline.cli import main
code = main(["inspect", sys.argv[1]])
heavy = sorted(m for m in ("torch", "pandas") if m in sys.modules)
print("heavy:", heavy)
sys.exit(code)
"""


def test_inspect_summary_imports_neither_torch_nor_pandas(history: Path):
    done = subprocess.run(
        [sys.executable, "-c", SUMMARY, str(history)],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "heavy: []" in done.stdout
    assert "(4 shard(s))" in done.stdout and done.stderr == ""
