"""The local launcher: cohorts run on this machine, one worker per GPU (or one on the CPU)."""

from __future__ import annotations

import subprocess
import sys

import torch

from pipeline.config import LauncherConfig
from pipeline.errors import LaunchError
from pipeline.launch.manifest import Manifest
from pipeline.launch.runner import run_task
from pipeline.paths import SweepPaths


def worker_devices(launcher: LauncherConfig) -> list[str]:
    gpus = torch.cuda.device_count() if launcher.device in ("auto", "cuda") else 0
    if gpus:
        return [f"cuda:{g}" for g in range(launcher.workers or gpus)][: max(gpus, 1)]
    device = "cpu" if launcher.device == "auto" else launcher.device
    return [device] * max(launcher.workers, 1)


class LocalLauncher:
    blocking = True

    def launch(
        self, manifest: Manifest, paths: SweepPaths, cohorts: list[int], launcher: LauncherConfig
    ) -> list[str]:
        paths = paths.resolved()  # what the workers are given, whatever their directory
        devices = worker_devices(launcher)
        if len(devices) == 1:
            if run_task(paths.dir, cohorts, devices[0], progress=True) != 0:
                raise LaunchError(
                    "some runs did not finish here (failed, stopped, or left to another "
                    f"process training them); `lth status {paths.dir}` shows which and why"
                )
            return []
        paths.logs.mkdir(parents=True, exist_ok=True)
        workers = []
        for slot, device in enumerate(devices):
            mine = cohorts[slot :: len(devices)]
            if not mine:
                continue
            command = [
                sys.executable,
                "-m",
                "pipeline.cli",
                "task",
                str(paths.dir),
                "--device",
                device,
                "--no-progress",
            ]
            for index in mine:
                command += ["--cohort", str(index)]
            log = open(paths.logs / f"local-{slot}.log", "w")  # noqa: SIM115 (closed below)
            workers.append(
                (subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT), log, device)
            )
        failed = []
        for process, log, device in workers:
            if process.wait() != 0:
                failed.append(f"worker on {device} exited {process.returncode}; see {log.name}")
            log.close()
        if failed:
            raise LaunchError("; ".join(failed))
        return []
