"""lth: lottery-ticket sweeps, feature stores and a-priori masks (see README.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from pipeline.errors import ConfigError, LaunchError, ManifestError

console = Console(stderr=True)


def _cohort_sizer(cfg) -> int:
    from pipeline.data import dataset_spec
    from pipeline.launch.sizing import cohort_size

    spec = dataset_spec(cfg.data.name)
    return cohort_size(
        cfg.launcher, cfg.model.name, spec.input_shape, spec.num_classes, cfg.train.batch_size
    )


def cmd_sweep(args: argparse.Namespace) -> int:
    from pipeline.compose import expand
    from pipeline.launch.backends import make_launcher
    from pipeline.launch.manifest import build_manifest
    from pipeline.paths import Layout
    from pipeline.results import report

    configs = expand(args.overrides)
    first = configs[0]
    layout = Layout(Path(first.out).resolve())
    paths = layout.sweep(first.sweep.name)
    launcher_cfg = first.launcher
    manifest = build_manifest(first.sweep.name, layout.root, configs, _cohort_sizer)
    manifest.save(paths)
    console.print(
        f"sweep {manifest.name}: {len(manifest.runs)} runs in "
        f"{len(manifest.cohorts)} cohorts -> {paths.dir}"
    )
    if args.dry_run:
        return 0
    launcher = make_launcher(launcher_cfg.name)
    launcher.launch(manifest, paths, list(range(len(manifest.cohorts))), launcher_cfg)
    if launcher.blocking:
        paths.table.write_text(report(manifest, Console()))
        console.print(f"results table: {paths.table}")
    return 0


def cmd_task(args: argparse.Namespace) -> int:
    from pipeline.launch.runner import run_task

    return run_task(Path(args.sweep_dir), args.cohort, args.device, not args.no_progress)


def cmd_table(args: argparse.Namespace) -> int:
    from pipeline.launch.manifest import Manifest
    from pipeline.paths import SweepPaths
    from pipeline.results import report

    report(Manifest.load(SweepPaths(Path(args.sweep_dir))), Console())
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    import shlex

    from pipeline.study.plan import StudyPlan
    from pipeline.study.run import run_study

    out = Path(args.out or f"lth_out/studies/{args.name}").resolve()
    plan = StudyPlan(
        args.name,
        args.overrides,
        out,
        tuple(args.densities),
        args.seeds,
        args.prior_seeds,
        args.ablate,
        command="lth study " + shlex.join(sys.argv[2:]) if args.record else "",
        imp_fraction=args.imp_fraction,
    )
    results = Path(args.results or out / "report")
    return run_study(plan, _cohort_sizer, results, console)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="lth", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)

    sweep = sub.add_parser("sweep", help="expand a Hydra sweep into a manifest and launch it")
    sweep.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. seed=0,1,2")
    sweep.add_argument("--dry-run", action="store_true", help="write the manifest only")
    sweep.set_defaults(func=cmd_sweep)

    task = sub.add_parser("task", help="train cohorts of a sweep (what array tasks run)")
    task.add_argument("sweep_dir")
    task.add_argument("--cohort", type=int, action="append", required=True)
    task.add_argument("--device", default=None)
    task.add_argument("--no-progress", action="store_true")
    task.set_defaults(func=cmd_task)

    table = sub.add_parser("table", help="accuracy against density for a sweep")
    table.add_argument("sweep_dir")
    table.set_defaults(func=cmd_table)

    study = sub.add_parser("study", help="tickets vs controls vs pruning-at-init vs prior")
    study.add_argument("overrides", nargs="*", help="Hydra overrides: model, data, recipe")
    study.add_argument("--name", default="study")
    study.add_argument("--densities", type=float, nargs="+", default=[0.5, 0.2, 0.1, 0.05, 0.02])
    study.add_argument(
        "--imp-fraction",
        type=float,
        default=0.2,
        help="of the remaining weights IMP prunes per level; each target "
        "density is read at the nearest IMP level (default 0.2)",
    )
    study.add_argument("--seeds", type=int, default=3)
    study.add_argument("--prior-seeds", type=int, default=3)
    study.add_argument("--ablate", action="store_true", help="also drop each prior component")
    study.add_argument("--out", help="output root (default lth_out/studies/NAME)")
    study.add_argument("--results", help="report folder (default OUT/report)")
    study.add_argument(
        "--no-record",
        dest="record",
        action="store_false",
        help="leave the command line out of the report",
    )
    study.set_defaults(func=cmd_study)

    # `lth inspect ...` is handed whole to the store's own parser (see main)
    sub.add_parser(
        "inspect", help="what a feature store holds, and queries (lth inspect -h)", add_help=False
    )

    from pipeline.launch.cluster_cli import register as register_cluster
    from pipeline.reduce.cli import register as register_reduce
    from pipeline.report.cli import register as register_report

    register_cluster(sub)
    register_reduce(sub)
    register_report(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["inspect"]:
        from pipeline.store.inspect import main as inspect_main

        return inspect_main(argv[1:])
    top = parser()
    args, extra = top.parse_known_args(argv)
    if extra:  # Hydra overrides after an option: `lth study --seeds 2 model=conv4`
        if not hasattr(args, "overrides") or any(e.startswith("-") for e in extra):
            top.error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides = [*args.overrides, *extra]
    try:
        return args.func(args)
    except ConfigError as error:
        console.print(f"[red]config error[/red] {error}", highlight=False, soft_wrap=True)
        return 2
    except (FileNotFoundError, ManifestError) as error:
        console.print(f"[red]error[/red] {error}", highlight=False, soft_wrap=True)
        return 2
    except LaunchError as error:
        console.print(f"[red]error[/red] {error}", highlight=False, soft_wrap=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
