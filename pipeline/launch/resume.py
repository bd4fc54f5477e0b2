"""`lth resume`: submit exactly the unfinished cohorts again, as one new array.

A cohort is resubmitted when some run of it is failed or never started and its
latest task is neither queued nor running, so calling resume twice submits
nothing the second time. Finished runs are untouched: the driver skips their
levels, and a resumed run continues from its last checkpoint.
"""

from __future__ import annotations

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException
from rich.console import Console

from pipeline.config import LauncherConfig
from pipeline.errors import ConfigError
from pipeline.launch.backends import make_launcher
from pipeline.launch.checks import check_launcher
from pipeline.launch.manifest import Manifest
from pipeline.launch.status import FAILED, NEVER, ranges, sweep_state
from pipeline.paths import SweepPaths


def launcher_config(manifest: Manifest, overrides: list[str]) -> LauncherConfig:
    """The sweep's launcher settings (from its manifest) with `launcher.*` overrides."""
    for override in overrides:
        if not override.startswith("launcher."):
            raise ConfigError(
                "overrides",
                f"{override!r}: resume takes launcher.* overrides "
                "only (the manifest fixes everything else)",
            )
    base = OmegaConf.structured(manifest.launcher)
    try:
        changes = OmegaConf.from_dotlist([o.removeprefix("launcher.") for o in overrides])
        cfg = OmegaConf.to_object(OmegaConf.merge(base, changes))
    except OmegaConfBaseException as error:
        raise ConfigError(f"launcher.{error.full_key}", str(error).splitlines()[0]) from None
    check_launcher(cfg)
    return cfg


def resume(paths: SweepPaths, overrides: list[str], console: Console) -> int:
    paths = paths.resolved()  # jobs run elsewhere: they get the absolute path
    manifest = Manifest.load(paths)
    cfg = launcher_config(manifest, overrides)
    state = sweep_state(paths)
    if state.unreachable:
        console.print(
            f"[red]cannot ask {', '.join(state.unreachable)} which tasks are still "
            f"queued or running; resubmitting now could run cohorts twice[/]"
        )
        return 1
    live = {r.cohort for r in state.runs if r.live}
    todo = sorted(set(state.cohorts(FAILED, NEVER)) - live)
    if not todo:
        reason = (
            "every run is done"
            if state.finished
            else f"still queued or running: cohorts {ranges(sorted(live))}"
        )
        console.print(f"nothing to resume: {reason}")
        return 0
    console.print(f"resuming {len(todo)} of {len(manifest.cohorts)} cohorts: {ranges(todo)}")
    launcher = make_launcher(cfg.name)
    launcher.launch(manifest, paths, todo, cfg)
    if launcher.blocking:
        return 0 if sweep_state(paths).finished else 1
    return 0
