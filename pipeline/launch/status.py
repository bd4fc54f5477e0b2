"""`lth status`: where every run of a sweep stands, from its directory first.

The run directories are the truth about progress (completed levels, status.json);
the scheduler only says whether a cohort's latest array task is still queued or
running. Without accounting (sacct), Slurm forgets a job minutes after it ends, so
nothing here depends on the scheduler remembering a finished task.

States: done; running (started, and its task is queued or running, so a resubmission
would duplicate it; or its lock is held by a process of another sweep or task); failed
(ended unfinished: training raised, the task was stopped and not requeued, or killed);
never started (its task, if any, still queued).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pipeline.io import load_json
from pipeline.launch.backends import make_launcher
from pipeline.launch.cluster import TaskState
from pipeline.launch.manifest import Manifest
from pipeline.launch.submissions import Submission, latest, load_submissions
from pipeline.locks import Lock
from pipeline.paths import SweepPaths
from pipeline.runs import Run

DONE, RUNNING, FAILED, NEVER = "done", "running", "failed", "never started"
STYLE = {DONE: "green", RUNNING: "cyan", FAILED: "red", NEVER: "dim"}
LOG_TAIL = 12


@dataclass
class RunState:
    cohort: int
    run_id: str
    state: str
    live: bool  # its cohort's task is queued or running
    progress: str = ""
    job: str = ""
    note: str = ""
    log: str | None = None


@dataclass
class SweepState:
    runs: list[RunState]
    unreachable: list[str]  # schedulers that could not be asked (their tasks judged by age)

    @property
    def finished(self) -> bool:
        return all(r.state == DONE for r in self.runs)

    def cohorts(self, *states: str) -> list[int]:
        return sorted({r.cohort for r in self.runs if r.state in states})


def _progress(run: Run, status: dict) -> str:
    total = len(run.planned_levels)
    text = f"{total - len(run.pending_levels())}/{total} levels"
    if status.get("state") != "done" and "iteration" in status:
        text += f"; level {status['level']} at {status['iteration']}/{status.get('of', '?')} it"
    return text


def _queue_view(submissions: dict[int, Submission]) -> tuple[dict[str, TaskState], list[str]]:
    """Every latest task's scheduler state, and the backends that could not be asked."""
    by_backend: dict[str, list[str]] = {}
    for cohort, submission in submissions.items():
        by_backend.setdefault(submission.backend, []).append(submission.task_of(cohort))
    states, unreachable = {}, []
    for backend, tasks in by_backend.items():
        answer = make_launcher(backend).queue(tasks)
        if answer is None:
            unreachable.append(backend)
        else:
            states.update(answer)
    return states, unreachable


def _reason(status: dict, task: str | None) -> tuple[str, bool]:
    """Why an unfinished run ended, from its marker; True when the marker was left by an
    earlier task than the cohort's latest, which then ended without a word (its log says
    why: e.g. it could not start)."""
    note = {"failed": status.get("error"), "stopped": status.get("reason")}.get(
        status["state"]
    ) or "its task ended mid-level (killed?)"
    earlier = status.get("job")
    if task and earlier and earlier != task:
        return f"its latest task {task} ended without training it; before, {earlier}: {note}", True
    return note, False


def _log(status: dict, log: Path | None) -> str | None:
    """The log of the task that wrote `status`, else the latest task's (where the sweep is
    now: a moved sweep's markers name logs at its old place)."""
    recorded = status.get("log")
    if recorded and (Path(recorded).is_file() or log is None):
        return recorded
    return str(log) if log else None


def _judge(
    run: Run,
    cohort: int,
    status: dict,
    task: str | None,
    queued: TaskState | None,
    asked: bool,
    log: Path | None,
    stale_after: float,
) -> RunState:
    progress = _progress(run, status)
    job = f"{task} {queued.state}" if queued else (task or "")
    if asked:
        live = queued is not None and queued.live
    else:  # nobody to ask (local) or the scheduler did not answer: a fresh status.json
        live = (
            status.get("state") == "running"
            and time.time() - status.get("updated", 0) < stale_after
        )
    started = bool(status) or bool(run.paths.completed_levels())
    log_text = _log(status, log)
    state, note = NEVER, ""
    if not run.pending_levels():
        state = DONE
    elif live and (started or (queued is not None and queued.on_node)):
        state, note = RUNNING, "" if started else "starting"
    elif live:
        state, note = NEVER, "queued"
    elif (lock := Lock(run.paths.lock)).held_elsewhere():
        state, note = RUNNING, f"trained by {lock.holder()}, which holds its lock"
    elif status.get("state") in ("failed", "stopped", "running"):
        state = FAILED
        note, superseded = _reason(status, task)
        log_text = str(log) if superseded and log else log_text
    elif not started and task and log and log.is_file():
        state, note = FAILED, "its task ended before training began"
    return RunState(
        cohort, run.id, state, live, progress, job, note, log_text if state == FAILED else None
    )


def sweep_state(paths: SweepPaths) -> SweepState:
    """The state of every run of the sweep in `paths`."""
    paths = paths.resolved()
    manifest = Manifest.load(paths)
    submissions = latest(load_submissions(paths))
    queue, unreachable = _queue_view(submissions)
    stale_after = manifest.launcher.stale_after
    runs = []
    for cohort in range(len(manifest.cohorts)):
        submission = submissions.get(cohort)
        task = submission.task_of(cohort) if submission else None
        asked = submission is not None and submission.backend not in unreachable
        log = make_launcher(submission.backend).log_path(paths, task) if submission else None
        for run in manifest.cohort_runs(cohort):
            status = load_json(run.paths.status) if run.paths.status.is_file() else {}
            runs.append(_judge(run, cohort, status, task, queue.get(task), asked, log, stale_after))
    return SweepState(runs, unreachable)


def ranges(indices: list[int]) -> str:
    """[0, 1, 2, 5, 7, 8] -> "0-2, 5, 7-8"."""
    spans: list[list[int]] = []
    for i in indices:
        if spans and i == spans[-1][1] + 1:
            spans[-1][1] = i
        else:
            spans.append([i, i])
    return ", ".join(f"{a}-{b}" if b > a else str(a) for a, b in spans)


def _tail(path: str, lines: int = LOG_TAIL) -> str:
    try:
        text = Path(path).read_text(errors="replace").splitlines()
    except OSError as error:
        return f"(cannot read the log: {error.strerror})"
    return "\n".join(text[-lines:])


def show(state: SweepState, console: Console, everything: bool = False) -> None:
    counts = Counter(r.state for r in state.runs)
    cohorts = {s: len(state.cohorts(s)) for s in (DONE, RUNNING, FAILED, NEVER)}
    summary = ", ".join(
        f"[{STYLE[s]}]{counts[s]} {s}[/]" for s in (DONE, RUNNING, FAILED, NEVER) if counts[s]
    )
    console.print(
        f"{len(state.runs)} runs: {summary}  (cohorts: "
        + ", ".join(f"{n} {s}" for s, n in cohorts.items() if n)
        + ")"
    )
    for backend in state.unreachable:
        console.print(
            f"[yellow]{backend}: the scheduler did not answer; runs judged by how "
            f"recently their status.json changed[/]"
        )
    waiting = state.cohorts(NEVER)
    if waiting and not everything:
        console.print(f"never started: cohorts {ranges(waiting)}")
    shown = [r for r in state.runs if everything or r.state in (RUNNING, FAILED)]
    if shown:
        table = Table(show_lines=False)
        table.add_column("cohort", justify="right", min_width=6)
        table.add_column("run", min_width=12)
        table.add_column("state", min_width=13)
        for column in ("progress", "job", "note"):
            table.add_column(column, overflow="fold")
        for r in shown:
            table.add_row(
                str(r.cohort),
                r.run_id,
                f"[{STYLE[r.state]}]{r.state}[/]",
                r.progress,
                r.job,
                r.note,
            )
        console.print(table)
    for log in dict.fromkeys(r.log for r in state.runs if r.state == FAILED and r.log):
        console.rule(f"[red]{log}[/] (last {LOG_TAIL} lines)")
        console.print(_tail(log), markup=False, highlight=False)
