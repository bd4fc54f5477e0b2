"""What was submitted for a sweep: which scheduler task trains which cohort.

`submissions.json` in the sweep directory lists every array ever submitted for
it, oldest first. A cohort's *latest* submission is the one whose task state
`lth status` and `lth resume` ask the scheduler about.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.io import load_json, save_json
from pipeline.paths import SweepPaths


@dataclass(frozen=True)
class ClusterPaths(SweepPaths):
    """The files cluster submissions add to a sweep directory (pipeline.paths has the rest)."""

    @property
    def submissions(self) -> Path:
        return self.dir / "submissions.json"

    @property
    def scripts(self) -> Path:
        """Rendered job scripts, kept so a submission can be read and resubmitted by hand."""
        return self.dir / "jobs"

    @property
    def store(self) -> Path:
        """The reducer's HDF5 feature store for this sweep."""
        return self.dir / "store.h5"

    def scheduler_logs(self, backend: str) -> Path:
        return self.logs / backend


@dataclass
class Submission:
    backend: str  # launcher name: slurm | pbs
    job_id: str  # the array (or single job) as the scheduler named it
    cohorts: list[int]  # array index -> cohort index
    tasks: list[str]  # array index -> the scheduler's id of that task
    submitted: float = field(default_factory=time.time)
    reducer: str | None = None  # the reducer job run after the array

    def task_of(self, cohort: int) -> str:
        return self.tasks[self.cohorts.index(cohort)]


def load_submissions(paths: SweepPaths) -> list[Submission]:
    path = ClusterPaths(paths.dir).submissions
    return [Submission(**entry) for entry in load_json(path)] if path.is_file() else []


def record(paths: SweepPaths, submission: Submission) -> None:
    """Add `submission` to the sweep's record, or update its entry (rewritten atomically)."""
    entries = [s for s in load_submissions(paths) if s.job_id != submission.job_id]
    save_json(ClusterPaths(paths.dir).submissions,
              [dataclasses.asdict(s) for s in [*entries, submission]])


def latest(submissions: list[Submission]) -> dict[int, Submission]:
    """Cohort index -> the last submission that included it."""
    found: dict[int, Submission] = {}
    for submission in submissions:
        for cohort in submission.cohorts:
            found[cohort] = submission
    return found
