"""The launcher's settings, checked before anything is submitted (by `lth sweep` through
`pipeline.validate`, and by `lth resume` for its launcher.* overrides)."""

from __future__ import annotations

from pipeline.config import LauncherConfig
from pipeline.errors import ConfigError
from pipeline.launch.backends import LAUNCHER_NAMES
from pipeline.launch.jobspec import walltime_seconds


def check_launcher(launcher: LauncherConfig) -> None:
    """The launcher's settings, checked before anything is submitted."""
    if launcher.name not in LAUNCHER_NAMES:
        raise ConfigError(
            "launcher.name",
            f"unknown value {launcher.name!r}; known: {', '.join(sorted(LAUNCHER_NAMES))}",
        )
    if launcher.require_account and not launcher.account:
        raise ConfigError(
            "launcher.account",
            "this site charges every job to an allocation: "
            "export LTH_ACCOUNT=<project id> (the site presets read it) or pass "
            "launcher.account=<project id>",
        )
    for key in (
        "cohort_size",
        "gpus_per_node",
        "array_parallelism",
        "mem_gb",
        "max_timeouts",
        "threads",
        "workers",
        "gpu_memory_gb",
        "status_every",
    ):
        if getattr(launcher, key) < 0:
            raise ConfigError(f"launcher.{key}", f"{getattr(launcher, key)} must be >= 0")
    for key in ("cpus_per_task", "reduce_ranks", "stale_after"):
        if getattr(launcher, key) < 1:
            raise ConfigError(f"launcher.{key}", f"{getattr(launcher, key)} must be >= 1")
    seconds = {}
    for key in ("walltime", "reduce_walltime"):
        try:
            seconds[key] = walltime_seconds(getattr(launcher, key))
        except ValueError as error:
            raise ConfigError(f"launcher.{key}", str(error)) from None
    if not 0 <= launcher.signal_margin < seconds["walltime"]:
        raise ConfigError(
            "launcher.signal_margin",
            f"{launcher.signal_margin} s must lie in [0, walltime = {seconds['walltime']} s)",
        )
