"""The sweeps a study runs, as Hydra override lists.

Phase 1 trains IMP tickets with the fresh-init and shuffled controls, the
pruning-at-initialization baselines (SNIP, GraSP and SynFlow, each also shuffled
within layers as the Frankle et al. 2021 sanity check) and the ratio-only baselines
(ERK, Su et al. ratios, random). Phase 2 trains `prior` masks learned from phase 1's
store, on new seeds, with one ablation per component when asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.prior import COMPONENTS

DENSITIES = (0.5, 0.2, 0.1, 0.05, 0.02)
PRIOR_SEED_OFFSET = 100  # prior masks are drawn for seeds no ticket in the store used

BASELINE_GROUPS = (
    ("prune.method=imp", "prune.control=none,reinit,shuffle"),
    ("prune.method=snip,grasp,synflow", "prune.control=none,shuffle"),
    ("prune.method=erk,su_ratios,random",),
)


def _values(items) -> str:
    return ",".join(str(i) for i in items)


@dataclass
class StudyPlan:
    name: str
    overrides: list[str]  # model, data, recipe: anything but the method, seed and ladder
    out: Path
    densities: tuple[float, ...] = DENSITIES
    seeds: int = 3
    prior_seeds: int = 3
    ablate: bool = False
    command: str = ""  # the command line, recorded in the report

    @property
    def store(self) -> Path:
        return self.out / "store.h5"

    @property
    def runs_dir(self) -> Path:
        return self.out / "runs"

    def _common(self, seeds: range, phase: str) -> list[str]:
        ladder = "[" + ",".join(f"{d:g}" for d in self.densities) + "]"
        return [*self.overrides, "sweep=none", f"prune.densities={ladder}",
                f"seed={_values(seeds)}", f"out={self.out}", f"sweep.name={self.name}-{phase}"]

    def baseline_sweeps(self) -> list[list[str]]:
        common = self._common(range(self.seeds), "baselines")
        return [[*common, *group] for group in BASELINE_GROUPS]

    def prior_sweeps(self) -> list[list[str]]:
        seeds = range(PRIOR_SEED_OFFSET, PRIOR_SEED_OFFSET + self.prior_seeds)
        common = [*self._common(seeds, "prior"), "prune.method=prior",
                  f"prune.prior_store={self.store}"]
        sweeps = [common]
        if self.ablate:
            for dropped in COMPONENTS:
                kept = "[" + ",".join(c for c in COMPONENTS if c != dropped) + "]"
                sweeps.append([*common, f"prune.prior_components={kept}"])
        return sweeps
