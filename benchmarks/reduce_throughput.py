"""Reducer throughput: runs/s of `lth reduce` with 1 and with 2 MPI ranks on the same runs.

Builds (once, then reuses) a runs directory of real LeNet-300-100 runs trained by the
pipeline for a few iterations on synthetic MNIST-shaped data (IMP with the reinit and
shuffle controls, `--seeds` seeds, `--levels` levels), then reduces it into a fresh store
with each rank count under the venv's `mpiexec`, `--repeat` times, OMP_NUM_THREADS=1.
Reported: the reducer's own seconds (planning to the renamed store) and the command's wall
time (with interpreter start-up), as runs/s, the speed-up of 2 ranks over 1, and the
machine's own 2-process scaling (its ceiling: shared vCPUs may give far less than 2x).

    python benchmarks/reduce_throughput.py --seeds 8 --levels 5 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MPIEXEC = Path(sys.executable).parent / "mpiexec"
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
SUMMARY = re.compile(r"added (\d+) runs, (\d+) levels.* in ([\d.]+) s")
# A fixed single-threaded numpy load (SVDs and sorts, like the feature code).
LOAD = (
    "import numpy as np; a = np.random.default_rng(0).random((300, 784)); "
    "[(np.linalg.svd(a, compute_uv=False), np.sort(a.ravel())) for _ in range(60)]"
)


def cpu_scaling() -> float:
    """Throughput of two concurrent single-threaded processes over one: the ceiling that a
    2-rank reduce can reach on this machine (2.0 on two free cores)."""

    def timed(copies: int) -> float:
        start = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-c", LOAD], env=ENV) for _ in range(copies)]
        for proc in procs:
            proc.wait()
        return time.perf_counter() - start

    return 2 * timed(1) / timed(2)


def build_runs(out: Path, seeds: int, levels: int) -> Path:
    """Train the benchmark's runs under `out` unless a finished sweep is already there."""
    if not (out / "sweeps" / "bench" / "results.md").is_file():
        out.mkdir(parents=True, exist_ok=True)
        overrides = [
            "sweep=none",
            "model=lenet_300_100",
            "data=synthetic_mnist",
            f"seed=range({seeds})",
            "prune.control=none,reinit,shuffle",
            f"prune.levels={levels}",
            "prune.fraction=0.5",
            "train.duration=10it",
            "train.eval_every=10it",
            "checkpoint_every=10it",
            "sweep.name=bench",
            f"out={out}",
        ]
        subprocess.run(
            [sys.executable, "-m", "pipeline.cli", "sweep", *overrides],
            cwd=out,
            env=ENV,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return out / "runs"


def reduce_once(runs: Path, store: Path, ranks: int) -> tuple[int, int, float, float]:
    """(runs, levels, reducer seconds, wall seconds) of one reduce into a fresh store."""
    store.unlink(missing_ok=True)
    cmd = [
        str(MPIEXEC),
        "-n",
        str(ranks),
        sys.executable,
        "-m",
        "pipeline.reduce",
        str(runs),
        str(store),
    ]
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, env=ENV, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    match = SUMMARY.search(" ".join(done.stdout.split()))
    if match is None:
        raise RuntimeError(f"no summary in the reducer's output:\n{done.stdout}")
    return int(match[1]), int(match[2]), float(match[3]), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(tempfile.gettempdir()) / "lth_reduce_bench",
        help="where the runs are built (reused when already there)",
    )
    parser.add_argument("--seeds", type=int, default=8, help="seeds; 3 runs per seed")
    parser.add_argument("--levels", type=int, default=5)
    parser.add_argument(
        "--repeat", type=int, default=3, help="reduces per rank count; the fastest is reported"
    )
    args = parser.parse_args()

    runs = build_runs(args.out, args.seeds, args.levels)
    print(
        f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f}, runs in {runs}"
    )
    best: dict[int, tuple[int, int, float, float]] = {}
    for _ in range(args.repeat):
        for ranks in (1, 2):
            result = reduce_once(runs, args.out / f"store-{ranks}.h5", ranks)
            n_runs, n_levels, seconds, wall = result
            print(
                f"  {ranks} rank(s): {n_runs} runs, {n_levels} levels, reducer {seconds:.2f} s"
                f" ({n_runs / seconds:.2f} runs/s), wall {wall:.2f} s"
            )
            if ranks not in best or seconds < best[ranks][2]:
                best[ranks] = result
    print("| ranks | runs | levels | reducer s | runs/s | wall s | runs/s (wall) |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for ranks, (n_runs, n_levels, seconds, wall) in best.items():
        print(
            f"| {ranks} | {n_runs} | {n_levels} | {seconds:.2f} | {n_runs / seconds:.2f} | "
            f"{wall:.2f} | {n_runs / wall:.2f} |"
        )
    print(
        f"speed-up, 2 ranks over 1: {best[1][2] / best[2][2]:.2f}x (reducer), "
        f"{best[1][3] / best[2][3]:.2f}x (wall); this machine runs two single-threaded "
        f"processes at {cpu_scaling():.2f}x the throughput of one; load average "
        f"{os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
