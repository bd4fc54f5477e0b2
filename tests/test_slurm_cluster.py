"""The Slurm backend on a real one-node Slurm cluster (.ci/slurm-up.sh starts it).

Two ends of the same promise: an array task cancelled mid-level shows as unfinished,
`lth resume` finishes it; a task sent submitit's timeout signal (SIGUSR2) writes its
checkpoint and is requeued by Slurm; and in both cases every run ends with exactly
the masks, weights and accuracies of an uninterrupted run (CPU, one thread, fixed
seeds). Accounting is off on the CI cluster, so nothing here relies on sacct.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from sweep_helpers import assert_same_results, lth_cluster, results, wait_for

from pipeline.cli import main
from pipeline.io import load_json
from pipeline.launch.manifest import Manifest
from pipeline.launch.status import DONE, FAILED, sweep_state
from pipeline.launch.submissions import load_submissions
from pipeline.paths import SweepPaths
from pipeline.store import runs_frame


def _cluster_ready() -> str | None:
    """Why the Slurm tests cannot run here, or None."""
    if shutil.which("sinfo") is None:
        return "no sinfo: no Slurm here (CI starts one with .ci/slurm-up.sh)"
    try:
        state = subprocess.run(
            ["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=10
        ).stdout.split()
    except subprocess.TimeoutExpired:
        return "sinfo did not answer: is slurmctld running? (bash .ci/slurm-up.sh)"
    if not state or state[0] not in ("idle", "mix"):
        return f"the Slurm node is not idle (sinfo: {state or 'no nodes'}); bash .ci/slurm-up.sh"
    return None


pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(_cluster_ready() is not None, reason=str(_cluster_ready())),
]

# Three levels of 6 epochs of 250 iterations: a level lasts a second or two, long
# enough to be caught in the middle by polling status.json.
SWEEP = [
    "sweep=none",
    "launcher.status_every=0",
    "prune.levels=2",
    "train.duration=6ep",
    "train.batch_size=16",
    "launcher.cohort_size=1",
    "launcher.threads=1",
    "checkpoint_every=1ep",
]
SEEDS = "seed=0,1,2"


def retraining(status: Path) -> int | None:
    """The level, once status.json says the run is inside a retraining level (1 or more)
    and before its last third; None until then."""
    try:
        s = load_json(status)
    except (OSError, ValueError):
        return None
    inside = (
        s.get("state") == "running"
        and s.get("level", 0) >= 1
        and (0 < s["iteration"] < 2 * s["of"] // 3)
    )
    return s["level"] if inside else None


def squeue() -> str:
    return "; squeue:\n" + scheduler_text("squeue", "-t", "all", "-o", "%i %T %r %j")


def scheduler_text(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The same sweep, uninterrupted, with the local launcher in this process."""
    root = tmp_path_factory.mktemp("reference")
    assert main(["sweep", *SWEEP, SEEDS, f"out={root}", "sweep.name=ref"]) == 0
    return root


@pytest.fixture
def submitted(tmp_path):
    """Submits `lth sweep launcher=slurm ...`; cancels whatever is left afterwards."""
    sweeps = []

    def submit(name: str, *overrides: str) -> tuple[SweepPaths, Manifest]:
        assert (
            main(
                [
                    "sweep",
                    *SWEEP,
                    *overrides,
                    "launcher=slurm",
                    f"out={tmp_path}",
                    f"sweep.name={name}",
                ]
            )
            == 0
        )
        paths = SweepPaths(tmp_path / "sweeps" / name)
        # it returns once the array is submitted; nothing waits for the jobs to finish
        assert any(run.state != DONE for run in sweep_state(paths).runs)
        sweeps.append(paths)
        return paths, Manifest.load(paths)

    yield submit
    jobs = {
        job
        for paths in sweeps
        for s in load_submissions(paths)
        for job in (s.job_id, s.reducer)
        if job
    }
    if jobs:
        subprocess.run(["scancel", *sorted(jobs)], capture_output=True, timeout=30)


def test_cancelled_task_shows_unfinished_and_resume_finishes_it_exactly(
    submitted, reference, tmp_path
):
    paths, manifest = submitted("cancel", SEEDS, "launcher.reduce=false")
    (submission,) = load_submissions(paths)
    assert submission.cohorts == [0, 1, 2] and len(submission.tasks) == 3  # one array
    victim = manifest.cohorts[1][0]
    status = tmp_path / "runs" / victim / "status.json"

    level = wait_for(
        lambda: retraining(status), 120, "cohort 1 to be in the middle of a level", squeue
    )
    subprocess.run(["scancel", submission.task_of(1)], check=True, timeout=30)
    wait_for(lambda: load_json(status)["state"] == "stopped", 30, "its SIGTERM checkpoint", squeue)
    assert (tmp_path / "runs" / victim / f"level_{level}" / "partial.pt").is_file()

    def cohort_1_ended() -> bool:
        return "CANCELLED" in scheduler_text(
            "squeue", "-h", "-t", "all", "-o", "%T", "-j", submission.task_of(1)
        )

    wait_for(cohort_1_ended, 30, "Slurm to record the cancellation", squeue)
    assert lth_cluster("status", str(paths.dir)) == 1

    assert lth_cluster("resume", str(paths.dir)) == 0
    assert lth_cluster("resume", str(paths.dir)) == 0  # twice: nothing submitted again
    first, again = load_submissions(paths)
    assert again.cohorts == [1]  # cohorts 0 and 2 were running or queued, not resubmitted

    wait_for(lambda: lth_cluster("status", str(paths.dir)) == 0, 300, "every run to finish", squeue)
    assert (
        f"level {level} from its mid-level checkpoint"
        in (paths.logs / "slurm" / f"{again.task_of(1)}_0_log.out").read_text()
    )
    for run_id in manifest.runs:
        assert_same_results(results(tmp_path, run_id), results(reference, run_id), 3)


def test_usr2_checkpoints_requeues_and_the_task_continues_exactly(submitted, reference, tmp_path):
    paths, manifest = submitted("requeue", "seed=0", "launcher.reduce_ranks=1")
    (submission,) = load_submissions(paths)
    task = submission.task_of(0)
    reducer = scheduler_text("scontrol", "show", "job", submission.reducer)
    assert f"Dependency=afterany:{submission.job_id}" in reducer

    run_id = manifest.cohorts[0][0]
    status = tmp_path / "runs" / run_id / "status.json"
    level = wait_for(
        lambda: retraining(status), 120, "the task to be in the middle of a level", squeue
    )
    # What Slurm sends signal_margin seconds before the time limit (submitit's timeout test)
    subprocess.run(["scancel", "--signal=USR2", task], check=True, timeout=30)
    wait_for(lambda: load_json(status)["state"] == "stopped", 30, "its USR2 checkpoint", squeue)
    assert "by SIGUSR2" in load_json(status)["reason"]

    # Requeued: pending again (Slurm holds a requeued job ~10 s), so resume adds nothing.
    wait_for(
        lambda: "Restarts=1" in scheduler_text("scontrol", "show", "job", task),
        30,
        "Slurm to requeue the task",
    )
    assert lth_cluster("status", str(paths.dir)) == 1
    assert lth_cluster("resume", str(paths.dir)) == 0
    assert len(load_submissions(paths)) == 1

    wait_for(lambda: lth_cluster("status", str(paths.dir)) == 0, 300, "the run to finish", squeue)
    log = (paths.logs / "slurm" / f"{task}_0_log.out").read_text()
    assert "Requeued job" in log and f"level {level} from its mid-level checkpoint" in log
    assert_same_results(results(tmp_path, run_id), results(reference, run_id), 3)


def test_a_task_whose_training_raises_fails_in_slurm_and_in_status(tmp_path):
    """The sweep is written with --dry-run, one checkpoint is torn, and `lth resume`
    submits the never-started cohort: its task must exit non-zero (Slurm: FAILED)."""
    assert (
        main(
            [
                "sweep",
                *SWEEP,
                "seed=0",
                "prune.levels=1",
                "launcher=slurm",
                "launcher.reduce=false",
                f"out={tmp_path}",
                "sweep.name=broken",
                "--dry-run",
            ]
        )
        == 0
    )
    paths = SweepPaths(tmp_path / "sweeps" / "broken")
    run_id = Manifest.load(paths).cohorts[0][0]
    torn = tmp_path / "runs" / run_id / "level_0" / "partial.pt"
    torn.parent.mkdir(parents=True)
    torn.write_bytes(b"\x80torn")
    try:
        assert lth_cluster("resume", str(paths.dir)) == 0
        (submission,) = load_submissions(paths)
        task = submission.task_of(0)
        wait_for(
            lambda: "FAILED" in scheduler_text("squeue", "-h", "-t", "all", "-o", "%T", "-j", task),
            60,
            "Slurm to record FAILED",
        )
    finally:
        subprocess.run(
            ["scancel", *[s.job_id for s in load_submissions(paths)]],
            capture_output=True,
            timeout=30,
        )
    marker = load_json(tmp_path / "runs" / run_id / "status.json")
    assert marker["state"] == "failed" and marker["log"].endswith(f"{task}_0_log.out")
    assert lth_cluster("status", str(paths.dir)) == 1
    assert "exited with exit code 1" in Path(marker["log"]).read_text().lower()


def test_a_killed_sweep_moved_and_resumed_by_a_relative_path_finishes_exactly(
    reference, tmp_path, monkeypatch
):
    """The whole array is cancelled mid-level, the output root is moved, and `lth resume`
    is given the sweep's relative path from the directory above, with jobs that start in
    another directory (launcher.workdir). Status reads the moved runs (nothing "never
    started"), the resumed tasks continue from the checkpoints at the new place, the
    reducer gets the new absolute paths, and every run ends as an uninterrupted one."""
    out, moved, node = tmp_path / "out", tmp_path / "moved", tmp_path / "node"
    node.mkdir()
    argv = ["sweep", *SWEEP, "seed=0,1", "launcher=slurm", "launcher.reduce=false"]
    assert main([*argv, f"out={out}", "sweep.name=mv"]) == 0
    paths = SweepPaths(out / "sweeps" / "mv")
    manifest = Manifest.load(paths)
    (first,) = load_submissions(paths)
    jobs = [first.job_id]
    try:
        status = out / "runs" / manifest.cohorts[1][0] / "status.json"
        wait_for(lambda: retraining(status), 120, "cohort 1 to be in the middle of a level", squeue)
        subprocess.run(["scancel", first.job_id], check=True, timeout=30)

        def ended() -> bool:
            states = scheduler_text("squeue", "-h", "-t", "all", "-o", "%T", "-j", first.job_id)
            return states.split() and not set(states.split()) - {"CANCELLED", "COMPLETED"}

        wait_for(ended, 60, "every task of the array to end", squeue)
        os.rename(out, moved)
        monkeypatch.chdir(tmp_path)
        relative = "moved/sweeps/mv"
        assert lth_cluster("status", relative) == 1
        states = {run.state for run in sweep_state(SweepPaths(Path(relative))).runs}
        assert FAILED in states and states <= {DONE, FAILED}  # none "never started"

        assert (
            lth_cluster(
                "resume",
                relative,
                f"launcher.workdir={node}",
                "launcher.reduce=true",
                "launcher.reduce_ranks=1",
            )
            == 0
        )
        again = load_submissions(SweepPaths(moved / "sweeps" / "mv"))[-1]
        jobs += [again.job_id, again.reducer]
        sweep = moved / "sweeps" / "mv"
        reducer = shlex.split((sweep / "jobs" / "reduce-1.sh").read_text().strip().splitlines()[-1])
        assert reducer[-3:] == ["reduce", str(moved / "runs"), str(sweep / "store.h5")]

        wait_for(lambda: lth_cluster("status", relative) == 0, 300, "every run to finish", squeue)
        log = (sweep / "logs" / "slurm" / f"{again.task_of(1)}_0_log.out").read_text()
        assert "from its mid-level checkpoint" in log
        wait_for(
            lambda: (
                "COMPLETED"
                in scheduler_text("squeue", "-h", "-t", "all", "-o", "%T", "-j", again.reducer)
            ),
            120,
            "the reducer to finish",
            squeue,
        )
        assert sorted(runs_frame(sweep / "store.h5")["run_id"]) == sorted(manifest.runs)
    finally:
        subprocess.run(["scancel", *filter(None, jobs)], capture_output=True, timeout=30)
    for run_id in manifest.runs:
        assert_same_results(results(moved, run_id), results(reference, run_id), 3)
    assert not out.exists()  # nothing was written at the old place
