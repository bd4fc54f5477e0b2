"""`lth status` without a scheduler, and a failure that surfaces: a real `lth task`
whose training raises exits non-zero and leaves a marker that status shows.

The cluster backends have their own tests (test_slurm_*, test_pbs_*).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from pipeline.cli import main
from pipeline.io import load_json
from pipeline.launch.cluster_cli import register
from pipeline.launch.manifest import Manifest
from pipeline.launch.status import FAILED, sweep_state
from pipeline.paths import SweepPaths

TINY = ["sweep=none", "prune.levels=1", "train.duration=2ep", "launcher.cohort_size=1",
        "launcher.threads=1", "progress=false", "seed=0,1"]


def lth_cluster(*argv: str) -> int:
    """`lth status|resume ...`, in this process."""
    parser = argparse.ArgumentParser(prog="lth")
    register(parser.add_subparsers(required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def dry_run(root: Path, *overrides: str) -> tuple[SweepPaths, Manifest]:
    assert main(["sweep", *TINY, *overrides, f"out={root}", "sweep.name=s", "--dry-run"]) == 0
    paths = SweepPaths(root / "sweeps" / "s")
    return paths, Manifest.load(paths)


def task(paths: SweepPaths, *cohorts: int, log: Path | None = None) -> subprocess.Popen:
    """`lth task` as a job script runs it: output to its log, LTH_LOG naming that log."""
    argv = [sys.executable, "-m", "pipeline.cli", "task", str(paths.dir), "--no-progress"]
    for cohort in cohorts:
        argv += ["--cohort", str(cohort)]
    env = {**os.environ, **({"LTH_LOG": str(log)} if log else {})}
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)


def run_dir(manifest: Manifest, cohort: int) -> Path:
    return manifest.layout.run(manifest.cohorts[cohort][0]).dir


def test_a_task_whose_training_raises_exits_non_zero_and_status_shows_why(tmp_path, capsys):
    paths, manifest = dry_run(tmp_path)
    assert lth_cluster("status", str(paths.dir)) == 1
    assert capsys.readouterr().out.count("never started") >= 2

    broken = run_dir(manifest, 0) / "level_0" / "partial.pt"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"not a checkpoint")  # what a torn copy of a checkpoint looks like
    log = tmp_path / "task.log"
    assert task(paths, 0, 1, log=log).wait(timeout=120) == 1  # cohort 1 still trained

    marker = load_json(run_dir(manifest, 0) / "status.json")
    assert marker["state"] == "failed" and marker["log"] == str(log)
    assert "Error" in marker["error"].split(":")[0]
    assert load_json(run_dir(manifest, 1) / "status.json")["state"] == "done"

    assert lth_cluster("status", str(paths.dir)) == 1
    out = capsys.readouterr().out
    assert "1 done, 1 failed" in out and log.read_text().splitlines()[-1] in out  # its tail
    (failed,) = [r for r in sweep_state(paths).runs if r.state == FAILED]
    assert failed.cohort == 0 and failed.log == str(log) and failed.note == marker["error"]


