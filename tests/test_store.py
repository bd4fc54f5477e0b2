"""The HDF5 feature store: schema, incremental atomic writes, readers and `lth inspect`."""

from __future__ import annotations

import io
import os
from dataclasses import fields
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from pipeline.cli import main as lth
from pipeline.store import (
    Added,
    CurvePoint,
    LevelPayload,
    LevelRecord,
    RunRecord,
    curves_frame,
    features_frame,
    levels_frame,
    read_masks,
    runs_frame,
    store_keys,
    summary,
    write_store,
)
from pipeline.store.schema import CURVES, LEVELS, RUNS, SCHEMA_VERSION

REPO = Path(__file__).resolve().parents[1]
PROV = {"package_version": "0.1.0", "git_revision": "abc123"}


def lth_inspect(argv: list[str]) -> int:
    return lth(["inspect", *argv])


def run(run_id: str, model: str = "lenet", method: str = "imp", seed: int = 0) -> RunRecord:
    return RunRecord(run_id, model, "mnist", method, "none", seed, 0.2, "0", f"seed: {seed}\n")


def level(run_id: str, lv: int, density: float, acc: float) -> LevelRecord:
    return LevelRecord(run_id, lv, density, acc, 1 - acc, acc + 0.01, 100 * (lv + 1), 1000, 2.5)


def mask_seed(run_id: str, lv: int) -> int:
    return 10 * int(run_id[1:]) + lv


def masks_for(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "fc1.weight": rng.random((7, 3)) < 0.4,
        "conv1.weight": rng.random((5, 3, 3, 3)) < 0.3,
        "fc2.bias": np.ones(13, bool),
        "fc3.weight": np.zeros((1, 9), bool),
    }


def payload(run_id: str, lv: int, density: float) -> LevelPayload:
    rows = [
        ("fc1.weight", "density", density * 0.75),
        ("fc1.weight", "kurtosis", 3.0 + lv),
        ("conv1.weight", "density", density / 2),
        ("*", "effective_density", density * 0.9),
    ]
    return LevelPayload(run_id, lv, masks_for(mask_seed(run_id, lv)), rows)


def write_runs(path: Path, run_ids: list[str], n_levels: int = 2):
    """Write runs with levels of density 0.8**lv and accuracy 0.9 - 0.01*lv."""
    runs = [run(r, model="lenet" if i % 2 == 0 else "conv2", seed=i) for i, r in enumerate(run_ids)]
    levels = [level(r, lv, 0.8**lv, 0.9 - 0.01 * lv) for r in run_ids for lv in range(n_levels)]
    curves = [
        CurvePoint(r, lv, it, 0.5 + it / 1000, 2.0 - it / 1000)
        for r in run_ids
        for lv in range(n_levels)
        for it in (0, 100, 200)
    ]
    payloads = [payload(r, lv, 0.8**lv) for r in run_ids for lv in range(n_levels)]
    return write_store(path, runs, levels, curves, payloads, PROV)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "store.h5"
    write_runs(path, ["r0", "r1"])
    return path


def test_records_match_schema_columns():
    for record, table in ((RunRecord, RUNS), (LevelRecord, LEVELS), (CurvePoint, CURVES)):
        assert [f.name for f in fields(record)] == list(table.columns)


def test_masks_round_trip_exactly_with_counts(store: Path):
    for r, lv in (("r0", 0), ("r1", 1)):
        expected = masks_for(mask_seed(r, lv))
        got = read_masks(store, r, lv)
        assert list(got) == list(expected)  # layer order as written
        for name, mask in expected.items():
            assert got[name].dtype == np.bool_ and got[name].shape == mask.shape
            np.testing.assert_array_equal(got[name], mask)
    with h5py.File(store, "r") as f:  # one packed array per shape, a row index beside it
        assert sorted(f["masks"]) == ["13", "1x9", "5x3x3x3", "7x3"]
        ds = f["masks/5x3x3x3"]
        assert ds.dtype == np.uint8 and ds.shape == (4, 17)  # 4 levels, ceil(135 / 8)
        assert ds.is_virtual and f["shards"].shape == ()
        index = {
            (r, int(lv), layer): (shape, int(row), int(count))
            for r, lv, layer, shape, row, count in zip(
                f["mask_index/run_id"].asstr()[()],
                f["mask_index/level"][()],
                f["mask_index/layer"].asstr()[()],
                f["mask_index/shape"].asstr()[()],
                f["mask_index/row"][()],
                f["mask_index/count"][()],
                strict=True,
            )
        }
        mask = masks_for(mask_seed("r1", 1))["conv1.weight"]
        shape, row, count = index["r1", 1, "conv1.weight"]
        assert shape == "5x3x3x3" and count == int(mask.sum()) > 0
        np.testing.assert_array_equal(ds[row], np.packbits(mask.ravel()))
        assert index["r0", 0, "fc2.bias"][2] == 13 and index["r0", 0, "fc3.weight"][2] == 0
    with pytest.raises(KeyError):
        read_masks(store, "r0", 7)


def test_writing_twice_adds_nothing_and_leaves_file_alone(store: Path):
    before = os.stat(store)
    added = write_runs(store, ["r0", "r1"])
    assert added.runs == added.levels == added.curves == added.masks == 0
    assert added.feature_rows == added.feature_cells == 0
    after = os.stat(store)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert len(runs_frame(store)) == 2
    assert len(levels_frame(store)) == 4
    assert len(curves_frame(store)) == 12
    assert len(features_frame(store)) == 4 * 3  # three layers (fc1, conv1, "*") per level


def test_adding_a_run_adds_only_its_rows_and_keeps_old_rows(store: Path):
    changed_r0 = RunRecord("r0", "vgg", "cifar10", "snip", "none", 99, 0.5, "500", "changed")
    added = write_store(
        store,
        [changed_r0, run("r2", method="random", seed=7)],
        [level("r0", 0, 0.1, 0.1), level("r2", 0, 1.0, 0.95), level("r2", 1, 0.5, 0.93)],
        [CurvePoint("r2", 1, 50, 0.7, 0.8), CurvePoint("r0", 0, 0, 0.0, 9.0)],
        [payload("r2", 1, 0.5), payload("r0", 0, 0.123)],
        PROV,
    )
    assert (added.runs, added.levels, added.curves, added.masks) == (1, 2, 1, 4)
    assert added.feature_rows == 3
    runs = runs_frame(store).set_index("run_id")
    assert list(runs.index) == ["r0", "r1", "r2"]
    assert runs.loc["r0", "model"] == "lenet" and runs.loc["r0", "seed"] == 0
    assert runs.loc["r2", "method"] == "random" and runs.loc["r2", "seed"] == 7
    levels = levels_frame(store).set_index(["run_id", "level"])
    assert len(levels) == 6
    assert levels.loc[("r0", 0), "density"] == 1.0  # the stored row was not rewritten
    assert levels.loc[("r2", 1), "test_accuracy"] == 0.93
    curves = curves_frame(store)
    assert len(curves) == 13
    assert curves[(curves.run_id == "r0") & (curves.iteration == 0)]["test_loss"].tolist() == [
        2.0,
        2.0,
    ]
    run_ids, level_keys = store_keys(store)
    assert run_ids == {"r0", "r1", "r2"}
    assert level_keys == {(r, lv) for r in ("r0", "r1", "r2") for lv in (0, 1)}
    feats = features_frame(store).set_index(["run_id", "level", "layer"])
    assert feats.loc[("r0", 0, "fc1.weight"), "density"] == 0.75  # 0.123 did not overwrite it
    assert feats.loc[("r2", 1, "conv1.weight"), "density"] == 0.25


def test_duplicates_within_one_call_keep_the_first(tmp_path: Path):
    path = tmp_path / "store.h5"
    added = write_store(
        path,
        [run("r0", model="first"), run("r0", model="second")],
        [level("r0", 0, 0.5, 0.7), level("r0", 0, 0.9, 0.1)],
        [CurvePoint("r0", 0, 10, 0.1, 1.0), CurvePoint("r0", 0, 10, 0.2, 2.0)],
        [
            LevelPayload("r0", 0, {"w": np.ones(5, bool)}, [("w", "f", 1.0), ("w", "f", 2.0)]),
            LevelPayload("r0", 0, {"w": np.zeros(5, bool)}, [("w", "f", 3.0)]),
        ],
        PROV,
    )
    assert (added.runs, added.levels, added.curves, added.masks) == (1, 1, 1, 1)
    assert (added.feature_rows, added.feature_cells) == (1, 1)
    assert runs_frame(path)["model"].tolist() == ["first"]
    assert levels_frame(path)["density"].tolist() == [0.5]
    assert curves_frame(path)["test_loss"].tolist() == [1.0]
    assert features_frame(path)["f"].tolist() == [1.0]
    assert read_masks(path, "r0", 0)["w"].tolist() == [True] * 5


def test_new_feature_columns_are_nan_for_old_rows(store: Path):
    rows = [("fc1.weight", "alpha", 2.5), ("fc1.weight", "kurtosis", -1.0), ("*", "alpha", 1.5)]
    added = write_store(
        store,
        [run("r2")],
        [level("r2", 0, 1.0, 0.9)],
        [],
        [
            LevelPayload("r2", 0, {}, rows),
            LevelPayload("r1", 1, {}, [("conv1.weight", "alpha", 4.0)]),
        ],
        PROV,
    )
    assert added.feature_rows == 2 and added.feature_cells == 4
    feats = features_frame(store)
    assert list(feats.columns) == [
        "run_id",
        "level",
        "layer",
        "alpha",
        "density",
        "effective_density",
        "kurtosis",
    ]
    assert len(feats) == 14
    alpha = feats.set_index(["run_id", "level", "layer"])["alpha"]
    assert alpha[("r2", 0, "fc1.weight")] == 2.5 and alpha[("r2", 0, "*")] == 1.5
    assert alpha[("r1", 1, "conv1.weight")] == 4.0  # an empty cell of an old row was filled
    assert (
        alpha.drop([("r2", 0, "fc1.weight"), ("r2", 0, "*"), ("r1", 1, "conv1.weight")])
        .isna()
        .all()
    )
    with h5py.File(store, "r") as f:  # the log: r1/1/conv1.weight's filled row is a new row
        assert f["features/alpha"].dtype == np.float64 and f["features/alpha"].shape == (15,)
        assert np.isnan(f["features/alpha"][:12]).all()


def test_h5py_and_xarray_read_the_store(store: Path):
    with h5py.File(store, "r") as f:
        assert int(f.attrs["schema_version"]) == SCHEMA_VERSION
        assert f.attrs["git_revision"] == "abc123" and f.attrs["package_version"] == "0.1.0"
        assert list(f["runs/run_id"].asstr()[()]) == ["r0", "r1"]
        assert h5py.check_string_dtype(f["runs/config_yaml"].dtype).encoding == "utf-8"
        assert f["levels/best_iteration"].dtype == np.int64
    root = xr.open_dataset(store, engine="h5netcdf", phony_dims="sort")
    assert int(root.attrs["schema_version"]) == 2 and root.attrs["git_revision"] == "abc123"
    lv = xr.open_dataset(store, engine="h5netcdf", phony_dims="sort", group="levels")
    assert lv["run_id"].values.tolist() == ["r0", "r0", "r1", "r1"]
    np.testing.assert_allclose(lv["density"].values, [1.0, 0.8, 1.0, 0.8])
    runs = xr.open_dataset(store, engine="h5netcdf", phony_dims="sort", group="runs")
    assert runs["config_yaml"].values.tolist() == ["seed: 0\n", "seed: 1\n"]
    feats = xr.open_dataset(store, engine="h5netcdf", phony_dims="sort", group="features")
    assert feats["layer"].values.tolist()[:3] == ["fc1.weight", "conv1.weight", "*"]
    index = xr.open_dataset(store, engine="h5netcdf", phony_dims="sort", group="mask_index")
    masks = xr.open_dataset(store, engine="h5netcdf", phony_dims="sort", group="masks")
    ref = masks_for(mask_seed("r1", 1))["fc1.weight"]
    at = np.flatnonzero(
        (index["run_id"].values == "r1") & (index["level"].values == 1)
        & (index["layer"].values == "fc1.weight")
    )[0]  # fmt: skip
    assert int(index["count"].values[at]) == int(ref.sum())
    row = masks["7x3"].values[int(index["row"].values[at])]
    assert np.unpackbits(row)[:21].reshape(7, 3).astype(bool).tolist() == ref.tolist()
    for ds in (root, lv, runs, feats, index, masks):
        ds.close()


def test_frames_and_summary_numbers(store: Path):
    levels = levels_frame(store)
    assert levels.dtypes["level"] == np.int64 and levels.dtypes["best_iteration"] == np.int64
    assert levels["best_iteration"].tolist() == [100, 200, 100, 200]
    np.testing.assert_allclose(levels["test_accuracy"], [0.9, 0.89, 0.9, 0.89])
    curves = curves_frame(store)
    assert curves[(curves.run_id == "r1") & (curves.level == 1)]["iteration"].tolist() == [
        0,
        100,
        200,
    ]
    long = features_frame(store, long=True)
    assert list(long.columns) == ["run_id", "level", "layer", "feature", "value"]
    assert len(long) == 4 * 4  # four non-NaN values per level
    r1 = long[(long.run_id == "r1") & (long.level == 1)].set_index(["layer", "feature"])["value"]
    assert r1[("conv1.weight", "density")] == pytest.approx(0.4)
    assert r1[("*", "effective_density")] == pytest.approx(0.72)
    info = summary(store)
    assert (info["runs"], info["levels"], info["curve_points"], info["masks"]) == (2, 4, 12, 16)
    assert info["layers"] == 4 and info["features"] == 3 and info["feature_rows"] == 12
    assert info["feature_names"] == ["density", "effective_density", "kurtosis"]
    assert info["provenance"] == PROV and info["schema_version"] == 2
    shards = list((store.parent / "store.h5.shards").iterdir())
    assert info["shards"] == len(shards) == 1
    assert info["file_size"] == store.stat().st_size + shards[0].stat().st_size
    assert info["mask_weights"] == 4 * (21 + 135 + 13 + 9)


def test_inspect_query_and_csv(store: Path, capsys):
    write_store(
        store,
        [run("r2", method="random", seed=5)],
        [level("r2", 0, 0.3, 0.5)],
        [],
        [LevelPayload("r2", 0, {}, [("*", "effective_density", 0.25)])],
        PROV,
    )
    assert lth_inspect([str(store), "--max-density", "0.9", "--csv"]) == 0
    rows = pd.read_csv(io.StringIO(capsys.readouterr().out))
    keys = sorted(zip(rows.run_id, rows.level, strict=True))
    assert keys == [("r0", 1), ("r1", 1), ("r2", 0)]
    assert list(rows.columns)[-1] == "effective_density"
    assert rows.set_index("run_id").loc["r2", "effective_density"] == 0.25

    assert (
        lth_inspect(
            [
                str(store),
                "--model",
                "conv2",
                "--layer",
                "fc1.weight",
                "--features",
                "kurtosis",
                "density",
                "--csv",
            ]
        )
        == 0
    )
    rows = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert rows["run_id"].tolist() == ["r1", "r1"]
    assert rows["kurtosis"].tolist() == [3.0, 4.0]
    assert rows["density[fc1.weight]"].tolist() == pytest.approx([0.75, 0.6])
    assert rows["density"].tolist() == pytest.approx([1.0, 0.8])  # the level's own column

    assert lth_inspect([str(store), "--method", "random", "--level", "0"]) == 0
    out = capsys.readouterr().out
    assert "1 level(s)" in out and "r2" in out and "r0" not in out

    assert lth_inspect([str(store)]) == 0
    out = capsys.readouterr().out
    for text in ("Store", "Runs", "Features", "effective_density", "abc123", "conv2"):
        assert text in out


def test_inspect_errors_are_one_line_exit_2(tmp_path: Path, store: Path, capsys):
    not_store = tmp_path / "plain.h5"
    with h5py.File(not_store, "w") as f:
        f["x"] = np.arange(3)
    future = tmp_path / "future.h5"
    write_runs(future, ["r0"])
    with h5py.File(future, "r+") as f:
        f.attrs["schema_version"] = 3
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    for argv, message in (
        ([str(tmp_path / "missing.h5")], "no such file"),
        ([str(text)], "not an HDF5 file"),
        ([str(not_store)], "not a feature store"),
        ([str(future), "--csv"], "schema version 3"),
        ([str(store), "--features", "nope"], "unknown feature(s) nope"),
        ([str(store), "--layer", "fc9.weight"], "no features for layer 'fc9.weight'"),
    ):
        assert lth_inspect(argv) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and message in captured.err
        assert captured.err.count("\n") == 1


def test_invalid_input_is_refused_and_store_untouched(store: Path):
    before = store.read_bytes()
    files = sorted(p.name for p in store.parent.rglob("*"))
    bad_calls = [
        ([], [level("ghost", 0, 1.0, 0.5)], [], []),  # level of an unknown run
        ([], [], [CurvePoint("r0", 5, 0, 0.1, 0.1)], []),  # curve of an unknown level
        ([], [], [], [LevelPayload("r0", 9, {"w": np.ones(3, bool)})]),
        ([], [], [], [LevelPayload("r0", 0, {"new": np.ones(3, np.uint8)})]),
        ([], [], [], [LevelPayload("r0", 0, {"a/b": np.ones(3, bool)})]),
        ([], [], [], [LevelPayload("r0", 0.5, {"w": np.ones(3, bool)})]),  # type: ignore[arg-type]
        ([], [], [], [LevelPayload("r0", 0, {}, [("*", "layer", 1.0)])]),
        ([RunRecord("r9", "m", "d", "imp", "none", 1.5, 0.2, "0", "")], [], [], []),
    ]
    for runs, levels, curves, payloads in bad_calls:
        with pytest.raises((ValueError, TypeError)):
            write_store(store, runs, levels, curves, payloads, PROV)
    with pytest.raises(ValueError, match="provenance"):
        write_store(store, [], [], [], [], {"git_rev": "x"})
    assert store.read_bytes() == before
    assert sorted(p.name for p in store.parent.rglob("*")) == files


def test_replace_columns_take_new_values_and_count_what_changed(store: Path):
    """Group statistics (across-seed means) are replaced; every other feature keeps its value."""
    rows = [("*", "effective_density", 0.5), ("fc1.weight", "density", 0.125)]
    added = write_store(
        store, [], [], [], [LevelPayload("r0", 0, {}, rows)], PROV, replace=["effective_density"]
    )
    assert (added.feature_rows, added.feature_cells, added.replaced_cells) == (0, 0, 1)
    feats = features_frame(store).set_index(["run_id", "level", "layer"])
    assert feats.loc[("r0", 0, "*"), "effective_density"] == 0.5  # was 0.9
    assert feats.loc[("r0", 0, "fc1.weight"), "density"] == 0.75  # not in `replace`
    again = write_store(
        store, [], [], [], [LevelPayload("r0", 0, {}, rows)], PROV, replace=["effective_density"]
    )
    assert again == Added(0, 0, 0, 0, 0, 0, 0)  # same value: nothing changed, nothing written


def test_a_replacing_write_clears_the_old_values_it_does_not_bring(store: Path):
    """A (run, level) whose group statistics are rewritten loses every old one of them."""

    def write(rows):
        write_store(
            store,
            [],
            [],
            [],
            [LevelPayload("r0", 1, {}, rows)],
            PROV,
            replace=["effective_density"],
        )

    write([("*", "effective_density", 0.5), ("fc1.weight", "effective_density", 0.25)])
    write([("*", "effective_density", 0.375)])
    feats = features_frame(store).set_index(["run_id", "level", "layer"])["effective_density"]
    assert feats[("r0", 1, "*")] == 0.375 and np.isnan(feats[("r0", 1, "fc1.weight")])
    assert feats[("r0", 0, "*")] == 0.9  # another level: untouched
