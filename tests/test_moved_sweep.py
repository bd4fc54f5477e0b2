"""Sweeps that move: a sweep directory moved or copied with its output root reads its own
runs (the manifest holds the root relative to the sweep directory), manifests of older
versions with an absolute root still work, and a damaged manifest is one line of error.

The sweep is a real local one, trained once per module and copied for each test.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from sweep_helpers import TINY, lth_cluster

from pipeline.cli import main
from pipeline.io import load_json, save_json
from pipeline.launch.manifest import Manifest
from pipeline.paths import SweepPaths


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """The output root of a finished two-run local sweep named `s`."""
    root = tmp_path_factory.mktemp("finished") / "out"
    assert main(["sweep", *TINY, f"out={root}", "sweep.name=s"]) == 0
    return root


def sweep_of(root: Path) -> str:
    return str(root / "sweeps" / "s")


def table(root: Path, capsys) -> tuple[str, str]:
    """`lth table` of the sweep under `root` (checked to hold accuracies), and its stderr."""
    assert lth_cluster("table", sweep_of(root)) == 0
    out, err = capsys.readouterr()
    assert re.search(r"0\.\d{3}", out), out
    return out, err


def test_a_moved_sweep_shows_done_the_same_table_and_resumes_nothing(finished, tmp_path, capsys):
    out = shutil.copytree(finished, tmp_path / "out")
    assert load_json(out / "sweeps" / "s" / "manifest.json")["root"] == "../.."
    before = table(out, capsys)

    moved = tmp_path / "elsewhere" / "renamed"
    moved.parent.mkdir()
    os.rename(out, moved)
    assert lth_cluster("status", sweep_of(moved)) == 0
    assert capsys.readouterr().out.startswith("2 runs: 2 done")
    assert table(moved, capsys) == before
    assert lth_cluster("resume", sweep_of(moved)) == 0
    assert "nothing to resume: every run is done" in capsys.readouterr().err
    assert not out.exists()  # nothing was written at the old place


def test_a_copied_sweep_reads_the_copys_runs_only(finished, tmp_path, capsys):
    original = shutil.copytree(finished, tmp_path / "original")
    copy = shutil.copytree(original, tmp_path / "copy")
    manifest = Manifest.load(SweepPaths(Path(sweep_of(original))))
    shutil.rmtree(original / "runs" / manifest.cohorts[0][0])

    assert lth_cluster("status", sweep_of(copy)) == 0
    assert capsys.readouterr().out.startswith("2 runs: 2 done")
    assert lth_cluster("status", sweep_of(original)) == 1
    assert capsys.readouterr().out.startswith("2 runs: 1 done, 1 never started")
    assert Manifest.load(SweepPaths(Path(sweep_of(copy)))).layout.root == copy


@pytest.mark.parametrize("how", ["moved", "copied"])
def test_an_absolute_root_of_an_older_manifest_is_read_where_the_sweep_lives(
    finished, tmp_path, capsys, how
):
    """Older versions pinned the absolute root. It is used while the sweep lives under it;
    once moved (the root is gone) or copied (it names the original), the runs beside the
    sweep are read, and a note says so once per process."""
    out = shutil.copytree(finished, tmp_path / "out")
    path = out / "sweeps" / "s" / "manifest.json"
    save_json(path, {**load_json(path), "root": str(out)})
    assert lth_cluster("status", sweep_of(out)) == 0
    assert capsys.readouterr().err == ""  # still where it was written: no note

    there = tmp_path / how
    if how == "moved":
        os.rename(out, there)
    else:
        shutil.copytree(out, there)
        shutil.rmtree(out / "runs")  # the copy must not need the original's runs
    assert lth_cluster("status", sweep_of(there)) == 0
    assert lth_cluster("status", sweep_of(there)) == 0
    err = capsys.readouterr().err
    assert table(there, capsys)[1] == ""  # said once (per process)
    assert err.count("note: ") == 1
    assert f"written under {out} and is now in {there / 'sweeps' / 's'}" in err
    assert f"runs are read from {there / 'runs'}" in err


@pytest.mark.parametrize("command", ["status", "table", "resume"])
@pytest.mark.parametrize(
    "text, what",
    [
        ('{"name": "s", "root": "../', "Unterminated string"),  # cut short
        ("\x00\x00\x00", "Expecting value"),  # zeros after a crash of the file system
        ('["s"]', "TypeError"),  # JSON, but not a manifest
        ('{"name": "s"}', "KeyError('root')"),
    ],
)
def test_a_damaged_manifest_is_one_line_naming_it(tmp_path, capsys, command, text, what):
    sweep = tmp_path / "sweeps" / "s"
    sweep.mkdir(parents=True)
    (sweep / "manifest.json").write_text(text)
    assert main([command, str(sweep)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"lth {command}: error: {sweep / 'manifest.json'} is damaged ({what}")
    assert "`lth sweep ... --dry-run`" in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["manifest.json", "s", "sweeps"]
