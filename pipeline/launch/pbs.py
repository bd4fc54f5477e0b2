"""The PBS Pro backend: a `qsub -J` array per submission, rendered from pbs/*.pbs.in.

Subjob i reads PBS_ARRAY_INDEX and trains cohorts[i] through `lth task`. PBS has
no early-warning signal, so the script's `timeout` sends SIGTERM
`launcher.signal_margin` seconds before the walltime (qdel and preemption send it
too); the task checkpoints and exits with runner.STOPPED, and `lth resume`, or PBS
itself for a rerunnable (`-r y`) job it requeues, continues from the checkpoint.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pipeline.config import LauncherConfig
from pipeline.launch.cluster import (
    ClusterLauncher,
    TaskState,
    query,
    reduce_command,
    run_command,
    write_script,
)
from pipeline.launch.jobspec import (
    hms,
    job_name,
    lth_command,
    render,
    setup_lines,
    shell,
    walltime_seconds,
)
from pipeline.launch.manifest import Manifest
from pipeline.launch.submissions import Submission
from pipeline.paths import SweepPaths

ENDED = {"F", "X"}  # finished job, finished (expired) subjob; every other state is live
ON_NODE = {"R", "E"}  # running, exiting


def directives(cfg: LauncherConfig, count: int = 1) -> str:
    """Optional #PBS lines: account, queue and (for several cohorts) the array range."""
    lines = [
        f"#PBS -A {shell([cfg.account])}" if cfg.account else "",
        f"#PBS -q {shell([cfg.queue])}" if cfg.queue else "",
    ]
    if count > 1:  # a range must have at least two indices; one cohort is a plain job
        throttle = f"%{cfg.array_parallelism}" if 0 < cfg.array_parallelism < count else ""
        lines.append(f"#PBS -J {shell([f'0-{count - 1}{throttle}'])}")
    return "\n".join(line for line in lines if line)


def select(cfg: LauncherConfig) -> str:
    chunk = f"1:ncpus={cfg.cpus_per_task}:mpiprocs=1"
    if cfg.gpus_per_node:
        chunk += f":ngpus={cfg.gpus_per_node}"
    if cfg.mem_gb:
        chunk += f":mem={round(cfg.mem_gb * 1024)}mb"
    return chunk


def workdir(cfg: LauncherConfig) -> str:
    return shell([cfg.workdir]) if cfg.workdir else '"$PBS_O_WORKDIR"'


def array_script(
    manifest: Manifest, paths: SweepPaths, cohorts: list[int], cfg: LauncherConfig
) -> str:
    paths = paths.resolved()  # the job starts in its own working directory
    logs = paths.scheduler_logs("pbs")
    walltime = walltime_seconds(cfg.walltime)
    return render(
        "pbs/array.pbs.in",
        name=shell([job_name(manifest.name)]),
        select=shell([select(cfg)]),
        walltime=shell([hms(walltime)]),
        pbs_log=shell([f"{logs}/"]),
        directives=directives(cfg, len(cohorts)),
        setup="\n".join(setup_lines(cfg)),
        workdir=workdir(cfg),
        cohorts=" ".join(str(int(c)) for c in cohorts),
        logs=shell([logs]),
        margin=str(cfg.signal_margin),
        stop_after=str(walltime - cfg.signal_margin),
        task=shell([*lth_command(), "task", paths.dir, "--no-progress"]),
    )


def reducer_script(manifest: Manifest, paths: SweepPaths, cfg: LauncherConfig) -> str:
    paths = paths.resolved()
    return render(
        "pbs/reduce.pbs.in",
        name=shell([job_name(manifest.name, "-reduce")]),
        ranks=str(int(cfg.reduce_ranks)),
        walltime=shell([hms(walltime_seconds(cfg.reduce_walltime))]),
        log=shell([f"{paths.scheduler_logs('pbs')}/"]),
        directives=directives(cfg),
        setup="\n".join(setup_lines(cfg)),
        workdir=workdir(cfg),
        command=reduce_command(manifest, paths, cfg),
    )


def short_id(job_id: str) -> str:
    """ "1234[5].pbs01.hpc.mil" -> "1234[5]": servers differ in how much name they print."""
    return job_id.split(".")[0]


def parse_qstat_json(text: str) -> dict[str, str]:
    """Short job id -> job_state from `qstat -x -t -f -F json` (raises on malformed JSON)."""
    jobs = json.loads(text).get("Jobs", {}) if text.strip() else {}
    return {short_id(job_id): attrs.get("job_state", "?") for job_id, attrs in jobs.items()}


def parse_qstat_text(text: str) -> dict[str, str]:
    """Short job id -> state from `qstat -a -x -t -w`: id first, state next to last."""
    states = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 3 and words[0][0].isdigit():
            states[short_id(words[0])] = words[-2]
    return states


class PbsLauncher(ClusterLauncher):
    name = "pbs"

    def submit(
        self,
        manifest: Manifest,
        paths: SweepPaths,
        cohorts: list[int],
        cfg: LauncherConfig,
        number: int,
    ) -> Submission:
        script = write_script(
            paths.scripts / f"array-{number}.pbs", array_script(manifest, paths, cohorts, cfg)
        )
        job = run_command(["qsub", str(script)], "submitting the array").strip()
        tasks = (
            [job.replace("[]", f"[{i}]") for i in range(len(cohorts))]
            if len(cohorts) > 1
            else [job]
        )
        return Submission(self.name, job, list(cohorts), tasks)

    def submit_reducer(
        self, manifest: Manifest, paths: SweepPaths, cfg: LauncherConfig, number: int, after: str
    ) -> str:
        script = write_script(
            paths.scripts / f"reduce-{number}.pbs", reducer_script(manifest, paths, cfg)
        )
        return run_command(
            ["qsub", "-W", f"depend=afterany:{after}", str(script)], "submitting the reducer"
        ).strip()

    def queue(self, tasks: list[str]) -> dict[str, TaskState] | None:
        jobs = sorted({re.sub(r"\[\d+\]", "[]", task) for task in tasks})  # subjob -> its array
        done = query(["qstat", "-x", "-t", "-f", "-F", "json", *jobs])
        if done is None:
            return None
        try:
            states = parse_qstat_json(done.stdout)
        except json.JSONDecodeError:  # some releases emit invalid JSON for odd variables
            text = query(["qstat", "-a", "-x", "-t", "-w", *jobs])
            states = parse_qstat_text(text.stdout) if text else {}
        if not states and done.returncode != 0 and "Unknown Job Id" not in done.stderr:
            return None
        found = {task: states[short_id(task)] for task in tasks if short_id(task) in states}
        return {
            task: TaskState(state, state not in ENDED, state in ON_NODE)
            for task, state in found.items()
        }

    def log_path(self, paths: SweepPaths, task: str) -> Path:
        return paths.scheduler_logs(self.name) / f"{task}.log"
