"""`lth resume` with the local launcher: no scheduler to ask, so a run counts as live
while its status.json is fresh (launcher.stale_after). The tasks are real `lth task`
processes; the cluster backends have their own tests (test_slurm_*, test_pbs_*).
"""

from __future__ import annotations

import signal
import time

import pytest
from sweep_helpers import dry_run, lth_cluster, run_dir, task

from pipeline.errors import ConfigError
from pipeline.io import load_json, save_json
from pipeline.launch.status import FAILED, sweep_state

STALE_AFTER = 600  # s: cohort 1's paused task stays live for the whole first resume


def test_resume_runs_only_what_is_unfinished_and_not_live(tmp_path, capsys):
    paths, manifest = dry_run(tmp_path, "seed=0,1,2", f"launcher.stale_after={STALE_AFTER}")
    # cohort 0 finished before; cohort 1 has a live task (paused); cohort 2 never ran
    assert task(paths, 0).wait(timeout=120) == 0
    finished = {p: p.stat().st_mtime_ns for p in run_dir(manifest, 0).rglob("*")}
    live = task(paths, 1)
    status = run_dir(manifest, 1) / "status.json"
    deadline = time.time() + 60
    while not (status.is_file() and load_json(status)["state"] == "running"):
        assert time.time() < deadline and live.poll() is None
        time.sleep(0.01)
    live.send_signal(signal.SIGSTOP)  # mid-level, and its status.json is fresh

    assert lth_cluster("resume", str(paths.dir)) == 1  # cohort 1 is not finished
    assert "resuming 1 of 3 cohorts: 2" in capsys.readouterr().err
    assert load_json(run_dir(manifest, 2) / "status.json")["state"] == "done"
    assert load_json(status)["state"] == "running"
    assert {p: p.stat().st_mtime_ns for p in run_dir(manifest, 0).rglob("*")} == finished

    live.kill()  # killed without a word: its status.json is never updated again
    live.wait(timeout=30)
    # it goes stale launcher.stale_after seconds after its last update; rather than wait,
    # the test moves that update back (a slow machine cannot make cohort 1 stale early)
    last = load_json(status)
    save_json(status, {**last, "updated": last["updated"] - STALE_AFTER - 1})
    assert lth_cluster("status", str(paths.dir)) == 1
    (lost,) = [r for r in sweep_state(paths).runs if r.state == FAILED]
    assert lost.cohort == 1 and lost.note.startswith("its task ended mid-level")
    assert lth_cluster("resume", str(paths.dir)) == 0  # local: runs it here, to the end
    assert lth_cluster("status", str(paths.dir)) == 0
    assert lth_cluster("resume", str(paths.dir)) == 0
    assert "nothing to resume: every run is done" in capsys.readouterr().err


@pytest.mark.parametrize(
    "override, key",
    [
        ("seed=3", "overrides"),
        ("launcher.walltime=soon", "launcher.walltime"),
        ("launcher.cpus_per_task=none", "launcher.cpus_per_task"),
        ("launcher.signal_margin=99999", "launcher.signal_margin"),
    ],
)
def test_resume_takes_checked_launcher_overrides_only(tmp_path, override, key):
    paths, _ = dry_run(tmp_path)
    with pytest.raises(ConfigError) as error:
        lth_cluster("resume", str(paths.dir), override)
    assert error.value.key == key
