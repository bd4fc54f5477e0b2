"""The launcher registry: launcher.name picks one. Backends are imported when used, so
naming or checking a launcher costs nothing (the local one imports torch, Slurm's submitit)."""

from __future__ import annotations

import importlib

_BACKENDS = {
    "local": ("pipeline.launch.local", "LocalLauncher"),
    "slurm": ("pipeline.launch.slurm", "SlurmLauncher"),
    "pbs": ("pipeline.launch.pbs", "PbsLauncher"),
}
LAUNCHER_NAMES = tuple(_BACKENDS)


def make_launcher(name: str):
    """A new launcher of the backend `name` (one of LAUNCHER_NAMES)."""
    module, cls = _BACKENDS[name]
    return getattr(importlib.import_module(module), cls)()
