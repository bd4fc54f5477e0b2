"""What was submitted for a sweep: which scheduler task trains which cohort.

`submissions.json` in the sweep directory lists every array ever submitted for
it, oldest first. A cohort's *latest* submission is the one whose task state
`lth status` and `lth resume` ask the scheduler about.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

from pipeline.io import load_json, save_json
from pipeline.paths import SweepPaths


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
    path = paths.submissions
    return [Submission(**entry) for entry in load_json(path)] if path.is_file() else []


def record(paths: SweepPaths, submission: Submission) -> None:
    """Add `submission` to the sweep's record, or update its entry (rewritten atomically)."""
    entries = [s for s in load_submissions(paths) if s.job_id != submission.job_id]
    save_json(paths.submissions, [dataclasses.asdict(s) for s in [*entries, submission]])


def latest(submissions: list[Submission]) -> dict[int, Submission]:
    """Cohort index -> the last submission that included it."""
    found: dict[int, Submission] = {}
    for submission in submissions:
        for cohort in submission.cohorts:
            found[cohort] = submission
    return found
