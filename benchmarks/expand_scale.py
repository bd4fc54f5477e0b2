"""How sweep expansion grows with the number of runs: `compose.expand` of a seed sweep
times a value sweep, at growing sizes, in one process.

Prints, per size, the seconds and milliseconds per run, and the per-run cost as a ratio
to the smallest size's (1.0 everywhere means linear growth).

    .venv/bin/python benchmarks/expand_scale.py --runs 250 1000 4000
"""

from __future__ import annotations

import argparse
import platform
import time

from pipeline.compose import expand


def overrides(runs: int) -> list[str]:
    """`runs` configs: seeds times two pruning fractions (a value sweep on two keys)."""
    return ["sweep=none", f"seed=range(0,{runs // 2})", "prune.fraction=0.1,0.2"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[250, 1000, 4000])
    args = parser.parse_args()
    expand(overrides(2))  # Hydra's first initialization is not the sweep's cost
    print(f"machine: {platform.node()}, {platform.processor() or platform.machine()}")
    print("| runs | seconds | ms per run | per-run cost / smallest |")
    print("| ---: | ---: | ---: | ---: |")
    first = None
    for runs in sorted(args.runs):
        began = time.perf_counter()
        configs = expand(overrides(runs))
        seconds = time.perf_counter() - began
        assert len(configs) == runs // 2 * 2
        per_run = seconds / len(configs)
        first = first or per_run
        print(f"| {len(configs)} | {seconds:.2f} | {per_run * 1e3:.2f} | {per_run / first:.2f} |")


if __name__ == "__main__":
    main()
