"""`lth reduce` on a real sweep, under a real `mpiexec -n 2` (the venv's MPICH).

The sweep (MNIST-1D MLP, 2 seeds, IMP with reinit and shuffle controls, 2 levels) and its
2-rank store are built once per session and cached under pytest's base temp directory, so
test_report.py reuses them through `sweep_out` and `reduced_store`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import pipeline
from pipeline.config import config_from_dict
from pipeline.features.stability import chance_iou, mask_iou
from pipeline.identity import run_id, source_config
from pipeline.io import load_json, load_tensors, load_yaml
from pipeline.launch.manifest import Manifest
from pipeline.paths import RunPaths, SweepPaths
from pipeline.reduce.balance import partition
from pipeline.reduce.stability import ACROSS_SEED_FEATURES
from pipeline.report.tables import accuracy_table, level_rows
from pipeline.results import level_rows as results_level_rows
from pipeline.results import summary_table
from pipeline.store import (
    curves_frame,
    features_frame,
    levels_frame,
    read_masks,
    runs_frame,
    summary,
)

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
MPIEXEC = str(Path(sys.executable).parent / "mpiexec")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
SWEEP = [
    "sweep=none",
    "prune.levels=2",
    "prune.fraction=0.5",
    "train.duration=2ep",
    "sweep.name=t",
    "launcher.threads=1",
]
# The same CLI in one process, with mpi4py made unimportable.
NO_MPI = (
    "import sys; sys.modules['mpi4py'] = None; from pipeline.cli import main; "
    "sys.exit(main(['reduce', *sys.argv[1:]]))"
)


def train(out: Path, *overrides: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [PYTHON, "-m", "pipeline.cli", "sweep", *SWEEP, f"out={out}", *overrides],
        cwd=out,
        env=ENV,
        check=True,
        capture_output=True,
        timeout=300,
    )


def reduce_cmd(runs: Path, store: Path, ranks: int) -> list[str]:
    if ranks == 1:
        return [PYTHON, "-c", NO_MPI, str(runs), str(store)]
    return [MPIEXEC, "-n", str(ranks), PYTHON, "-m", "pipeline.reduce", str(runs), str(store)]


def reduce(runs: Path, store: Path, ranks: int = 2, code: int = 0) -> str:
    """Run the reducer; its stdout (the summary) joined into one line."""
    done = subprocess.run(
        reduce_cmd(runs, store, ranks),
        cwd=REPO,
        env=ENV,
        text=True,
        capture_output=True,
        timeout=300,
    )
    assert done.returncode == code, done.stdout + done.stderr
    return " ".join(done.stdout.split())


def built_sweep(factory: pytest.TempPathFactory) -> Path:
    out = factory.getbasetemp() / "reduce_sweep"
    if not (out / "sweeps" / "t" / "results.md").is_file():
        train(out, "seed=0,1", "prune.control=none,reinit,shuffle")
    return out


def built_store(factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The sweep reduced with 2 ranks, and the reducer's summary line."""
    store = factory.getbasetemp() / "reduce_store" / "store.h5"
    log = store.with_suffix(".log")
    if not store.is_file():
        store.parent.mkdir(exist_ok=True)
        log.write_text(reduce(built_sweep(factory) / "runs", store))
    return store, log.read_text()


@pytest.fixture(scope="session")
def sweep_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_sweep(tmp_path_factory)


@pytest.fixture(scope="session")
def reduced(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return built_store(tmp_path_factory)


@pytest.fixture(scope="session")
def grown_out(tmp_path_factory: pytest.TempPathFactory, sweep_out: Path) -> Path:
    """The sweep plus one more IMP seed."""
    out = tmp_path_factory.getbasetemp() / "reduce_grown"
    if not (out / "sweeps" / "t" / "results.md").is_file():
        shutil.copytree(sweep_out, out)
        (out / "sweeps" / "t" / "results.md").unlink()
        train(out, "seed=2", "prune.control=none")
    return out


def run_dirs(out: Path) -> dict[str, RunPaths]:
    return {d.name: RunPaths(d) for d in sorted((out / "runs").iterdir())}


def frames(store: Path) -> dict[str, pd.DataFrame]:
    return {
        "runs": runs_frame(store),
        "levels": levels_frame(store),
        "curves": curves_frame(store),
        "features": features_frame(store),
    }


def network(store: Path, feature: str) -> dict[tuple[str, int], float]:
    feats = features_frame(store)
    rows = feats[feats["layer"] == "*"]
    return {
        (r, int(lv)): v
        for r, lv, v in zip(rows["run_id"], rows["level"], rows[feature], strict=True)
    }


def pooled(masks: dict[str, np.ndarray]) -> np.ndarray:
    return np.concatenate([m.ravel() for m in masks.values()])


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def copy_store(source: Path, target: Path) -> None:
    """A store is its index file and its shard directory."""
    shutil.copy(source, target)
    shards = source.with_name(source.name + ".shards")
    shutil.copytree(shards, target.with_name(target.name + ".shards"))


def test_store_holds_every_complete_level(sweep_out: Path, reduced: tuple[Path, str]) -> None:
    store, log = reduced
    assert "added 6 runs, 14 levels" in log and "2 MPI ranks, a shard per rank" in log
    levels = levels_frame(store).set_index(["run_id", "level"])
    curves = curves_frame(store)
    density = network(store, "density")
    checked = 0
    for rid, paths in run_dirs(sweep_out).items():
        for level in paths.completed_levels():
            metrics = load_json(paths.level(level).metrics)
            row = levels.loc[(rid, level)]
            assert row["density"] == metrics["density"]
            assert row["test_accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-7)
            masks = read_masks(store, rid, level)
            assert pooled(masks).mean() == pytest.approx(metrics["density"], abs=1e-12)
            assert density[rid, level] == pytest.approx(metrics["density"], abs=1e-12)
            on_disk = load_tensors(paths.level(level).mask)
            for layer, mask in masks.items():
                assert np.array_equal(mask, on_disk[layer].numpy())
                assert mask.mean() == pytest.approx(metrics["layer_density"][layer], abs=1e-6)
            curve = curves[(curves["run_id"] == rid) & (curves["level"] == level)]
            assert list(curve["iteration"]) == [e["iteration"] for e in metrics["evaluations"]]
            checked += 1
    assert checked == len(levels) == 14

    with h5py.File(store, "r") as f:
        assert f.attrs["package_version"] == pipeline.__version__
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        assert f.attrs["git_revision"] == (head or "unknown")
    with xr.open_dataset(store, engine="h5netcdf", phony_dims="sort", group="levels") as ds:
        assert sorted(ds["density"].values) == sorted(levels["density"])
    with xr.open_dataset(store, engine="h5netcdf", phony_dims="sort", group="features") as ds:
        assert ds["mask_iou_prev_level"].size == len(features_frame(store))


def test_stability_features_match_the_masks(sweep_out: Path, reduced: tuple[Path, str]) -> None:
    store, _ = reduced
    runs = run_dirs(sweep_out)
    cfgs = {rid: config_from_dict(load_yaml(p.config)) for rid, p in runs.items()}
    prev_iou = network(store, "mask_iou_prev_level")
    prev_hamming = network(store, "mask_hamming_prev_level")
    seeds_iou = network(store, "mask_iou_across_seeds")
    seeds_count = network(store, "mask_iou_across_seeds_count")
    for rid, cfg in cfgs.items():
        for level in runs[rid].completed_levels():
            mine = read_masks(store, rid, level)
            density = pooled(mine).mean()
            if level == 0:
                assert np.isnan(prev_iou[rid, level])
            elif level == 1:  # against the dense level 0, for tickets and controls alike
                assert prev_iou[rid, level] == pytest.approx(density)
                assert prev_hamming[rid, level] == pytest.approx(1 - density)
            sibling = next(
                r for r, c in cfgs.items() if r != rid and run_id(replace(c, seed=cfg.seed)) == rid
            )
            theirs = read_masks(store, sibling, level)
            assert seeds_iou[rid, level] == pytest.approx(mask_iou(pooled(mine), pooled(theirs)))
            assert seeds_count[rid, level] == 1.0
            if cfg.prune.control == "none":
                if level >= 1:  # IMP masks are nested: IoU = |m_L| / |m_{L-1}|
                    before = pooled(read_masks(store, rid, level - 1))
                    assert prev_iou[rid, level] == pytest.approx(density / before.mean())
                    assert prev_hamming[rid, level] == pytest.approx(before.mean() - density)
                continue
            source = read_masks(store, run_id(source_config(cfg)), level)
            if cfg.prune.control == "reinit":
                assert all(np.array_equal(mine[k], source[k]) for k in mine)
                continue
            for layer, mask in mine.items():  # shuffle: random within each layer
                d = mask.mean()
                assert mask.sum() == source[layer].sum()
                assert mask_iou(mask, source[layer]) == pytest.approx(chance_iou(d, d), abs=0.05)
                assert not np.array_equal(mask, source[layer])


def test_second_reduce_adds_nothing(
    sweep_out: Path, reduced: tuple[Path, str], tmp_path: Path
) -> None:
    store = tmp_path / "store.h5"
    copy_store(reduced[0], store)
    before = sha(store)
    assert "added 0 runs, 0 levels, 0 curve points, 0 masks" in reduce(sweep_out / "runs", store)
    assert sha(store) == before


def test_one_rank_equals_two_ranks(
    sweep_out: Path, reduced: tuple[Path, str], tmp_path: Path
) -> None:
    serial = tmp_path / "serial.h5"
    assert "single process (no MPI)" in reduce(sweep_out / "runs", serial, ranks=1)
    two, one = frames(reduced[0]), frames(serial)
    for name in two:
        pd.testing.assert_frame_equal(one[name], two[name])
    for rid, level in zip(two["levels"]["run_id"], two["levels"]["level"], strict=True):
        a, b = read_masks(serial, rid, level), read_masks(reduced[0], rid, level)
        assert list(a) == list(b) and all(np.array_equal(a[k], b[k]) for k in a)


def test_new_run_and_new_level_add_only_their_rows(
    grown_out: Path, reduced: tuple[Path, str], tmp_path: Path
) -> None:
    out, store = tmp_path / "out", tmp_path / "store.h5"
    shutil.copytree(grown_out, out)
    copy_store(reduced[0], store)
    old = frames(store)
    new = (set(run_dirs(out)) - set(old["runs"]["run_id"])).pop()
    marker = RunPaths(out / "runs" / new).level(2).metrics
    hidden = marker.with_name("hidden.json")
    marker.rename(hidden)  # level 2 not complete yet: only levels 0 and 1 are reduced

    log = reduce(out / "runs", store)
    assert "added 1 runs, 2 levels" in log and "updated" in log
    grown = frames(store)
    # old rows first, unchanged but for the across-seed group statistics; then the new run's
    for name, frame in old.items():
        kept = [c for c in frame.columns if c not in ACROSS_SEED_FEATURES]
        pd.testing.assert_frame_equal(grown[name].iloc[: len(frame)][kept], frame[kept])
        assert set(grown[name]["run_id"].iloc[len(frame) :]) == {new}
    assert sorted(grown["levels"].query("run_id == @new")["level"]) == [0, 1]
    imp = sorted(runs_frame(store).query("control == 'none'")["run_id"])
    assert new in imp and len(imp) == 3

    def mean_iou(run: str, level: int) -> float:
        mine = pooled(read_masks(store, run, level))
        return np.mean(
            [
                mask_iou(mine, pooled(read_masks(store, other, level)))
                for other in imp
                if other != run
            ]
        )

    # the stored seeds' level-1 means now take in the new seed too
    for run in imp:
        assert network(store, "mask_iou_across_seeds")[run, 1] == pytest.approx(mean_iou(run, 1))
        assert network(store, "mask_iou_across_seeds_count")[run, 1] == 2.0
    old_level2 = network(store, "mask_iou_across_seeds_count")
    assert all(old_level2[run, 2] == 1.0 for run in imp if run != new)

    hidden.rename(marker)
    assert "added 0 runs, 1 levels" in reduce(out / "runs", store)
    assert sorted(levels_frame(store).query("run_id == @new")["level"]) == [0, 1, 2]
    for run in imp:
        assert network(store, "mask_iou_across_seeds")[run, 2] == pytest.approx(mean_iou(run, 2))
        assert network(store, "mask_iou_across_seeds_count")[run, 2] == 2.0


def test_kill_during_write_leaves_previous_store(
    grown_out: Path, reduced: tuple[Path, str], tmp_path: Path
) -> None:
    """SIGKILL the whole MPI job while its ranks write their shards: the old store survives,
    and the next reduce removes the dead job's files and adds everything."""
    store = tmp_path / "store.h5"
    copy_store(reduced[0], store)
    shards = tmp_path / "store.h5.shards"
    proc = subprocess.Popen(
        reduce_cmd(grown_out / "runs", store, 2),
        cwd=REPO,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not any(p.name.endswith(".tmp") for p in shards.iterdir()):
        assert proc.poll() is None and time.monotonic() < deadline, "no shard was started"
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert any(p.name.endswith(".tmp") for p in shards.iterdir())  # left behind
    old = frames(reduced[0])
    for name, frame in frames(store).items():
        pd.testing.assert_frame_equal(frame, old[name])
    assert summary(store)["masks"] == summary(reduced[0])["masks"]

    assert "added 1 runs, 3 levels" in reduce(grown_out / "runs", store)
    assert not any(p.name.endswith(".tmp") for p in shards.iterdir())


def test_two_reducers_at_once_store_every_level_once(sweep_out: Path, tmp_path: Path) -> None:
    """Two `lth reduce` jobs (2 ranks and 1) into one new store at the same moment: the
    second waits for the first's lock, then finds everything stored."""
    store = tmp_path / "store.h5"
    procs = [
        subprocess.Popen(
            reduce_cmd(sweep_out / "runs", store, ranks),
            cwd=REPO,
            env=ENV,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for ranks in (2, 1)
    ]
    logs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    added = sorted(" ".join(out.split()) for out, _ in logs)
    assert "added 0 runs, 0 levels" in added[0] and "added 6 runs, 14 levels" in added[1]
    levels = levels_frame(store)
    assert len(levels) == 14 and not levels.duplicated(["run_id", "level"]).any()
    feats = features_frame(store)
    assert not feats.duplicated(["run_id", "level", "layer"]).any()
    assert summary(store)["masks"] == 3 * 14


def test_failures_are_reported_not_hung(sweep_out: Path, tmp_path: Path) -> None:
    out, store = tmp_path / "out", tmp_path / "store.h5"
    shutil.copytree(sweep_out, out)
    broken = next(iter(run_dirs(out)))
    RunPaths(out / "runs" / broken).level(1).final.write_bytes(b"not a torch file")
    log = reduce(out / "runs", store, code=1)
    assert "added 5 runs" in log and f"failed {broken} (not stored)" in log
    assert broken not in set(runs_frame(store)["run_id"])
    # its seed sibling has no across-seed rows (they would count a seed the store lacks);
    # the other groups have theirs
    control = {rid: load_yaml(p.config)["prune"]["control"] for rid, p in run_dirs(out).items()}
    count = network(store, "mask_iou_across_seeds_count")
    for (rid, _level), value in count.items():
        assert np.isnan(value) if control[rid] == control[broken] else value == 1.0

    missing = subprocess.run(
        reduce_cmd(tmp_path / "nowhere", store, 2),
        cwd=REPO,
        env=ENV,
        text=True,
        capture_output=True,
        timeout=60,
    )
    assert missing.returncode == 2 and "nowhere: not a directory" in missing.stderr


def test_partition_balances_weights_times_levels() -> None:
    costs = [100, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 60, 40]
    groups = partition(costs, 2)
    assert sorted(i for g in groups for i in g) == list(range(len(costs)))
    assert sorted(sum(costs[i] for i in g) for g in groups) == [105, 105]
    assert partition([3, 3], 4) == [[0], [1], [], []]


def test_damaged_files_fail_only_their_own_run(sweep_out: Path, tmp_path: Path) -> None:
    """One damaged file per seed group, each failing only its run (named by the file); the
    healthy seed siblings are stored, a NaN accuracy is stored with a warning and counted
    out of the tables' n, and a directory without a config is listed as skipped."""
    out, store = tmp_path / "out", tmp_path / "store.h5"
    shutil.copytree(sweep_out, out)
    runs = run_dirs(out)
    by_group: dict[str, list[str]] = {}
    for rid, paths in runs.items():
        by_group.setdefault(load_yaml(paths.config)["prune"]["control"], []).append(rid)
    (imp, imp_ok), (reinit, reinit_ok), (shuffle, shuffle_ok) = (
        sorted(by_group[c]) for c in ("none", "reinit", "shuffle")
    )
    garbage = runs[imp].level(1).mask  # read by its sibling too
    garbage.write_bytes(b"\x00garbage" * 64)
    truncated = runs[reinit].level(2).final
    truncated.write_bytes(truncated.read_bytes()[:300])
    bad_metrics = runs[shuffle].level(1).metrics
    metrics = load_json(bad_metrics)
    del metrics["test_loss"]
    bad_metrics.write_text(json.dumps(metrics))
    nan_metrics = runs[imp_ok].level(1).metrics
    metrics = load_json(nan_metrics)
    metrics["test_accuracy"] = float("nan")
    nan_metrics.write_text(json.dumps(metrics))
    (out / "runs" / "notes").mkdir()

    done = subprocess.run(
        reduce_cmd(out / "runs", store, 2), cwd=REPO, env=ENV, text=True, capture_output=True
    )
    assert done.returncode == 1, done.stderr
    log = done.stdout
    assert "added 3 runs, 7 levels" in " ".join(log.split())
    for rid, path, why in (
        (imp, garbage, "damaged or unreadable (torch cannot load it: UnpicklingError)"),
        (reinit, truncated, "damaged or unreadable (torch cannot load it: RuntimeError)"),
        (shuffle, bad_metrics, "damaged or unreadable (no number for test_loss)"),
    ):
        assert f"failed {rid} (not stored):\n{path}: {why}" in log
    assert f"skipped notes: no config.yaml in {out / 'runs' / 'notes'}" in log
    assert "Traceback" not in log + done.stderr
    assert (
        f"warning: run {imp_ok} level 1: test_accuracy NaN in {nan_metrics} (stored as NaN; "
        "tables leave it out of means and counts)" in done.stderr.splitlines()
    )

    assert set(runs_frame(store)["run_id"]) == {imp_ok, reinit_ok, shuffle_ok}
    levels = levels_frame(store).set_index(["run_id", "level"])
    assert np.isnan(levels.loc[(imp_ok, 1), "test_accuracy"])
    assert levels.loc[(imp_ok, 2), "test_accuracy"] == pytest.approx(
        load_json(runs[imp_ok].level(2).metrics)["test_accuracy"], abs=1e-7
    )
    # every group lost a seed: no across-seed rows until the damaged runs are stored
    assert not ACROSS_SEED_FEATURES & set(features_frame(store).columns)

    table = accuracy_table(level_rows(store)).set_index(["label", "level"])
    assert table.loc[("imp", 1), "seeds"] == 0 and np.isnan(table.loc[("imp", 1), "accuracy"])
    assert table.loc[("imp", 2), "seeds"] == 1


def test_table_counts_only_seeds_with_an_accuracy(sweep_out: Path, tmp_path: Path) -> None:
    """`lth table`'s aggregation, fed from the run directories: a NaN accuracy leaves the
    mean, the std and n (it printed `0.651 ± 0.000 (n=2)` with one seed NaN)."""
    out = tmp_path / "out"
    shutil.copytree(sweep_out, out)
    imp = sorted(r for r, p in run_dirs(out).items() if "control: none" in p.config.read_text())
    path = RunPaths(out / "runs" / imp[0]).level(1).metrics
    metrics = load_json(path)
    metrics["test_accuracy"] = float("nan")
    path.write_text(json.dumps(metrics))
    kept = [load_json(RunPaths(out / "runs" / r).level(lv).metrics)["test_accuracy"]
            for r, lv in ((imp[1], 1), (imp[0], 2), (imp[1], 2))]  # fmt: skip
    table = summary_table(results_level_rows(Manifest.load(SweepPaths(out / "sweeps" / "t"))))
    column = table.columns.index("mnist1d_mlp/mnist1d imp")
    cells = {row[0]: row[column] for row in table.rows}
    assert cells["1"] == f"{kept[0]:.3f} ± 0.000 (n=1)"
    std = np.std(kept[1:], ddof=1)
    assert cells["2"] == f"{np.mean(kept[1:]):.3f} ± {std:.3f} (n=2)"
