"""The launcher registry: launcher.name picks one."""

from __future__ import annotations

from pipeline.launch.local import LocalLauncher
from pipeline.launch.pbs import PbsLauncher
from pipeline.launch.slurm import SlurmLauncher

LAUNCHERS = {"local": LocalLauncher, "slurm": SlurmLauncher, "pbs": PbsLauncher}
