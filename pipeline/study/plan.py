"""The sweeps a study runs, as Hydra override lists.

IMP prunes `imp_fraction` of the remaining weights per level (20%, as Frankle & Carbin
2019), and each target density is read at the IMP level nearest to it in log scale.
Every other method trains at those levels' hidden and output-layer densities, so all
methods are compared at equal weight counts (to within one weight of rounding per layer).

Phase 1 trains IMP tickets with the fresh-init and shuffled controls (the controls only
at the levels read), the pruning-at-initialization baselines (SNIP, GraSP and SynFlow,
each also shuffled within layers as the Frankle et al. 2021 sanity check), the
ratio-only baselines (ERK, Su et al. ratios, random), one-shot magnitude pruning of
the trained dense network (how much IMP's iterations add), and the methods that find a
mask without IMP and without a store: GEM-MINER, early-bird tickets, RigL and SET.
Phase 2 runs, on new seeds, what learns from phase 1's store: `prior` (with one ablation
per component when asked), RigL from a `prior` start, steered by the prior, and both,
SET and GEM-MINER from a `prior` start, and seed-0 tickets transferred to the new
initializations, unaligned and aligned by weights and by activations.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from pipeline.compose import expand
from pipeline.config import PruneConfig
from pipeline.data import dataset_spec
from pipeline.errors import ConfigError, PriorError
from pipeline.methods import METHODS
from pipeline.paths import Layout
from pipeline.prior.align import ALIGNMENTS, unit_chain
from pipeline.prior.components import COMPONENTS
from pipeline.prune.ladder import Rung, ladder

DENSITIES = (0.5, 0.2, 0.1, 0.05, 0.02)
PRIOR_SEED_OFFSET = 100  # prior masks are drawn for seeds no ticket in the store used

# (methods, their other overrides): phase 1's methods besides IMP, trained at IMP's densities
BASELINE_GROUPS = (
    (("snip", "grasp", "synflow"), ("prune.control=none,shuffle",)),
    (("erk", "su_ratios", "random"), ()),
    (("oneshot",), ()),  # magnitude after full dense training, no iterations
    (("gem_miner", "early_bird", "rigl", "set"), ()),  # searches and dynamic sparse training
)
# phase 2's methods besides `prior`, each with the store: its options as overrides
STORE_GROUPS = (
    ("prune.method=rigl", "prune.start=prior", "prune.dst_steer=0,1"),
    ("prune.method=rigl", "prune.dst_steer=1"),  # steered from an ERK start
    ("prune.method=set,gem_miner", "prune.start=prior"),
)
TRANSFER_SEED = 0  # the ticket every phase-2 seed receives


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
    imp_fraction: float = 0.2  # of the remaining weights IMP removes per level

    @property
    def layout(self) -> Layout:
        return Layout(self.out)

    @cached_property
    def imp_levels(self) -> tuple[int, ...]:
        """The IMP level read for each target: nearest in log density."""
        if not 0 < self.imp_fraction < 1:
            raise ConfigError("--imp-fraction", f"{self.imp_fraction} is outside (0, 1)")
        outside = [t for t in self.densities if not 0 < t < 1]
        if outside:
            raise ConfigError(
                "--densities",
                f"{outside[0]} is outside (0, 1): targets are "
                "sparse densities (the dense network is always trained)",
            )
        step = math.log(1 - self.imp_fraction)
        levels = tuple(max(1, round(math.log(t) / step)) for t in self.densities)
        if any(b <= a for a, b in zip(levels, levels[1:])):
            raise ConfigError(
                "--densities",
                f"{list(self.densities)} must decrease and fall "
                f"on distinct IMP levels (levels {list(levels)} at "
                f"{self.imp_fraction:g} per level)",
            )
        return levels

    @cached_property
    def _base(self):
        """The study's model, data and recipe as one config (no method, seed or ladder)."""
        return expand([*self.overrides, "sweep=none"])[0]

    @cached_property
    def rungs(self) -> list[Rung]:
        """IMP's rung at each target level: the densities every method trains at."""
        scale = self._base.prune.output_scale
        imp = ladder(
            PruneConfig(fraction=self.imp_fraction, output_scale=scale, levels=self.imp_levels[-1])
        )
        return [imp[level - 1] for level in self.imp_levels]

    def level_targets(self, prune: PruneConfig) -> dict[int, float]:
        """Level -> target density, for a run of this study (IMP's levels in between: none)."""
        levels = self.imp_levels if prune.densities is None else range(1, len(self.densities) + 1)
        return {0: 1.0, **dict(zip(levels, self.densities))}

    def _common(self, seeds: range, phase: str) -> list[str]:
        return [
            *self.overrides,
            "sweep=none",
            f"seed={_values(seeds)}",
            f"out={self.out}",
            f"sweep.name={self.name}-{phase}",
        ]

    def _at_imp_densities(self) -> list[str]:
        hidden = ",".join(repr(r.density) for r in self.rungs)
        output = ",".join(repr(r.output_density) for r in self.rungs)
        return [f"prune.densities=[{hidden}]", f"prune.output_densities=[{output}]"]

    def baseline_sweeps(self) -> list[list[str]]:
        common = self._common(range(self.seeds), "baselines")
        imp = [
            *common,
            "prune.method=imp",
            f"prune.fraction={self.imp_fraction}",
            f"prune.levels={self.imp_levels[-1]}",
        ]
        read = "[" + ",".join(str(level) for level in self.imp_levels) + "]"
        controls = [*imp, "prune.control=reinit,shuffle", f"prune.train_levels={read}"]
        groups = [
            ([m for m in methods if m not in self.left_out], extra)
            for methods, extra in BASELINE_GROUPS
        ]
        return [
            [*imp, "prune.control=none"],
            controls,
            *(
                [*common, *self._at_imp_densities(), f"prune.method={_values(methods)}", *extra]
                for methods, extra in groups
                if methods
            ),
        ]

    @cached_property
    def left_out(self) -> dict[str, str]:
        """Phase 1's methods whose own checks refuse this model at the plan's densities
        (e.g. su_ratios where its fixed output share exceeds the budget), with the reason:
        the study goes on without them and its report says so."""
        refused = {}
        for method in (m for methods, _ in BASELINE_GROUPS for m in methods):
            check = METHODS[method].check
            if check is None:
                continue
            prune = dataclasses.replace(
                self._base.prune,
                method=method,
                densities=[r.density for r in self.rungs],
                output_densities=[r.output_density for r in self.rungs],
            )
            try:
                check(dataclasses.replace(self._base, prune=prune))
            except ConfigError as error:
                refused[method] = str(error)
        return refused

    def _alignments(self) -> tuple[str, ...]:
        """Transfer unaligned, and aligned too where the model is a chain of layers."""
        spec = dataset_spec(self._base.data.name)
        try:
            unit_chain(self._base.model.name, spec.input_shape, spec.num_classes)
        except PriorError:
            return ("none",)
        return ("none", *ALIGNMENTS)

    def prior_sweeps(self) -> list[list[str]]:
        seeds = range(PRIOR_SEED_OFFSET, PRIOR_SEED_OFFSET + self.prior_seeds)
        common = [*self._common(seeds, "prior"), *self._at_imp_densities()]
        store = f"prune.prior_store={self.layout.store}"
        prior = [*common, "prune.method=prior", store]
        sweeps = [prior]
        if self.ablate:
            for dropped in COMPONENTS:
                kept = "[" + ",".join(c for c in COMPONENTS if c != dropped) + "]"
                sweeps.append([*prior, f"prune.prior_components={kept}"])
        sweeps += [[*common, store, *group] for group in STORE_GROUPS]
        transfer = [
            "prune.method=transfer",
            f"prune.transfer_store={self.layout.store}",
            f"prune.transfer_seed={TRANSFER_SEED}",
            f"prune.transfer_align={_values(self._alignments())}",
        ]
        sweeps.append([*common, *transfer])
        return sweeps
