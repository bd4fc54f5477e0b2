"""Run a study phase by phase; re-running the same command picks up where it stopped.

With a blocking launcher (local) one call does everything. With a cluster launcher
each call submits what is missing and returns; call it again once the jobs finish.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from pipeline.compose import expand
from pipeline.errors import DONE, WAITING
from pipeline.launch.backends import make_launcher
from pipeline.launch.manifest import Manifest, build_manifest
from pipeline.launch.status import sweep_state
from pipeline.paths import Layout
from pipeline.reduce.reducer import reduce
from pipeline.runs import link_runs
from pipeline.study.plan import StudyPlan
from pipeline.study.report import write_study_report


def _manifest(sweeps: list[list[str]], sizer) -> Manifest:
    configs = [cfg for overrides in sweeps for cfg in expand(overrides)]
    first = configs[0]
    return build_manifest(first.sweep.name, Path(first.out).resolve(), configs, sizer)


def _pending(manifest: Manifest) -> list[int]:
    return [
        index
        for index in range(len(manifest.cohorts))
        if any(run.pending_levels() for run in manifest.cohort_runs(index))
    ]


def _phase(label: str, sweeps: list[list[str]], sizer, console: Console) -> bool:
    """Train one phase; True once every run of it is complete. Cohorts a cluster is still
    running are left alone, and an earlier cluster manifest of the same runs is kept, so
    the cohort indices of earlier submissions stay valid. A blocking (local) launcher has
    nothing outstanding, so its manifest is rebuilt: new launcher settings (e.g.
    launcher.cohort_size) take effect on a re-run."""
    manifest = _manifest(sweeps, sizer)
    paths = Layout(Path(manifest.root)).sweep(manifest.name)
    earlier = Manifest.load(paths) if paths.manifest.is_file() else None
    if (
        earlier is not None
        and set(earlier.runs) == set(manifest.runs)
        and not make_launcher(earlier.launcher.name).blocking
    ):
        manifest = earlier
    else:
        manifest.save(paths)
    launcher_cfg = manifest.launcher
    launcher = make_launcher(launcher_cfg.name)
    pending = _pending(manifest)
    live = set() if launcher.blocking else {r.cohort for r in sweep_state(paths).runs if r.live}
    console.print(
        f"study phase {label}: {len(manifest.runs)} runs, "
        f"{len(pending)} of {len(manifest.cohorts)} cohorts unfinished"
        + (f", {len(live & set(pending))} of them still queued or running" if live else "")
    )
    if not pending:
        return True
    todo = [index for index in pending if index not in live]
    if todo:
        jobs = launcher.launch(manifest, paths, todo, launcher_cfg)
        if not launcher.blocking:
            console.print(f"submitted {', '.join(jobs)}")
    if not launcher.blocking:
        console.print("run this command again when the jobs finish")
        return False
    return not _pending(manifest)


def run_study(plan: StudyPlan, sizer, results: Path, console: Console) -> int:
    """DONE when the report is written, WAITING while jobs are still out on a cluster."""
    if not _phase("1 (tickets, controls, baselines)", plan.baseline_sweeps(), sizer, console):
        return WAITING
    reduce(plan.layout.runs, plan.layout.store)
    if not _phase(
        "2 (from the store: prior, prior starts, transfer)", plan.prior_sweeps(), sizer, console
    ):
        return WAITING
    reduce(plan.layout.runs, plan.layout.store)
    manifests = [plan.layout.sweep(f"{plan.name}-{p}") for p in ("baselines", "prior")]
    runs = {}
    for paths in manifests:
        manifest = Manifest.load(paths)
        for run in link_runs([manifest.config(r) for r in manifest.runs], manifest.layout):
            runs[run.id] = run
    report = write_study_report(plan, runs, results)
    console.print(f"study report: {report}")
    return DONE
