"""The Slurm backend: one submitit array per submission, checkpoint-and-requeue in the task.

Task i of the array runs `CohortTask(sweep)(cohorts[i])`. Slurm sends SIGUSR2
`launcher.signal_margin` seconds before the time limit (and `scancel --signal=USR2`
or preemption may send it earlier); the task turns it into a stop at the next
iteration, the trainer writes its mid-level checkpoint, and only then is submitit's
own handler run: it calls `CohortTask.checkpoint` (the same task again, which picks
up from the checkpoint on disk), saves it and requeues the array task. SIGTERM
(scancel, a cancelling preemption) also checkpoints, then the task exits.
"""

from __future__ import annotations

import math
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import submitit
from submitit.core.utils import FailedJobError

from pipeline.config import LauncherConfig
from pipeline.errors import ConfigError, SchedulerError
from pipeline.launch.cluster import (
    ClusterLauncher,
    TaskState,
    query,
    reduce_command,
    run_command,
    write_script,
)
from pipeline.launch.jobspec import job_name, render, setup_lines, shell, walltime_seconds
from pipeline.launch.manifest import Manifest
from pipeline.launch.runner import FINISHED, STOPPED, run_task
from pipeline.launch.signals import StopOnSignal
from pipeline.launch.submissions import Submission
from pipeline.paths import SweepPaths

# squeue's long state names: those of a task that has ended, and of one on a node.
ENDED = {
    "BOOT_FAIL",
    "CANCELLED",
    "COMPLETED",
    "DEADLINE",
    "FAILED",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "PREEMPTED",
    "TIMEOUT",
}
ON_NODE = {"CONFIGURING", "RUNNING", "COMPLETING", "SIGNALING", "STAGE_OUT"}


@dataclass(frozen=True)
class CohortTask:
    """The pickled callable of every array task; `checkpoint` makes it requeueable."""

    sweep_dir: str

    def __call__(self, cohort: int) -> None:
        log = str(submitit.JobEnvironment().paths.stdout)
        with StopOnSignal((signal.SIGUSR2, signal.SIGTERM)) as stop:
            code = run_task(Path(self.sweep_dir), [cohort], None, False, should_stop=stop, log=log)
        if code == STOPPED and stop.received == signal.SIGUSR2:
            submitit_handler = stop.previous[signal.SIGUSR2]
            submitit_handler(signal.SIGUSR2, None)  # checkpoint(), requeue, exit
        if code != FINISHED:
            sys.exit(code)  # past submitit's handler, so that Slurm records the failure

    def checkpoint(self, cohort: int) -> submitit.helpers.DelayedSubmission:
        return submitit.helpers.DelayedSubmission(self, cohort)


def sbatch_parameters(cfg: LauncherConfig, name: str, count: int) -> dict:
    """submitit's SlurmExecutor parameters for one array of `count` tasks."""
    params = {
        "job_name": name,
        "time": math.ceil(walltime_seconds(cfg.walltime) / 60),
        "cpus_per_task": cfg.cpus_per_task,
        "signal_delay_s": cfg.signal_margin,
        "array_parallelism": cfg.array_parallelism or count,
        "stderr_to_stdout": True,
        "setup": setup_lines(cfg),
    }
    optional = {
        "partition": cfg.queue,
        "account": cfg.account,
        "qos": cfg.qos,
        "gpus_per_node": cfg.gpus_per_node or None,
        "mem": f"{math.ceil(cfg.mem_gb * 1024)}M" if cfg.mem_gb else None,
        "additional_parameters": {"chdir": cfg.workdir} if cfg.workdir else None,
    }
    params.update({key: value for key, value in optional.items() if value is not None})
    return params


def directives(cfg: LauncherConfig) -> str:
    """#SBATCH lines for the account, partition, QOS and directory that are set (quoted)."""
    flags = {"account": cfg.account, "partition": cfg.queue, "qos": cfg.qos, "chdir": cfg.workdir}
    return "\n".join(f"#SBATCH --{flag}={shell([value])}" for flag, value in flags.items() if value)


class SlurmLauncher(ClusterLauncher):
    name = "slurm"

    def submit(
        self,
        manifest: Manifest,
        paths: SweepPaths,
        cohorts: list[int],
        cfg: LauncherConfig,
        number: int,
    ) -> Submission:
        paths = paths.resolved()  # the pickled task runs in the job's directory, not ours
        try:
            executor = submitit.SlurmExecutor(
                folder=paths.scheduler_logs(self.name), max_num_timeout=cfg.max_timeouts
            )
        except RuntimeError as error:  # no srun here: not a Slurm login node
            raise ConfigError("launcher.name", str(error)) from None
        executor.update_parameters(**sbatch_parameters(cfg, job_name(manifest.name), len(cohorts)))
        try:
            jobs = executor.map_array(CohortTask(str(paths.dir)), cohorts)
        except FailedJobError as error:
            raise SchedulerError(f"sbatch refused the array: {error}") from None
        tasks = [job.job_id for job in jobs]
        return Submission(self.name, tasks[0].split("_")[0], list(cohorts), tasks)

    def submit_reducer(
        self, manifest: Manifest, paths: SweepPaths, cfg: LauncherConfig, number: int, after: str
    ) -> str:
        paths = paths.resolved()
        script = write_script(
            paths.scripts / f"reduce-{number}.sh",
            render(
                "slurm/reduce.sh.in",
                name=shell([job_name(manifest.name, "-reduce")]),
                log=shell([paths.scheduler_logs(self.name) / "reduce-%j.log"]),
                ranks=str(cfg.reduce_ranks),
                minutes=str(math.ceil(walltime_seconds(cfg.reduce_walltime) / 60)),
                directives=directives(cfg),
                setup="\n".join(setup_lines(cfg)),
                command=reduce_command(manifest, paths, cfg),
            ),
        )
        out = run_command(
            ["sbatch", "--parsable", f"--dependency=afterany:{after}", str(script)],
            "submitting the reducer",
        )
        return out.strip().split(";")[0]

    def queue(self, tasks: list[str]) -> dict[str, TaskState] | None:
        jobs = sorted({task.split("_")[0] for task in tasks})
        argv = [
            "squeue",
            "--noheader",
            "--array",
            "--states=all",
            "--format=%i|%T",
            f"--jobs={','.join(jobs)}",
        ]
        done = query(argv)
        if done is None:
            return None
        if done.returncode != 0:
            # Every id already purged (after MinJobAge): squeue knows none of them.
            return {} if "Invalid job id" in done.stderr else None
        states = {}
        for line in done.stdout.splitlines():
            task, _, state = line.strip().partition("|")
            if task:
                states[task] = TaskState(state, state not in ENDED, state in ON_NODE)
        return states

    def log_path(self, paths: SweepPaths, task: str) -> Path:
        return paths.scheduler_logs(self.name) / f"{task}_0_log.out"
