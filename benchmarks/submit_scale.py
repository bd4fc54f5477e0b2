"""Submit time of a 1,000-cohort sweep to the real Slurm cluster: it must return in seconds.

Builds the manifest of `--runs` runs (MNIST-1D MLP, one seed each, cohort_size 1, so
one cohort per run), then times `SlurmLauncher.launch` alone: one submitit array of
`--runs` tasks and the reducer job after it, exactly what `lth sweep launcher=slurm`
does after writing the manifest. Nothing waits for the jobs: they are cancelled at
once with scancel, and the output directory is removed (unless --out is given).

    .venv/bin/python benchmarks/submit_scale.py --runs 1000 --repeat 3

Needs a running Slurm (bash .ci/slurm-up.sh); its MaxArraySize (1001 by default)
bounds --runs.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from pipeline.compose import expand
from pipeline.launch.manifest import build_manifest
from pipeline.launch.slurm import SlurmLauncher
from pipeline.launch.submissions import load_submissions
from pipeline.paths import Layout


def build(out: Path, runs: int, name: str):
    configs = expand(
        [
            "sweep=none",
            f"seed=range(0,{runs})",
            "launcher=slurm",
            "launcher.cohort_size=1",
            f"sweep.name={name}",
            f"out={out}",
        ]
    )
    layout = Layout(out)
    manifest = build_manifest(name, out, configs, lambda cfg: 1)
    manifest.save(layout.sweep(name))
    return manifest, layout.sweep(name), configs[0].launcher


def submit_once(out: Path, runs: int, name: str) -> tuple[float, float, int, str]:
    began = time.perf_counter()
    manifest, paths, launcher = build(out, runs, name)
    built = time.perf_counter() - began
    began = time.perf_counter()
    jobs = SlurmLauncher().launch(manifest, paths, list(range(len(manifest.cohorts))), launcher)
    submitted = time.perf_counter() - began
    subprocess.run(["scancel", *jobs], check=True, timeout=60)
    submissions = load_submissions(paths)
    header = next(
        line
        for line in (paths.logs / "slurm" / f"{jobs[0]}_submission.sh").read_text().splitlines()
        if line.startswith("#SBATCH --array")
    )
    return built, submitted, len(submissions), header


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, help="keep the sweep directories here")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="lth_submit_scale_"))
    try:
        print(
            f"{platform.node()}: {args.runs} runs -> {args.runs} cohorts, {args.repeat} submissions"
        )
        times = []
        for attempt in range(args.repeat):
            built, submitted, arrays, header = submit_once(out, args.runs, f"scale{attempt}")
            times.append(submitted)
            print(
                f"  manifest built in {built:.1f} s; submitted in {submitted:.2f} s "
                f"({arrays} array: {header})"
            )
        print(f"submit wall time: best {min(times):.2f} s, worst {max(times):.2f} s")
    finally:
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
