"""`lth sweep OVERRIDES...`: expand a Hydra sweep into a manifest and launch it."""

from __future__ import annotations

import argparse
from pathlib import Path


def cohort_sizer(cfg) -> int:
    """Runs per cohort for `cfg`: launcher.cohort_size, or sized from the device's memory."""
    from pipeline.data import dataset_spec
    from pipeline.launch.sizing import cohort_size

    spec = dataset_spec(cfg.data.name)
    return cohort_size(
        cfg.launcher, cfg.model.name, spec.input_shape, spec.num_classes, cfg.train.batch_size
    )


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from pipeline.compose import expand
    from pipeline.io import atomic_write
    from pipeline.launch.backends import make_launcher
    from pipeline.launch.manifest import build_manifest
    from pipeline.paths import Layout
    from pipeline.results import report

    configs = expand(args.overrides, args.config_dir)
    first = configs[0]
    layout = Layout(Path(first.out).resolve())
    paths = layout.sweep(first.sweep.name)
    manifest = build_manifest(first.sweep.name, layout.root, configs, cohort_sizer)
    manifest.save(paths)
    console = Console(stderr=True)
    console.print(
        f"sweep {manifest.name}: {len(manifest.runs)} runs in "
        f"{len(manifest.cohorts)} cohorts -> {paths.dir}"
    )
    if args.dry_run:
        return 0
    launcher = make_launcher(first.launcher.name)
    launcher.launch(manifest, paths, list(range(len(manifest.cohorts))), first.launcher)
    if launcher.blocking:
        table = report(manifest, Console())
        atomic_write(paths.table, lambda handle: handle.write(table), binary=False)
        console.print(f"results table: {paths.table}")
    return 0


def add_config_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config-dir",
        type=Path,
        help="a directory of your own config groups, searched before the packaged ones "
        "(default: $LTH_CONFIG_DIR)",
    )


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help="expand a Hydra sweep into a manifest and launch it",
        description="Every combination of the overrides (seed=0,1,2 model=conv2,conv4) becomes "
        "one run of a manifest, grouped into cohorts, then launched (launcher=...). "
        "`lth config` lists every key.",
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. seed=0,1,2")
    parser.add_argument("--dry-run", action="store_true", help="write the manifest only")
    add_config_dir(parser)
    parser.set_defaults(func=run)
