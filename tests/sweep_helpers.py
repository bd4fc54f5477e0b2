"""Helpers shared by the tests that drive whole sweeps (local, PBS without a server, Slurm)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from pipeline.cli import main, parser
from pipeline.io import load_json, load_tensors
from pipeline.launch.manifest import Manifest
from pipeline.paths import SweepPaths

TINY = [
    "sweep=none",
    "launcher.status_every=0",
    "prune.levels=1",
    "train.duration=2ep",
    "launcher.cohort_size=1",
    "launcher.threads=1",
    "seed=0,1",
]

# the shared ticket store's sweep (conftest.ticket_store): MNIST-1D MLP tickets, seeds 0
# and 1, two levels of two epochs each
TICKETS = ["sweep=none", "train.duration=2ep", "prune.levels=2", "launcher.threads=1"]


class StopAfter:
    """A driver's `should_stop` hook that answers True from its (calls + 1)-th call on."""

    def __init__(self, calls: int):
        self.calls = calls

    def __call__(self) -> bool:
        self.calls -= 1
        return self.calls < 0


def lth_cluster(*argv: str) -> int:
    """`lth status|resume ...`, in this process, letting errors raise."""
    args = parser().parse_args(list(argv))
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


def results(root: Path, run_id: str) -> dict:
    """Per level of a run: its mask, final weights and every evaluation's accuracy."""
    run = root / "runs" / run_id
    return {
        level.name: (
            load_tensors(level / "mask.pt"),
            load_tensors(level / "final.pt"),
            [e["test_accuracy"] for e in load_json(level / "metrics.json")["evaluations"]],
        )
        for level in sorted(run.glob("level_*"))
    }


def assert_same_results(a: dict, b: dict, levels: int | None = None) -> None:
    assert a.keys() == b.keys() and a and (levels is None or len(a) == levels)
    for level in a:
        (mask_a, final_a, acc_a), (mask_b, final_b, acc_b) = a[level], b[level]
        assert acc_a == acc_b, level
        assert all(torch.equal(mask_a[n], mask_b[n]) for n in mask_a), level
        assert all(torch.equal(final_a[n], final_b[n]) for n in final_a), level


def wait_for(
    predicate: Callable, timeout: float, what: str, describe: Callable[[], str] = lambda: ""
):
    """Poll until `predicate()` is truthy; on timeout fail with `describe()` appended."""
    end = time.time() + timeout
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}{describe()}")
