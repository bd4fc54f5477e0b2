"""`lth study OVERRIDES...`: tickets, controls, pruning-at-init baselines and `prior`, then
reduce and report. Run the same command again to continue a study on a cluster."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from pipeline.commands.sweep import cohort_sizer
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
    return run_study(plan, cohort_sizer, results, Console(stderr=True))


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "study",
        help="tickets vs controls vs pruning-at-init vs prior, reduced and reported",
        description="Exit code 0 once the report is written, 3 while jobs are still out on "
        "a cluster (run the same command again when they finish).",
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides: model, data, recipe")
    parser.add_argument("--name", default="study")
    parser.add_argument("--densities", type=float, nargs="+", default=[0.5, 0.2, 0.1, 0.05, 0.02])
    parser.add_argument(
        "--imp-fraction",
        type=float,
        default=0.2,
        help="of the remaining weights IMP prunes per level; each target density is read at "
        "the nearest IMP level (default 0.2)",
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--prior-seeds", type=int, default=3)
    parser.add_argument("--ablate", action="store_true", help="also drop each prior component")
    parser.add_argument("--out", help="output root (default lth_out/studies/NAME)")
    parser.add_argument("--results", help="report folder (default OUT/report)")
    parser.add_argument(
        "--no-record",
        dest="record",
        action="store_false",
        help="leave the command line out of the report",
    )
    parser.set_defaults(func=run)
