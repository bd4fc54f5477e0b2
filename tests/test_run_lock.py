"""One trainer per run: the driver locks each run of its cohort (flock on train.lock), and a
run locked by another live process is left to it, with its control, and reported.

Everything here runs real `lth task` and `lth sweep` processes; which process trained
which level is read from their logs ("level L of run R trained", one line per level).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

from sweep_helpers import TINY, assert_same_results, dry_run, lth_cluster, results, task

from pipeline.cli import main
from pipeline.launch.manifest import Manifest
from pipeline.launch.status import RUNNING, sweep_state
from pipeline.locks import Lock
from pipeline.paths import SweepPaths
from pipeline.runs import Run

CONTROLS = "prune.control=none,shuffle"  # each seed's run and its shuffled-mask control
ONE_COHORT = [CONTROLS, "launcher.cohort_size=4"]  # seeds 0 and 1, both families in one
TRAINED = re.compile(r"^level (\d+) of run (\w+) trained$", re.MULTILINE)


def trained(*logs: Path) -> Counter:
    """How many times each (run, level) was trained, over the logs of several processes."""
    return Counter(
        (run, int(level)) for log in logs for level, run in TRAINED.findall(log.read_text())
    )


def planned(manifest: Manifest) -> Counter:
    runs: list[Run] = [run for i in range(len(manifest.cohorts)) for run in manifest.cohort_runs(i)]
    return Counter((run.id, level) for run in runs for level in run.planned_levels)


def family(manifest: Manifest, seed: int) -> tuple[Run, Run]:
    """The source run of `seed` and its control, in the sweep's one cohort."""
    (runs,) = [manifest.cohort_runs(i) for i in range(len(manifest.cohorts))]
    source, control = sorted((r for r in runs if r.cfg.seed == seed), key=lambda r: r.is_control)
    assert control.source.id == source.id
    return source, control


def test_a_run_locked_elsewhere_is_left_with_its_control_until_the_source_is_finished(tmp_path):
    paths, manifest = dry_run(tmp_path, *ONE_COHORT)
    source, control = family(manifest, 0)

    holder = Lock(source.paths.lock)  # held by this process, as by another trainer
    assert holder.acquire()
    log = tmp_path / "first.log"
    try:
        assert task(paths, 0, log=log).wait(timeout=120) == 1  # not everything finished
        held = {r.run_id: r for r in sweep_state(paths).runs}[source.id]
        assert held.state == RUNNING  # lth status: another process is training it
        assert (
            held.note
            == f"trained by pid {os.getpid()} on {socket.gethostname()}, which holds its lock"
        )
    finally:
        holder.release()
    assert {r.run_id: r for r in sweep_state(paths).runs}[source.id].state != RUNNING
    text = log.read_text()
    me = f"pid {os.getpid()} on {socket.gethostname()}"
    for run in (source, control):
        assert (
            f"run {run.id} left unfinished to {me}, which holds the lock of run {source.id}" in text
        )
        assert not run.paths.status.exists() and run.paths.completed_levels() == []
    others = planned(manifest) - Counter(
        {(r.id, lv): 1 for r in (source, control) for lv in r.planned_levels}
    )
    assert trained(log) == others  # seed 1's family, in the same cohort, was trained

    again = tmp_path / "again.log"
    assert task(paths, 0, log=again).wait(timeout=120) == 0  # the lock is free: trained
    assert trained(again) == planned(manifest) - others
    assert lth_cluster("status", str(paths.dir)) == 0

    # A control goes on while its source is locked elsewhere once the source is finished:
    # every mask it needs is on disk.
    for level in control.planned_levels:
        for name in ("metrics.json", "final.pt", "mask.pt"):
            (control.paths.level(level).dir / name).unlink()
    with Lock(source.paths.lock) as held:
        assert held
        last = tmp_path / "last.log"
        assert task(paths, 0, log=last).wait(timeout=120) == 0
    assert trained(last) == Counter({(control.id, lv): 1 for lv in control.planned_levels})


def test_two_sweeps_on_one_output_directory_train_each_level_once(tmp_path):
    overrides = [*TINY, "prune.levels=2", CONTROLS, "sweep.name=s"]  # 2 cohorts of 2 runs
    argv = [sys.executable, "-m", "pipeline.cli", "sweep", *overrides, f"out={tmp_path / 'out'}"]
    logs = [tmp_path / f"sweep-{i}.log" for i in range(2)]
    processes = [
        subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=open(log, "w"))  # noqa: SIM115
        for log in logs
    ]
    codes = [p.wait(timeout=600) for p in processes]
    assert set(codes) <= {0, 1}, [log.read_text()[-3000:] for log in logs]

    paths = SweepPaths(tmp_path / "out" / "sweeps" / "s")
    manifest = Manifest.load(paths)
    counts = trained(*logs)
    assert counts == planned(manifest), [log.read_text()[-3000:] for log in logs]
    assert set(counts.values()) == {1}  # no level trained twice
    assert lth_cluster("status", str(paths.dir)) == 0

    reference = tmp_path / "reference"
    assert main(["sweep", *overrides, f"out={reference}"]) == 0
    for run_id in manifest.runs:
        assert_same_results(results(tmp_path / "out", run_id), results(reference, run_id))
