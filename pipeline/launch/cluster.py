"""What the Slurm and PBS launchers share: submit, record, announce, never wait.

A backend supplies four things: submitting an array over some cohorts, submitting
the reducer after it, asking the scheduler about tasks, and where a task's log is.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from pipeline.config import LauncherConfig
from pipeline.errors import ConfigError, SchedulerError
from pipeline.io import atomic_write
from pipeline.launch.jobspec import beside_python, job_name, lth_command, shell
from pipeline.launch.manifest import Manifest
from pipeline.launch.submissions import Submission, load_submissions, record
from pipeline.paths import SweepPaths

console = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass(frozen=True)
class TaskState:
    state: str  # the scheduler's word for it (RUNNING, PENDING, R, Q, X, ...)
    live: bool  # queued or running: a resubmission would duplicate it
    on_node: bool  # running (or starting, or finishing) on a compute node


def run_command(argv: list[str], what: str) -> str:
    """Run a scheduler command; a refusal becomes a clear error naming `what`."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=120)
    except FileNotFoundError:
        raise ConfigError(
            "launcher.name", f"{argv[0]} not found: is this a login node of the cluster? ({what})"
        ) from None
    except subprocess.CalledProcessError as error:
        raise SchedulerError(
            f"{what}: {argv[0]} refused it: {(error.stderr or error.stdout).strip()}"
        ) from None
    return done.stdout


def query(argv: list[str]) -> subprocess.CompletedProcess | None:
    """Ask the scheduler something; None when its command is not installed here."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        return None


def write_script(path: Path, text: str) -> Path:
    atomic_write(path, lambda handle: handle.write(text), binary=False)
    return path


def reduce_command(manifest: Manifest, paths: SweepPaths, cfg: LauncherConfig) -> str:
    """`lth reduce <runs_dir> <store>` under the site's MPI launcher, quoted for a shell.
    An MPI launcher installed in this environment (pip's mpich) wins over the job's PATH."""
    mpiexec = (
        [beside_python(cfg.reduce_mpiexec[0]) or cfg.reduce_mpiexec[0], *cfg.reduce_mpiexec[1:]]
        if cfg.reduce_mpiexec
        else []
    )
    return shell([*mpiexec, *lth_command(), "reduce", manifest.layout.runs, paths.store])


class ClusterLauncher:
    """Submit an array (task i trains cohorts[i]) and a reducer after it; record; return."""

    blocking = False
    name = ""

    def submit(
        self,
        manifest: Manifest,
        paths: SweepPaths,
        cohorts: list[int],
        cfg: LauncherConfig,
        number: int,
    ) -> Submission:
        raise NotImplementedError

    def submit_reducer(
        self, manifest: Manifest, paths: SweepPaths, cfg: LauncherConfig, number: int, after: str
    ) -> str:
        raise NotImplementedError

    def queue(self, tasks: list[str]) -> dict[str, TaskState] | None:
        """The scheduler's state of those `tasks` it still knows; None if it can't be asked."""
        raise NotImplementedError

    def log_path(self, paths: SweepPaths, task: str) -> Path:
        raise NotImplementedError

    def launch(
        self, manifest: Manifest, paths: SweepPaths, cohorts: list[int], cfg: LauncherConfig
    ) -> list[str]:
        paths.scheduler_logs(self.name).mkdir(parents=True, exist_ok=True)
        number = len(load_submissions(paths))
        submission = self.submit(manifest, paths, cohorts, cfg, number)
        record(paths, submission)  # at once: status and resume must know of a live array
        if cfg.reduce:
            submission.reducer = self.submit_reducer(
                manifest, paths, cfg, number, submission.job_id
            )
            record(paths, submission)
        announce(paths, submission, job_name(manifest.name))
        return [submission.job_id] + ([submission.reducer] if submission.reducer else [])


def announce(paths: SweepPaths, submission: Submission, name: str) -> None:
    count = len(submission.cohorts)
    console.print(
        f"submitted {name} to {submission.backend}: job {submission.job_id} "
        f"({count} array task{'s' if count != 1 else ''}, one per cohort)"
    )
    if submission.reducer:
        console.print(f"reducer: job {submission.reducer} after it -> {paths.store}")
    console.print(f"sweep directory: {paths.dir}")
    console.print(f"watch:  lth status {shell([paths.dir])}")
    console.print(f"resume: lth resume {shell([paths.dir])}")
